/* The deployer's work: run a release's container, wait until it answers
 * HTTP, switch the app's route to it, report it (deploy.provisioned ->
 * deploy.exposed), then retire the previous release; and undo that for a
 * deployment
 * (deploy.compensate.deploy). */
#ifndef AD_DEPLOY_H
#define AD_DEPLOY_H

#include <stdbool.h>

#include "ad/caddy.h"
#include "ad/engine.h"
#include "ad/secret.h"
#include "ad/service.h"
#include "ad/ingress.h"
#include "ad/names.h"
#include "k8s_deploy.h"
#include "ad/step.h"

/* The hard ceiling of deployer.max_replicas. */
#define DEPLOYER_REPLICAS_MAX 100

/* The deployer's keys (the ingress's and kubernetes.* are in their own
 * tables). */
extern const struct ad_config_key deployer_config[];

struct deployer {
        struct ad_service *svc;
        struct ingress ingress;
        ad_engine *engine;
        ad_caddy *caddy;

        long default_memory_mb;
        double default_cpus;
        double startup_cpus; /* a starting release's CPU limit until healthy; 0: none */
        const char *user;
        long health_timeout_s;
        long health_interval_ms;
        long pids_limit;
        bool read_only_rootfs; /* and a tmpfs on /tmp */
        long stop_timeout_s;
        long drain_ms;    /* between the route switch and stopping the old release */
        long images_kept; /* an app's newest images kept in the engine; 0: all */
        const char *restart_policy;
        const char *publish_address; /* host address container ports are published on */
        long runtime_log_lines;      /* first lines stored in deployment_logs */
        long max_attempts;
        long max_replicas;   /* most containers one deployment may ask for */
        long run_timeout_s;  /* longest one-off command (run.c) */
        long run_max_output; /* bytes of its output kept */
        long app_log_lines;  /* runtime log lines kept per app (collect.c) */
        bool collect_logs;   /* follow every app container's log (collect.c) */
        /* The longest release command (release_phase.c). */
        long release_timeout_s;
        bool registry_insecure;
        const char *registry_address; /* registry.address: host:port */
        bool have_key;
        struct ad_secret_keyring keys; /* secrets.key, then secrets.old_keys */
        /* The Kubernetes client: loaded when deployer.backend is kubernetes,
         * or when apps may choose (deployer.app_backends) and kubernetes.*
         * names a cluster; NULL otherwise. */
        struct k8s_backend *k8s;
        bool k8s_default;  /* deployer.backend: kubernetes */
        bool app_backends; /* deployer.yaml `backend:` may choose */
};

/* image.c: makes the engine hold image `ref` (name:tag), the registry's
 * manifest `digest` (deploy.provisioned's image_digest).  The engine's
 * own image of that name is used when it is exactly that image: known by
 * that digest (pulled before), or built here: its id is `image_id` (the
 * builder's, in the event), or, without one, the config digest of the
 * registry's manifest (fetched by its digest and checked against it).  Otherwise (absent, another
 * image under the tag, another registry, a registry that does not answer) it is pulled, with the
 * registry credentials the engine was given.  An empty digest keeps the
 * old rule: the image of that name if any, else a pull.  *pulled tells
 * which; *how (static text) why, for the log. */
int deployer_image_ensure(struct deployer *dp, const char *ref, const char *digest,
                          const char *image_id, bool *pulled, const char **how, ad_error_t *err);

/* image.c: removes from the engine the app's images past the newest
 * dp->images_kept (by creation, each name:tag but `:latest` counted; none
 * when it is 0), never `current` nor one a container uses (the engine
 * refuses: kept).  Unlabelled images and the build cache's layers are not
 * touched; the registry keeps every image, so a rollback to a removed one
 * pulls it.  *found counts the app's names in the engine, *removed those
 * removed. */
int deployer_images_prune(struct deployer *dp, const char *app, const char *current, int *found,
                          int *removed, ad_error_t *err);

/* "user:password" sent to registry.address only (never logged). */
int deployer_image_credentials(const char *user, const char *password, ad_error_t *err);

