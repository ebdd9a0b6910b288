/* deploy.analyzed: the build step.
 *
 * Retry policy (one place for it):
 *   garbage on the bus                              warn, TERM
 *   (builder, event id) in processed_events         ACK, nothing done again
 *   <registry>/<app>:<sha> already in the registry  reuse it: deploy.built
 *                                                   {cache_hit: true}
 *   engine, registry, network or database away      NAK (the bus backs off)
 *                                                   until max_attempts
 *                                                   deliveries, then
 *                                                   deploy.failed {retryable}
 *   build timeout                                   deploy.failed {retryable}
 *   the repository, its ref, its Dockerfile or its
 *   build is wrong                                  deploy.failed {!retryable}
 *
 * Events published get ids derived from the input event's id, so a
 * redelivery that publishes again is dropped as a duplicate.  The work is
 * recorded in processed_events only after its event is published.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/log.h"
#include "ad/names.h"
#include "builder.h"
#include "builder_analysis.h"
#include "builder_context.h"
#include "builder_engine.h"
#include "builder_log.h"
#include "builder_ping.h"
#include "builder_registry.h"

#define MAX_REASON 8192
#define REF_MAX 512

struct build_run {
        struct builder *b;
        struct ad_delivery *d;
        const ad_envelope *in;
        const Appdeployer__V1__DeployAnalyzed *an;
        json_t *fields; /* for the one log line */
        struct builder_log log;
        char name[REF_MAX];   /* <registry>/<app> */
        char image[REF_MAX];  /* name:<sha> */
        char latest[REF_MAX]; /* name:latest */
        char *digest;
        bool cache_hit;
        int64_t build_ms;
        /* Set when the step failed for good (deploy.failed published). */
        char *failure;
        bool failure_retryable;
};

static void field_str(struct build_run *r, const char *key, const char *value)
{
        json_object_set_new(r->fields, key, json_string(value ? value : ""));
}

static void field_int(struct build_run *r, const char *key, long long value)
{
        json_object_set_new(r->fields, key, json_integer(value));
}

