/* deploy.analyzed: the build step, run by the shared step runner
 * (common/src/step.c: duplicates, retries, deploy.failed, the log line).
 *
 * What is particular to the build:
 *   <registry>/<app>:<sha> already in the registry  reuse it: deploy.built
 *                                                   {cache_hit: true}
 *   engine, registry, network or database away      an error: retried
 *                                                   until max_attempts
 *   build timeout                                   deploy.failed {retryable}
 *   the repository, its ref, its Dockerfile or its
 *   build is wrong                                  deploy.failed {!retryable},
 *                                                   with the build log's tail
 *   SIGTERM mid-build                               the engine calls are
 *                                                   cancelled, the runner NAKs
 *
 * Every failure reason also goes into the build log (builder_build_failed).
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/log.h"
#include "ad/names.h"
#include "ad/redact.h"
#include "builder.h"
#include "builder_from.h"

#define BUILDER_DOCKERFILE_MAX (1024 * 1024)
#include "builder_analysis.h"
#include "builder_context.h"
#include "builder_log.h"
#include "builder_cgroup.h"
#include "builder_registry.h"
#include "builder_stream.h"

#define REF_MAX 512
#define BUILD_FAILED "build failed: "

struct build_run {
        struct ad_step_run *step;
        struct builder *b;
        const Appdeployer__V1__DeployAnalyzed *an;
        struct builder_log log;
        char name[REF_MAX];   /* <registry>/<app> */
        char image[REF_MAX];  /* name:<sha> */
        char latest[REF_MAX]; /* name:latest */
        char *digest;
        char *image_id; /* the engine's, when built here */
        bool cache_hit;
        int64_t build_ms;
        bool failed; /* deploy.failed published */
};

