#include "ad/ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

const struct ad_config_key ingress_config[] = {
        { "engine.socket", AD_CONFIG_STRING, "/run/podman/podman.sock", 0, 0,
          "the container engine's Docker API socket", NULL },
        { "caddy.admin_url", AD_CONFIG_URL, "http://127.0.0.1:2019", 0, 0,
          "caddy's admin API: `http://HOST:PORT`, or `unix:///PATH` for a unix socket (the "
          "stack's; caddy then needs `\"origins\": [\"localhost\"]`)",
          NULL },
        { "caddy.server", AD_CONFIG_STRING, "apps", 0, 0, "caddy HTTP server that holds app routes",
          NULL },
        { "caddy.tls_server", AD_CONFIG_STRING, "apps_tls", 0, 0,
          "caddy HTTPS server that holds app routes when `ingress.tls` is on", NULL },
        { "ingress.base_domain", AD_CONFIG_STRING, "localhost", 0, 0,
          "apps get `<app>.<base domain>`", NULL },
        { "ingress.address", AD_CONFIG_STRING, "127.0.0.1", 0, 0, "the IP reported for apps",
          NULL },
        { "ingress.http_port", AD_CONFIG_INT, "80", 1, 65535, "HTTP port in app URLs", NULL },
        { "ingress.https_port", AD_CONFIG_INT, "443", 1, 65535, "HTTPS port in app URLs", NULL },
        { "ingress.tls", AD_CONFIG_BOOL, "false", 0, 0,
          "also route on the TLS server (caddy's internal CA) and give `https://` URLs", NULL },
        AD_CONFIG_END,
};

int ingress_load(struct ingress *in, const ad_config *cfg, ad_error_t *err)
{
        static const struct ad_config_key *const t[] = { ingress_config, NULL };
        int ret;

        memset(in, 0, sizeof(*in));
        in->engine_socket = ad_config_get_string(cfg, t, "engine.socket");
        in->caddy_admin_url = ad_config_get_string(cfg, t, "caddy.admin_url");
        in->server = ad_config_get_string(cfg, t, "caddy.server");
        in->tls_server = ad_config_get_string(cfg, t, "caddy.tls_server");
        in->base_domain = ad_config_get_string(cfg, t, "ingress.base_domain");
        in->address = ad_config_get_string(cfg, t, "ingress.address");
        ret = ad_config_get_bool(cfg, t, "ingress.tls", &in->tls, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, t, "ingress.http_port", &in->http_port, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, t, "ingress.https_port", &in->https_port, err);
        if (ret < 0)
                return ret;
        if (*in->base_domain == '\0' || strlen(in->base_domain) > 200 ||
            strspn(in->base_domain, "abcdefghijklmnopqrstuvwxyz0123456789-.") !=
                    strlen(in->base_domain))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `ingress.base_domain`: expected a lower-case domain "
                                     "name, got `%.60s`",
                                     in->base_domain);
        return 0;
}

void ingress_host(char out[INGRESS_HOST_MAX], const struct ingress *in, const char *app)
{
        snprintf(out, INGRESS_HOST_MAX, "%s.%s", app, in->base_domain);
}

char *ingress_url(const struct ingress *in, const char *host, bool tls)
{
        const char *scheme = tls ? "https" : "http";
        long port = tls ? in->https_port : in->http_port;
        char *url = NULL;
        int ret;

        if (port == (tls ? 443 : 80))
                ret = asprintf(&url, "%s://%s/", scheme, host);
        else
                ret = asprintf(&url, "%s://%s:%ld/", scheme, host, port);
        return ret < 0 ? NULL : url;
}

void ingress_tls_route_id(char out[INGRESS_ROUTE_ID_MAX], const char *route_id)
{
        snprintf(out, INGRESS_ROUTE_ID_MAX, "%s-tls", route_id);
}

json_t *ingress_placeholder(void)
{
        return ad_caddy_handler_static(503, "deploying", NULL);
}

