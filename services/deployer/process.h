/* process.c: a release's process types other than web (a Procfile's
 * worker:, clock:...).  Each runs in its own containers of the release's
 * image with its command, the release's env, user, limits and network,
 * and no port, route or HTTP health check: it is healthy when it still
 * runs, not restarted, PROCESS_SETTLE_MS after its start. */
#ifndef AD_DEPLOYER_PROCESS_H
#define AD_DEPLOYER_PROCESS_H

#include <stddef.h>

#include "ad/analysis.h"
#include "deploy.h"

#define PROCESS_SETTLE_MS 2000

struct process_set {
        struct ad_container *cs; /* every container, type after type */
        const char **type;       /* cs[i]'s process type (borrowed from the event) */
        size_t n, cap;
        int64_t started_ms; /* monotonic, when the last one was started */
};

/* The total containers pv's other process types ask for; fails with a
 * reason (returns 1) when one asks more than deployer.max_replicas. */
int process_count(struct ad_step_run *run, struct deployer *dp,
                  const Appdeployer__V1__DeployProvisioned *pv, size_t *total, ad_error_t *err);

/* Starts (or finds, on a redelivery) every container of pv's other
 * process types from `web` (the web containers' spec: image, env, user,
 * limits, network, labels), named <web container>-<type>-<n>. */
int process_start(struct deployer *dp, const Appdeployer__V1__DeployProvisioned *pv,
                  const struct ad_container_spec *web, const char *deployment_id,
                  struct process_set *out, ad_error_t *err);

/* Waits until each has run PROCESS_SETTLE_MS; 0 when all still run,
 * 1 with *why (the container, its state and last log lines; caller frees)
 * when one exited or restarted. */
int process_check(struct deployer *dp, const struct process_set *ps, char **why);

/* Stops and removes them (best effort). */
void process_remove(struct deployer *dp, const struct process_set *ps);

/* deploy.exposed's processes: the containers of each type. */
void process_exposed(const Appdeployer__V1__DeployProvisioned *pv, Appdeployer__V1__Process *v,
                     Appdeployer__V1__Process **p, size_t *n);

void process_set_clear(struct process_set *ps);

/* The container label of a process type: app-deployer.process=<type>. */
#define AD_LABEL_PROCESS "app-deployer.process"

#endif
