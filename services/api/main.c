/* adapi: the REST API (see api.h for the threads and the database
 * connections, api_router.c for the routes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/fault.h"
#include "ad/git.h"
#include "ad/log.h"
#include "api.h"

/* One key a line, so additions merge cleanly. */
/* clang-format off */
static const char *const api_keys[] = {
        "api.max_body_bytes",
        "api.allow_local_sources",
        "api.db_pool_size",
        "api.tokens",
        "secrets.key",
        "secrets.old_keys",
        "api.clone_allowlist",
        "engine.socket",
        "api.config_readers",
        "api.require_auth",
        "limits.max_deployments_per_user",
        "api.jwt_keys",
        "api.jwt_ttl_s",
        "api.jwt_issuer",
        "api.jwt_audience",
        "api.rate_limit_per_token",
        "api.rate_burst_per_token",
        "api.rate_limit_per_address",
        "api.rate_burst_per_address",
        "api.max_followers_per_token",
        "api.tls_cert_file",
        "api.tls_key_file",
        "api.behind_tls_proxy",
        "api.max_connections_per_address",
        "api.follower_idle_timeout_s",
        "api.allowed_hosts",
        "limits.max_cpu_per_deployment",
        "limits.max_memory_per_deployment",
        "limits.max_replicas",
        NULL,
};
/* clang-format on */

/* The ingress keys (caddy.*, ingress.*): for custom domains. */
static const struct ad_config_key *const api_config[] = { ingress_config, NULL };

/* What the HTTP server needs before ad_service_start() starts it (the
 * body limit, the TLS files), so the configuration is read once here
 * too.  Any problem is left for ad_service_start() to report. */
struct early {
        size_t max_body;
        long max_conns_per_ip;
        char tls_cert[1024], tls_key[1024];
};

static void peek_config(struct early *e, int argc, char **argv)
{
        const char *path = getenv("AD_CONFIG");
        ad_config *cfg = NULL;
        long v = API_DEFAULT_MAX_BODY;

        for (int i = 1; i < argc; i++) {
                if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                    i + 1 < argc)
                        path = argv[++i];
                else if (strncmp(argv[i], "--config=", 9) == 0)
                        path = argv[i] + 9;
                else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2])
                        path = argv[i] + 2;
        }
        if (ad_config_load(&cfg, path, NULL) == 0) {
                if (ad_config_int(cfg, "api.max_body_bytes", API_DEFAULT_MAX_BODY, 1024, 16 << 20,
                                  &v, NULL) < 0)
                        v = API_DEFAULT_MAX_BODY;
                if (ad_config_int(cfg, "api.max_connections_per_address", 64, 0, 100000,
                                  &e->max_conns_per_ip, NULL) < 0)
                        e->max_conns_per_ip = 64;
                snprintf(e->tls_cert, sizeof(e->tls_cert), "%s",
                         ad_config_string(cfg, "api.tls_cert_file", ""));
                snprintf(e->tls_key, sizeof(e->tls_key), "%s",
                         ad_config_string(cfg, "api.tls_key_file", ""));
        } else
                e->max_conns_per_ip = 64;
        ad_config_free(cfg);
        e->max_body = (size_t)v;
}

/* api.tls_*: both files or neither; a bind reachable from the network
 * serves TLS unless a TLS-terminating proxy is in front
 * (api.behind_tls_proxy). */
static int configure_tls(struct api *api, ad_error_t *err)
{
        const char *cert = ad_config_string(api->svc.cfg, "api.tls_cert_file", "");
        const char *key = ad_config_string(api->svc.cfg, "api.tls_key_file", "");
        const char *bind = ad_config_string(api->svc.cfg, "http.bind", "127.0.0.1");
        bool proxy = false;
        long conns;
        int ret = ad_config_bool(api->svc.cfg, "api.behind_tls_proxy", false, &proxy, err);

        /* Read before the server started (peek_config); checked here. */
        if (ret == 0)
                ret = ad_config_int(api->svc.cfg, "api.max_connections_per_address", 64, 0, 100000,
                                    &conns, err);

        if (ret < 0)
                return ret;
        if (!*cert != !*key)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "api.tls_cert_file and api.tls_key_file go together: set "
                                     "both (HTTPS) or neither");
        if (!*cert && !proxy && !api_bind_is_loopback(bind))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "http.bind is %s but the API serves plain HTTP: set "
                                     "api.tls_cert_file and api.tls_key_file, or "
                                     "api.behind_tls_proxy: true when a TLS-terminating proxy is "
                                     "in front",
                                     bind);
        ad_log(AD_LOG_INFO, "transport", "tls", *cert ? "on (TLS 1.2+)" : "off", "behind_tls_proxy",
               proxy ? "true" : "false", NULL);
        return 0;
}

