#include "analyzer_service.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad/analysis.h"
#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/git.h"
#include "ad/log.h"
#include "ad/metrics.h"
#include "ad/names.h"
#include "ad/service.h"
#include "detect.h"

#define CONSUMER "analyzer"

static const char *const known_keys[] = {
        "analyzer.allow_local_sources", "analyzer.max_repo_mb",
        "analyzer.clone_timeout_s",     "analyzer.work_dir",
        "analyzer.max_attempts",        NULL,
};

struct analyzer {
        struct ad_service svc;
        bool allow_local;
        long max_repo_mb, clone_timeout_s, max_attempts;
        const char *workdir;
        ad_metric *events;
        ad_metric *duration;
};

/* The clone and detection of one request, run on a worker thread while
 * the consumer tells the server the message is in progress. */
struct job {
        struct analyzer *an;
        const char *url, *ref;
        char dir[PATH_MAX];
        char sha[AD_GIT_SHA_LEN + 1];
        struct ad_analysis *analysis;
        const char *failed_at; /* "clone" or "detect" */
        ad_error_t err;
};

static int job_run(void *ud)
{
        struct job *j = ud;
        struct ad_git_limits lim = {
                .max_bytes = (uint64_t)j->an->max_repo_mb * 1024 * 1024,
                .timeout_ms = j->an->clone_timeout_s * 1000,
                .allow_local = j->an->allow_local,
        };
        char repo[PATH_MAX + 8];

        snprintf(repo, sizeof(repo), "%s/repo", j->dir);
        j->failed_at = "clone";
        if (ad_git_clone(j->url, j->ref, repo, &lim, j->sha, &j->err) < 0)
                return -1;
        j->failed_at = "detect";
        if (analyzer_detect(&j->analysis, repo, &j->err) < 0)
                return -1;
        j->failed_at = NULL;
        return 0;
}

static Appdeployer__V1__Resources *resources_of(const struct ad_analysis *a,
                                                Appdeployer__V1__Resources *r)
{
        appdeployer__v1__resources__init(r);
        r->cpu = a->cpu_millis / 1000.0;
        r->memory_mb = a->memory_mb;
        return r;
}

static int publish_analyzed(struct analyzer *an, const ad_envelope *in, const char *app,
                            struct job *j, ad_error_t *err)
{
        Appdeployer__V1__DeployAnalyzed msg = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__Resources res;
        const struct ad_analysis *a = j->analysis;
        const Appdeployer__V1__DeployRequested *req = in->requested;
        cleanup_free char *why = NULL, *full = NULL;
        char id[AD_UUID_LEN + 1];
        ad_envelope env;
        json_t *js;

