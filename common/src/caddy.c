#include "ad/caddy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"

#define CADDY_TIMEOUT_MS 30000L
#define CADDY_MAX_BODY (4 * 1024 * 1024)
/* Retries of ensure when the routes change under it. */
#define CADDY_ENSURE_TRIES 8
/* Copies of one @id deleted at most (caddy allows duplicates). */
#define CADDY_DELETE_MAX 64

/* ad_error_wrap() that keeps the kind when the caller passed no err. */
#define WRAP(ret, err, ...) (ad_error_wrap((err), __VA_ARGS__), (ret))

struct ad_caddy {
        char *base;   /* admin URL without a trailing '/' */
        char *socket; /* the admin API's unix socket; NULL: TCP */
};

/* The Host caddy is told to accept on a unix socket (its admin "origins"). */
#define CADDY_UNIX_BASE "http://localhost"

static void http_response_freep(struct ad_http_response *r)
{
        ad_http_response_free(r);
}
#define cleanup_response __attribute__((cleanup(http_response_freep)))

int ad_caddy_open(ad_caddy **out, const char *admin_url, ad_error_t *err)
{
        ad_caddy *c;
        size_t n;

        bool unix_socket = admin_url && strncmp(admin_url, "unix://", 7) == 0;

        if (admin_url == NULL || (strncmp(admin_url, "http://", 7) != 0 &&
                                  strncmp(admin_url, "https://", 8) != 0 && !unix_socket))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "caddy admin URL must be http(s)://HOST:PORT or "
                                     "unix:///PATH, got `%.200s`",
                                     admin_url ? admin_url : "");
        if (unix_socket && (admin_url[7] != '/' || admin_url[8] == '\0'))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "caddy admin URL: unix:// takes an absolute socket path "
                                     "(unix:///run/caddy/admin.sock), got `%.200s`",
                                     admin_url);
        c = calloc(1, sizeof(*c));
        if (c == NULL || (c->base = strdup(unix_socket ? CADDY_UNIX_BASE : admin_url)) == NULL ||
            (unix_socket && (c->socket = strdup(admin_url + 7)) == NULL)) {
                if (c)
                        free(c->base);
                free(c);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        n = strlen(c->base);
        while (n > 0 && c->base[n - 1] == '/')
                c->base[--n] = '\0';
        *out = c;
        return 0;
}

void ad_caddy_close(ad_caddy *c)
{
        if (c == NULL)
                return;
        free(c->base);
        free(c->socket);
        free(c);
}

char *ad_caddy_etag(const char *path, const char *body, size_t len)
{
        uint32_t h = 0x811c9dc5u; /* FNV-1a, 32 bits, as caddy's fnv.New32a */
        char *out = NULL;

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)body[i];
                h *= 0x01000193u;
        }
        if (asprintf(&out, "\"%s %08x\"", path, h) < 0)
                return NULL;
        return out;
}

static int status_error(ad_error_t *err, const struct ad_http_response *resp, const char *method,
                        const char *path)
{
        json_auto_t *j = NULL;
        const char *msg = NULL;
        int kind = AD_ERR_GENERIC;

        if (resp->body && resp->len)
                j = json_loadb(resp->body, resp->len, 0, NULL);
        msg = json_string_value(json_object_get(j, "error"));
        if (resp->status == 404)
                kind = AD_ERR_NOT_FOUND;
        else if (resp->status == 409 || resp->status == 412)
                kind = AD_ERR_CONFLICT;
        else if (resp->status == 400)
                kind = AD_ERR_INVALID;
        else if (resp->status == 502 || resp->status == 503)
                kind = AD_ERR_UNAVAILABLE;
        /* Caddy answers 500 for a path that leads nowhere. */
        if (kind == AD_ERR_GENERIC && msg &&
            (strstr(msg, "unknown object ID") || strstr(msg, "invalid traversal path") ||
             strstr(msg, "does not exist")))
                kind = AD_ERR_NOT_FOUND;
        return ad_error_make(err, kind, (int)resp->status, "caddy %s %s: %ld: %.300s", method, path,
                             resp->status,
                             msg ? msg : (resp->body && *resp->body ? resp->body : "no message"));
}

