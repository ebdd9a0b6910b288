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
#include "ad/secret.h"
#include "ad/service.h"
#include "ad/step.h"
#include "detect.h"

static const struct ad_config_key analyzer_config[] = {
        { "analyzer.allow_local_sources", AD_CONFIG_BOOL, "false", 0, 0,
          "clone `file://` URLs and local paths (tests, the demo)", NULL },
        { "analyzer.clone_allowlist", AD_CONFIG_STRING, NULL, 0, 0,
          "as `api.clone_allowlist`, checked again on every connection the clone makes "
          "(redirects too) against the addresses the host resolves to",
          "`\"\"`" },
        { "analyzer.max_repo_mb", AD_CONFIG_INT, "512", 1, 1 << 20, "a larger clone fails the step",
          NULL },
        { "analyzer.clone_timeout_s", AD_CONFIG_INT, "300", 1, 86400,
          "a slower clone fails the step", NULL },
        { "analyzer.max_attempts", AD_CONFIG_INT, "5", 1, 1000,
          "deliveries before a retryable failure (git server away) fails the step", NULL },
        { "analyzer.work_dir", AD_CONFIG_STRING, NULL, 0, 0, "where clones are made (and removed)",
          "`$TMPDIR` or `/tmp`" },
        AD_CONFIG_END,
};
static const struct ad_config_key *const config[] = { analyzer_config, ad_service_secrets_config,
                                                      ad_service_limits_config, NULL };

struct analyzer {
        struct ad_service svc;
        bool allow_local;
        long max_repo_mb, clone_timeout_s, max_attempts;
        const char *workdir;
        const char *clone_allowlist; /* exact host:port pairs (ad/netguard.h) */
        /* limits.*: 0 for no limit */
        long max_cpu_millis, max_memory_mb, max_replicas;
        /* secrets.key, secrets.old_keys: open a repository URL's sealed
         * credential (n == 0: none configured) */
        struct ad_secret_keyring keys;
        ad_metric *duration;
};

static Appdeployer__V1__Resources *resources_of(const struct ad_analysis *a,
                                                Appdeployer__V1__Resources *r)
{
        appdeployer__v1__resources__init(r);
        r->cpu = a->cpu_millis / 1000.0;
        r->memory_mb = a->memory_mb;
        r->replicas = a->replicas;
        return r;
}

/* The replicas of process type `name`: the app's scale when the request
 * carries one for it, else 1 (a process type declared in the Procfile
 * runs, as on Dokku and Railway; Heroku would start it at 0). */
static uint32_t process_replicas(const Appdeployer__V1__DeployRequested *req, const char *name)
{
        for (size_t i = 0; i < req->n_scale; i++)
                if (req->scale[i]->name && strcmp(req->scale[i]->name, name) == 0)
                        return req->scale[i]->replicas;
        return 1;
}

static int publish_analyzed(struct ad_step_run *run, const char *app, const char *sha,
                            const struct ad_analysis *a, ad_error_t *err)
{
        Appdeployer__V1__Process procs[AD_PROCESSES_MAX], *procp[AD_PROCESSES_MAX];
        size_t n_procs = 0;
        const char *pname;
        json_t *pcmd;
        Appdeployer__V1__DeployAnalyzed msg = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__Resources res;
        const Appdeployer__V1__DeployRequested *req = run->in->requested;
        cleanup_free char *why = NULL, *full = NULL;
        ad_envelope env;
        json_t *js;

        js = ad_analysis_to_json(a);
        if (js == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        full = json_dumps(js, JSON_COMPACT);
        why = json_dumps(json_object_get(js, "why"), JSON_COMPACT);
        json_decref(js);

        appdeployer__v1__envelope__init(&env);
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
        /* The app's scale, when the request carries it, wins. */
        if (req->replicas > 0)
                res.replicas = req->replicas;
        msg.git_sha = (char *)sha;
        msg.app_name = (char *)app;
        msg.has_dockerfile = a->has_dockerfile;
        msg.repo_url = req->repo_url;
        msg.ref = req->ref;
        msg.why_json = why ? why : (char *)"{}";
        msg.analysis_json = full ? full : (char *)"{}";
        msg.n_env = req->n_env;
        msg.env = req->env;
        json_object_foreach ((json_t *)a->processes, pname, pcmd) {
                if (n_procs == AD_PROCESSES_MAX)
                        break;
                appdeployer__v1__process__init(&procs[n_procs]);
                procs[n_procs].name = (char *)pname;
                procs[n_procs].command = (char *)json_string_value(pcmd);
                procs[n_procs].replicas = process_replicas(req, pname);
                procp[n_procs] = &procs[n_procs];
                n_procs++;
        }
        msg.n_processes = n_procs;
        msg.processes = procp;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED;
        env.analyzed = &msg;
        return ad_step_publish(run, AD_SUBJECT_ANALYZED, &env, err);
}

/* The app's name: the request's, checked, or the repository's. */
static int app_name(char out[AD_APP_NAME_MAX + 1], const Appdeployer__V1__DeployRequested *req,
                    ad_error_t *err)
{
        if (req->app_name == NULL || *req->app_name == '\0')
                return ad_app_name_from_url(out, req->repo_url, err);
        if (!ad_app_name_valid(req->app_name))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "app name `%.64s` is not valid: use 1 to %d lower-case "
                                     "letters, digits and dashes",
                                     req->app_name, AD_APP_NAME_MAX);
        snprintf(out, AD_APP_NAME_MAX + 1, "%s", req->app_name);
        return 0;
}