/* Records a failure for good: the handler publishes deploy.failed. */
static int fail_step(struct build_run *r, bool retryable, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail_step(struct build_run *r, bool retryable, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        free(r->failure);
        r->failure = s ? s : strdup("build failed");
        r->failure_retryable = retryable;
        builder_log_line(&r->log, r->failure);
        return 0;
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
        char id[AD_UUID_LEN + 1];
        char *tags[2] = { r->image, r->latest };
        ad_envelope env;

        ad_event_init(&env, r->in->deployment_id, r->in->trace_id, r->in->attempt, BUILDER_PRODUCER,
                      id);
        ad_uuid_derive(id, r->in->event_id, AD_SUBJECT_BUILT);
        built.image = r->image;
        built.digest = r->digest ? r->digest : (char *)"";
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
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT;
        env.built = &built;
        return ad_event_publish(r->b->svc->bus, AD_SUBJECT_BUILT, &env, NULL, err);
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
        /* Network trouble: worth another delivery. */
        if (ad_error_is_retryable(*err))
                return ad_error_wrap(err, "clone");
        fail_step(r, false, "cannot clone %s at %s: %s", r->an->repo_url, r->an->git_sha,
                  ad_error_message(*err));
        ad_error_release(err);
        return 0;
}

static int build_and_push(struct build_run *r, struct builder_context *ctx, int context_fd,
                          ad_error_t *err)
{
        const struct builder_config *cfg = &r->b->cfg;
        const char *tags[] = { r->image, r->latest, NULL };
        char app_label[128], dep_label[128];
        const char *labels[] = { app_label, dep_label, NULL };
        struct builder_build_request req = {
                .socket = cfg->engine_socket,
                .tags = tags,
                .dockerfile = ctx->dockerfile,
                .labels = labels,
                .context_fd = context_fd,
                .timeout_ms = cfg->build_timeout_ms,
                .on_line = build_line,
                .ud = &r->log,
                .cancel = ad_service_stopping,
        };
        struct builder_build_result res;
        cleanup_free char *digest = NULL;
        int64_t t0 = ad_monotonic_ms();
        int ret;

        snprintf(app_label, sizeof(app_label), "%s=%s", AD_LABEL_APP, r->an->app_name);
        snprintf(dep_label, sizeof(dep_label), "%s=%s", AD_LABEL_DEPLOYMENT, r->in->deployment_id);
        builder_log_linef(&r->log, "==> building %s (%s%s)", r->image, ctx->dockerfile,
                          ctx->generated ? ", generated from the analysis" : "");
        ret = builder_engine_build(&req, &res, err);
        r->build_ms = ad_monotonic_ms() - t0;
        if (ret < 0) {
                if (ad_service_stopping())
                        return ret; /* abandoned: another delivery builds it */
                if ((*err)->kind == AD_ERR_TIMEOUT) {
                        fail_step(r, true, "build timed out after %lld s",
                                  (long long)(cfg->build_timeout_ms / 1000));
                        ad_error_release(err);
                        return 0;
                }
                if (ad_error_is_retryable(*err))
                        return ret;
                fail_step(r, false, "build failed: %s", ad_error_message(*err));
                ad_error_release(err);
                return 0;
        }
        field_int(r, "steps", res.steps);
        field_int(r, "layers_cached", res.layers_cached);
        if (res.error) {
                cleanup_free char *tail = builder_log_tail(&r->log, BUILDER_LOG_TAIL);
                const char *t = tail ? tail : res.error;
                size_t n = strlen(t);

                /* Keep the end: that is where the failing step speaks. */
                if (n > MAX_REASON) {
                        t += n - MAX_REASON;
                        while ((*t & 0xc0) == 0x80) /* not mid-character */
                                t++;
                }
                fail_step(r, false, "build failed: %s", t);
                builder_build_result_clear(&res);
                return 0;
        }
        builder_log_linef(&r->log, "==> built %s in %lld ms (%ld of %ld steps cached)",
                          res.image_id ? res.image_id : r->image, (long long)r->build_ms,
                          res.layers_cached, res.steps);
        builder_build_result_clear(&res);

        /* The sha tag first: once it is in, a redelivery reuses it. */
        ret = builder_engine_push(cfg->engine_socket, r->name, r->an->git_sha, cfg->push_timeout_ms,
                                  ad_service_stopping, &digest, err);
        if (ret == 0)
                ret = builder_engine_push(cfg->engine_socket, r->name, "latest",
                                          cfg->push_timeout_ms, ad_service_stopping, NULL, err);
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

/* The step's work.  0: done (built published, or r->failure set);
 * negative: a retryable error (NAK) or an unexpected one. */
static int run(struct build_run *r, ad_error_t *err)
{
        struct builder *b = r->b;
        const Appdeployer__V1__DeployAnalyzed *an = r->an;
        struct builder_context ctx = { 0 };
        struct ad_analysis *analysis = NULL;
        cleanup_free char *warning = NULL;
        struct builder_tar_stats st;
        cleanup_close int tar_fd = -1;
        int ret;

        if (!ad_app_name_valid(an->app_name))
                return fail_step(r, false, "invalid app name `%s`", an->app_name);
        if (!sha_ok(an->git_sha))
                return fail_step(r, false, "invalid git sha `%s`: expected 40 hex digits",
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
        builder_log_linef(&r->log, "==> cloning %s at %s", an->repo_url, an->git_sha);
        ret = builder_context_clone(&ctx, an->repo_url, an->git_sha, &b->cfg, err);
        if (ret < 0) {
                ret = clone_failed(r, err);
                goto out;
        }
        ret = builder_analysis_from_event(&analysis, an, err);
        if (ret == 0)
                ret = builder_context_dockerfile(&ctx, analysis, &b->cfg, &warning, err);
        if (ret < 0) {
                ret = fail_step(r, false, "cannot plan the build: %s", ad_error_message(*err));
                ad_error_release(err);
                goto out;
        }
        if (warning) {
                builder_log_linef(&r->log, "warning: %s (building without it)", warning);
                ad_log(AD_LOG_WARN, "extra CA bundle unusable", "error", warning, NULL);
        }
        ret = builder_context_tar(&ctx, b->cfg.max_context_bytes, &tar_fd, &st, err);
        if (ret < 0) {
                if ((*err)->kind == AD_ERR_TOO_LARGE) {
                        ret = fail_step(r, false, "%s", ad_error_message(*err));
                        ad_error_release(err);
                }
                goto out;
        }
        field_int(r, "context_bytes", (long long)st.bytes);
        ret = build_and_push(r, &ctx, tar_fd, err);
        if (ret == 0 && r->failure == NULL)
                ret = publish_built(r, err);
out:
        ad_analysis_free(analysis);
        builder_context_destroy(&ctx);
        return ret;
}

static enum ad_disposition garbage(struct ad_delivery *d, const char *why)
{
        char n[24];

        snprintf(n, sizeof(n), "%llu", (unsigned long long)d->delivered);
        ad_log(AD_LOG_WARN, "garbage on the bus: terminated", "subject", d->subject, "error", why,
               "delivered", n, NULL);
        return AD_TERM;
}

/* Publishes deploy.failed and records the event; NAK when that fails. */
static enum ad_disposition finish_failed(struct build_run *r)
{
        cleanup_error ad_error_t err = NULL;

        if (ad_event_publish_failed(r->b->svc->bus, r->in, BUILDER_PRODUCER, BUILDER_STEP,
                                    r->failure, r->failure_retryable, &err) < 0) {
                field_str(r, "error", ad_error_message(err));
                field_str(r, "outcome", "retry");
                return AD_NAK;
        }
        ad_db_event_mark(r->b->svc->db, BUILDER_CONSUMER, r->in->event_id, NULL);
        field_str(r, "outcome", "failed");
        field_str(r, "reason", r->failure);
        json_object_set_new(r->fields, "retryable", json_boolean(r->failure_retryable));
        return AD_ACK;
}

enum ad_disposition builder_handle_analyzed(struct ad_delivery *d, void *ud)
{
        struct build_run r = { .b = ud, .d = d };
        cleanup_error ad_error_t err = NULL;
        ad_envelope *in = NULL;
        struct builder_ping ping;
        enum ad_disposition disp;
        int64_t t0 = ad_monotonic_ms();
        bool seen = false;
        int ret;

        if (ad_event_unpack(&in, d->data, d->len, &err) < 0)
                return garbage(d, ad_error_message(err));
        if (in->payload_case != APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED) {
                ad_event_free(in);
                return garbage(d, "not a DeployAnalyzed payload");
        }
        r.in = in;
        r.an = in->analyzed;
        r.fields = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "deployment_id", in->deployment_id,
                             "event_id", in->event_id, "step", BUILDER_STEP, "app",
                             r.an->app_name ? r.an->app_name : "", "git_sha",
                             r.an->git_sha ? r.an->git_sha : "", "delivered",
                             (json_int_t)d->delivered);

        if (ad_db_event_seen(r.b->svc->db, BUILDER_CONSUMER, in->event_id, &seen, &err) < 0) {
                field_str(&r, "outcome", "retry");
                field_str(&r, "error", ad_error_message(err));
                disp = AD_NAK;
                goto out;
        }
        if (seen) {
                field_str(&r, "outcome", "duplicate");
                disp = AD_ACK;
                goto out;
        }

        builder_log_open(&r.log, r.b->svc->bus, r.b->svc->db, in->deployment_id,
                         r.b->cfg.max_log_lines);
        builder_ping_start(&ping, d, BUILDER_PING_MS);
        ret = run(&r, &err);
        builder_ping_stop(&ping);

        if (ret < 0 && ad_service_stopping()) {
                /* SIGTERM mid-build: leave the work to the next delivery. */
                field_str(&r, "outcome", "interrupted");
                field_str(&r, "error", ad_error_message(err));
                disp = AD_NAK;
        } else if (ret < 0 && ad_error_is_retryable(err) &&
                   (long)d->delivered < r.b->cfg.max_attempts) {
                field_str(&r, "outcome", "retry");
                field_str(&r, "error", ad_error_message(err));
                disp = AD_NAK;
        } else if (ret < 0) {
                /* Out of attempts, or something unexpected. */
                bool retryable = ad_error_is_retryable(err);

                if (retryable)
                        fail_step(&r, true, "gave up after %llu attempts: %s",
                                  (unsigned long long)d->delivered, ad_error_message(err));
                else
                        fail_step(&r, false, "%s", ad_error_message(err));
                disp = finish_failed(&r);
        } else if (r.failure) {
                disp = finish_failed(&r);
        } else {
                ad_db_event_mark(r.b->svc->db, BUILDER_CONSUMER, in->event_id, NULL);
                field_str(&r, "outcome", r.cache_hit ? "reused" : "built");
                field_str(&r, "image", r.image);
                field_str(&r, "digest", r.digest);
                json_object_set_new(r.fields, "cache_hit", json_boolean(r.cache_hit));
                field_int(&r, "build_ms", r.build_ms);
                disp = AD_ACK;
        }
        builder_log_close(&r.log);
out:
        field_int(&r, "duration_ms", ad_monotonic_ms() - t0);
        ad_log_json(disp == AD_ACK && r.failure == NULL ? AD_LOG_INFO : AD_LOG_WARN,
                    "deploy.analyzed handled", r.fields);
        free(r.digest);
        free(r.failure);
        ad_event_free(in);
        return disp;
}