/* One admin request; 2xx answers only.  out (optional) gets the body. */
static int caddy_call(ad_caddy *c, const char *method, const char *path, const json_t *value,
                      const char *if_match, struct ad_http_response *out, ad_error_t *err)
{
        cleanup_response struct ad_http_response resp = { 0 };
        cleanup_free char *url = NULL;
        cleanup_free char *body = NULL;
        cleanup_free char *match_header = NULL;
        const char *headers[2] = { NULL, NULL };
        struct ad_http_request req = {
                .method = method,
                .timeout_ms = CADDY_TIMEOUT_MS,
                .max_body = CADDY_MAX_BODY,
                .headers = headers,
        };
        int ret;

        if (asprintf(&url, "%s%s", c->base, path) < 0) {
                url = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        req.url = url;
        req.unix_socket = c->socket;
        if (value) {
                body = json_dumps(value, JSON_COMPACT);
                if (body == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                req.body = body;
                req.body_len = strlen(body);
                req.content_type = "application/json";
        }
        if (if_match) {
                if (asprintf(&match_header, "If-Match: %s", if_match) < 0) {
                        match_header = NULL;
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                }
                headers[0] = match_header;
        }
        ret = ad_http_do(&req, &resp, err);
        if (ret < 0)
                return WRAP(ret, err, "caddy admin API");
        if (resp.status < 200 || resp.status >= 300)
                return status_error(err, &resp, method, path);
        if (out) {
                *out = resp;
                memset(&resp, 0, sizeof(resp));
        }
        return 0;
}

/* GETs `path` and parses its JSON body into *out; *etag (optional) gets
 * the body's ETag.  Caddy answers JSON null where nothing is configured:
 * that is AD_ERR_NOT_FOUND, or with `null_as_array` an empty array. */
static int get_json(ad_caddy *c, const char *path, bool null_as_array, json_t **out, char **etag,
                    ad_error_t *err)
{
        cleanup_response struct ad_http_response resp = { 0 };
        cleanup_free char *tag = NULL;
        json_error_t jerr;
        json_t *j;
        int ret;

        ret = caddy_call(c, "GET", path, NULL, NULL, &resp, err);
        if (ret < 0)
                return ret;
        j = json_loadb(resp.body ? resp.body : "", resp.len, JSON_DECODE_ANY, &jerr);
        if (j == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "caddy GET %s: not JSON: %s", path,
                                     jerr.text);
        if (json_is_null(j)) {
                json_decref(j);
                if (!null_as_array)
                        return ad_error_make(err, AD_ERR_NOT_FOUND, 404,
                                             "caddy GET %s: nothing there", path);
                j = json_array();
        }
        if (etag) {
                tag = ad_caddy_etag(path, resp.body ? resp.body : "", resp.len);
                if (tag == NULL) {
                        json_decref(j);
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                }
                *etag = TAKE_PTR(tag);
        }
        *out = j;
        return 0;
}

/* "/id/<id>[/<subpath>]", the id percent-encoded. */
static char *id_path(const char *id, const char *subpath)
{
        cleanup_free char *esc = ad_http_escape(id);
        char *p = NULL;

        if (esc == NULL)
                return NULL;
        if (asprintf(&p, "/id/%s%s%s", esc, subpath && *subpath ? "/" : "",
                     subpath ? subpath : "") < 0)
                return NULL;
        return p;
}

int ad_caddy_get(ad_caddy *c, const char *id, const char *subpath, json_t **out, ad_error_t *err)
{
        cleanup_free char *path = id_path(id, subpath);

        if (path == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return get_json(c, path, false, out, NULL, err);
}

static int id_change(ad_caddy *c, const char *method, const char *id, const char *subpath,
                     const json_t *value, ad_error_t *err)
{
        cleanup_free char *path = id_path(id, subpath);

        if (path == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return caddy_call(c, method, path, value, NULL, NULL, err);
}

int ad_caddy_put(ad_caddy *c, const char *id, const char *subpath, const json_t *value,
                 ad_error_t *err)
{
        return id_change(c, "PUT", id, subpath, value, err);
}

int ad_caddy_patch(ad_caddy *c, const char *id, const char *subpath, const json_t *value,
                   ad_error_t *err)
{
        return id_change(c, "PATCH", id, subpath, value, err);
}

int ad_caddy_delete(ad_caddy *c, const char *id, ad_error_t *err)
{
        int deleted = 0;

        for (int i = 0; i < CADDY_DELETE_MAX; i++) {
                cleanup_error ad_error_t derr = NULL;
                int ret = id_change(c, "DELETE", id, NULL, NULL, &derr);

                if (ret == -AD_ERR_NOT_FOUND)
                        break;
                if (ret < 0) {
                        if (err)
                                *err = TAKE_PTR(derr);
                        return ret;
                }
                deleted++;
        }
        if (deleted == 0)
                return ad_error_make(err, AD_ERR_NOT_FOUND, 404, "caddy: no object with @id %s",
                                     id);
        return 0;
}

static char *routes_path(const char *server)
{
        cleanup_free char *esc = ad_http_escape(server);
        char *p = NULL;

        if (esc == NULL || asprintf(&p, "/config/apps/http/servers/%s/routes", esc) < 0)
                return NULL;
        return p;
}

int ad_caddy_routes(ad_caddy *c, const char *server, json_t **routes, char **etag, ad_error_t *err)
{
        cleanup_free char *path = routes_path(server);
        cleanup_free char *tag = NULL;
        json_t *j = NULL;
        int ret;

        if (path == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        ret = get_json(c, path, true, &j, etag ? &tag : NULL, err);
        if (ret < 0)
                return ret;
        if (!json_is_array(j)) {
                json_decref(j);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "caddy GET %s: not an array", path);
        }
        if (etag)
                *etag = TAKE_PTR(tag);
        *routes = j;
        return 0;
}

int ad_caddy_route_append(ad_caddy *c, const char *server, const json_t *route,
                          const char *if_match, ad_error_t *err)
{
        cleanup_free char *path = routes_path(server);

        if (path == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return caddy_call(c, "POST", path, route, if_match, NULL, err);
}

int ad_caddy_route_ensure(ad_caddy *c, const char *server, const json_t *route, bool *created,
                          ad_error_t *err)
{
        const char *id = json_string_value(json_object_get(route, "@id"));

        if (id == NULL || *id == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "caddy route without an @id");
        for (int attempt = 0; attempt < CADDY_ENSURE_TRIES; attempt++) {
                cleanup_error ad_error_t lerr = NULL;
                json_auto_t *existing = NULL;
                json_auto_t *routes = NULL;
                cleanup_free char *etag = NULL;
                int ret;

                /* Anywhere in the config (another server holds it, say). */
                ret = ad_caddy_get(c, id, NULL, &existing, &lerr);
                if (ret == 0) {
                        if (created)
                                *created = false;
                        return 0;
                }
                if (ret != -AD_ERR_NOT_FOUND) {
                        if (err)
                                *err = TAKE_PTR(lerr);
                        return WRAP(ret, err, "route %s", id);
                }
                ad_error_release(&lerr);
                ret = ad_caddy_routes(c, server, &routes, &etag, err);
                if (ret < 0)
                        return WRAP(ret, err, "route %s", id);
                /* Appended only if nobody changed the routes since we
                 * read them: two ensures cannot both append. */
                ret = ad_caddy_route_append(c, server, route, etag, &lerr);
                if (ret == 0) {
                        if (created)
                                *created = true;
                        return 0;
                }
                if (ret != -AD_ERR_CONFLICT) {
                        if (err)
                                *err = TAKE_PTR(lerr);
                        return WRAP(ret, err, "route %s", id);
                }
        }
        return ad_error_make(err, AD_ERR_CONFLICT, 0,
                             "route %s: the routes of server %s kept changing, giving up", id,
                             server);
}

json_t *ad_caddy_route_new(const char *id, const char *host, const json_t *handler)
{
        return json_pack("{s:s,s:[{s:[s]}],s:[O],s:b}", "@id", id, "match", "host", host, "handle",
                         (json_t *)handler, "terminal", 1);
}

json_t *ad_caddy_handler_static(int status, const char *body, const char *const *headers)
{
        json_t *h = json_pack("{s:s,s:i,s:s}", "handler", "static_response", "status_code", status,
                              "body", body ? body : "");
        json_t *hdrs = NULL;

        for (size_t i = 0; h && headers && headers[i]; i++) {
                const char *colon = strchr(headers[i], ':');
                cleanup_free char *name = NULL;
                const char *value;

                if (colon == NULL)
                        continue;
                name = strndup(headers[i], (size_t)(colon - headers[i]));
                value = colon + 1;
                while (*value == ' ')
                        value++;
                if (hdrs == NULL)
                        hdrs = json_object();
                if (name && hdrs)
                        json_object_set_new(hdrs, name, json_pack("[s]", value));
        }
        if (h && hdrs)
                json_object_set_new(h, "headers", hdrs);
        else
                json_decref(hdrs);
        return h;
}

json_t *ad_caddy_handler_proxy(const char *dial, const char *deployment_id)
{
        json_t *h =
                json_pack("{s:s,s:[{s:s}]}", "handler", "reverse_proxy", "upstreams", "dial", dial);

        if (h && deployment_id)
                json_object_set_new(h, "headers",
                                    json_pack("{s:{s:{s:[s]}}}", "response", "set",
                                              AD_CADDY_DEPLOYMENT_HEADER, deployment_id));
        return h;
}

static const json_t *handle_of(const json_t *route_or_handle)
{
        if (json_is_array(route_or_handle))
                return route_or_handle;
        return json_object_get(route_or_handle, "handle");
}

const json_t *ad_caddy_route_upstreams(const json_t *route_or_handle)
{
        const json_t *handle = handle_of(route_or_handle);
        size_t i;
        json_t *h;

        json_array_foreach (handle, i, h) {
                const char *type = json_string_value(json_object_get(h, "handler"));

                if (type && strcmp(type, "reverse_proxy") == 0)
                        return json_object_get(h, "upstreams");
        }
        return NULL;
}

const char *ad_caddy_route_deployment(const json_t *route_or_handle)
{
        const json_t *handle = handle_of(route_or_handle);
        size_t i;
        json_t *h;

        json_array_foreach (handle, i, h) {
                json_t *v = json_object_get(
                        json_object_get(json_object_get(json_object_get(h, "headers"), "response"),
                                        "set"),
                        AD_CADDY_DEPLOYMENT_HEADER);

                if (v == NULL) /* static_response: headers are plain */
                        v = json_object_get(json_object_get(h, "headers"),
                                            AD_CADDY_DEPLOYMENT_HEADER);
                if (json_is_array(v))
                        return json_string_value(json_array_get(v, 0));
        }
        return NULL;
}