static int ensure_one(ad_caddy *caddy, const char *server, const char *id, const char *host,
                      const json_t *handler, bool *created, ad_error_t *err)
{
        json_auto_t *route = ad_caddy_route_new(id, host, handler);

        if (route == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return ad_caddy_route_ensure(caddy, server, route, created, err);
}

int ingress_route_ensure(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                         const char *host, bool tls, const json_t *handler, bool *created,
                         ad_error_t *err)
{
        char tls_id[INGRESS_ROUTE_ID_MAX];
        int ret;

        ret = ensure_one(caddy, in->server, route_id, host, handler, created, err);
        if (ret < 0 || !tls)
                return ret;
        ingress_tls_route_id(tls_id, route_id);
        return ensure_one(caddy, in->tls_server, tls_id, host, handler, NULL, err);
}

/* Replaces the handle of route `id`, or creates the route. */
static int set_one(ad_caddy *caddy, const char *server, const char *id, const char *host,
                   const json_t *handler, ad_error_t *err)
{
        json_auto_t *handle = json_pack("[O]", (json_t *)handler);
        bool created = false;
        int ret;

        if (handle == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = ensure_one(caddy, server, id, host, handler, &created, err);
        if (ret < 0 || created)
                return ret;
        /* A route removed between the ensure and the patch (a concurrent
         * compensation) is not put back: the app is going away. */
        return ad_caddy_patch(caddy, id, "handle", handle, err);
}

int ingress_route_set(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                      const char *host, bool tls, const json_t *handler, ad_error_t *err)
{
        char tls_id[INGRESS_ROUTE_ID_MAX];
        int ret;

        ret = set_one(caddy, in->server, route_id, host, handler, err);
        if (ret < 0 || !tls)
                return ret;
        ingress_tls_route_id(tls_id, route_id);
        return set_one(caddy, in->tls_server, tls_id, host, handler, err);
}

int ingress_route_remove(ad_caddy *caddy, const char *route_id, ad_error_t *err)
{
        char tls_id[INGRESS_ROUTE_ID_MAX];
        const char *ids[2] = { route_id, tls_id };

        ingress_tls_route_id(tls_id, route_id);
        for (size_t i = 0; i < AD_ARRAY_SIZE(ids); i++) {
                cleanup_error ad_error_t derr = NULL;
                int ret = ad_caddy_delete(caddy, ids[i], &derr);

                if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                        if (err)
                                *err = TAKE_PTR(derr);
                        return ret;
                }
        }
        return 0;
}

int ingress_route_hosts(ad_caddy *caddy, const char *route_id, const json_t *hosts, ad_error_t *err)
{
        json_auto_t *want = json_pack("[{s:O}]", "host", (json_t *)hosts);
        char tls_id[INGRESS_ROUTE_ID_MAX];
        const char *ids[2] = { route_id, tls_id };

        if (want == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ingress_tls_route_id(tls_id, route_id);
        for (size_t i = 0; i < AD_ARRAY_SIZE(ids); i++) {
                cleanup_error ad_error_t gerr = NULL;
                json_auto_t *match = NULL;
                int ret = ad_caddy_get(caddy, ids[i], "match", &match, &gerr);

                if (ret == -AD_ERR_NOT_FOUND)
                        continue;
                if (ret < 0) {
                        if (err)
                                *err = TAKE_PTR(gerr);
                        return ret;
                }
                if (json_equal(match, want))
                        continue; /* no change, no caddy reload */
                /* A route removed meanwhile (NOT_FOUND) is fine: the app
                 * is going away. */
                ret = ad_caddy_patch(caddy, ids[i], "match", want, &gerr);
                if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                        if (err)
                                *err = TAKE_PTR(gerr);
                        return ret;
                }
        }
        return 0;
}

int ingress_tls_twin_ensure(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                            ad_error_t *err)
{
        char tls_id[INGRESS_ROUTE_ID_MAX];
        cleanup_error ad_error_t gerr = NULL;
        json_auto_t *route = NULL;
        int ret;

        ret = ad_caddy_get(caddy, route_id, NULL, &route, &gerr);
        if (ret == -AD_ERR_NOT_FOUND)
                return 0;
        if (ret < 0) {
                if (err)
                        *err = TAKE_PTR(gerr);
                return ret;
        }
        ingress_tls_route_id(tls_id, route_id);
        if (json_object_set_new(route, "@id", json_string(tls_id)) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return ad_caddy_route_ensure(caddy, in->tls_server, route, NULL, err);
}
