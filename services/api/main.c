/* adapi: the REST API (see api.h for the threads and the database
 * connections, api_router.c for the routes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/fault.h"
#include "ad/git.h"
#include "ad/log.h"
#include "api.h"

/* The API's keys: type, default, bounds and the row of
 * docs/configuration.md (`adapi --config-doc`, `ctest -R config_doc`).
 * engine.socket is declared by the ingress table. */
static const struct ad_config_key api_config_keys[] = {
        { "api.max_body_bytes", AD_CONFIG_INT, "65536", 1024, 16 << 20,
          "larger request bodies get 413", NULL },
        { "api.allow_local_sources", AD_CONFIG_BOOL, "false", 0, 0,
          "accept `file://` URLs and local paths (tests, the demo)", NULL },
        { "api.db_pool_size", AD_CONFIG_INT, "8", 1, 64,
          "PostgreSQL connections shared by the request threads", NULL },
        { "api.tokens", AD_CONFIG_STRING, "", 0, 0,
          "bearer tokens, `name:sha256hex[,name:sha256hex...]` (the SHA-256 of each token, `printf "
          "%s \"$TOKEN\" \\| sha256sum`); requests must send `Authorization: Bearer <token>` and "
          "run as that name (`requested_by`), as **platform operators** (every team, every role). "
          "Team API keys (`adapi admin create-token`, `POST /tokens`) live in the database, not "
          "here (docs/security.md). Empty (and `api.require_auth` off): a request without a key is "
          "an anonymous operator, allowed only when `http.bind` is a loopback address (the API "
          "refuses to start otherwise)",
          "empty" },
        { "api.clone_allowlist", AD_CONFIG_STRING, "", 0, 0,
          "exact `host:port` pairs (comma-separated, `[v6]:port` for IPv6) that `repo_url` may "
          "name although they are not public addresses; anything else loopback, private, "
          "link-local, multicast or unspecified is refused with 400 (docs/security.md)",
          "`\"\"`" },
        { "api.config_readers", AD_CONFIG_STRING, "*", 0, 0,
          "who may read an app's config value in clear (`GET /apps/{name}/config/{NAME}`): `*` "
          "every caller, else comma-separated `api.tokens` names; the others get 403. Names are "
          "always listed, values never",
          NULL },
        { "api.require_auth", AD_CONFIG_BOOL, "false", 0, 0,
          "refuse every request without a valid key even when `api.tokens` is empty: team API keys "
          "only, no operator token (allowed on any `http.bind`)",
          NULL },
        { "limits.max_deployments_per_user", AD_CONFIG_INT, "0", 0, 1000000,
          "live apps per team (an app the coordinator keeps, or a first request it has not seen "
          "yet): a team's deployment of a new app name beyond it gets `403 quota_exceeded` naming "
          "the limit and its value, before anything is recorded. A deployment of one of the team's "
          "live apps is always accepted; platform operators are not limited. `0`: no limit",
          NULL },
        { "api.jwt_keys", AD_CONFIG_SECRET, NULL, 0, 0,
          "the keys that sign and verify the JWTs of `POST /auth/token`: "
          "`kid:secret[,kid:secret...]` (at most 8; an id is letters, digits, `.`, `_`, `-`; a "
          "secret 32 to 512 characters, `openssl rand -hex 32`). The first signs; every listed key "
          "verifies, so a new key goes first and the old one stays listed for one `api.jwt_ttl_s`, "
          "then leaves (docs/security.md). Empty: no JWTs (`POST /auth/token` answers `404 "
          "jwt_disabled`; API keys work as before). Never logged",
          "empty" },
        { "api.jwt_ttl_s", AD_CONFIG_INT, "900", 1, 86400,
          "lifetime of a JWT in seconds (1 to 86400)", NULL },
        { "api.jwt_issuer", AD_CONFIG_STRING, "app-deployer", 0, 0,
          "the `iss` of the JWTs this API signs and accepts", NULL },
        { "api.jwt_audience", AD_CONFIG_STRING, "app-deployer-api", 0, 0,
          "the `aud` of the JWTs this API signs and accepts: give each platform (or environment) "
          "its own, so a token of one is refused by another",
          NULL },
        { "api.rate_limit_per_token", AD_CONFIG_INT, "50", 0, 1000000,
          "requests a second each API key may make (its JWTs share its bucket; an `api.tokens` "
          "operator has one by name); past it `429 rate_limited` with `Retry-After`. `0`: no limit "
          "per key",
          NULL },
        { "api.rate_burst_per_token", AD_CONFIG_INT, "100", 1, 1000000,
          "the size of a key's bucket: requests it may make at once before the rate applies "
          "(`RateLimit-Limit`)",
          NULL },
        { "api.rate_limit_per_address", AD_CONFIG_INT, "100", 0, 1000000,
          "requests a second from one client address, checked before authentication (so key "
          "guessing is limited too); behind a proxy every client has the proxy's address: raise it "
          "or set `0` (no limit per address)",
          NULL },
        { "api.rate_burst_per_address", AD_CONFIG_INT, "200", 1, 1000000,
          "the size of an address's bucket", NULL },
        { "api.max_followers_per_token", AD_CONFIG_INT, "8", 0, 100000,
          "log streams (`GET /deployments/{id}/logs?follow=1`) one API key may hold open at once; "
          "one more gets `429 too_many_followers`. `0`: no cap",
          NULL },
        { "api.follower_idle_timeout_s", AD_CONFIG_INT, "900", 0, 86400,
          "a log stream with no new line for this long ends with `event: idle` (the client "
          "reconnects with `Last-Event-ID`; `adctl logs -f` does), so a forgotten follower does "
          "not hold its connection and its place among `api.max_followers_per_token`. `0`: never",
          NULL },
        { "api.max_connections_per_address", AD_CONFIG_INT, "64", 0, 100000,
          "connections one client address may hold open at once (libmicrohttpd closes one more at "
          "once); behind a proxy every client has the proxy's address: raise it or set `0` (no "
          "cap)",
          NULL },
        { "api.tls_cert_file", AD_CONFIG_STRING, "", 0, 0,
          "serve HTTPS (TLS 1.2 minimum, 1.3 preferred; GnuTLS through libmicrohttpd) with this "
          "PEM certificate chain, on the API's port (`/healthz` and `/metrics` too); with "
          "`api.tls_key_file`, both or neither",
          "empty" },
        { "api.tls_key_file", AD_CONFIG_STRING, "", 0, 0,
          "the PEM private key of `api.tls_cert_file` (never logged; keep it mode 0600)", "empty" },
        { "api.behind_tls_proxy", AD_CONFIG_BOOL, "false", 0, 0,
          "a TLS-terminating proxy is in front: allows plain HTTP on an `http.bind` that is not "
          "loopback, which the API otherwise refuses to start with (exit 2)",
          NULL },
        { "api.allowed_hosts", AD_CONFIG_STRING, "", 0, 0,
          "the names the API is reached by besides the loopback ones (comma-separated: "
          "`api.example.com`, `*.corp.example`, an IP literal; no port). A request whose `Host` "
          "names anything else gets 421, a guard against DNS rebinding. Checked always in the "
          "anonymous loopback mode (no `api.tokens`, where `localhost`, `*.localhost`, "
          "`127.0.0.0/8` and `[::1]` are allowed), and in any mode once set",
          "`\"\"`" },
        AD_CONFIG_END,
};
_Static_assert(API_DEFAULT_MAX_BODY == 65536, "api.max_body_bytes's declared default");
_Static_assert(API_JWT_DEFAULT_TTL_S == 900, "api.jwt_ttl_s's declared default");

