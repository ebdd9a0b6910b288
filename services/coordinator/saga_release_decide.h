/* What deploy.rollback, deploy.release and deploy.app.destroy do, as pure
 * functions: (the rows the request reads, loaded into plain structs by
 * its handler in saga.c) -> (ignore it, fail its new deployment with a
 * reason, or run an image again with this config and scale).  No
 * database, no bus: the handler loads the rows under the app's lock,
 * asks, and applies the decision in the event's transaction
 * (tests/unit/test_saga_release_decide.c checks each decision without a
 * server).  The queries only load rows; which release, whether its image
 * is still there, which deployment an app destroy takes next are decided
 * here. */
#ifndef AD_SAGA_RELEASE_DECIDE_H
#define AD_SAGA_RELEASE_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A release of the app whose image could run again (found: the query
 * returned it). */
struct saga_reuse {
        bool found;
        const char *deployment_id;
        const char *env;            /* the config it ran: a JSON object of sealed values */
        const char *config_version; /* NULL when its deployment recorded none */
        const char *version;        /* the release number, as text */
        uint32_t containers;        /* how many web containers it ran */
        /* A release asked for by number: when its image was last built
         * (microseconds since the epoch), and when a build compensation
         * last removed that image from the registry (0: never).  Removed
         * after its last build, the image is gone. */
        int64_t image_built_us, image_removed_us;
};

/* Whether the registry lost the release's image since it was last built. */
bool saga_image_removed(const struct saga_reuse *r);

/* What a decision does with the request. */
enum saga_request_verdict {
        SAGA_REQUEST_IGNORE, /* recorded, nothing changes (note says why) */
        SAGA_REQUEST_FAIL,   /* its new deployment is written and ends FAILED
                              * with `note` as its error and `failed_step` */
        SAGA_REQUEST_RUN,    /* its new deployment runs `from`'s image again */
};

/* deploy.rollback: the target deployment (found, when it was created)
 * and the app's releases, newest first, each with when its deployment was
 * created. */
struct saga_rollback_input {
        const char *target; /* the target deployment id */
        bool target_found;
        int64_t target_created_us;
        size_t n_releases;
        const struct saga_reuse *releases;
        const int64_t *created_us; /* n_releases: each release's deployment */
};

/* deploy.release: the app's row (locked), its current release (the
 * EXPOSED one) and, for a rollback to a number, that release. */
struct saga_release_input {
        bool app_found;
        const char *app_env;            /* apps.env, JSON text */
        const char *app_config_version; /* apps.config_version, text */
        int app_web_replicas;           /* apps.web_replicas (0: never set) */
        struct saga_reuse current;
        struct saga_reuse numbered; /* only read when rollback_to */
        /* The request. */
        uint32_t rollback_to;
        uint32_t web_replicas;
        size_t n_scale;
        const char *const *scale_names; /* n_scale names, for the description */
        const uint32_t *scale_replicas;
        size_t n_set;
        const char *const *set_names; /* NULL values are skipped */
        const char *const *set_values;
        size_t n_unset;
        const char *const *unset_names;
};

struct saga_request_decision {
        enum saga_request_verdict verdict;
        char note[256];          /* IGNORE: why; FAIL: the deployment's error */
        const char *failed_step; /* FAIL: "rollback" or "release" */
        const char *kind;        /* "rollback", "scale" or "config" */
        char description[512];   /* deploy.release: the new deployment's description */
        /* The release its deployment records as rolled back to or made
         * from (rollback_of); NULL when none.  Set for FAIL too. */
        const char *rollback_of;
        /* RUN: */
        const struct saga_reuse *from; /* whose image (and build) runs again */
        char *env;                     /* the config it runs and the app keeps (malloc) */
        const char *config_version;    /* deploy.release: the app's from now on; NULL:
                                        * the next one */
        uint32_t replicas;             /* web containers it runs */
        uint32_t app_web_replicas;     /* the app's web scale from now on; 0: unchanged */
        bool merge_scale;              /* the request's process scale joins the app's */
};

/* Both fail only when out of memory (-1); `out` is then in no state to
 * use.  Free out->env with saga_request_decision_clear(). */
int saga_decide_rollback(const struct saga_rollback_input *in, struct saga_request_decision *out);
int saga_decide_release(const struct saga_release_input *in, struct saga_request_decision *out);
void saga_request_decision_clear(struct saga_request_decision *d);

/* The app's config after a config change: `current` (a JSON object; other
 * text counts as {}) with the names set, then unset.  NULL when out of
 * memory. */
char *saga_config_apply(const char *current, size_t n_set, const char *const *set_names,
                        const char *const *set_values, size_t n_unset,
                        const char *const *unset_names);

/* deploy.app.destroy: whether the app exists (its row, locked).  IGNORE
 * with a note when it does not; RUN otherwise (each deployment of the app
 * still owning something is destroyed, newest first). */
void saga_decide_app_destroy(const char *app, bool app_found, struct saga_request_decision *out);

/* One deployment of an app's destroy, as app_destroy_next() in saga.c
 * loads them (newest first). */
struct saga_destroy_candidate {
        const char *id, *trace_id;
        const char *status, *kind;
        bool has_build;     /* it built an image */
        bool build_removed; /* its build's compensation is done: the image is gone */
};

/* The deployment of an app's destroy to take next: the newest that still
 * owns something (not destroyed, nor being destroyed, nor rolled back; or
 * destroyed or rolled back but keeping the image it built for a later
 * release).  One at a time, newest first: an image goes only after the
 * containers of every later release that reused it.  A deployment
 * DESTROYING already is left to its own saga (its end asks for the next
 * one again).  -1 when none is left. */
int saga_app_destroy_next(const struct saga_destroy_candidate *c, size_t n);

/* What happens to the deployment taken (its status as locked): a
 * DESTROYED one gets its kept image's compensation again (true); any other
 * goes through its own destroy saga (false). */
bool saga_app_destroy_takes_image(const char *status);

#endif
