#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"

const struct ad_config_key deployer_config[] = {
        { "registry.insecure", AD_CONFIG_BOOL, "true", 0, 0,
          "pull from the registry over plain HTTP", NULL },
        { "registry.address", AD_CONFIG_STRING, "127.0.0.1:5000", 0, 0,
          "the platform registry, the only one `registry.username` is sent to", NULL },
        { "registry.username", AD_CONFIG_STRING, "", 0, 0,
          "the registry account images are pulled with (given to the engine); empty: none",
          "`\"\"`" },
        { "registry.password", AD_CONFIG_SECRET, "", 0, 0, "its password (never logged)",
          "`\"\"`" },
        { "deployer.user", AD_CONFIG_STRING, "10001:10001", 0, 0,
          "the uid:gid apps run as (never root)", NULL },
        { "deployer.default_memory_mb", AD_CONFIG_INT, "512", 16, 1024 * 1024,
          "memory limit when the analysis gives none", NULL },
        /* A number of cores, checked by parse_cpus. */
        { "deployer.default_cpus", AD_CONFIG_STRING, "1", 0, 0,
          "CPU limit in cores (0, 256] when the analysis gives none", NULL },
        /* A number of cores, checked by parse_cpus; 0 turns it off. */
        { "deployer.startup_cpus", AD_CONFIG_STRING, "2", 0, 0,
          "CPU limit in cores [0, 256] of a new release's web containers from their start to "
          "their first healthy answer, then lowered to the app's own limit (a restart runs "
          "with the app's); `0` or a value at or below the app's limit: no lift",
          NULL },
        { "deployer.pids_limit", AD_CONFIG_INT, "512", 16, 1 << 22,
          "most processes in one app container", NULL },
        { "deployer.read_only_rootfs", AD_CONFIG_BOOL, "true", 0, 0,
          "the app's root filesystem is read-only, with a tmpfs on `/tmp`; `false` for apps that "
          "must write elsewhere",
          NULL },
        { "deployer.health_timeout_s", AD_CONFIG_INT, "60", 1, 3600,
          "how long to probe `GET /` before giving up", NULL },
        { "deployer.health_interval_ms", AD_CONFIG_INT, "100", 10, 60000,
          "the longest pause between probes (they start 20 ms apart and back off to it)", NULL },
        { "deployer.drain_ms", AD_CONFIG_INT, "500", 0, 600000,
          "time the old release keeps serving after the switch (after EXPOSED is reported)", NULL },
        { "deployer.images_kept", AD_CONFIG_INT, "5", 0, 1000,
          "an app's newest images the engine keeps after a deploy (older ones are removed from "
          "the engine, not from the registry: a rollback to one pulls it); `0`: keep all",
          NULL },
        { "deployer.stop_timeout_s", AD_CONFIG_INT, "10", 0, 600,
          "SIGTERM grace of retired containers", NULL },
        { "deployer.restart_policy", AD_CONFIG_STRING, "unless-stopped", 0, 0,
          "the engine's restart policy of app containers: `no`, `always`, `unless-stopped` or "
          "`on-failure`",
          NULL },
        { "deployer.publish_address", AD_CONFIG_STRING, "127.0.0.1", 0, 0,
          "host address container ports are published on (caddy's upstream)", NULL },
        { "deployer.runtime_log_lines", AD_CONFIG_INT, "50", 0, 10000,
          "first lines of the app's log kept with the deployment", NULL },
        /* 10: about 2 minutes of retries (see builder.max_attempts). */
        { "deployer.max_attempts", AD_CONFIG_INT, "10", 1, 1000, "as the builder's", NULL },
        { "deployer.max_replicas", AD_CONFIG_INT, "10", 1, DEPLOYER_REPLICAS_MAX,
          "most containers one deployment may ask for (`replicas` in `deployer.yaml`, up to "
          "100); more fails the deploy step",
          NULL },
        { "deployer.backend", AD_CONFIG_STRING, "engine", 0, 0,
          "where apps run: `engine` (the local container engine) or `kubernetes` (see "
          "[kubernetes.md](kubernetes.md))",
          NULL },
        { "deployer.app_backends", AD_CONFIG_BOOL, "false", 0, 0,
          "let an app choose its backend with `backend: engine\\|kubernetes` in its deployer.yaml "
          "(the Kubernetes client is then loaded when `kubernetes.kubeconfig` is set or the "
          "deployer runs in a cluster); off: a choice other than `deployer.backend` fails the "
          "deployment",
          NULL },
        { "deployer.run_timeout_s", AD_CONFIG_INT, "300", 1, 86400,
          "the longest a one-off command (`adctl run`, `POST /apps/{name}/run`) runs before it is "
          "killed (1–86400)",
          NULL },
        { "deployer.release_timeout_s", AD_CONFIG_INT, "300", 1, 86400,
          "the longest a release command (a Procfile's `release:`, the analysis's "
          "releaseCommand) runs before it is killed and the deployment fails (1–86400)",
          NULL },
        /* A reply travels in one NATS message (1 MiB by default). */
        { "deployer.run_max_output_bytes", AD_CONFIG_INT, "262144", 1024, 512 * 1024,
          "the output of a one-off command kept and returned (1024–524288: the reply is one NATS "
          "message)",
          NULL },
        { "deployer.collect_logs", AD_CONFIG_BOOL, "true", 0, 0,
          "follow every app container's stdout and stderr into the app's runtime log (`GET "
          "/apps/{name}/logs?follow=1`, `adctl logs APP --tail`)",
          NULL },
        { "deployer.app_log_lines", AD_CONFIG_INT, "10000", 100, 1000000,
          "runtime log lines kept per app (100–1000000); older ones are deleted as new ones come",
          NULL },
        AD_CONFIG_END,
};
_Static_assert(DEPLOYER_REPLICAS_MAX == 100, "deployer.max_replicas's documented ceiling");