        js = ad_analysis_to_json(a);
        if (js == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        full = json_dumps(js, JSON_COMPACT);
        why = json_dumps(json_object_get(js, "why"), JSON_COMPACT);
        json_decref(js);

        ad_event_init(&env, in->deployment_id, in->trace_id, in->attempt, "analyzer", id);
        ad_uuid_derive(id, in->event_id, "analyzed");
        msg.language = a->language;
        msg.framework = a->framework;
        msg.version = a->version;
        msg.install_command = a->install_command;
        msg.build_command = a->build_command;
        msg.start_command = a->start_command;
        msg.port = a->port;
        msg.n_env_var_names = a->n_env_vars;
        msg.env_var_names = a->env_vars;
        msg.resources = resources_of(a, &res);
        msg.git_sha = j->sha;
        msg.app_name = (char *)app;
        msg.has_dockerfile = a->has_dockerfile;
        msg.repo_url = req->repo_url;
        msg.ref = req->ref;
        msg.why_json = why ? why : (char *)"{}";
        msg.analysis_json = full ? full : (char *)"{}";
        msg.n_env = req->n_env;
        msg.env = req->env;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED;
        env.analyzed = &msg;
        return ad_event_publish(an->svc.bus, AD_SUBJECT_ANALYZED, &env, NULL, err);
}

static enum ad_disposition fail_step(struct analyzer *an, const ad_envelope *in, const char *reason,
                                     bool retryable)
{
        cleanup_error ad_error_t err = NULL;

        if (ad_event_publish_failed(an->svc.bus, in, "analyzer", "analyze", reason, retryable,
                                    &err) < 0) {
                ad_log(AD_LOG_WARN, "cannot publish deploy.failed, will retry", "deployment_id",
                       in->deployment_id, "error", ad_error_message(err), NULL);
                return AD_NAK;
        }
        ad_db_event_mark(an->svc.db, CONSUMER, in->event_id, NULL);
        return AD_ACK;
}

static void log_outcome(const ad_envelope *in, const char *outcome, int64_t started,
                        const char *detail)
{
        json_t *f = json_pack("{s:s,s:s,s:s,s:I}", "deployment_id", in->deployment_id, "step",
                              "analyze", "outcome", outcome, "duration_ms",
                              (json_int_t)(ad_monotonic_ms() - started));

        if (detail)
                json_object_set_new(f, "detail", json_string(detail));
        ad_log_json(strcmp(outcome, "analyzed") == 0 ? AD_LOG_INFO : AD_LOG_WARN,
                    "deploy.requested handled", f);
}

static enum ad_disposition handle_requested(struct ad_delivery *d, void *ud)
{
        struct analyzer *an = ud;
        cleanup_error ad_error_t err = NULL;
        int64_t started = ad_monotonic_ms();
        char app[AD_APP_NAME_MAX + 1];
        struct job job = { .an = an };
        enum ad_disposition disp;
        ad_envelope *in = NULL;
        bool seen = false;
        char reason[2048];

        if (ad_event_unpack(&in, d->data, d->len, &err) < 0 ||
            in->payload_case != APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED) {
                /* Garbage never becomes valid: drop it for good. */
                ad_log(AD_LOG_WARN, "rejected a message on deploy.requested", "error",
                       err ? ad_error_message(err) : "payload is not DeployRequested", NULL);
                ad_metric_add(an->events, "outcome=\"rejected\"", 1);
                ad_event_free(in);
                return AD_TERM;
        }
        if (ad_db_event_seen(an->svc.db, CONSUMER, in->event_id, &seen, &err) < 0) {
                ad_log(AD_LOG_WARN, "database unavailable, will retry", "error",
                       ad_error_message(err), NULL);
                ad_event_free(in);
                return AD_NAK;
        }
        if (seen) {
                ad_event_free(in);
                return AD_ACK;
        }

        /* Checks a user can act on, before any network I/O. */
        if (in->requested->app_name && *in->requested->app_name) {
                if (!ad_app_name_valid(in->requested->app_name)) {
                        snprintf(reason, sizeof(reason),
                                 "app name `%.64s` is not valid: use 1 to %d lower-case letters, "
                                 "digits and dashes",
                                 in->requested->app_name, AD_APP_NAME_MAX);
                        disp = fail_step(an, in, reason, false);
                        log_outcome(in, "failed", started, reason);
                        ad_event_free(in);
                        return disp;
                }
                snprintf(app, sizeof(app), "%s", in->requested->app_name);
        } else if (ad_app_name_from_url(app, in->requested->repo_url, &err) < 0) {
                disp = fail_step(an, in, ad_error_message(err), false);
                log_outcome(in, "failed", started, ad_error_message(err));
                ad_event_free(in);
                return disp;
        }
        if (ad_git_url_check(in->requested->repo_url, an->allow_local, &err) < 0) {
                disp = fail_step(an, in, ad_error_message(err), false);
                log_outcome(in, "failed", started, ad_error_message(err));
                ad_event_free(in);
                return disp;
        }

        snprintf(job.dir, sizeof(job.dir), "%s/adanalyzer-XXXXXX", an->workdir);
        if (mkdtemp(job.dir) == NULL) {
                ad_log(AD_LOG_ERROR, "cannot create a work directory, will retry", "dir",
                       an->workdir, "error", strerror(errno), NULL);
                ad_event_free(in);
                return AD_NAK;
        }
        job.url = in->requested->repo_url;
        job.ref = in->requested->ref;
        ad_delivery_work(d, job_run, &job, 5000);
        ad_rmtree(job.dir, NULL);

