#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"

static int parse_cpus(const ad_config *cfg, double *out, ad_error_t *err)
{
        const char *v = ad_config_string(cfg, "deployer.default_cpus", "1");
        char origin[300], *end;
        double d;

        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || *end != '\0' || !(d > 0.0 && d <= 256.0))
                return ad_error_make(
                        err, AD_ERR_INVALID, 0,
                        "%s: key `deployer.default_cpus`: expected a number of "
                        "cores in (0, 256], got `%.40s`",
                        ad_config_origin(cfg, "deployer.default_cpus", origin, sizeof(origin)), v);
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
        if ((ret = ad_config_int(cfg, "deployer.default_memory_mb", 512, 16, 1024 * 1024,
                                 &dp->default_memory_mb, err)) < 0 ||
            (ret = parse_cpus(cfg, &dp->default_cpus, err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.health_timeout_s", 60, 1, 3600,
                                 &dp->health_timeout_s, err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.health_interval_ms", 500, 10, 60000,
                                 &dp->health_interval_ms, err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.pids_limit", 512, 16, 1 << 22, &dp->pids_limit,
                                 err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.stop_timeout_s", 10, 0, 600, &dp->stop_timeout_s,
                                 err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.drain_ms", 500, 0, 600000, &dp->drain_ms, err)) <
                    0 ||
            (ret = ad_config_int(cfg, "deployer.runtime_log_lines", 50, 0, 10000,
                                 &dp->runtime_log_lines, err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.app_log_lines", 10000, 100, 1000000,
                                 &dp->app_log_lines, err)) < 0 ||
            /* 10: about 2 minutes of retries (see builder.max_attempts). */
            (ret = ad_config_int(cfg, "deployer.max_attempts", 10, 1, 1000, &dp->max_attempts,
                                 err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.max_replicas", 10, 1, DEPLOYER_REPLICAS_MAX,
                                 &dp->max_replicas, err)) < 0 ||
            (ret = ad_config_bool(cfg, "deployer.collect_logs", true, &dp->collect_logs, err)) <
                    0 ||
            (ret = ad_config_bool(cfg, "registry.insecure", true, &dp->registry_insecure, err)) <
                    0 ||
            (ret = ad_config_bool(cfg, "deployer.read_only_rootfs", true, &dp->read_only_rootfs,
                                  err)) < 0 ||
            (ret = ad_config_int(cfg, "deployer.run_timeout_s", 300, 1, 86400, &dp->run_timeout_s,
                                 err)) < 0 ||
            /* A reply travels in one NATS message (1 MiB by default). */
            (ret = ad_config_int(cfg, "deployer.run_max_output_bytes", 256 * 1024, 1024, 512 * 1024,
                                 &dp->run_max_output, err)) < 0)
                return ret;
        dp->user = ad_config_string(cfg, "deployer.user", "10001:10001");
        dp->restart_policy = ad_config_string(cfg, "deployer.restart_policy", "unless-stopped");
        dp->publish_address = ad_config_string(cfg, "deployer.publish_address", "127.0.0.1");
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
        key = ad_config_string(cfg, "secrets.key", NULL);
        if (key && *key) {
                ret = ad_secret_key_parse(&dp->key, key, err);
                if (ret < 0)
                        return ret;
                dp->have_key = true;
        }
        ret = ad_config_bool(cfg, "deployer.app_backends", false, &dp->app_backends, err);
        if (ret < 0)
                return ret;
        key = ad_config_string(cfg, "deployer.backend", "engine");
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
                ret = ad_caddy_open(&dp->caddy, dp->ingress.caddy_admin_url, err);
        return ret;
}
