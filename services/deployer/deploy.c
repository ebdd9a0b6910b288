#include "deploy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/fault.h"
#include "ad/names.h"
#include "container.h"
#include "probe.h"
#include "process.h"
#include "release_phase.h"

#define NAME_LEN 128
#define DEFAULT_APP_PORT 8080
#define FAILURE_LOG_LINES 20
#define FAILURE_LOG_BYTES 4096
#define RUNTIME_LOG_BYTES (16 * 1024)
#define PROBE_TIMEOUT_MS 2000L
#define VERIFY_TIMEOUT_MS 10000L
/* A container seen stopped this many times in a row (a second apart) is
 * not coming back: the health wait ends early. */
#define EXITED_CHECKS 3

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void strv_free_secure(char **v)
{
        for (size_t i = 0; v && v[i]; i++) {
                explicit_bzero(v[i], strlen(v[i]));
                free(v[i]);
        }
        free(v);
}

static bool env_name_valid(const char *s)
{
        if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
                return false;
        for (; *s; s++)
                if (!(isalnum((unsigned char)*s) || *s == '_'))
                        return false;
        return true;
}

/* "PORT=<port>" then the user's variables, sealed values opened.  The
 * platform owns PORT: a user's PORT is dropped. */
static int build_env(struct deployer *dp, const Appdeployer__V1__DeployProvisioned *pv,
                     unsigned port, char ***out, ad_error_t *err)
{
        char **env = calloc(pv->n_env + 2, sizeof(*env));
        size_t n = 0;

        if (env == NULL || asprintf(&env[n++], "PORT=%u", port) < 0) {
                free(env);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        for (size_t i = 0; i < pv->n_env; i++) {
                const char *name = pv->env[i]->name, *value = pv->env[i]->value;
                char *plain = NULL;
                int ret;

                if (!env_name_valid(name)) {
                        strv_free_secure(env);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "environment variable name `%.60s` is not valid",
                                             name ? name : "");
                }
                if (strcmp(name, "PORT") == 0)
                        continue;
                if (ad_secret_is_sealed(value)) {
                        if (!dp->have_key) {
                                strv_free_secure(env);
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "%s is sealed but the deployer has no "
                                                     "secrets.key",
                                                     name);
                        }
                        ret = ad_secret_open(&plain, &dp->keys, pv->app_name, name, value, err);
                        if (ret < 0) {
                                strv_free_secure(env);
                                ad_error_wrap(err, "environment variable %s", name);
                                return ret;
                        }
                        value = plain;
                }
                ret = asprintf(&env[n], "%s=%s", name, value ? value : "");
                if (plain) {
                        explicit_bzero(plain, strlen(plain));
                        free(plain);
                }
                if (ret < 0) {
                        env[n] = NULL;
                        strv_free_secure(env);
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                }
                n++;
        }
        *out = env;
        return 0;
}

struct health {
        bool ok;
        long ms;         /* from start to the first good answer */
        char last[256];  /* what the last probe saw */
        char state[128]; /* what the engine last said of the container */
        bool stopping;   /* the service is shutting down */
};

/* The first pause between probes; each next one doubles, up to
 * deployer.health_interval_ms.  Most apps answer within a second of their
 * start: probing 20, 40, 80 ms ... apart reports them healthy within a few
 * tens of milliseconds of their first answer instead of up to a whole
 * interval later, and a slow starter is still probed only every interval
 * (100 ms by default: a probe of a port nobody listens on yet costs a
 * refused connection, and an app is seen within 100 ms of its first
 * answer). */
#define HEALTH_FIRST_PAUSE_MS 20