/* Publishes deploy.failed (ad_step_fail); 0 when published. */
static int fail_step(struct build_run *r, bool retryable, ad_error_t *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail_step(struct build_run *r, bool retryable, ad_error_t *err, const char *fmt, ...)
{
        cleanup_free char *s = NULL;
        va_list ap;
        int ret;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        ret = ad_step_fail(r->step, retryable, s ? s : "build failed", err);
        if (ret == 0)
                r->failed = true;
        return ret;
}

void builder_build_failed(struct ad_step_run *run, const char *reason)
{
        struct builder *b = run->def->ud;
        struct builder_log log;

        builder_log_open(&log, b->svc->bus, b->svc->db, run->in->deployment_id,
                         b->cfg.max_log_lines);
        builder_log_line(&log, reason);
        builder_log_close(&log);
}

static bool sha_ok(const char *s)
{
        return s && strlen(s) == AD_GIT_SHA_LEN && strspn(s, "0123456789abcdef") == AD_GIT_SHA_LEN;
}

static void build_line(const char *line, void *ud)
{
        builder_log_line(ud, line);
}

static int publish_built(struct build_run *r, ad_error_t *err)
{
        Appdeployer__V1__DeployBuilt built = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        char *tags[2] = { r->image, r->latest };
        json_t *analysis;
        ad_envelope env;
        int ret;

        built.image = r->image;
        built.digest = r->digest ? r->digest : (char *)"";
        built.image_id = r->image_id ? r->image_id : (char *)"";
        built.tags = tags;
        built.n_tags = 2;
        built.build_duration_ms = (uint64_t)r->build_ms;
        built.cache_hit = r->cache_hit;
        built.app_name = r->an->app_name;
        built.port = r->an->port;
        /* Borrowed from the input: carried forward unchanged. */
        built.resources = r->an->resources;
        built.env = r->an->env;
        built.n_env = r->an->n_env;
        built.git_sha = r->an->git_sha;
        built.n_processes = r->an->n_processes;
        built.processes = r->an->processes;
        /* The release phase runs in the deployer, not in the image's CMD:
         * carried forward from the analysis (also on a reused image). */
        analysis = json_loads(r->an->analysis_json ? r->an->analysis_json : "{}", 0, NULL);
        built.release_command =
                (char *)(json_string_value(json_object_get(analysis, "releaseCommand")) ?: "");
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT;
        env.built = &built;
        ret = ad_step_publish(r->step, AD_SUBJECT_BUILT, &env, err);
        json_decref(analysis);
        if (ret < 0)
                return ret;
        ad_step_log_str(r->step, "image", r->image);
        ad_step_log_str(r->step, "digest", r->digest);
        ad_step_log_bool(r->step, "cache_hit", r->cache_hit);
        ad_step_log_int(r->step, "build_ms", r->build_ms);
        return 0;
}

/* The image is already in the registry (an earlier deployment of the same
 * commit): point :latest at it and reuse it.  1 when reused, 0 when it is
 * not there. */
static int try_reuse(struct build_run *r, ad_error_t *err)
{
        const struct builder_config *cfg = &r->b->cfg;
        cleanup_error ad_error_t lerr = NULL;
        int ret;

        ret = builder_registry_digest(cfg->registry, r->an->app_name, r->an->git_sha, &r->digest,
                                      &lerr);
        if (ret < 0) {
                if (lerr->kind == AD_ERR_NOT_FOUND)
                        return 0;
                if (err)
                        *err = TAKE_PTR(lerr);
                return ret;
        }
        ret = builder_registry_retag(cfg->registry, r->an->app_name, r->an->git_sha, "latest", err);
        if (ret < 0)
                return ret;
        builder_log_linef(&r->log, "==> %s is already in the registry (%s): reused", r->image,
                          r->digest);
        r->cache_hit = true;
        return 1;
}

static int clone_failed(struct build_run *r, ad_error_t *err)
{
        cleanup_error ad_error_t cause = TAKE_PTR(*err);

        /* Network trouble: worth another delivery. */
        if (ad_error_is_retryable(cause)) {
                *err = TAKE_PTR(cause);
                return ad_error_wrap(err, "clone");
        }
        {
                char *shown = ad_redact_url(r->an->repo_url);
                int ret = fail_step(r, false, err, "cannot clone %s at %s: %s", shown ? shown : "",
                                    r->an->git_sha, ad_error_message(cause));

                free(shown);
                return ret;
        }
}

/* "build failed: " and the end of the build log (where the failing step
 * speaks), within a deploy.failed reason's bound and not cut within a
 * UTF-8 character. */
static int fail_build(struct build_run *r, const char *engine_error, ad_error_t *err)
{
        cleanup_free char *tail = builder_log_tail(&r->log, BUILDER_LOG_TAIL);
        const char *t = tail && *tail ? tail : engine_error;
        size_t n = strlen(t), max = AD_STEP_REASON_MAX - sizeof(BUILD_FAILED);

        if (n > max) {
                t += n - max;
                while ((*t & 0xc0) == 0x80)
                        t++;
        }
        return fail_step(r, false, err, BUILD_FAILED "%s", t);
}

/* The repository's own Dockerfile may not start from (or copy from)
 * another app's image in the platform's registry. */
static int check_images(const struct builder_context *ctx, const char *registry, const char *app,
                        ad_error_t *err)
{
        char path[PATH_MAX + 300];
        cleanup_free char *text = NULL;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/%s", ctx->src, ctx->dockerfile);
        f = fopen(path, "re");
        if (f == NULL)
                return ad_error_make_errno(err, errno, "cannot read the Dockerfile");
        text = malloc(BUILDER_DOCKERFILE_MAX + 1);
        n = text ? fread(text, 1, BUILDER_DOCKERFILE_MAX + 1, f) : 0;
        fclose(f);
        if (text == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (n > BUILDER_DOCKERFILE_MAX)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "the Dockerfile is larger than %d bytes",
                                     BUILDER_DOCKERFILE_MAX);
        text[n] = '\0';
        return builder_from_check(text, registry, app, err);
}

/* The context could not be made (its writer's error): too large is the
 * user's to fix, anything else an error for the runner, as before the
 * build. */
static int context_failed(struct build_run *r, struct builder_stream *st, ad_error_t *err)
{
        /* *err holds the engine's copy of the writer's error. */
        if (err)
                ad_error_release(err);
        if (st->err && st->err->kind == AD_ERR_TOO_LARGE)
                return fail_step(r, false, err, "%s", ad_error_message(st->err));
        if (err)
                *err = TAKE_PTR(st->err);
        return err && *err ? -(*err)->kind : -AD_ERR_GENERIC;
}

/* Starts the context's writer, runs the engine's build with it as the
 * body, and says what the writer did in the step's log.  *context_bad:
 * the writer failed and the upload was aborted; the return value is then
 * context_failed()'s. */
static int run_build(struct build_run *r, struct builder_context *ctx, struct ad_engine_build *req,
                     struct ad_engine_build_result *res, bool *context_bad, ad_error_t *err)
{
        struct builder_stream st;
        int64_t t0;
        int ret;

        *context_bad = false;
        ret = builder_stream_start(&st, ctx->src, r->b->cfg.max_context_bytes, err);
        if (ret < 0)
                return ret;
        req->context_read = builder_stream_read;
        req->context_ud = &st;
        t0 = ad_monotonic_ms();
        ret = ad_engine_image_build(r->b->engine, req, res, err);
        r->build_ms = ad_monotonic_ms() - t0;
        builder_stream_finish(&st);
        ad_step_log_int(r->step, "context_ms", (long long)st.ms);
        ad_step_log_int(r->step, "context_bytes", (long long)st.stats.bytes);
        /* The upload was aborted for the context's sake: its error is the
         * failure (when the engine failed first, the writer's EPIPE is not). */
        *context_bad = st.aborted;
        if (st.aborted) {
                ad_engine_build_result_clear(res);
                ret = context_failed(r, &st, err);
        }
        builder_stream_clear(&st);
        return ret;
}

static int build_and_push(struct build_run *r, struct builder_context *ctx, ad_error_t *err)
{
        const struct builder_config *cfg = &r->b->cfg;
        const char *tags[] = { r->image, r->latest, NULL };
        char app_label[128], dep_label[128];
        const char *labels[] = { app_label, dep_label, NULL };
        struct ad_engine_build req = {
                .tags = tags,
                .dockerfile = ctx->dockerfile,
                .labels = labels,
                .timeout_ms = cfg->build_timeout_ms,
                .on_line = build_line,
                .ud = &r->log,
                .cancel = ad_service_stopping,
                .network = cfg->build_network,
                .memory_bytes = cfg->build_memory_bytes,
                .cpu_millis = cfg->build_cpu_millis,
        };
        struct ad_engine_build_result res;
        struct builder_cgroup cg = { 0 };
        cleanup_free char *digest = NULL;
        bool context_bad;
        int64_t t0;
        long refused;
        int ret;

        memset(&res, 0, sizeof(res));
        snprintf(app_label, sizeof(app_label), "%s=%s", AD_LABEL_APP, r->an->app_name);
        snprintf(dep_label, sizeof(dep_label), "%s=%s", AD_LABEL_DEPLOYMENT,
                 r->step->in->deployment_id);
        if (cfg->build_pids_limit > 0) {
                cleanup_error ad_error_t cause = NULL;

                if (builder_cgroup_make(&cg, cfg->build_cgroup, r->step->in->deployment_id,
                                        cfg->build_pids_limit, &cause) < 0)
                        return fail_step(r, false, err,
                                         BUILD_FAILED "the build pids limit cannot be set: %s "
                                                      "(builder.build_pids_limit; `0` turns it "
                                                      "off for a builder that is not on its "
                                                      "engine's host)",
                                         ad_error_message(cause));
                req.cgroup_parent = cg.parent;
        }
        builder_log_linef(&r->log, "==> building %s (%s%s)", r->image, ctx->dockerfile,
                          ctx->generated ? ", generated from the analysis" : "");
        ret = run_build(r, ctx, &req, &res, &context_bad, err);
        refused = builder_cgroup_refused(&cg);
        builder_cgroup_remove(&cg);
        if (context_bad)
                return ret;
        if (ret < 0) {
                cleanup_error ad_error_t cause = NULL;

                /* Cancelled by SIGTERM, or retryable: the runner decides. */
                if (ad_service_stopping() ||
                    ((*err)->kind != AD_ERR_TIMEOUT && ad_error_is_retryable(*err)))
                        return ret;
                cause = TAKE_PTR(*err);
                if (cause->kind == AD_ERR_TIMEOUT)
                        return fail_step(r, true, err, "build timed out after %lld s (%s)",
                                         (long long)(cfg->build_timeout_ms / 1000),
                                         cfg->build_timeout_key);
                return fail_step(r, false, err, BUILD_FAILED "%s", ad_error_message(cause));
        }
        ad_step_log_int(r->step, "steps", res.steps);
        ad_step_log_int(r->step, "layers_cached", res.layers_cached);
        /* A fork refused by the pids limit: whatever the step made of it
         * (a failure, or a success without what it meant to start), the
         * build failed for that reason. */
        if (refused > 0) {
                ad_step_log_int(r->step, "forks_refused", refused);
                ret = fail_step(r, false, err,
                                BUILD_FAILED "a build step tried to run more than the build pids "
                                             "limit of %ld processes (builder.build_pids_limit)",
                                cfg->build_pids_limit);
                ad_engine_build_result_clear(&res);
                return ret;
        }
        /* SIGKILL under a memory limit: the kernel's OOM killer. */
        if (res.error && cfg->build_memory_bytes > 0 && strstr(res.error, "exit status 137")) {
                ret = fail_step(r, false, err,
                                BUILD_FAILED "a build step was killed for using more than the "
                                             "build memory limit of %llu MiB "
                                             "(builder.build_memory_mb)",
                                (unsigned long long)(cfg->build_memory_bytes >> 20));
                ad_engine_build_result_clear(&res);
                return ret;
        }
        if (res.error) {
                ret = fail_build(r, res.error, err);
                ad_engine_build_result_clear(&res);
                return ret;
        }
        builder_log_linef(&r->log, "==> built %s in %lld ms (%ld of %ld steps cached)",
                          res.image_id ? res.image_id : r->image, (long long)r->build_ms,
                          res.layers_cached, res.steps);
        r->image_id = TAKE_PTR(res.image_id);
        ad_engine_build_result_clear(&res);

        /* The sha tag first: once it is in, a redelivery reuses it.
         * :latest is then the same manifest, tagged in the registry (two
         * requests) rather than pushed again by the engine (a second round
         * of blob checks, 0.3-0.8 s on this machine). */
        t0 = ad_monotonic_ms();
        ret = ad_engine_image_push(r->b->engine, r->name, r->an->git_sha, cfg->push_timeout_ms,
                                   ad_service_stopping, &digest, err);
        if (ret == 0)
                ret = builder_registry_retag(cfg->registry, r->an->app_name, r->an->git_sha,
                                             "latest", err);
        ad_step_log_int(r->step, "push_ms", (long long)(ad_monotonic_ms() - t0));
        if (ret < 0)
                return ret;
        if (digest == NULL) {
                ret = builder_registry_digest(cfg->registry, r->an->app_name, r->an->git_sha,
                                              &digest, err);
                if (ret < 0)
                        return ret;
        }
        r->digest = TAKE_PTR(digest);
        builder_log_linef(&r->log, "==> pushed %s and %s (%s)", r->image, r->latest, r->digest);
        return 0;
}

/* Clone, plan, build (the context streamed), push, publish.  0: done (deploy.built or
 * deploy.failed published); negative: an error for the runner (retried
 * while retryable). */
static int build(struct build_run *r, ad_error_t *err)
{
        struct builder *b = r->b;
        const Appdeployer__V1__DeployAnalyzed *an = r->an;
        struct builder_context ctx = { 0 };
        struct ad_analysis *analysis = NULL;
        cleanup_free char *warning = NULL;
        int64_t t0;
        int ret;

        if (!ad_app_name_valid(an->app_name))
                return fail_step(r, false, err, "invalid app name `%s`", an->app_name);
        if (!sha_ok(an->git_sha))
                return fail_step(r, false, err, "invalid git sha `%s`: expected 40 hex digits",
                                 an->git_sha);
        ad_name_image(r->image, sizeof(r->image), b->cfg.registry, an->app_name, an->git_sha);
        ad_name_image(r->latest, sizeof(r->latest), b->cfg.registry, an->app_name, "latest");
        snprintf(r->name, sizeof(r->name), "%s/%s", b->cfg.registry, an->app_name);

        ret = try_reuse(r, err);
        if (ret != 0)
                return ret < 0 ? ret : publish_built(r, err);

        /* No clone for an engine that is not there. */
        ret = ad_engine_ping(b->engine, err);
        if (ret < 0)
                return ret;

        ret = builder_context_create(&ctx, b->cfg.work_dir, err);
        if (ret < 0)
                return ret;
        {
                /* A sealed credential is opened for the clone only; the
                 * build log shows it as "***". */
                char *shown = ad_redact_url(an->repo_url), *url = NULL;

                builder_log_linef(&r->log, "==> cloning %s at %s", shown ? shown : "", an->git_sha);
                free(shown);
                ret = ad_secret_url_open(&url, &b->cfg.keys, an->app_name, an->repo_url, err);
                if (ret < 0) {
                        ret = clone_failed(r, err);
                        goto out;
                }
                t0 = ad_monotonic_ms();
                ret = builder_context_clone(&ctx, url, an->git_sha, &b->cfg, err);
                ad_step_log_int(r->step, "clone_ms", (long long)(ad_monotonic_ms() - t0));
                explicit_bzero(url, strlen(url));
                free(url);
        }
        if (ret < 0) {
                ret = clone_failed(r, err);
                goto out;
        }
        ret = builder_analysis_from_event(&analysis, an, err);
        if (ret == 0)
                ret = builder_context_dockerfile(&ctx, analysis, &b->cfg, &warning, err);
        if (ret < 0) {
                cleanup_error ad_error_t cause = TAKE_PTR(*err);

                ret = fail_step(r, false, err, "cannot plan the build: %s",
                                ad_error_message(cause));
                goto out;
        }
        if (ret == 0 && !ctx.generated)
                ret = check_images(&ctx, b->cfg.registry, an->app_name, err);
        if (ret < 0) {
                cleanup_error ad_error_t cause = TAKE_PTR(*err);

                ret = fail_step(r, false, err, "%s", ad_error_message(cause));
                goto out;
        }
        if (warning) {
                builder_log_linef(&r->log, "warning: %s (building without it)", warning);
                ad_log(AD_LOG_WARN, "extra CA bundle unusable", "error", warning, NULL);
        }
        ret = build_and_push(r, &ctx, err);
        if (ret == 0 && !r->failed)
                ret = publish_built(r, err);
out:
        ad_analysis_free(analysis);
        builder_context_destroy(&ctx);
        return ret;
}

int builder_build_run(struct ad_step_run *run, ad_error_t *err)
{
        struct build_run r = { .step = run, .b = run->def->ud, .an = run->in->analyzed };
        int ret;

        ad_step_log_str(run, "app", r.an->app_name);
        ad_step_log_str(run, "git_sha", r.an->git_sha);
        builder_log_open(&r.log, r.b->svc->bus, r.b->svc->db, run->in->deployment_id,
                         r.b->cfg.max_log_lines);
        ret = build(&r, err);
        builder_log_close(&r.log);
        free(r.digest);
        free(r.image_id);
        return ret;
}