/* Clones into a fresh directory under work_dir and runs the detector;
 * ms[0] is the clone's time, ms[1] the detector's (for the step's line). */
static int clone_and_detect(struct analyzer *an, const Appdeployer__V1__DeployRequested *req,
                            char sha[AD_GIT_SHA_LEN + 1], struct ad_analysis **out, int64_t ms[2],
                            ad_error_t *err)
{
        struct ad_git_limits lim = {
                .max_bytes = (uint64_t)an->max_repo_mb * 1024 * 1024,
                .timeout_ms = an->clone_timeout_s * 1000,
                .allow_local = an->allow_local,
                .allowlist = an->clone_allowlist,
        };
        char dir[PATH_MAX], repo[PATH_MAX + 8];
        char *url = NULL;
        int64_t t = ad_monotonic_ms();
        int ret;

        snprintf(dir, sizeof(dir), "%s/adanalyzer-XXXXXX", an->workdir);
        if (mkdtemp(dir) == NULL)
                return ad_error_make(err, AD_ERR_UNAVAILABLE, errno,
                                     "cannot create a work directory in %s: %s", an->workdir,
                                     strerror(errno));
        snprintf(repo, sizeof(repo), "%s/repo", dir);
        /* A sealed credential is opened for the clone only. */
        ret = ad_secret_url_open(&url, &an->keys, req->app_name, req->repo_url, err);
        if (ret == 0) {
                ret = ad_git_clone(url, req->ref, repo, &lim, sha, err);
                explicit_bzero(url, strlen(url));
                free(url);
        } else {
                ad_rmtree(dir, NULL);
                return ret;
        }
        ms[0] = ad_monotonic_ms() - t;
        t = ad_monotonic_ms();
        if (ret < 0)
                ad_error_wrap(err, "clone failed");
        else if ((ret = analyzer_detect(out, repo, err)) < 0)
                ad_error_wrap(err, "detect failed");
        ms[1] = ad_monotonic_ms() - t;
        ad_rmtree(dir, NULL);
        return ret;
}

/* "2 cores", "1 core", "500m cores". */
static const char *cores(char buf[32], long millis)
{
        if (millis % 1000 == 0)
                snprintf(buf, 32, "%ld core%s", millis / 1000, millis == 1000 ? "" : "s");
        else
                snprintf(buf, 32, "%ldm cores", millis);
        return buf;
}

/* The platform's quotas (limits.*) against what the deployment asks for:
 * 0 when within them, else -1 with *reason (malloc'ed) naming the limit
 * and its value. */
static int check_quotas(const struct analyzer *an, const Appdeployer__V1__DeployRequested *req,
                        const struct ad_analysis *a, char **reason)
{
        const char *why = json_string_value(json_object_get(a->why, "resources"));
        const char *who = why && strstr(why, " resources: ") ? "deployer.yaml asks for"
                                                             : "the analysis estimates";
        unsigned replicas = req->replicas > 0 ? req->replicas : a->replicas;
        const char *rwho =
                req->replicas > 0 ? "the app's scale asks for" : "deployer.yaml asks for";
        char b1[32], b2[32];
        int n = 0;

        if (an->max_replicas > 0 && a->autoscale_max > replicas) {
                replicas = a->autoscale_max;
                rwho = "deployer.yaml's autoscaling.max asks for";
        }
        if (an->max_cpu_millis > 0 && a->cpu_millis > an->max_cpu_millis)
                n = asprintf(reason,
                             "%s %s per container; this platform allows %s "
                             "(limits.max_cpu_per_deployment): lower `resources.cpu` in "
                             "deployer.yaml",
                             who, cores(b1, a->cpu_millis), cores(b2, an->max_cpu_millis));
        else if (an->max_memory_mb > 0 && a->memory_mb > an->max_memory_mb)
                n = asprintf(reason,
                             "%s %u MiB of memory per container; this platform allows %ld MiB "
                             "(limits.max_memory_per_deployment): lower `resources.memory` in "
                             "deployer.yaml",
                             who, a->memory_mb, an->max_memory_mb);
        else if (an->max_replicas > 0 && replicas > an->max_replicas)
                n = asprintf(reason,
                             "%s %u replicas; this platform allows %ld (limits.max_replicas)", rwho,
                             replicas, an->max_replicas);
        else
                return 0;
        if (n < 0)
                *reason = NULL;
        return -1;
}

/* One deploy.requested.  Runs on a worker thread while the step runner
 * tells the server the message is in progress. */