static void wait_healthy(struct deployer *dp, const struct ad_container *c, struct health *h)
{
        int64_t t0 = ad_monotonic_ms(), deadline = t0 + dp->health_timeout_s * 1000;
        int64_t next_inspect = t0 + 1000;
        long pause = HEALTH_FIRST_PAUSE_MS;
        int exited = 0;
        char url[300];

        memset(h, 0, sizeof(*h));
        snprintf(h->last, sizeof(h->last), "no answer yet");
        snprintf(h->state, sizeof(h->state), "running");
        snprintf(url, sizeof(url), "http://%s:%u/", dp->publish_address, c->host_port);
        for (;;) {
                struct probe_result r;
                int64_t now = ad_monotonic_ms(), left = deadline - now;

                probe_get(url, NULL,
                          left < PROBE_TIMEOUT_MS ? (left > 100 ? left : 100) : PROBE_TIMEOUT_MS,
                          &r);
                if (r.answered && r.status < 500) {
                        h->ok = true;
                        h->ms = (long)(ad_monotonic_ms() - t0);
                        return;
                }
                snprintf(h->last, sizeof(h->last), "%s", r.detail);
                now = ad_monotonic_ms();
                if (now >= next_inspect) {
                        struct ad_container s = { 0 };

                        next_inspect = now + 1000;
                        if (ad_engine_container_inspect(dp->engine, c->id, &s, NULL) == 0) {
                                exited = s.running ? 0 : exited + 1;
                                if (s.running)
                                        snprintf(h->state, sizeof(h->state),
                                                 "running, restarted %d times", s.restart_count);
                                else
                                        snprintf(h->state, sizeof(h->state),
                                                 "%s with exit code %d, restarted %d times",
                                                 s.state, s.exit_code, s.restart_count);
                                ad_container_clear(&s);
                        }
                }
                if (exited >= EXITED_CHECKS || now >= deadline)
                        break;
                if (ad_service_stopping()) {
                        h->stopping = true;
                        break;
                }
                if (pause > dp->health_interval_ms)
                        pause = dp->health_interval_ms;
                left = deadline - ad_monotonic_ms();
                sleep_ms(left < pause ? (left > 0 ? (long)left : 0) : pause);
                pause *= 2;
        }
        h->ms = (long)(ad_monotonic_ms() - t0);
}

/* Lifts a just-started container's CPU limit to deployer.startup_cpus
 * until it answers: an interpreter's start is CPU-bound, and under the
 * app's limit (half a core for a small Node app) it takes most of a
 * second longer.  Only the running cgroup changes: a restart by the
 * engine runs with the app's own limit.  Not lifted (an engine without
 * podman's update), the release starts under its own limit, as before. */
static bool startup_cpus_lift(struct ad_step_run *run, struct deployer *dp,
                              const struct ad_container *c, int64_t nano_cpus)
{
        cleanup_error ad_error_t lerr = NULL;

        if (ad_engine_container_set_cpus(dp->engine, c->id, nano_cpus, &lerr) < 0) {
                ad_step_log_str(run, "startup_cpus", ad_error_message(lerr));
                return false;
        }
        ad_step_log_int(run, "startup_cpu_millis", (long long)(nano_cpus / 1000000));
        return true;
}

/* A release that never became healthy: its log and what the checks saw
 * become the failure's reason; the container goes, the old release keeps
 * serving (the route was never touched). */
static int fail_unhealthy(struct ad_step_run *run, struct deployer *dp,
                          const struct ad_container *c, unsigned port, const struct health *h,
                          ad_error_t *err)
{
        cleanup_free char *logs = NULL;
        cleanup_free char *reason = NULL;
        cleanup_error ad_error_t lerr = NULL;

        if (ad_engine_container_logs(dp->engine, c->id, FAILURE_LOG_LINES, FAILURE_LOG_BYTES, &logs,
                                     &lerr) < 0)
                ad_step_log_str(run, "logs_error", ad_error_message(lerr));
        if (logs &&
            release_store_log(dp, run->in->deployment_id, logs, FAILURE_LOG_LINES, &lerr) < 0)
                ad_step_log_str(run, "store_log_error", ad_error_message(lerr));
        if (release_remove(dp, c->id, &lerr) < 0)
                ad_step_log_str(run, "remove_error", ad_error_message(lerr));
        if (asprintf(&reason,
                     "container %s did not answer HTTP on port %u within %.1f s (last check: %s; "
                     "container %s); the previous release, if any, keeps serving. "
                     "Last log lines:\n%s",
                     c->name, port, (double)h->ms / 1000.0, h->last, h->state,
                     logs && *logs ? logs : "(none)") < 0)
                reason = NULL;
        return ad_step_fail(run, false, reason ? reason : "container never became healthy", err);
}

