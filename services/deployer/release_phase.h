/* release_phase.c: a release's release phase (issue 15, Heroku's): the
 * Procfile's `release:` command (the analysis's releaseCommand, e.g.
 * Django's migrations) runs once per release, in a container of its own
 * from the release's image, before the release's web and worker
 * containers start.  A non-zero exit or a timeout fails the deploy step;
 * the previous release keeps serving (the route is not touched yet). */
#ifndef AD_DEPLOYER_RELEASE_PHASE_H
#define AD_DEPLOYER_RELEASE_PHASE_H

#include <stdbool.h>

#include "deploy.h"

/* The label of release-phase containers: app-deployer.release=<app>.  They
 * carry no app-deployer.app label: the runtime log collector, the route
 * and the retirement of old releases do not see them. */
#define AD_LABEL_RELEASE "app-deployer.release"

/* True when pv has a release command. */
bool release_phase_wanted(const Appdeployer__V1__DeployProvisioned *pv);

/* What of a release command's output is kept: its last lines, at most
 * this many bytes (both backends). */
#define RELEASE_LOG_LINES 1000
#define RELEASE_LOG_BYTES (256 * 1024)

/* 1 when deployment dep's release command is to run now (both backends):
 * pv has one and no earlier attempt of dep ran it to exit 0 (its log
 * ending "==> release command exited 0"; that case is noted in the step's
 * log line as release "ran before"); 0 when not, negative on an error. */
int release_phase_needed(struct ad_step_run *run, struct deployer *dp,
                         const Appdeployer__V1__DeployProvisioned *pv, const char *dep,
                         ad_error_t *err);

/* Stores a finished release command's output (logs, trailing newlines
 * trimmed in place; NULL: none) into deployment dep's log, source
 * "release", ending "==> release command exited N" (or "killed after N
 * s").  0: it succeeded and the record is stored (negative: not stored,
 * retry).  1: it failed or timed out; *reason (caller frees) is the deploy
 * step's failure reason, which the caller passes to ad_step_fail once its
 * container or Job is gone. */
int release_phase_record(struct ad_step_run *run, struct deployer *dp, const char *dep, char *logs,
                         int exit_code, bool timed_out, char **reason, ad_error_t *err);

/* Runs pv's release command with `sh -c` in the container
 * <web container>-release, from `web` (the web containers' spec: image,
 * env, user, limits, network), for at most deployer.release_timeout_s; its
 * output goes into the deployment's log (source "release") and the
 * container is removed.  0: no command, or it exited 0 (now or in an
 * earlier attempt of this deployment): go on.  1: it failed or timed out;
 * the step is failed (deploy.failed published).  Negative: an error for
 * the runner (retried while retryable). */
int release_phase_run(struct ad_step_run *run, struct deployer *dp,
                      const Appdeployer__V1__DeployProvisioned *pv,
                      const struct ad_container_spec *web, ad_error_t *err);

#endif
