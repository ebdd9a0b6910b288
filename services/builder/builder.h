/* adbuilder: turns deploy.analyzed into an image in the registry.
 *
 *   deploy.analyzed ──▶ clone at git_sha ──▶ Dockerfile (the repository's own,
 *   or planned from the analysis) ──▶ tar of the context, streamed ──▶ engine /build
 *   (log lines to logs.<deployment> and deployment_logs) ──▶ push
 *   <registry>/<app>:<sha> and :latest ──▶ deploy.built
 *
 *   deploy.compensate.build ──▶ delete the images this deployment pushed
 *   (registry and engine) ──▶ deploy.compensated.build
 *
 * Both are steps of the shared runner (common/src/step.c: duplicates,
 * retries and their limit, deploy.failed, the in-progress heartbeat, the
 * log line).  Where things are: builder_config.c (keys, defaults),
 * builder_analyzed.c (the build step), builder_compensate.c,
 * builder_context.c (clone + Dockerfile + CA), builder_tar.c (ustar),
 * builder_stream.c (the tar made on a thread while the engine reads it),
 * builder_registry.c (registry v2 API), builder_log.c (build log lines);
 * the engine's /build and /push are common/src/engine.c.
 */
#ifndef AD_BUILDER_H
#define AD_BUILDER_H

#include <stdbool.h>
#include <stdint.h>

#include "ad/bus.h"
#include "buildplan.h"
#include "ad/config.h"
#include "ad/engine.h"
#include "ad/error.h"
#include "ad/secret.h"
#include "ad/service.h"
#include "ad/step.h"

#define BUILDER_CONSUMER "builder"
#define BUILDER_COMPENSATE_CONSUMER "builder-compensate"
#define BUILDER_STEP "build"
/* Deliveries are acked within this, or extended by the runner's
 * heartbeat every BUILDER_PING_MS while the work goes on. */
#define BUILDER_ACK_WAIT_MS 60000
#define BUILDER_PING_MS 10000

struct builder_config {
        bool allow_local_sources;
        const char *clone_allowlist; /* exact host:port pairs (ad/netguard.h) */
        const char *build_network;   /* "private" or "none" */
        uint64_t build_memory_bytes; /* 0: no limit */
        long build_cpu_millis;       /* 0: no limit */
        long build_pids_limit;       /* 0: no limit */
        const char *build_cgroup;    /* builds' cgroups go under it */
        uint64_t max_repo_bytes;
        int64_t clone_timeout_ms;
        const char *extra_ca_file; /* "" or NULL: none */
        struct ad_buildplan_images images;
        long max_log_lines;
        /* min(builder.build_timeout_s, limits.max_build_time), and the
         * key it came from (named when a build runs past it) */
        int64_t build_timeout_ms;
        const char *build_timeout_key;
        int64_t push_timeout_ms;
        long max_attempts;
        uint64_t max_context_bytes;
        const char *work_dir;
        const char *engine_socket;
        const char *registry;                              /* host:port */
        const char *registry_username, *registry_password; /* "": none */
        /* secrets.key, secrets.old_keys: open a repository URL's sealed
         * credential (n == 0: none configured) */
        struct ad_secret_keyring keys;
};

/* The service's own keys, for ad_service_options.config. */
extern const struct ad_config_key builder_config[];

/* Reads and checks every builder key (strings are borrowed from cfg). */
int builder_config_load(struct builder_config *c, const ad_config *cfg, ad_error_t *err);

struct builder {
        struct ad_service *svc;
        struct builder_config cfg;
        ad_engine *engine;
};

/* The steps' work, for struct ad_step_def with the struct builder as ud. */

/* deploy.analyzed: build and push (builder_analyzed.c). */
int builder_build_run(struct ad_step_run *run, ad_error_t *err);

/* The build step's on_fail: the reason goes into the build log too. */
void builder_build_failed(struct ad_step_run *run, const char *reason);

/* deploy.compensate.build: delete what the build pushed
 * (builder_compensate.c). */
int builder_compensate_run(struct ad_step_run *run, ad_error_t *err);

#endif