/* After the switch: the ingress must answer with this release's tag. */
static bool verify_ingress(struct deployer *dp, const char *host, const char *deployment_id,
                           char *seen, size_t seen_size)
{
        int64_t deadline = ad_monotonic_ms() + VERIFY_TIMEOUT_MS;
        long pause = 10; /* doubling to 200 ms: caddy applies a change in a few ms */
        char url[300];

        snprintf(url, sizeof(url), "http://%s:%ld/", dp->ingress.address, dp->ingress.http_port);
        for (;;) {
                struct probe_result r;

                probe_get(url, host, PROBE_TIMEOUT_MS, &r);
                if (r.answered && r.status < 500 && strcmp(r.deployment, deployment_id) == 0)
                        return true;
                snprintf(seen, seen_size, "%s%s%s", r.detail, *r.deployment ? " from " : "",
                         r.deployment);
                if (ad_monotonic_ms() >= deadline)
                        return false;
                sleep_ms(pause);
                pause = pause < 100 ? pause * 2 : 200;
        }
}

/* The old releases go after EXPOSED is reported: the new release already
 * serves every new request, so their drain and stop are off the
 * deployment's path.  Requests caddy accepted before the switch finish on
 * the old release during deployer.drain_ms (only waited when there is an
 * old release); then its containers are stopped and removed.  The
 * delivery is acked only after this, so a deployer that dies in between
 * does it again on the redelivery (container_ensure reuses, the route
 * already serves, EXPOSED is re-published under the same event id); and
 * release_sweep() at start removes what a SUPERSEDED deployment left. */
static int retire_others(struct ad_step_run *run, struct deployer *dp, const char *app,
                         const char *deployment_id, ad_error_t *err)
{
        char label[NAME_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        json_t *retired = json_array();
        size_t n = 0, old = 0;
        int64_t t0 = ad_monotonic_ms();
        int ret;

        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, app);
        ret = ad_engine_container_list(dp->engine, filters, true, &list, &n, err);
        for (size_t i = 0; ret == 0 && i < n; i++)
                old += strcmp(list[i].deployment, deployment_id) != 0;
        if (old > 0 && dp->drain_ms > 0)
                sleep_ms(dp->drain_ms);
        for (size_t i = 0; ret == 0 && i < n; i++) {
                if (strcmp(list[i].deployment, deployment_id) == 0)
                        continue;
                ret = release_remove(dp, list[i].id, err);
                if (ret == 0)
                        json_array_append_new(retired, json_string(list[i].name));
        }
        ad_container_list_free(list, n);
        json_object_set_new(run->fields, "retired", retired);
        ad_step_log_int(run, "retire_ms", (long long)(ad_monotonic_ms() - t0));
        if (ret == 0)
                return 0;
        /* EXPOSED is out: the step must not fail now.  Retried on a
         * redelivery while attempts are left; past them the start-up
         * sweep takes what is left. */
        ad_step_log_str(run, "retire_error", ad_error_message(err ? *err : NULL));
        if (run->delivery->delivered >= (uint64_t)dp->max_attempts) {
                ad_error_release(err);
                return 0;
        }
        if (err && *err && !ad_error_is_retryable(*err))
                (*err)->kind = AD_ERR_UNAVAILABLE;
        return ret;
}

/* After the old release is retired: the app's older images leave the
 * engine (deployer.images_kept).  Never fails the step: EXPOSED is out, and
 * the next deploy tries again. */
static void prune_images(struct ad_step_run *run, struct deployer *dp, const char *app,
                         const char *current)
{
        cleanup_error ad_error_t err = NULL;
        int64_t t0 = ad_monotonic_ms();
        int found = 0, removed = 0;

        if (dp->images_kept <= 0)
                return;
        if (deployer_images_prune(dp, app, current, &found, &removed, &err) < 0)
                ad_step_log_str(run, "images_prune_error", ad_error_message(err));
        ad_step_log_int(run, "images_found", found);
        ad_step_log_int(run, "images_removed", removed);
        ad_step_log_int(run, "images_prune_ms", (long long)(ad_monotonic_ms() - t0));
}

/* Moments of a deploy step (Unix ms), reported in deploy.exposed for the
 * deployment's timeline. */
struct moments {
        int64_t containers_started, healthy, route_switched;
};