/* The API's keys, then the ingress keys (caddy.*, ingress.*,
 * engine.socket): the apps' URLs and host names, and their containers. */
static const struct ad_config_key *const api_config[] = {
        api_config_keys, ad_service_secrets_config, ad_service_limits_config, ingress_config, NULL
};

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
                if (ad_config_get_int(cfg, api_config, "api.max_body_bytes", &v, NULL) < 0)
                        v = API_DEFAULT_MAX_BODY;
                if (ad_config_get_int(cfg, api_config, "api.max_connections_per_address",
                                      &e->max_conns_per_ip, NULL) < 0)
                        e->max_conns_per_ip = 64;
                snprintf(e->tls_cert, sizeof(e->tls_cert), "%s",
                         ad_config_get_string(cfg, api_config, "api.tls_cert_file"));
                snprintf(e->tls_key, sizeof(e->tls_key), "%s",
                         ad_config_get_string(cfg, api_config, "api.tls_key_file"));
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
        const char *cert = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.tls_cert_file");
        const char *key = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.tls_key_file");
        const char *bind = ad_config_string(api->svc.cfg, "http.bind", "127.0.0.1");
        bool proxy = false;
        long conns;
        int ret = ad_config_get_bool(api->svc.cfg, api->svc.tables, "api.behind_tls_proxy", &proxy,
                                     err);

        /* Read before the server started (peek_config); checked here. */
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables,
                                        "api.max_connections_per_address", &conns, err);

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
        const char *iss = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.jwt_issuer");
        const char *aud = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.jwt_audience");
        int ret = api_jwt_keys_parse(
                &api->jwt, ad_config_get_string(api->svc.cfg, api->svc.tables, "api.jwt_keys"),
                err);

        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.jwt_ttl_s",
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
        const char *spec = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.tokens");
        const char *bind = ad_config_string(api->svc.cfg, "http.bind", "127.0.0.1");
        bool require = false;
        int ret = api_tokens_parse(tokens, spec, err);

        if (ret == 0)
                ret = ad_config_get_bool(api->svc.cfg, api->svc.tables, "api.require_auth",
                                         &require, err);
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
        const char *key = ad_config_get_string(api->svc.cfg, api->svc.tables, "secrets.key");
        long max_body, pool_size;
        int ret;

        ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.max_body_bytes", &max_body,
                                err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.db_pool_size",
                                        &pool_size, err);
        if (ret == 0)
                ret = ad_config_get_bool(api->svc.cfg, api->svc.tables, "api.allow_local_sources",
                                         &api->allow_local, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables,
                                        "limits.max_deployments_per_user", &api->max_apps_per_team,
                                        err);
        if (ret == 0)
                ret = api_quota_configure(api, err);
        if (ret < 0)
                return ret;
        api->clone_allowlist =
                ad_config_get_string(api->svc.cfg, api->svc.tables, "api.clone_allowlist");
        ret = ad_git_url_check_host("https://example.com/x", api->clone_allowlist, err);
        if (ret < 0)
                return ad_error_wrap(err, "key `api.clone_allowlist`");
        api->max_body = (size_t)max_body;
        if (*key) {
                ret = ad_secret_keyring_parse(
                        &api->keys, key,
                        ad_config_get_string(api->svc.cfg, api->svc.tables, "secrets.old_keys"),
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
                 ad_config_get_string(api->svc.cfg, api->svc.tables, "api.config_readers"));
        {
                const char *sock =
                        ad_config_get_string(api->svc.cfg, api->svc.tables, "engine.socket");

                if (*sock && (ret = ad_engine_open(&api->engine, sock, err)) < 0)
                        return ret;
                if (api->engine)
                        ad_engine_on_repair(api->engine, ad_service_log_engine_repair, NULL);
        }
        ret = ingress_load(&api->ingress, api->svc.cfg, err);
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
                .config = api_config,
                .route = api_route,
                .http_server = &ad_httpd_server,
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
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return AD_EXIT_OK;
}