/* api.jwt_*: the keys that sign and verify the JWTs of POST /auth/token
 * (none: JWTs are off, API keys are sent as they are). */
static int configure_jwt(struct api *api, ad_error_t *err)
{
        const char *iss = ad_config_string(api->svc.cfg, "api.jwt_issuer", "app-deployer");
        const char *aud = ad_config_string(api->svc.cfg, "api.jwt_audience", "app-deployer-api");
        int ret = api_jwt_keys_parse(&api->jwt, ad_config_string(api->svc.cfg, "api.jwt_keys", ""),
                                     err);

        if (ret == 0)
                ret = ad_config_int(api->svc.cfg, "api.jwt_ttl_s", API_JWT_DEFAULT_TTL_S, 1, 86400,
                                    &api->jwt.ttl_s, err);
        if (ret < 0)
                return ret;
        if (*iss == '\0' || strlen(iss) >= sizeof(api->jwt.issuer) || *aud == '\0' ||
            strlen(aud) >= sizeof(api->jwt.audience))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "api.jwt_issuer and api.jwt_audience are 1 to %zu characters",
                                     sizeof(api->jwt.issuer) - 1);
        snprintf(api->jwt.issuer, sizeof(api->jwt.issuer), "%s", iss);
        snprintf(api->jwt.audience, sizeof(api->jwt.audience), "%s", aud);
        if (api->jwt.n > 0)
                ad_log(AD_LOG_INFO, "issuing JWTs (POST /auth/token)", "signing_kid",
                       api->jwt.key[0].kid, "issuer", api->jwt.issuer, "audience",
                       api->jwt.audience, NULL);
        return 0;
}

/* The bearer tokens and API keys (api_auth.c).  Without api.tokens and
 * api.require_auth a request with no key is an anonymous operator, which
 * only a loopback bind allows. */
static int configure_auth(struct api *api, struct api_tokens *tokens, ad_error_t *err)
{
        const char *spec = ad_config_string(api->svc.cfg, "api.tokens", "");
        const char *bind = ad_config_string(api->svc.cfg, "http.bind", "127.0.0.1");
        bool require = false;
        int ret = api_tokens_parse(tokens, spec, err);

        if (ret == 0)
                ret = ad_config_bool(api->svc.cfg, "api.require_auth", false, &require, err);
        if (ret < 0)
                return ret;
        api->tokens = tokens;
        api->anonymous_ok = tokens->n == 0 && !require;
        if (api->anonymous_ok) {
                if (!api_bind_is_loopback(bind))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "http.bind is %s but api.tokens is empty and "
                                             "api.require_auth is off: an API reachable from the "
                                             "network needs tokens (name:sha256-of-token, "
                                             "comma-separated) or API keys only "
                                             "(api.require_auth: true)",
                                             bind);
                ad_log(AD_LOG_WARN,
                       "api.tokens is empty: a request without an API key is an anonymous "
                       "operator (loopback only)",
                       NULL);
        }
        ret = api_host_configure(api, err);
        if (ret == 0)
                ret = configure_jwt(api, err);
        if (ret == 0)
                ret = api_limit_configure(api, err);
        /* The address's bucket before authentication (key guessing is
         * limited too), the key's after it. */
        if (ret == 0)
                ret = api_hook_add(api, api_limit_address_hook, NULL, err);
        if (ret == 0)
                ret = api_hook_add(api, api_auth_hook, tokens, err);
        if (ret == 0)
                ret = api_hook_add(api, api_limit_token_hook, NULL, err);
        if (ret == 0)
                ret = configure_tls(api, err);
        return ret;
}