static int publish_exposed(struct ad_step_run *run, struct deployer *dp,
                           const Appdeployer__V1__DeployProvisioned *pv, const char *url,
                           const struct ad_container *cs, size_t n, const struct moments *at,
                           ad_error_t *err)
{
        Appdeployer__V1__DeployExposed out = APPDEPLOYER__V1__DEPLOY_EXPOSED__INIT;
        Appdeployer__V1__Process procs[AD_PROCESSES_MAX], *procp[AD_PROCESSES_MAX];
        cleanup_free char **ids = calloc(n, sizeof(*ids));
        ad_envelope env;

        if (ids == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        for (size_t i = 0; i < n; i++)
                ids[i] = cs[i].id;
        out.url = (char *)url;
        out.ip = (char *)dp->ingress.address;
        out.replicas = (uint32_t)n;
        out.n_container_ids = n;
        out.container_ids = ids;
        out.app_name = pv->app_name;
        out.containers_started_ms = at->containers_started;
        out.healthy_ms = at->healthy;
        out.route_switched_ms = at->route_switched;
        process_exposed(pv, procs, procp, &out.n_processes);
        out.processes = procp;
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED;
        env.exposed = &out;
        return ad_step_publish(run, AD_SUBJECT_EXPOSED, &env, err);
}

/* Copies the first lines of the release's log to deployment_logs. */
static void keep_runtime_log(struct ad_step_run *run, struct deployer *dp, const char *id)
{
        cleanup_free char *logs = NULL;
        cleanup_error ad_error_t lerr = NULL;

        if (dp->runtime_log_lines <= 0)
                return;
        if (ad_engine_container_logs(dp->engine, id, 0, RUNTIME_LOG_BYTES, &logs, &lerr) < 0 ||
            release_store_log(dp, run->in->deployment_id, logs, dp->runtime_log_lines, &lerr) < 0)
                ad_step_log_str(run, "runtime_log_error", ad_error_message(lerr));
}

/* True when route `id` already proxies to exactly these containers for
 * deployment_id (a redelivery after the switch): no config change, no
 * caddy reload. */
static bool route_serves(struct deployer *dp, const char *id, const struct ad_container *cs,
                         size_t n, const char *deployment_id)
{
        json_auto_t *handle = NULL;
        const json_t *upstreams;
        const char *dep;
        char want[300];

        if (ad_caddy_get(dp->caddy, id, "handle", &handle, NULL) < 0)
                return false;
        upstreams = ad_caddy_route_upstreams(handle);
        dep = ad_caddy_route_deployment(handle);
        if (dep == NULL || strcmp(dep, deployment_id) != 0 || json_array_size(upstreams) != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                const char *dial =
                        json_string_value(json_object_get(json_array_get(upstreams, i), "dial"));

                snprintf(want, sizeof(want), "%s:%u", dp->publish_address, cs[i].host_port);
                if (dial == NULL || strcmp(dial, want) != 0)
                        return false;
        }
        return true;
}

/* Stops and removes a release's containers (best effort: a failed step). */
static void remove_all(struct deployer *dp, const struct ad_container *cs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (cs[i].id)
                        release_remove(dp, cs[i].id, NULL);
}

/* The app's hosts for its route: the platform host, then its custom
 * domains (the API's `domains` table); *tls is set when it has any (a
 * custom domain is served over TLS whatever ingress.tls says). */
static int app_hosts(struct deployer *dp, const char *app, const char *host, json_t **out,
                     bool *tls, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *domains[AD_APP_DOMAINS_MAX];
        json_t *hosts;
        size_t n;
        int ret;

        ret = domains_load(dp, app, &r, domains, &n, err);
        if (ret < 0)
                return ret;
        hosts = json_pack("[s]", host);
        for (size_t i = 0; hosts && i < n; i++)
                json_array_append_new(hosts, json_string(domains[i]));
        if (hosts == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        *tls = *tls || n > 0;
        *out = hosts;
        return 0;
}

static int switch_route(struct ad_step_run *run, struct deployer *dp, const char *route_id,
                        const char *host, const json_t *hosts, bool tls,
                        const struct ad_container *cs, size_t n, ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        unsigned ports[DEPLOYER_REPLICAS_MAX];
        json_auto_t *handler = NULL;
        json_auto_t *previous = NULL;
        cleanup_error ad_error_t gerr = NULL;
        char seen[400] = "";
        int ret;

        for (size_t i = 0; i < n; i++)
                ports[i] = cs[i].host_port;
        handler = release_handler(dp, ports, n, dep);
        if (handler == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        /* What served before, to put back if the ingress does not serve
         * the new release. */
        ret = ad_caddy_get(dp->caddy, route_id, "handle", &previous, &gerr);
        if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                if (err)
                        *err = TAKE_PTR(gerr);
                return ret;
        }
        {
                char tls_id[INGRESS_ROUTE_ID_MAX];

                ingress_tls_route_id(tls_id, route_id);
                if (route_serves(dp, route_id, cs, n, dep) &&
                    (!tls || route_serves(dp, tls_id, cs, n, dep))) {
                        ad_step_log_str(run, "route", "already serving this release");
                } else {
                        ret = ingress_route_set(dp->caddy, &dp->ingress, route_id, host, tls,
                                                handler, err);
                        if (ret < 0)
                                return ret;
                }
                /* Its custom domains on a route made again (only the
                 * handle of an existing one changes). */
                ret = ingress_route_hosts(dp->caddy, route_id, hosts, err);
                if (ret < 0)
                        return ret;
                if (json_array_size(hosts) > 1)
                        ad_step_log_int(run, "domains", (long long)json_array_size(hosts) - 1);
        }
        if (verify_ingress(dp, host, dep, seen, sizeof(seen)))
                return 0;

        {
                json_auto_t *back =
                        previous ? json_incref(json_array_get(previous, 0)) : ingress_placeholder();
                cleanup_free char *reason = NULL;

                if (back)
                        release_repoint(dp, route_id, back, NULL);
                remove_all(dp, cs, n);
                if (asprintf(&reason,
                             "the route %s was pointed at container %s but the ingress "
                             "(http://%s:%ld/, Host: %s) did not serve it within %ld s: %s; "
                             "the previous route was restored",
                             route_id, cs[0].name, dp->ingress.address, dp->ingress.http_port, host,
                             VERIFY_TIMEOUT_MS / 1000, seen) < 0)
                        reason = NULL;
                ret = ad_step_fail(run, true, reason ? reason : "ingress did not serve the release",
                                   err);
                return ret < 0 ? ret : 1;
        }
}

/* The name of replica i (0-based) of a release: the first keeps the
 * plain name, the others get -2, -3... */
static void replica_name(char *out, size_t size, const char *app, const char *deployment_id,
                         size_t i)
{
        char base[NAME_LEN / 4 * 3]; /* "ad-<app>-<12 hex>" fits, and a suffix after it */

        ad_name_container(base, sizeof(base), app, deployment_id);
        if (i == 0)
                snprintf(out, size, "%s", base);
        else
                snprintf(out, size, "%s-%zu", base, i + 1);
}

int deploy_run(struct ad_step_run *run, ad_error_t *err)
{
        struct deployer *dp = run->def->ud;
        const Appdeployer__V1__DeployProvisioned *pv = run->in->provisioned;
        const char *dep = run->in->deployment_id;
        char name[NAME_LEN], network[NAME_LEN], route_id[INGRESS_ROUTE_ID_MAX];
        char host[INGRESS_HOST_MAX], label_app[NAME_LEN], label_dep[NAME_LEN];
        const char *labels[] = { label_app, label_dep, NULL };
        unsigned port = pv->port ? pv->port : DEFAULT_APP_PORT;
        size_t n = pv->resources && pv->resources->replicas ? pv->resources->replicas : 1;
        char **env = NULL;
        struct ad_container *cs = NULL;
        size_t started = 0, reused = 0;
        struct moments at = { 0 };
        struct process_set procs = { 0 };
        size_t n_procs = 0;
        struct health h;
        int64_t nano_cpus = 0; /* the app's CPU limit */
        /* The limit it starts with (deployer.startup_cpus), when above. */
        int64_t startup_nano_cpus = (int64_t)(dp->startup_cpus * 1e9);
        bool lift = false;
        /* Which replicas were lifted, to be lowered once they answer. */
        bool lifted[DEPLOYER_REPLICAS_MAX] = { false };
        bool pulled = false, k8s = false;
        const char *how = "";
        int64_t t_start;
        int ret;

        ret = deployer_backend(dp, run, true, &k8s, err);
        if (ret != 0)
                return ret < 0 ? ret : 0;
        ret = process_count(run, dp, pv, &n_procs, err);
        if (ret != 0)
                return ret < 0 ? ret : 0;
        if (k8s)
                return k8s_deploy_run(run, err);
        ad_step_log_str(run, "app", pv->app_name);
        if (!ad_app_name_valid(pv->app_name))
                return ad_error_make(err, AD_ERR_INVALID, 0, "app name `%.60s` is not valid",
                                     pv->app_name);
        if (pv->image == NULL || *pv->image == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "deploy.provisioned has no image");
        if (port > 65535)
                return ad_error_make(err, AD_ERR_INVALID, 0, "port %u is not a TCP port", port);
        ad_step_log_int(run, "replicas", (long long)n);
        if (n > (size_t)dp->max_replicas) {
                cleanup_free char *reason = NULL;

                if (asprintf(&reason,
                             "the app asks for %zu replicas; this platform runs at most %ld per "
                             "deployment (deployer.max_replicas): lower `replicas` in "
                             "deployer.yaml",
                             n, dp->max_replicas) < 0)
                        reason = NULL;
                return ad_step_fail(run, false, reason ? reason : "too many replicas", err);
        }
        ad_name_network(network, sizeof(network), pv->app_name);
        if (pv->route_id && *pv->route_id)
                snprintf(route_id, sizeof(route_id), "%s", pv->route_id);
        else
                ad_name_route(route_id, sizeof(route_id), pv->app_name);
        if (pv->host_name && *pv->host_name)
                snprintf(host, sizeof(host), "%s", pv->host_name);
        else
                ingress_host(host, &dp->ingress, pv->app_name);
        snprintf(label_app, sizeof(label_app), "%s=%s", AD_LABEL_APP, pv->app_name);
        snprintf(label_dep, sizeof(label_dep), "%s=%s", AD_LABEL_DEPLOYMENT, dep);
        ad_name_container(name, sizeof(name), pv->app_name, dep);
        ad_step_log_str(run, "container", name);

        /* The network is the provisioner's; made again here only if it went
         * missing since (idempotent). */
        t_start = ad_monotonic_ms();
        ret = ad_engine_network_ensure(dp->engine, network, labels, NULL, err);
        ad_step_log_int(run, "network_ms", (long long)(ad_monotonic_ms() - t_start));
        t_start = ad_monotonic_ms();
        if (ret == 0)
                ret = deployer_image_ensure(dp, pv->image, pv->image_digest, pv->image_id, &pulled,
                                            &how, err);
        ad_step_log_int(run, "image_ms", (long long)(ad_monotonic_ms() - t_start));
        if (ret < 0)
                return ret;
        ad_step_log_str(run, "image_pulled", pulled ? "true" : "false");
        ad_step_log_str(run, "image_check", how);

        cs = calloc(n, sizeof(*cs));
        if (cs == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = build_env(dp, pv, port, &env, err);
        if (ret < 0)
                goto out;
        {
                double cpus = pv->resources && pv->resources->cpu > 0 ? pv->resources->cpu
                                                                      : dp->default_cpus;
                long mem = pv->resources && pv->resources->memory_mb
                                   ? (long)pv->resources->memory_mb
                                   : dp->default_memory_mb;
                struct ad_container_spec spec = {
                        .name = name,
                        .image = pv->image,
                        .env = (const char *const *)env,
                        .labels = labels,
                        .network = network,
                        .container_port = port,
                        .host_ip = dp->publish_address,
                        .user = dp->user,
                        .memory_bytes = (int64_t)(mem < 16 ? 16 : mem) * 1024 * 1024,
                        .nano_cpus = (int64_t)((cpus > 256 ? 256 : cpus) * 1e9),
                        .pids_limit = dp->pids_limit,
                        .cap_drop_all = true,
                        .no_new_privileges = true,
                        .read_only_rootfs = dp->read_only_rootfs,
                        .restart_policy = dp->restart_policy,
                };

                nano_cpus = spec.nano_cpus;
                lift = startup_nano_cpus > nano_cpus;
                /* The release phase, once, before any container of the
                 * release starts. */
                ret = release_phase_run(run, dp, pv, &spec, err);
                if (ret != 0) {
                        strv_free_secure(env);
                        ret = ret < 0 ? ret : 0;
                        goto out;
                }
                /* All replicas start before any is probed: they boot
                 * side by side. */
                t_start = ad_monotonic_ms();
                at.containers_started = ad_now_ms();
                for (; started < n; started++) {
                        char rname[NAME_LEN];
                        bool was_there = false;

                        replica_name(rname, sizeof(rname), pv->app_name, dep, started);
                        spec.name = rname;
                        ret = container_ensure(dp, &spec, dep, CONTAINER_REUSE_RUNNING,
                                               &cs[started], &was_there, err);
                        if (ret < 0)
                                break;
                        reused += was_there;
                        if (lift && started < DEPLOYER_REPLICAS_MAX)
                                lifted[started] =
                                        startup_cpus_lift(run, dp, &cs[started], startup_nano_cpus);
                }
                /* The other process types: the same spec, their own
                 * command, no port. */
                spec.name = name;
                if (ret == 0)
                        ret = process_start(dp, pv, &spec, dep, &procs, err);
                strv_free_secure(env);
                if (ret < 0)
                        goto out; /* a redelivery finds and reuses the ones started */
        }
        ad_step_log_str(run, "container_id", cs[0].id);
        ad_step_log_int(run, "reused", (long long)reused);

        for (size_t i = 0; i < n; i++) {
                wait_healthy(dp, &cs[i], &h);
                if (h.stopping) {
                        ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                            "deployer stopping while waiting for health");
                        goto out;
                }
                if (!h.ok) {
                        /* The others go with it: a release is all its
                         * replicas or nothing. */
                        for (size_t j = 0; j < n; j++)
                                if (j != i)
                                        release_remove(dp, cs[j].id, NULL);
                        process_remove(dp, &procs);
                        ret = fail_unhealthy(run, dp, &cs[i], port, &h, err);
                        goto out;
                }
                /* Answering: back to the app's own limit before any
                 * request is routed to it. */
                if (i < DEPLOYER_REPLICAS_MAX && lifted[i]) {
                        ret = ad_engine_container_set_cpus(dp->engine, cs[i].id, nano_cpus, err);
                        if (ret < 0)
                                goto out; /* a redelivery lowers it again */
                }
        }
        if (procs.n > 0) {
                cleanup_free char *why = NULL;

                ad_step_log_int(run, "process_containers", (long long)procs.n);
                if (process_check(dp, &procs, &why) != 0) {
                        process_remove(dp, &procs);
                        remove_all(dp, cs, n);
                        ret = ad_step_fail(run, false, why ? why : "a process did not keep running",
                                           err);
                        goto out;
                }
        }
        ad_step_log_int(run, "start_to_healthy_ms", (long long)(ad_monotonic_ms() - t_start));
        at.healthy = ad_now_ms();

        {
                json_auto_t *hosts = NULL;
                bool tls = pv->tls;

                ret = app_hosts(dp, pv->app_name, host, &hosts, &tls, err);
                if (ret == 0)
                        ret = switch_route(run, dp, route_id, host, hosts, tls, cs, n, err);
        }
        if (ret != 0) {
                ret = ret < 0 ? ret : 0;
                goto out;
        }
        at.route_switched = ad_now_ms();
        {
                cleanup_free char *url = pv->url && *pv->url
                                                 ? strdup(pv->url)
                                                 : ingress_url(&dp->ingress, host, pv->tls);

                keep_runtime_log(run, dp, cs[0].id);
                ret = url ? publish_exposed(run, dp, pv, url, cs, n, &at, err)
                          : ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        if (ret == 0) {
                /* EXPOSED is out, the old release not yet retired. */
                AD_FAULT("deploy.after_exposed", NULL);
                ret = retire_others(run, dp, pv->app_name, dep, err);
                if (ret == 0)
                        prune_images(run, dp, pv->app_name, pv->image);
        }
out:
        process_set_clear(&procs);
        ad_container_list_free(cs, n);
        return ret;
}