static int analyze(struct ad_step_run *run, ad_error_t *err)
{
        struct analyzer *an = run->def->ud;
        const Appdeployer__V1__DeployRequested *req = run->in->requested;
        cleanup_analysis struct ad_analysis *a = NULL;
        cleanup_error ad_error_t cause = NULL;
        cleanup_free char *quota = NULL;
        char app[AD_APP_NAME_MAX + 1], sha[AD_GIT_SHA_LEN + 1];
        int64_t t0 = ad_monotonic_ms(), ms[2] = { 0, 0 };
        int ret;

        /* Checks a user can act on come before any network I/O. */
        if (ad_requested_check(req, &cause) < 0 || app_name(app, req, &cause) < 0 ||
            ad_git_url_check(req->repo_url, an->allow_local, &cause) < 0 ||
            ad_git_url_check_host(req->repo_url, an->clone_allowlist, &cause) < 0)
                return ad_step_fail(run, false, ad_error_message(cause), err);
        ret = clone_and_detect(an, req, sha, &a, ms, &cause);
        ad_step_log_int(run, "clone_ms", (long long)ms[0]);
        ad_step_log_int(run, "detect_ms", (long long)ms[1]);
        if (ret < 0) {
                /* A git server that is away is worth retrying (the runner
                 * does, up to max_attempts); anything else is final. */
                if (ad_error_is_retryable(cause)) {
                        *err = TAKE_PTR(cause);
                        return -AD_ERR_UNAVAILABLE;
                }
                return ad_step_fail(run, false, ad_error_message(cause), err);
        }
        if (check_quotas(an, req, a, &quota) < 0)
                return ad_step_fail(run, false, quota ? quota : "over a limit of this platform",
                                    err);
        ad_step_log_str(run, "app", app);
        ad_step_log_str(run, "language", a->language);
        ad_step_log_str(run, "git_sha", sha);
        ret = publish_analyzed(run, app, sha, a, err);
        if (ret == 0)
                ad_metric_observe(an->duration, NULL, (double)(ad_monotonic_ms() - t0) / 1000.0);
        return ret;
}

int analyzer_service_main(int argc, char **argv)
{
        static struct analyzer an;
        static struct ad_step_def step = {
                .consumer = "analyzer",
                .step = "analyze",
                .subject = AD_SUBJECT_REQUESTED,
                .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED,
                .ack_wait_ms = 60000,
                .ping_ms = 5000,
                .run = analyze,
                .ud = &an,
        };
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("analyzer"),
                .config = config,
        };
        cleanup_error ad_error_t err = NULL;
        int ret;

        ret = ad_service_start(&an.svc, "analyzer", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        const struct ad_config_key *const *t = an.svc.tables;
        if (ad_config_get_bool(an.svc.cfg, t, "analyzer.allow_local_sources", &an.allow_local,
                               &err) < 0 ||
            ad_config_get_int(an.svc.cfg, t, "analyzer.max_repo_mb", &an.max_repo_mb, &err) < 0 ||
            ad_config_get_int(an.svc.cfg, t, "analyzer.clone_timeout_s", &an.clone_timeout_s,
                              &err) < 0 ||
            ad_config_get_int(an.svc.cfg, t, "analyzer.max_attempts", &an.max_attempts, &err) < 0 ||
            ad_config_get_int(an.svc.cfg, t, "limits.max_memory_per_deployment", &an.max_memory_mb,
                              &err) < 0 ||
            ad_config_get_int(an.svc.cfg, t, "limits.max_replicas", &an.max_replicas, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_service_stop(&an.svc);
                return AD_EXIT_CONFIG;
        }
        if (*ad_config_get_string(an.svc.cfg, t, "secrets.key") &&
            ad_secret_keyring_parse(&an.keys, ad_config_get_string(an.svc.cfg, t, "secrets.key"),
                                    ad_config_get_string(an.svc.cfg, t, "secrets.old_keys"),
                                    &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "key", "secrets.key", "error",
                       ad_error_message(err), NULL);
                ad_service_stop(&an.svc);
                return AD_EXIT_CONFIG;
        }
        an.max_cpu_millis = ad_analysis_parse_cpu(
                ad_config_get_string(an.svc.cfg, t, "limits.max_cpu_per_deployment"));
        if (an.max_cpu_millis < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "key",
                       "limits.max_cpu_per_deployment", "error",
                       "not a number of cores (`2`) or millicores (`500m`)", NULL);
                ad_service_stop(&an.svc);
                return AD_EXIT_CONFIG;
        }
        an.clone_allowlist =
                ad_config_get_string(an.svc.cfg, an.svc.tables, "analyzer.clone_allowlist");
        if (ad_git_url_check_host("https://example.com/x", an.clone_allowlist, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "key", "analyzer.clone_allowlist",
                       "error", ad_error_message(err), NULL);
                ad_service_stop(&an.svc);
                return AD_EXIT_CONFIG;
        }
        an.workdir = ad_config_string(an.svc.cfg, "analyzer.work_dir",
                                      getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        an.duration = ad_metric_get(AD_METRIC_HISTOGRAM, "ad_analyzer_duration_seconds",
                                    "Clone and detection time of successful analyses.");
        step.max_attempts = an.max_attempts;

        ret = ad_step_serve(&an.svc, &step, 1);
        ad_log(AD_LOG_INFO, "stopping", NULL);
        ad_service_stop(&an.svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
