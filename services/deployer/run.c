/* One-off commands of an app (POST /apps/{name}/run, issue 15).
 *
 * The deployer owns the engine for apps, so it runs them: the API sends a
 * core NATS request on app.run.<app> (queue group "deployer": one replica
 * takes it) with the current release's image and the app's sealed config,
 * and waits for the reply.  Not JetStream: a one-off command is not
 * replayed after a crash (its caller has gone), and a deployer that dies
 * mid-command leaves a container labelled app-deployer.run that the next
 * command of the app removes.
 *
 * The container is the app's as a release runs it (same uid, every
 * capability dropped, no-new-privileges, memory, cpu and pids limits,
 * read-only root, the app's network) with no port, no route, no restart;
 * it runs `/bin/sh -c COMMAND` for at most the request's timeout (bounded
 * by deployer.run_timeout_s), then is killed; its output (stdout and
 * stderr) is kept up to deployer.run_max_output_bytes, and it is removed.
 *
 * Request: {"app", "image", "command", "timeout_s", "env": {NAME: sealed
 * value}}.  Reply: {"exit_code", "output", "truncated", "timed_out",
 * "duration_ms"}, or {"error": message} when it could not run. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/names.h"
#include "ad/uuid.h"
#include "deploy.h"

#define RUN_LABEL "app-deployer.run"
#define RUN_COMMAND_MAX (16 * 1024)
#define RUN_POLL_MS 100

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void env_free(char **env)
{
        for (size_t i = 0; env && env[i]; i++) {
                explicit_bzero(env[i], strlen(env[i]));
                free(env[i]);
        }
        free(env);
}

/* "NAME=value" for each variable, sealed values opened. */
static int open_env(struct deployer *dp, const char *app, json_t *vars, char ***out,
                    ad_error_t *err)
{
        char **env = calloc(json_object_size(vars) + 1, sizeof(*env));
        const char *name;
        size_t n = 0;
        json_t *v;

        if (env == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        json_object_foreach (vars, name, v) {
                const char *value = json_string_value(v);
                char *plain = NULL;
                int ret;

                if (value == NULL || strcmp(name, "PORT") == 0)
                        continue;
                if (ad_secret_is_sealed(value)) {
                        if (!dp->have_key ||
                            ad_secret_open(&plain, &dp->keys, app, name, value, NULL) < 0) {
                                env_free(env);
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "the value of %.60s cannot be opened with "
                                                     "this deployer's keys (secrets.key, "
                                                     "secrets.old_keys) for this app",
                                                     name);
                        }
                        value = plain;
                }
                ret = asprintf(&env[n], "%s=%s", name, value);
                if (plain) {
                        explicit_bzero(plain, strlen(plain));
                        free(plain);
                }
                if (ret < 0) {
                        env[n] = NULL;
                        env_free(env);
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                }
                n++;
        }
        *out = env;
        return 0;
}