static int configure(struct api *api, ad_error_t *err)
{
        const char *key = ad_config_string(api->svc.cfg, "secrets.key", "");
        long max_body, pool_size;
        int ret;

        ret = ad_config_int(api->svc.cfg, "api.max_body_bytes", API_DEFAULT_MAX_BODY, 1024,
                            16 << 20, &max_body, err);
        if (ret == 0)
                ret = ad_config_int(api->svc.cfg, "api.db_pool_size", 8, 1, 64, &pool_size, err);
        if (ret == 0)
                ret = ad_config_bool(api->svc.cfg, "api.allow_local_sources", false,
                                     &api->allow_local, err);
        if (ret == 0)
                ret = ad_config_int(api->svc.cfg, "limits.max_deployments_per_user", 0, 0, 1000000,
                                    &api->max_apps_per_team, err);
        if (ret == 0)
                ret = api_quota_configure(api, err);
        if (ret < 0)
                return ret;
        api->clone_allowlist = ad_config_string(api->svc.cfg, "api.clone_allowlist", "");
        ret = ad_git_url_check_host("https://example.com/x", api->clone_allowlist, err);
        if (ret < 0)
                return ad_error_wrap(err, "key `api.clone_allowlist`");
        api->max_body = (size_t)max_body;
        if (*key) {
                ret = ad_secret_keyring_parse(
                        &api->keys, key, ad_config_string(api->svc.cfg, "secrets.old_keys", ""),
                        err);
                if (ret < 0)
                        return ad_error_wrap(err, "secrets.key");
                api->have_key = true;
        } else {
                ad_log(AD_LOG_WARN,
                       "secrets.key (AD_SECRETS_KEY) is not set: requests with env are refused",
                       NULL);
        }
        snprintf(api->config_readers, sizeof(api->config_readers), "%s",
                 ad_config_string(api->svc.cfg, "api.config_readers", "*"));
        {
                const char *sock =
                        ad_config_string(api->svc.cfg, "engine.socket", "/run/podman/podman.sock");

                if (*sock && (ret = ad_engine_open(&api->engine, sock, err)) < 0)
                        return ret;
        }
        ret = ingress_load(&api->ingress, api->svc.cfg, err);
        if (ret == 0)
                ret = ad_caddy_open(&api->caddy, api->ingress.caddy_admin_url, err);
        if (ret < 0)
                return ret;
        return api_pool_new(&api->pool,
                            ad_config_get_string(api->svc.cfg, api->svc.tables, "database.url"),
                            (unsigned)pool_size, err);
}

int main(int argc, char **argv)
{
        static struct api api;
        static struct api_tokens tokens;
        static struct early early;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("api"),
                .known_keys = api_keys,
                .config = api_config,
                .route = api_route,
                .max_body = API_DEFAULT_MAX_BODY,
                .ready_later = true,
        };
        ad_error_t err = NULL;
        int ret;

        /* Operators' commands (teams, users, keys): no service starts. */
        if (argc > 1 && strcmp(argv[1], "admin") == 0)
                return api_admin_main(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "secrets") == 0)
                return api_secrets_main(argc, argv);
        peek_config(&early, argc, argv);
        opts.max_body = early.max_body;
        opts.max_conns_per_ip = (unsigned)early.max_conns_per_ip;
        /* One file without the other is refused by configure_tls(). */
        if (early.tls_cert[0] && early.tls_key[0]) {
                opts.tls_cert_file = early.tls_cert;
                opts.tls_key_file = early.tls_key;
        }
        ret = ad_service_start(&api.svc, "api", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        AD_FAULT("api.start", NULL);
        if (configure(&api, &err) < 0 || configure_auth(&api, &tokens, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_error_release(&err);
                ad_service_stop(&api.svc);
                api_pool_free(api.pool);
                return AD_EXIT_CONFIG;
        }
        if (api_relay_start(&api, &err) < 0) {
                ad_log(AD_LOG_ERROR, "cannot start", "error", ad_error_message(err), NULL);
                ad_error_release(&err);
                ad_service_stop(&api.svc);
                api_pool_free(api.pool);
                return AD_EXIT_FAILURE;
        }
        atomic_store(&api.ready, true);
        ad_service_ready(&api.svc);
        ad_log(AD_LOG_INFO, "serving the REST API", "allow_local_sources",
               api.allow_local ? "true" : "false", "auth", api.anonymous_ok ? "none" : "keys",
               NULL);

        ad_service_wait();
        ad_log(AD_LOG_INFO, "stopping", "reason", "signal", NULL);
        atomic_store(&api.ready, false);
        api_relay_stop(&api);
        /* Stops the HTTP server first: no handler holds a pooled
         * connection once it returns. */
        ad_service_stop(&api.svc);
        api_pool_free(api.pool);
        ad_engine_close(api.engine);
        ad_caddy_close(api.caddy);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return AD_EXIT_OK;
}
