/* adapi: the REST API (see api.h for the threads and the database
 * connections, api_router.c for the routes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/fault.h"
#include "ad/git.h"
#include "ad/log.h"
#include "api.h"

static const struct ad_config_key api_config[] = {
        /* API_DEFAULT_MAX_BODY (checked below) */
        { "api.max_body_bytes", AD_CONFIG_INT, "65536", 1024, 16 << 20,
          "larger request bodies get 413", NULL },
        { "api.db_pool_size", AD_CONFIG_INT, "8", 1, 64,
          "PostgreSQL connections shared by the request threads", NULL },
        { "api.allow_local_sources", AD_CONFIG_BOOL, "false", 0, 0,
          "accept `file://` URLs and local paths (tests, the demo)", NULL },
        { "api.clone_allowlist", AD_CONFIG_STRING, NULL, 0, 0,
          "exact `host:port` pairs (comma-separated, `[v6]:port` for IPv6) that `repo_url` may "
          "name although they are not public addresses; anything else loopback, private, "
          "link-local, multicast or unspecified is refused with 400 (docs/security.md)",
          "`\"\"`" },
        { "api.config_readers", AD_CONFIG_STRING, "*", 0, 0,
          "who may read an app's config value in clear (`GET /apps/{name}/config/{NAME}`): `*` "
          "every caller, else comma-separated `api.tokens` names; the others get 403. Names are "
          "always listed, values never",
          NULL },
        { "engine.socket", AD_CONFIG_STRING, "/run/podman/podman.sock", 0, 0,
          "the container engine the API asks for an app's containers (`GET /apps/{name}` "
          "`processes`, `adctl ps`) and probes them over HTTP; when it does not answer, "
          "`processes` is `null`",
          NULL },
        { "api.tokens", AD_CONFIG_SECRET, NULL, 0, 0,
          "bearer tokens, `name:sha256hex[,name:sha256hex...]` (the SHA-256 of each token, "
          "`printf %s \"$TOKEN\" \\| sha256sum`); requests must send `Authorization: Bearer "
          "<token>` and run as that name (`requested_by`). Empty: every request is anonymous, "
          "allowed only when `http.bind` is a loopback address (the API refuses to start "
          "otherwise)",
          "empty" },
        { "secrets.key", AD_CONFIG_SECRET, NULL, 0, 0,
          "64 hex characters: the key that seals env values (api, deployer)", NULL },
        AD_CONFIG_END,
};
static const struct ad_config_key *const config[] = { api_config, NULL };
_Static_assert(API_DEFAULT_MAX_BODY == 65536, "api.max_body_bytes's declared default");

/* The body limit must be known before ad_service_start() starts the HTTP
 * server, so the configuration is read once here too.  Any problem is left
 * for ad_service_start() to report. */
static size_t peek_max_body(int argc, char **argv)
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
        if (ad_config_load(&cfg, path, NULL) == 0 &&
            ad_config_get_int(cfg, config, "api.max_body_bytes", &v, NULL) < 0)
                v = API_DEFAULT_MAX_BODY;
        ad_config_free(cfg);
        return (size_t)v;
}

/* The bearer tokens; none is allowed only on a loopback address. */
static int configure_auth(struct api *api, struct api_tokens *tokens, ad_error_t *err)
{
        const char *spec = ad_config_get_string(api->svc.cfg, api->svc.tables, "api.tokens");
        const char *bind = ad_config_get_string(api->svc.cfg, api->svc.tables, "http.bind");
        int ret = api_tokens_parse(tokens, spec, err);

        if (ret < 0)
                return ret;
        if (tokens->n == 0) {
                if (!api_bind_is_loopback(bind))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "http.bind is %s but api.tokens is empty: an API "
                                             "reachable from the network needs tokens "
                                             "(name:sha256-of-token, comma-separated)",
                                             bind);
                ad_log(AD_LOG_WARN,
                       "api.tokens is empty: every request is anonymous (loopback only)", NULL);
                return 0;
        }
        return api_hook_add(api, api_auth_hook, tokens, err);
}

static int configure(struct api *api, ad_error_t *err)
{
        const struct ad_config_key *const *t = api->svc.tables;
        const char *key = ad_config_get_string(api->svc.cfg, t, "secrets.key");
        long max_body, pool_size;
        int ret;

        ret = ad_config_get_int(api->svc.cfg, t, "api.max_body_bytes", &max_body, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, t, "api.db_pool_size", &pool_size, err);
        if (ret == 0)
                ret = ad_config_get_bool(api->svc.cfg, t, "api.allow_local_sources",
                                         &api->allow_local, err);
        if (ret < 0)
                return ret;
        api->clone_allowlist = ad_config_get_string(api->svc.cfg, t, "api.clone_allowlist");
        ret = ad_git_url_check_host("https://example.com/x", api->clone_allowlist, err);
        if (ret < 0)
                return ad_error_wrap(err, "key `api.clone_allowlist`");
        api->max_body = (size_t)max_body;
        if (*key) {
                ret = ad_secret_key_parse(&api->key, key, err);
                if (ret < 0)
                        return ad_error_wrap(err, "secrets.key");
                api->have_key = true;
        } else {
                ad_log(AD_LOG_WARN,
                       "secrets.key (AD_SECRETS_KEY) is not set: requests with env are refused",
                       NULL);
        }
        snprintf(api->config_readers, sizeof(api->config_readers), "%s",
                 ad_config_get_string(api->svc.cfg, t, "api.config_readers"));
        {
                const char *sock = ad_config_get_string(api->svc.cfg, t, "engine.socket");

                if (*sock && (ret = ad_engine_open(&api->engine, sock, err)) < 0)
                        return ret;
        }
        return api_pool_new(&api->pool,
                            ad_config_get_string(api->svc.cfg, api->svc.tables, "database.url"),
                            (unsigned)pool_size, err);
}

int main(int argc, char **argv)
{
        static struct api api;
        static struct api_tokens tokens;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("api"),
                .config = config,
                .route = api_route,
                .max_body = peek_max_body(argc, argv),
                .ready_later = true,
        };
        ad_error_t err = NULL;
        int ret;

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
               api.allow_local ? "true" : "false", "auth", tokens.n ? "bearer" : "none", NULL);

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