/* One-off containers of the app left by a deployer that died mid-command. */
static void remove_leftovers(struct deployer *dp, const char *app)
{
        char label[128];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        size_t n = 0;

        snprintf(label, sizeof(label), "%s=%s", RUN_LABEL, app);
        if (ad_engine_container_list(dp->engine, filters, true, &list, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (!ad_container_live(&list[i]))
                        ad_engine_container_remove(dp->engine, list[i].id, true, NULL);
        ad_container_list_free(list, n);
}

/* Replaces the bytes of invalid UTF-8 sequences (and a sequence cut by
 * the output bound) with '?', so the output fits in a JSON string. */
static void utf8_scrub(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                size_t n = *p < 0x80           ? 1
                           : (*p >> 5) == 0x6  ? 2
                           : (*p >> 4) == 0xe  ? 3
                           : (*p >> 3) == 0x1e ? 4
                                               : 0;
                size_t i = 1;

                while (n > 1 && i < n && (p[i] & 0xc0) == 0x80)
                        i++;
                if (n == 0 || i < n) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

struct run_result {
        int exit_code;
        bool timed_out;
        bool truncated;
        char *output;
        long duration_ms;
};

static int run_command(struct deployer *dp, const char *app, const char *image, const char *command,
                       long timeout_s, json_t *vars, struct run_result *res, ad_error_t *err)
{
        char name[128], network[128], label[128], uuid[AD_UUID_LEN + 1];
        const char *labels[] = { label, NULL };
        const char *cmd[] = { "/bin/sh", "-c", command, NULL };
        cleanup_free char *id = NULL;
        char **env = NULL;
        bool pulled = false;
        int64_t t0, deadline;
        size_t len;
        int ret;

        ad_uuid_v4(uuid);
        snprintf(name, sizeof(name), "ad-%s-run-%.8s", app, uuid);
        snprintf(label, sizeof(label), "%s=%s", RUN_LABEL, app);
        ad_name_network(network, sizeof(network), app);
        remove_leftovers(dp, app);
        ret = open_env(dp, app, vars, &env, err);
        if (ret == 0)
                ret = ad_engine_image_ensure(dp->engine, image, dp->registry_insecure, &pulled,
                                             err);
        if (ret == 0) {
                struct ad_container_spec spec = {
                        .name = name,
                        .image = image,
                        .cmd = cmd,
                        .env = (const char *const *)env,
                        .labels = labels,
                        .network = network,
                        .user = dp->user,
                        .memory_bytes = (int64_t)dp->default_memory_mb * 1024 * 1024,
                        .nano_cpus = (int64_t)(dp->default_cpus * 1e9),
                        .pids_limit = dp->pids_limit,
                        .cap_drop_all = true,
                        .no_new_privileges = true,
                        .read_only_rootfs = dp->read_only_rootfs,
                        .restart_policy = "no",
                };

                ret = ad_engine_container_create(dp->engine, &spec, &id, err);
        }
        env_free(env);
        if (ret < 0)
                return ret;
        t0 = ad_monotonic_ms();
        deadline = t0 + timeout_s * 1000;
        ret = ad_engine_container_start(dp->engine, id, err);
        while (ret == 0) {
                struct ad_container c = { 0 };

                ret = ad_engine_container_inspect(dp->engine, id, &c, err);
                if (ret < 0)
                        break;
                if (!c.running && c.state && strcmp(c.state, "created") != 0) {
                        res->exit_code = c.exit_code;
                        ad_container_clear(&c);
                        break;
                }
                ad_container_clear(&c);
                if (ad_monotonic_ms() >= deadline) {
                        res->timed_out = true;
                        res->exit_code = 137;
                        ad_engine_container_stop(dp->engine, id, 0, NULL);
                        break;
                }
                sleep_ms(RUN_POLL_MS);
        }
        res->duration_ms = (long)(ad_monotonic_ms() - t0);
        if (ret == 0)
                ret = ad_engine_container_logs(dp->engine, id, 0, (size_t)dp->run_max_output + 1,
                                               &res->output, err);
        ad_engine_container_remove(dp->engine, id, true, NULL);
        if (ret < 0)
                return ret;
        len = strlen(res->output);
        if (len > (size_t)dp->run_max_output) {
                res->output[dp->run_max_output] = '\0';
                res->truncated = true;
        }
        utf8_scrub(res->output);
        return 0;
}

/* The kubernetes backend: a pod of the current release (k8s_deploy.c),
 * its output bounded and scrubbed as the engine's. */
static int run_on_k8s(struct deployer *dp, const char *app, const char *command, long timeout_s,
                      struct run_result *res, ad_error_t *err)
{
        struct k8s_run_result kr;
        int ret =
                k8s_run_command(dp, app, command, timeout_s, (size_t)dp->run_max_output, &kr, err);

        if (ret < 0)
                return ret;
        res->exit_code = kr.exit_code;
        res->timed_out = kr.timed_out;
        res->duration_ms = kr.duration_ms;
        res->output = kr.output;
        if (strlen(res->output) > (size_t)dp->run_max_output) {
                res->output[dp->run_max_output] = '\0';
                res->truncated = true;
        }
        utf8_scrub(res->output);
        return 0;
}

void run_serve(const char *subject, const void *data, size_t len, char **reply, size_t *reply_len,
               void *ud)
{
        struct deployer *dp = ud;
        struct run_result res = { 0 };
        cleanup_error ad_error_t err = NULL;
        json_auto_t *req = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
        json_auto_t *out = NULL;
        const char *app = json_string_value(json_object_get(req, "app"));
        const char *image = json_string_value(json_object_get(req, "image"));
        const char *command = json_string_value(json_object_get(req, "command"));
        json_t *vars = json_object_get(req, "env");
        json_auto_t *empty = json_object();
        long timeout_s = (long)json_integer_value(json_object_get(req, "timeout_s"));
        char shown[64];
        bool k8s = false;
        int ret;

        (void)subject;
        if (timeout_s <= 0 || timeout_s > dp->run_timeout_s)
                timeout_s = dp->run_timeout_s;
        if (!ad_app_name_valid(app) || image == NULL || *image == '\0' || command == NULL ||
            *command == '\0' || strlen(command) > RUN_COMMAND_MAX ||
            (vars && !json_is_object(vars)))
                ret = ad_error_make(&err, AD_ERR_INVALID, 0, "not a valid run request");
        else if ((ret = deployer_app_backend(dp, app, &k8s, &err)) < 0)
                ; /* err says why */
        else if (k8s)
                ret = run_on_k8s(dp, app, command, timeout_s, &res, &err);
        else
                ret = run_command(dp, app, image, command, timeout_s, vars ? vars : empty, &res,
                                  &err);
        snprintf(shown, sizeof(shown), "%s", app && ad_app_name_valid(app) ? app : "?");
        if (ret < 0) {
                ad_log(AD_LOG_WARN, "one-off command failed to run", "app", shown, "error",
                       ad_error_message(err), NULL);
                out = json_pack("{s:s}", "error", ad_error_message(err));
        } else {
                char code[16], ms[24];

                snprintf(code, sizeof(code), "%d", res.exit_code);
                snprintf(ms, sizeof(ms), "%ld", res.duration_ms);
                /* The command itself is not logged: it may hold secrets. */
                ad_log(AD_LOG_INFO, "one-off command run", "app", shown, "exit_code", code,
                       "duration_ms", ms, "timed_out", res.timed_out ? "true" : "false", NULL);
                out = json_pack("{s:i,s:s,s:b,s:b,s:I}", "exit_code", res.exit_code, "output",
                                res.output ? res.output : "", "truncated", res.truncated,
                                "timed_out", res.timed_out, "duration_ms",
                                (json_int_t)res.duration_ms);
        }
        free(res.output);
        if (out == NULL) /* out of memory */
                out = json_pack("{s:s}", "error", "the deployer ran out of memory");
        *reply = out ? json_dumps(out, JSON_COMPACT) : NULL;
        *reply_len = *reply ? strlen(*reply) : 0;
}