static const struct ad_config_key *const tables[] = { deployer_config, ad_service_secrets_config,
                                                      NULL };

/* A number of cores in (0, 256], or [0, 256] when zero is allowed. */
static int parse_cpus(const ad_config *cfg, const char *key, bool zero_ok, double *out,
                      ad_error_t *err)
{
        const char *v = ad_config_get_string(cfg, tables, key);
        char origin[300], *end;
        double d;

        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || *end != '\0' ||
            !((d > 0.0 || (zero_ok && d == 0.0)) && d <= 256.0))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "%s: key `%s`: expected a number of cores in %s0, 256], got "
                                     "`%.40s`",
                                     ad_config_origin(cfg, key, origin, sizeof(origin)), key,
                                     zero_ok ? "[" : "(", v);
        *out = d;
        return 0;
}

int deployer_load(struct deployer *dp, struct ad_service *svc, ad_error_t *err)
{
        const ad_config *cfg = svc->cfg;
        const char *key;
        int ret;

        dp->svc = svc;
        ret = ingress_load(&dp->ingress, cfg, err);
        if (ret < 0)
                return ret;
        if ((ret = ad_config_get_int(cfg, tables, "deployer.default_memory_mb",
                                     &dp->default_memory_mb, err)) < 0 ||
            (ret = parse_cpus(cfg, "deployer.default_cpus", false, &dp->default_cpus, err)) < 0 ||
            (ret = parse_cpus(cfg, "deployer.startup_cpus", true, &dp->startup_cpus, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.health_timeout_s",
                                     &dp->health_timeout_s, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.health_interval_ms",
                                     &dp->health_interval_ms, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.pids_limit", &dp->pids_limit, err)) <
                    0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.stop_timeout_s", &dp->stop_timeout_s,
                                     err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.drain_ms", &dp->drain_ms, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.images_kept", &dp->images_kept, err)) <
                    0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.runtime_log_lines",
                                     &dp->runtime_log_lines, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.max_attempts", &dp->max_attempts,
                                     err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.max_replicas", &dp->max_replicas,
                                     err)) < 0 ||
            (ret = ad_config_get_bool(cfg, tables, "registry.insecure", &dp->registry_insecure,
                                      err)) < 0 ||
            (ret = ad_config_get_bool(cfg, tables, "deployer.read_only_rootfs",
                                      &dp->read_only_rootfs, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.run_timeout_s", &dp->run_timeout_s,
                                     err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.release_timeout_s",
                                     &dp->release_timeout_s, err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.run_max_output_bytes",
                                     &dp->run_max_output, err)) < 0 ||
            (ret = ad_config_get_bool(cfg, tables, "deployer.app_backends", &dp->app_backends,
                                      err)) < 0 ||
            (ret = ad_config_get_int(cfg, tables, "deployer.app_log_lines", &dp->app_log_lines,
                                     err)) < 0 ||
            (ret = ad_config_get_bool(cfg, tables, "deployer.collect_logs", &dp->collect_logs,
                                      err)) < 0)
                return ret;
        dp->user = ad_config_get_string(cfg, tables, "deployer.user");
        dp->restart_policy = ad_config_get_string(cfg, tables, "deployer.restart_policy");
        dp->publish_address = ad_config_get_string(cfg, tables, "deployer.publish_address");
        if (strcmp(dp->restart_policy, "no") != 0 && strcmp(dp->restart_policy, "always") != 0 &&
            strcmp(dp->restart_policy, "unless-stopped") != 0 &&
            strcmp(dp->restart_policy, "on-failure") != 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `deployer.restart_policy`: expected no, always, "
                                     "unless-stopped or on-failure, got `%.40s`",
                                     dp->restart_policy);
        if (*dp->user == '\0' || strcmp(dp->user, "0") == 0 || strncmp(dp->user, "0:", 2) == 0 ||
            strncmp(dp->user, "root", 4) == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `deployer.user`: apps never run as root, got `%.40s`",
                                     dp->user);
        key = ad_config_get_string(cfg, tables, "secrets.key");
        if (*key) {
                ret = ad_secret_keyring_parse(
                        &dp->keys, key, ad_config_get_string(cfg, tables, "secrets.old_keys"), err);
                if (ret < 0)
                        return ret;
                dp->have_key = true;
        }
        key = ad_config_get_string(cfg, tables, "deployer.backend");
        dp->k8s_default = strcmp(key, "kubernetes") == 0;
        if (dp->k8s_default ||
            (dp->app_backends && (*ad_config_string(cfg, "kubernetes.kubeconfig", "") != '\0' ||
                                  getenv("KUBERNETES_SERVICE_HOST") != NULL))) {
                ret = k8s_backend_load(&dp->k8s, cfg, err);
                if (ret < 0)
                        return ret;
        } else if (strcmp(key, "engine") != 0) {
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `deployer.backend`: expected engine or kubernetes, got "
                                     "`%.40s`",
                                     key);
        }
        ret = ad_engine_open(&dp->engine, dp->ingress.engine_socket, err);
        if (ret == 0)
                ad_engine_on_repair(dp->engine, ad_service_log_engine_repair, NULL);
        key = ad_config_get_string(cfg, tables, "registry.username");
        dp->registry_address = ad_config_get_string(cfg, tables, "registry.address");
        if (ret == 0 && *key)
                ret = ad_engine_set_registry_auth(
                        dp->engine, dp->registry_address, key,
                        ad_config_get_string(cfg, tables, "registry.password"), err);
        if (ret == 0)
                ret = deployer_image_credentials(
                        key, ad_config_get_string(cfg, tables, "registry.password"), err);
        if (ret == 0)
                ret = ad_caddy_open(&dp->caddy, dp->ingress.caddy_admin_url, err);
        return ret;
}