/* Reads the deployer's configuration (and the ingress's). */
int deployer_load(struct deployer *dp, struct ad_service *svc, ad_error_t *err);

/* backend.c: the backend of run's deployment (*k8s true: kubernetes).
 * With `checked` (the deploy step), a choice the platform does not allow,
 * or one that would move a served app to the other backend, fails the
 * step with a reason and returns 1 (the run then returns 0). */
int deployer_backend(struct deployer *dp, struct ad_step_run *run, bool checked, bool *k8s,
                     ad_error_t *err);

/* backend.c: the backend app is served on (its newest analysed
 * deployment's choice, else the platform's). */
int deployer_app_backend(struct deployer *dp, const char *app, bool *k8s, ad_error_t *err);

/* step_def.run for deploy.provisioned. */
int deploy_run(struct ad_step_run *run, ad_error_t *err);

/* step_def.run for deploy.compensate.deploy. */
int deploy_undo(struct ad_step_run *run, ad_error_t *err);

/* run.c: answers app.run.<app> requests (an ad_bus_reply_fn; ud: the
 * struct deployer). */
void run_serve(const char *subject, const void *data, size_t len, char **reply, size_t *reply_len,
               void *ud);

/* domains.c: answers app.domains.<app> requests (an ad_bus_reply_fn; ud:
 * the struct deployer). */
void domains_serve(const char *subject, const void *data, size_t len, char **reply,
                   size_t *reply_len, void *ud);

/* domains.c: the app's custom domains (the API's `domains` table, in
 * host name order) into out[] (at most AD_APP_DOMAINS_MAX, pointing into
 * *r, which the caller clears). */
int domains_load(struct deployer *dp, const char *app, PGresult **r,
                 const char *out[AD_APP_DOMAINS_MAX], size_t *n, ad_error_t *err);

/* k8s_deploy.c: the app's Ingress applied again with these custom domains
 * (a JSON array of host names); nothing when the app has no Ingress. */
int k8s_domains_apply(struct deployer *dp, const char *app, const json_t *domains, ad_error_t *err);

/* collect.c: the runtime log collector, a thread that follows every app
 * container's log into app_logs (one follower per container across
 * deployer replicas).  Started after deployer_load, stopped before the
 * engine is closed. */
struct collector;
int collector_start(struct collector **out, struct deployer *dp, ad_error_t *err);
void collector_stop(struct collector *c);

/* --- release.c: pieces of both ------------------------------------------ */

/* Points the app's existing route(s) (and "-tls" twin) at handler; routes
 * that do not exist are left so. */
int release_repoint(struct deployer *dp, const char *route_id, const json_t *handler,
                    ad_error_t *err);

/* The proxy handler for a release's containers, published on host_ports
 * (n of them, at least one): caddy balances requests across them. */
json_t *release_handler(struct deployer *dp, const unsigned *host_ports, size_t n,
                        const char *deployment_id);

/* Stops and removes a container; already gone is fine. */
int release_remove(struct deployer *dp, const char *id, ad_error_t *err);

/* At start: stops and removes the containers of the engine's apps whose
 * deployment is SUPERSEDED (a newer one is EXPOSED).  The deploy step
 * retires old releases after reporting EXPOSED; a deployer that died
 * between the two and whose delivery is not redone (attempts used up)
 * leaves them, and this finds them.  Best effort: problems are logged. */
void release_sweep(struct deployer *dp);

/* Stores up to max_lines lines of text as the deployment's `runtime` log
 * (best effort: errors are returned for the log line only). */
int release_store_log(struct deployer *dp, const char *deployment_id, const char *text,
                      long max_lines, ad_error_t *err);

/* The same under another source ("release"...); with `once`, nothing is
 * stored when the deployment already has lines of that source (a
 * redelivered step does not store them twice). */
int release_store_lines(struct deployer *dp, const char *deployment_id, const char *source,
                        const char *text, long max_lines, bool once, ad_error_t *err);

#endif