        if (job.failed_at) {
                bool retry =
                        ad_error_is_retryable(job.err) && (int64_t)d->delivered < an->max_attempts;

                if (retry) {
                        ad_log(AD_LOG_WARN, "clone failed, will retry", "deployment_id",
                               in->deployment_id, "error", ad_error_message(job.err), NULL);
                        disp = AD_NAK;
                } else {
                        snprintf(reason, sizeof(reason), "%s failed: %s", job.failed_at,
                                 ad_error_message(job.err));
                        disp = fail_step(an, in, reason, ad_error_is_retryable(job.err));
                        log_outcome(in, "failed", started, reason);
                }
                ad_metric_add(an->events, "outcome=\"failed\"", 1);
                ad_error_release(&job.err);
                ad_event_free(in);
                return disp;
        }

        if (publish_analyzed(an, in, app, &job, &err) < 0) {
                ad_log(AD_LOG_WARN, "cannot publish deploy.analyzed, will retry", "deployment_id",
                       in->deployment_id, "error", ad_error_message(err), NULL);
                ad_analysis_free(job.analysis);
                ad_event_free(in);
                return AD_NAK;
        }
        /* Published with an id derived from the input's: if this mark is
         * lost, the redelivery re-publishes the same id, dropped as a
         * duplicate. */
        ad_db_event_mark(an->svc.db, CONSUMER, in->event_id, NULL);
        ad_metric_add(an->events, "outcome=\"analyzed\"", 1);
        ad_metric_observe(an->duration, NULL, (double)(ad_monotonic_ms() - started) / 1000.0);
        {
                json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "deployment_id",
                                      in->deployment_id, "step", "analyze", "outcome", "analyzed",
                                      "language", job.analysis->language, "git_sha", job.sha,
                                      "duration_ms", (json_int_t)(ad_monotonic_ms() - started));
                ad_log_json(AD_LOG_INFO, "deploy.requested handled", f);
        }
        ad_analysis_free(job.analysis);
        ad_event_free(in);
        return AD_ACK;
}

int analyzer_service_main(int argc, char **argv)
{
        static struct analyzer an;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("analyzer"),
                .known_keys = known_keys,
        };
        struct ad_consumer consumers[] = {
                {
                        .spec = { .durable = CONSUMER,
                                  .filter_subject = AD_SUBJECT_REQUESTED,
                                  .ack_wait_ms = 60000 },
                        .handler = handle_requested,
                        .userdata = &an,
                },
        };
        cleanup_error ad_error_t err = NULL;
        int ret;

        ret = ad_service_start(&an.svc, "analyzer", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        if (ad_config_bool(an.svc.cfg, "analyzer.allow_local_sources", false, &an.allow_local,
                           &err) < 0 ||
            ad_config_int(an.svc.cfg, "analyzer.max_repo_mb", 512, 1, 1 << 20, &an.max_repo_mb,
                          &err) < 0 ||
            ad_config_int(an.svc.cfg, "analyzer.clone_timeout_s", 300, 1, 86400,
                          &an.clone_timeout_s, &err) < 0 ||
            ad_config_int(an.svc.cfg, "analyzer.max_attempts", 5, 1, 1000, &an.max_attempts, &err) <
                    0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_service_stop(&an.svc);
                return AD_EXIT_CONFIG;
        }
        an.workdir = ad_config_string(an.svc.cfg, "analyzer.work_dir",
                                      getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        an.events = ad_metric_get(AD_METRIC_COUNTER, "ad_analyzer_events_total",
                                  "deploy.requested events handled, by outcome.");
        an.duration = ad_metric_get(AD_METRIC_HISTOGRAM, "ad_analyzer_duration_seconds",
                                    "Clone and detection time of successful analyses.");

        ret = ad_service_run_consumers(&an.svc, consumers, AD_ARRAY_SIZE(consumers));
        ad_log(AD_LOG_INFO, "stopping", NULL);
        ad_service_stop(&an.svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
