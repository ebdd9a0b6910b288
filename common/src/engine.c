#include "ad/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ad/buf.h"
#include "ad/cleanup.h"
#include "ad/fault.h"
#include "ad/http.h"
#include "ad/names.h"

/* Bounds on what the engine may send back. */
#define ENGINE_MAX_BODY (4 * 1024 * 1024)
#define ENGINE_PULL_TIMEOUT_MS (15L * 60 * 1000)
#define ENGINE_PULL_MAX_ERROR 2048
#define ENGINE_LOGS_DEFAULT_MAX (64 * 1024)
/* The CFS period podman gives a container created with --cpus. */
#define ENGINE_CPU_PERIOD_US 100000
#define ENGINE_MAX_JSON_LINE (1024 * 1024)
/* Build output not yet ended by a newline is handed over at this length. */
#define ENGINE_BUILD_MAX_LINE 16384
/* base64("{}"): no registry credentials (ad_engine_set_registry_auth not
 * called). */
#define ENGINE_NO_AUTH_HEADER "X-Registry-Auth: e30="
#define ENGINE_NO_CONFIG_HEADER "X-Registry-Config: e30="

/* ad_error_wrap() that keeps the kind when the caller passed no err. */
#define WRAP(ret, err, ...) (ad_error_wrap((err), __VA_ARGS__), (ret))

struct ad_engine {
        char *socket;
        /* "X-Registry-Auth: ..." and "X-Registry-Config: ...": the
         * credentials of one registry, or NULL (ad_engine_set_registry_auth). */
        char *auth_header;
        char *config_header;
        /* Told of each half-written image met (ad_engine_on_repair). */
        ad_engine_repair_fn on_repair;
        void *repair_ud;
};

/* Frees a string that held credentials, wiping it first. */
static void free_secret(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

static void http_response_freep(struct ad_http_response *r)
{
        ad_http_response_free(r);
}
#define cleanup_response __attribute__((cleanup(http_response_freep)))

/* Moves a caught error to the caller's err (which may be NULL). */
static int hand_over(ad_error_t *err, ad_error_t *from, int ret)
{
        if (err)
                *err = TAKE_PTR(*from);
        return ret;
}

int ad_engine_open(ad_engine **out, const char *socket_path, ad_error_t *err)
{
        ad_engine *e;

        if (socket_path == NULL || *socket_path == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "no container engine socket given");
        e = calloc(1, sizeof(*e));
        if (e == NULL || (e->socket = strdup(socket_path)) == NULL) {
                free(e);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        *out = e;
        return 0;
}

void ad_engine_close(ad_engine *e)
{
        if (e == NULL)
                return;
        free(e->socket);
        free_secret(e->auth_header);
        free_secret(e->config_header);
        free(e);
}

void ad_engine_on_repair(ad_engine *e, ad_engine_repair_fn fn, void *ud)
{
        e->on_repair = fn;
        e->repair_ud = ud;
}

/* base64 with the URL alphabet and padding (Go's base64.URLEncoding, what
 * podman decodes the X-Registry-* headers with); the caller frees. */
static char *base64url(const char *in, size_t len)
{
        static const char abc[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const unsigned char *p = (const unsigned char *)in;
        char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

        if (out == NULL)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned)p[i] << 16;
                if (i + 1 < len)
                        v |= (unsigned)p[i + 1] << 8;
                if (i + 2 < len)
                        v |= p[i + 2];
                *o++ = abc[(v >> 18) & 63];
                *o++ = abc[(v >> 12) & 63];
                *o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? abc[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

/* "<name>: " + base64url(JSON text of obj); the caller frees. */
static char *auth_header_line(const char *name, const json_t *obj)
{
        char *json = json_dumps(obj, JSON_COMPACT);
        char *b64 = json ? base64url(json, strlen(json)) : NULL;
        char *line = NULL;

        if (b64 && asprintf(&line, "%s: %s", name, b64) < 0)
                line = NULL;
        free_secret(json);
        free_secret(b64);
        return line;
}

int ad_engine_set_registry_auth(ad_engine *e, const char *server, const char *username,
                                const char *password, ad_error_t *err)
{
        json_auto_t *map = NULL;
        char *auth = NULL, *config = NULL;

        if (server == NULL || *server == '\0' || username == NULL || *username == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "registry credentials need a server and a user name");
        /* {"<server>": {"username", "password", "serveraddress"}}: a map
         * keyed by registry, so the engine gives them to that registry only
         * (a single object would go to whatever registry an image names). */
        map = json_pack("{s:{s:s,s:s,s:s}}", server, "username", username, "password",
                        password ? password : "", "serveraddress", server);
        if (map == NULL || (auth = auth_header_line("X-Registry-Auth", map)) == NULL ||
            (config = auth_header_line("X-Registry-Config", map)) == NULL) {
                free_secret(auth);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        free_secret(e->auth_header);
        free_secret(e->config_header);
        e->auth_header = auth;
        e->config_header = config;
        return 0;
}

/* The engine's own words from an error body: Docker sends {"message"},
 * podman adds {"cause"}. */
static void error_text(const struct ad_http_response *resp, char *msg, size_t msz, char *cause,
                       size_t csz)
{
        json_auto_t *j = NULL;
        const char *m = NULL, *c = NULL;

        *msg = *cause = '\0';
        if (resp->body && resp->len)
                j = json_loadb(resp->body, resp->len, 0, NULL);
        if (json_is_object(j)) {
                m = json_string_value(json_object_get(j, "message"));
                c = json_string_value(json_object_get(j, "cause"));
        }
        if (m == NULL && resp->body) {
                /* Not JSON: the first line of the text. */
                size_t n = strcspn(resp->body, "\r\n");
                snprintf(msg, msz, "%.*s", (int)(n > 300 ? 300 : n), resp->body);
        } else if (m) {
                snprintf(msg, msz, "%s", m);
        }
        if (c)
                snprintf(cause, csz, "%s", c);
}

static const char *str_member(const json_t *obj, const char *key)
{
        return json_string_value(json_object_get(obj, key));
}

/* Maps a non-2xx answer to an error kind (see engine.h). */
static int status_error(ad_error_t *err, const struct ad_http_response *resp, const char *what)
{
        char msg[512], cause[256];
        int kind = AD_ERR_GENERIC;

        error_text(resp, msg, sizeof(msg), cause, sizeof(cause));
        if (resp->status == 404)
                kind = AD_ERR_NOT_FOUND;
        else if (resp->status == 409 || resp->status == 412)
                kind = AD_ERR_CONFLICT;
        else if (resp->status == 400)
                kind = AD_ERR_INVALID;
        else if (resp->status == 503)
                kind = AD_ERR_UNAVAILABLE;
        if (resp->status >= 500 && kind == AD_ERR_GENERIC) {
                const char *c = *cause ? cause : msg;

                if (strstr(c, "already exists") || strstr(c, "already in use") ||
                    strstr(c, "is being used") || strstr(c, "in use"))
                        kind = AD_ERR_CONFLICT;
                else if (strstr(c, "no such") || strstr(c, "not found"))
                        kind = AD_ERR_NOT_FOUND;
        }
        return ad_error_make(err, kind, (int)resp->status, "%s: engine answered %ld: %s", what,
                             resp->status, *msg ? msg : "(no message)");
}

struct call {
        const char *method;
        const char *path; /* after /v1.41 */
        const json_t *body;
        /* Or a streamed body (a build context). */
        ad_http_read_fn read_fn;
        void *read_ud;
        const char *content_type;
        const char *const *headers;
        long timeout_ms;
        ad_http_chunk_fn on_chunk;
        void *chunk_ud;
        size_t max_body;
        bool (*cancel)(void);
};

/* One request to the engine; any HTTP status is returned in resp. */
static int engine_call(ad_engine *e, const struct call *c, struct ad_http_response *resp,
                       ad_error_t *err)
{
        cleanup_free char *url = NULL;
        cleanup_free char *body = NULL;
        struct ad_http_request req = {
                .method = c->method,
                .unix_socket = e->socket,
                .timeout_ms = c->timeout_ms,
                .max_body = c->max_body ? c->max_body : ENGINE_MAX_BODY,
                .on_chunk = c->on_chunk,
                .chunk_ud = c->chunk_ud,
                .headers = c->headers,
                .cancel = c->cancel,
        };
        int ret;

        if (AD_FAULT_ERR("engine.call", c->method, err) < 0)
                return WRAP(-AD_ERR_UNAVAILABLE, err, "container engine");
        if (asprintf(&url, "http://d/%s%s", AD_ENGINE_API_VERSION, c->path) < 0) {
                url = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        req.url = url;
        if (c->body) {
                body = json_dumps(c->body, JSON_COMPACT);
                if (body == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                req.body = body;
                req.body_len = strlen(body);
                req.content_type = "application/json";
        } else if (c->read_fn) {
                req.read_fn = c->read_fn;
                req.read_ud = c->read_ud;
                req.content_type = c->content_type;
        }
        ret = ad_http_do(&req, resp, err);
        if (ret < 0)
                return WRAP(ret, err, "container engine");
        return 0;
}

/* --- a half-written image in the engine's store -----------------------
 *
 * podman (containers/storage) records a new image before it stores the
 * image's manifest.  An engine killed between the two (SIGKILL during a
 * pull or a build's commit: the chaos tests do it, so does an OOM kill or
 * a power cut) leaves a record without its manifest, and from then on
 * every call that meets that image fails: a list of images, an inspect of
 * any image built on it, a build that finds it as a cached step:
 *
 *   locating item named "manifest" for image with ID "<64 hex>"
 *   (consider removing the image to resolve the issue): file does not exist
 *
 * The removal podman suggests is safe: such a record is an unfinished
 * write whose name, if it ever had one, points at nothing usable; the
 * layers it shares with other images stay.  The engine client removes it
 * and repeats the call that met the record (engine_call_healed). */
#define HALF_WRITTEN_ITEM "locating item named \""
#define HALF_WRITTEN_ID "for image with ID \""

bool ad_engine_half_written_image(const char *text, char id[AD_ENGINE_IMAGE_ID_LEN + 1])
{
        const char *p;
        size_t n;

        if (text == NULL || strstr(text, HALF_WRITTEN_ITEM) == NULL)
                return false;
        p = strstr(text, HALF_WRITTEN_ID);
        if (p == NULL)
                return false;
        p += strlen(HALF_WRITTEN_ID);
        n = strspn(p, "0123456789abcdef");
        if (n != AD_ENGINE_IMAGE_ID_LEN || p[n] != '"')
                return false;
        memcpy(id, p, n);
        id[n] = '\0';
        return true;
}

/* The name of a container (of any state) made from image ID, or NULL. */
static char *container_of_image(ad_engine *e, const char *id, ad_error_t *err)
{
        cleanup_response struct ad_http_response resp = { 0 };
        struct call c = { .path = "/containers/json?all=1", .timeout_ms = 60000 };
        json_auto_t *list = NULL;
        json_t *item;
        size_t i;

        if (engine_call(e, &c, &resp, err) < 0)
                return NULL;
        if (resp.status != 200) {
                status_error(err, &resp, "list containers");
                return NULL;
        }
        list = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
        json_array_foreach (list, i, item) {
                const char *image = str_member(item, "ImageID");
                json_t *names = json_object_get(item, "Names");

                if (image && strncmp(image, "sha256:", 7) == 0)
                        image += 7;
                if (image && strcmp(image, id) == 0)
                        return strdup(json_string_value(json_array_get(names, 0))
                                              ?: str_member(item, "Id") ?: "?");
        }
        if (!json_is_array(list))
                ad_error_make(err, AD_ERR_GENERIC, 0, "list containers: not a JSON array");
        return NULL;
}

/* Removes image ID: plainly, or, when it has several names (podman asks
 * for force then), by force once no container uses it (force would remove
 * those too).  Fills MSG with why it stays. */
static bool remove_half_written(ad_engine *e, const char *id, char *msg, size_t msz)
{
        char path[48 + AD_ENGINE_IMAGE_ID_LEN], cause[256];
        cleanup_free char *user = NULL;

        for (int force = 0; force < 2; force++) {
                cleanup_response struct ad_http_response resp = { 0 };
                cleanup_error ad_error_t lerr = NULL;
                struct call c = { .method = "DELETE", .path = path, .timeout_ms = 60000 };

                if (force) {
                        user = container_of_image(e, id, &lerr);
                        if (user || lerr) {
                                snprintf(msg, msz, "%s%s",
                                         user ? "it is the image of container " : "",
                                         user ? user : ad_error_message(lerr));
                                return false;
                        }
                }
                snprintf(path, sizeof(path), "/images/%s%s", id, force ? "?force=1" : "");
                if (engine_call(e, &c, &resp, &lerr) < 0) {
                        snprintf(msg, msz, "%s", ad_error_message(lerr));
                        return false;
                }
                if (resp.status == 404 || (resp.status >= 200 && resp.status < 300))
                        return true;
                error_text(&resp, msg, msz, cause, sizeof(cause));
        }
        return false;
}

/* True when TEXT names a half-written image and the store no longer has
 * it (removed now, or by another caller first). */
static bool heal_store(ad_engine *e, const char *text)
{
        char id[AD_ENGINE_IMAGE_ID_LEN + 1], msg[512] = "";
        bool gone;

        if (!ad_engine_half_written_image(text, id))
                return false;
        gone = remove_half_written(e, id, msg, sizeof(msg));
        if (e->on_repair)
                e->on_repair(id, gone ? NULL : msg, e->repair_ud);
        return gone;
}

/* engine_call for a request without a streamed body: an answer >= 500
 * that names a half-written image removes it and asks again.  An inspect
 * walks up the image's ancestors, so after one is removed the next answer
 * may name another: up to ENGINE_HEAL_MAX of them per call. */
#define ENGINE_HEAL_MAX 8

static int engine_call_healed(ad_engine *e, const struct call *c, struct ad_http_response *resp,
                              ad_error_t *err)
{
        char msg[512], cause[256];
        int ret;

        for (int healed = 0;; healed++) {
                ret = engine_call(e, c, resp, err);
                if (ret < 0 || resp->status < 500 || c->read_fn || c->on_chunk ||
                    healed == ENGINE_HEAL_MAX)
                        return ret;
                error_text(resp, msg, sizeof(msg), cause, sizeof(cause));
                if (!heal_store(e, msg) && !heal_store(e, cause))
                        return ret;
                ad_http_response_free(resp);
                memset(resp, 0, sizeof(*resp));
        }
}

/* A request whose answer must be 2xx (or 304, "nothing to do"). */
static int engine_expect(ad_engine *e, const struct call *c, json_t **out, const char *what,
                         ad_error_t *err)
{
        cleanup_response struct ad_http_response resp = { 0 };
        json_error_t jerr;
        int ret;

        ret = engine_call_healed(e, c, &resp, err);
        if (ret < 0)
                return WRAP(ret, err, "%s", what);
        if (resp.status == 304)
                resp.status = 204;
        if (resp.status < 200 || resp.status >= 300)
                return status_error(err, &resp, what);
        if (out) {
                json_t *j = json_loadb(resp.body ? resp.body : "", resp.len, 0, &jerr);

                if (j == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0,
                                             "%s: the engine's answer is not JSON: %s", what,
                                             jerr.text);
                *out = j;
        }
        return 0;
}

/* Builds "?...&filters={"label":[...]}" with the filters percent-encoded. */
static char *label_filters_query(const char *const *filters)
{
        json_auto_t *f = json_object();
        json_t *labels = json_array();
        cleanup_free char *text = NULL;

        if (f == NULL || labels == NULL) {
                json_decref(labels);
                return NULL;
        }
        for (size_t i = 0; filters && filters[i]; i++)
                json_array_append_new(labels, json_string(filters[i]));
        json_object_set_new(f, "label", labels);
        text = json_dumps(f, JSON_COMPACT);
        return text ? ad_http_escape(text) : NULL;
}

static json_t *labels_object(const char *const *labels)
{
        json_t *o = json_object();

        for (size_t i = 0; o && labels && labels[i]; i++) {
                const char *eq = strchr(labels[i], '=');
                cleanup_free char *key = NULL;

                if (eq == NULL) {
                        json_object_set_new(o, labels[i], json_string(""));
                        continue;
                }
                key = strndup(labels[i], (size_t)(eq - labels[i]));
                if (key)
                        json_object_set_new(o, key, json_string(eq + 1));
        }
        return o;
}

int ad_engine_ping(ad_engine *e, ad_error_t *err)
{
        cleanup_response struct ad_http_response resp = { 0 };
        struct call c = { .path = "/_ping", .timeout_ms = 5000 };
        int ret;

        ret = engine_call(e, &c, &resp, err);
        if (ret < 0)
                return ret;
        if (resp.status != 200)
                return status_error(err, &resp, "ping");
        return 0;
}

/* --- networks --------------------------------------------------------- */

int ad_engine_network_create(ad_engine *e, const char *name, const char *const *labels,
                             ad_error_t *err)
{
        /* isolate: podman (netavark or CNI) drops traffic between this
         * bridge and the engine's other networks, so one app cannot reach
         * another's containers; Docker's bridge ignores the option. */
        json_auto_t *body = json_pack("{s:s,s:s,s:b,s:o,s:{s:s}}", "Name", name, "Driver", "bridge",
                                      "CheckDuplicate", 1, "Labels", labels_object(labels),
                                      "Options", "isolate", "true");
        struct call c = { .method = "POST", .path = "/networks/create", .body = body };
        int ret;

        if (body == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        ret = engine_expect(e, &c, NULL, "create network", err);
        return ret < 0 ? WRAP(ret, err, "network %s", name) : 0;
}

int ad_engine_network_inspect(ad_engine *e, const char *name, char **labels_json, ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(name);
        cleanup_free char *path = NULL;
        json_auto_t *j = NULL;
        struct call c = { 0 };
        int ret;

        if (esc == NULL || asprintf(&path, "/networks/%s", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_expect(e, &c, &j, "inspect network", err);
        if (ret < 0)
                return WRAP(ret, err, "network %s", name);
        if (labels_json) {
                json_t *l = json_object_get(j, "Labels");
                char *text = json_is_object(l) ? json_dumps(l, JSON_COMPACT) : strdup("{}");

                if (text == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                *labels_json = text;
        }
        return 0;
}

int ad_engine_network_ensure(ad_engine *e, const char *name, const char *const *labels,
                             bool *created, ad_error_t *err)
{
        /* Two tries: a concurrent creator may win between the look-up and
         * the create, or remove it between our create and look-up. */
        for (int attempt = 0; attempt < 3; attempt++) {
                cleanup_error ad_error_t lerr = NULL;
                int ret = ad_engine_network_inspect(e, name, NULL, &lerr);

                if (ret == 0) {
                        if (created)
                                *created = false;
                        return 0;
                }
                if (ret != -AD_ERR_NOT_FOUND) {
                        return hand_over(err, &lerr, ret);
                }
                ad_error_release(&lerr);
                ret = ad_engine_network_create(e, name, labels, &lerr);
                if (ret == 0) {
                        if (created)
                                *created = true;
                        return 0;
                }
                if (ret != -AD_ERR_CONFLICT) {
                        return hand_over(err, &lerr, ret);
                }
        }
        return ad_error_make(err, AD_ERR_CONFLICT, 0,
                             "network %s: created and removed concurrently, giving up", name);
}

int ad_engine_network_remove(ad_engine *e, const char *name, ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(name);
        cleanup_free char *path = NULL;
        struct call c = { .method = "DELETE" };
        int ret;

        if (esc == NULL || asprintf(&path, "/networks/%s", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_expect(e, &c, NULL, "remove network", err);
        return ret < 0 ? WRAP(ret, err, "network %s", name) : 0;
}

void ad_engine_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

int ad_engine_network_list(ad_engine *e, const char *const *filters, char ***names, ad_error_t *err)
{
        cleanup_free char *q = label_filters_query(filters);
        cleanup_free char *path = NULL;
        json_auto_t *j = NULL;
        struct call c = { 0 };
        char **v;
        size_t i, n = 0;
        json_t *it;
        int ret;

        if (q == NULL || asprintf(&path, "/networks?filters=%s", q) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_expect(e, &c, &j, "list networks", err);
        if (ret < 0)
                return ret;
        v = calloc(json_array_size(j) + 1, sizeof(*v));
        if (v == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        json_array_foreach (j, i, it) {
                const char *name = json_string_value(json_object_get(it, "Name"));

                if (name && (v[n] = strdup(name)) != NULL)
                        n++;
        }
        *names = v;
        return 0;
}

/* --- images ------------------------------------------------------------ */

int ad_engine_image_exists(ad_engine *e, const char *ref, bool *exists, ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(ref);
        cleanup_free char *path = NULL;
        cleanup_response struct ad_http_response resp = { 0 };
        struct call c = { 0 };
        int ret;

        if (esc == NULL || asprintf(&path, "/images/%s/json", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_call_healed(e, &c, &resp, err);
        if (ret < 0)
                return WRAP(ret, err, "inspect image %s", ref);
        if (resp.status == 200) {
                *exists = true;
                return 0;
        }
        if (resp.status == 404) {
                *exists = false;
                return 0;
        }
        return status_error(err, &resp, "inspect image");
}

int ad_engine_image_identity(ad_engine *e, const char *ref, char **id, char ***repo_digests,
                             ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(ref);
        cleanup_free char *path = NULL;
        cleanup_free char *idv = NULL;
        json_auto_t *img = NULL;
        struct call c = { 0 };
        char **out;
        json_t *d, *rd;
        size_t i, n = 0;
        int ret;

        if (esc == NULL || asprintf(&path, "/images/%s/json", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_expect(e, &c, &img, "inspect image", err);
        if (ret < 0)
                return WRAP(ret, err, "image %s", ref);
        if (json_string_value(json_object_get(img, "Id")) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "image %s: the engine gave no Id",
                                     ref);
        rd = json_object_get(img, "RepoDigests");
        out = calloc(json_array_size(rd) + 1, sizeof(*out));
        idv = strdup(json_string_value(json_object_get(img, "Id")));
        if (out == NULL || idv == NULL) {
                free(out);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        json_array_foreach (rd, i, d) {
                if (json_string_value(d) == NULL)
                        continue;
                if ((out[n] = strdup(json_string_value(d))) == NULL) {
                        ad_engine_strv_free(out);
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                }
                n++;
        }
        *id = TAKE_PTR(idv);
        *repo_digests = out;
        return 0;
}

/* The progress streams of pull, build and push: one JSON object per line,
 * each handed to on_object as it completes.  A line longer than
 * ENGINE_MAX_JSON_LINE carries nothing we need: it is skipped. */
struct json_lines {
        struct ad_buf line; /* the line being read */
        bool overflow;
        void (*on_object)(json_t *obj, void *ud);
        void *ud;
};

static void json_lines_line(struct json_lines *jl, const char *line, size_t len)
{
        json_t *obj;

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        if (len == 0)
                return;
        obj = json_loadb(line, len, JSON_DISABLE_EOF_CHECK, NULL);
        if (json_is_object(obj))
                jl->on_object(obj, jl->ud);
        json_decref(obj);
}

static int json_lines_feed(const char *data, size_t len, void *ud)
{
        struct json_lines *jl = ud;

        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t)(nl - data) : len;

                if (!jl->overflow && jl->line.len + n > ENGINE_MAX_JSON_LINE) {
                        jl->overflow = true;
                        jl->line.len = 0;
                }
                if (!jl->overflow && ad_buf_append(&jl->line, data, n) < 0)
                        return -1;
                if (nl == NULL)
                        break;
                if (!jl->overflow)
                        json_lines_line(jl, jl->line.data, jl->line.len);
                jl->line.len = 0;
                jl->overflow = false;
                data += n + 1;
                len -= n + 1;
        }
        return 0;
}

/* The last line, when the stream did not end with a newline. */
static void json_lines_end(struct json_lines *jl)
{
        if (!jl->overflow && jl->line.len > 0)
                json_lines_line(jl, jl->line.data, jl->line.len);
        ad_buf_free(&jl->line);
}

/* Keeps the first text given (trailing blanks cut) in *slot. */
static void keep_first(char **slot, const char *text)
{
        size_t n;

        if (*slot != NULL || text == NULL)
                return;
        n = strlen(text);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
                n--;
        *slot = strndup(text, n);
}

/* The pull's stream: the first object carrying an error is kept. */
static void pull_object(json_t *obj, void *ud)
{
        char *error = ud;
        const char *msg;

        if (error[0])
                return;
        msg = str_member(obj, "error");
        if (msg == NULL)
                msg = str_member(json_object_get(obj, "errorDetail"), "message");
        if (msg)
                snprintf(error, ENGINE_PULL_MAX_ERROR, "%s", msg);
}

/* Splits "host:port/name:tag" (or "name@sha256:...") into the image and
 * tag/digest part; no tag means "latest". */
static void split_ref(const char *ref, char **image, const char **tag)
{
        const char *at = strchr(ref, '@');
        const char *slash = strrchr(ref, '/');
        const char *colon = strrchr(ref, ':');

        if (at) {
                *image = strdup(ref);
                *tag = NULL;
                return;
        }
        if (colon && (slash == NULL || colon > slash)) {
                *image = strndup(ref, (size_t)(colon - ref));
                *tag = colon + 1;
                return;
        }
        *image = strdup(ref);
        *tag = "latest";
}

int ad_engine_image_pull(ad_engine *e, const char *ref, bool insecure, ad_error_t *err)
{
        cleanup_free char *image = NULL;
        cleanup_free char *eimage = NULL;
        cleanup_free char *etag = NULL;
        cleanup_free char *path = NULL;
        char error[ENGINE_PULL_MAX_ERROR] = "";
        struct json_lines jl = { .on_object = pull_object, .ud = error };
        cleanup_response struct ad_http_response resp = { 0 };
        struct call c = { .method = "POST", .timeout_ms = ENGINE_PULL_TIMEOUT_MS };
        const char *headers[] = { NULL, NULL };
        const char *tag = NULL;
        int kind;
        int ret;

        split_ref(ref, &image, &tag);
        if (image == NULL || (eimage = ad_http_escape(image)) == NULL ||
            (tag && (etag = ad_http_escape(tag)) == NULL))
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (asprintf(&path, "/images/create?fromImage=%s%s%s%s", eimage, etag ? "&tag=" : "",
                     etag ? etag : "", insecure ? "&tlsVerify=false" : "") < 0) {
                path = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        c.on_chunk = json_lines_feed;
        c.chunk_ud = &jl;
        headers[0] = e->auth_header ? e->auth_header : ENGINE_NO_AUTH_HEADER;
        c.headers = headers;
        for (int attempt = 0;; attempt++) {
                ret = engine_call(e, &c, &resp, err);
                json_lines_end(&jl);
                if (ret < 0 || attempt == ENGINE_HEAL_MAX || !heal_store(e, error))
                        break;
                ad_http_response_free(&resp);
                memset(&resp, 0, sizeof(resp));
                jl = (struct json_lines){ .on_object = pull_object, .ud = error };
                error[0] = '\0';
        }
        if (ret < 0)
                return WRAP(ret, err, "pull %s", ref);
        if (resp.status != 200) {
                /* Streamed: no body to read the message from. */
                kind = resp.status == 404 ? AD_ERR_NOT_FOUND : AD_ERR_GENERIC;
                return ad_error_make(err, kind, (int)resp.status, "pull %s: engine answered %ld",
                                     ref, resp.status);
        }
        if (error[0] == '\0')
                return 0;
        kind = AD_ERR_GENERIC;
        if (strstr(error, "manifest unknown") || strstr(error, "name unknown") ||
            strstr(error, "not found") || strstr(error, "no such"))
                kind = AD_ERR_NOT_FOUND;
        else if (strstr(error, "connection refused") || strstr(error, "i/o timeout") ||
                 strstr(error, "no such host") || strstr(error, "connection reset") ||
                 strstr(error, "TLS handshake timeout") || strstr(error, "502 Bad Gateway") ||
                 strstr(error, "503 Service"))
                kind = AD_ERR_UNAVAILABLE;
        return ad_error_make(err, kind, 0, "pull %s: %s", ref, error);
}

int ad_engine_image_ensure(ad_engine *e, const char *ref, bool insecure, bool *pulled,
                           ad_error_t *err)
{
        bool exists = false;
        int ret;

        ret = ad_engine_image_exists(e, ref, &exists, err);
        if (ret < 0)
                return ret;
        if (!exists) {
                ret = ad_engine_image_pull(e, ref, insecure, err);
                if (ret < 0)
                        return ret;
        }
        if (pulled)
                *pulled = !exists;
        return 0;
}

int ad_engine_image_remove(ad_engine *e, const char *ref, bool force, ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(ref);
        cleanup_free char *path = NULL;
        struct call c = { .method = "DELETE" };
        int ret;

        if (esc == NULL || asprintf(&path, "/images/%s%s", esc, force ? "?force=1" : "") < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        ret = engine_expect(e, &c, NULL, "remove image", err);
        return ret < 0 ? WRAP(ret, err, "image %s", ref) : 0;
}

/* --- build and push ----------------------------------------------------
 *
 * What podman 4.3's compatible API needs (found by trying):
 *  - /build takes the context as a tar body with Content-Type
 *    application/x-tar (without it the body is not read as a context);
 *  - it pulls a FROM image only when the store lacks it (no `pull`
 *    parameter: pull=1 would mean always), so the localhost/app-deployer
 *    base images are used from the store and nothing is fetched;
 *  - layers are cached by default ("--> Using cache <id>" lines);
 *  - a failing step still answers 200: the failure is an {"error": ...}
 *    line at the end of the stream;
 *  - /push needs an X-Registry-Auth header (base64 of "{}" for none) and
 *    reports the manifest digest in its last status line ("<tag>: digest:
 *    sha256:... size: N"); a registry that does not answer is again an
 *    {"error": ...} line in a 200 stream.  tlsVerify=false lets it speak
 *    plain HTTP to a registry that registries.conf does not list.
 */

struct build_state {
        const struct ad_engine_build *req;
        struct ad_engine_build_result *res;
        char pending[ENGINE_BUILD_MAX_LINE]; /* output text not yet ended by '\n' */
        size_t plen;
        char *message; /* {"message": ...} of a non-200 answer */
};

static void build_emit(struct build_state *s, const char *line)
{
        const char *p = line;

        /* Multi-stage builds prefix the stage: "[1/2] STEP 3/7: ...". */
        if (*p == '[' && strstr(p, "] ") != NULL)
                p = strstr(p, "] ") + 2;
        if (strncmp(p, "STEP ", 5) == 0)
                s->res->steps++;
        else if (strncmp(p, "--> Using cache ", 16) == 0)
                s->res->layers_cached++;
        if (s->req->on_line)
                s->req->on_line(line, s->req->ud);
}

static void build_text(struct build_state *s, const char *text)
{
        for (const char *p = text; *p; p++) {
                if (*p == '\n' || s->plen == sizeof(s->pending) - 1) {
                        s->pending[s->plen] = '\0';
                        build_emit(s, s->pending);
                        s->plen = 0;
                        if (*p == '\n')
                                continue;
                }
                s->pending[s->plen++] = *p;
        }
}

static void build_flush(struct build_state *s)
{
        if (s->plen > 0) {
                s->pending[s->plen] = '\0';
                build_emit(s, s->pending);
                s->plen = 0;
        }
}

static void build_object(json_t *obj, void *ud)
{
        struct build_state *s = ud;
        const char *text;
        json_t *aux;

        if ((text = str_member(obj, "stream")) != NULL) {
                build_text(s, text);
        } else if ((text = str_member(obj, "error")) != NULL) {
                build_flush(s);
                keep_first(&s->res->error, text);
                if (s->res->error && s->req->on_line) {
                        char line[4096];

                        snprintf(line, sizeof(line), "error: %s", s->res->error);
                        s->req->on_line(line, s->req->ud);
                }
        } else if ((aux = json_object_get(obj, "aux")) != NULL) {
                const char *id = str_member(aux, "ID");

                if (id && s->res->image_id == NULL)
                        s->res->image_id = strdup(id);
        } else if ((text = str_member(obj, "message")) != NULL) {
                keep_first(&s->message, text);
        }
}

/* context_read behind ad_http_read_fn: its first error is kept for the
 * caller, and a negative return makes curl abort the request. */
struct context_reader {
        const struct ad_engine_build *req;
        ad_error_t err;
        bool failed;
};

static ssize_t read_produced(char *buf, size_t size, void *ud)
{
        struct context_reader *cr = ud;
        ssize_t n;

        if (cr->failed)
                return -1;
        n = cr->req->context_read(buf, size, cr->req->context_ud, &cr->err);
        if (n < 0) {
                cr->failed = true;
                if (cr->err == NULL)
                        ad_error_make(&cr->err, AD_ERR_GENERIC, 0,
                                      "the build context could not be made");
                return -1;
        }
        return n;
}

static int add_query(char **q, const char *key, const char *value)
{
        cleanup_free char *esc = ad_http_escape(value);
        char *next = NULL;

        if (esc == NULL || asprintf(&next, "%s%s%s=%s", *q ? *q : "", *q ? "&" : "", key, esc) < 0)
                return -1;
        free(*q);
        *q = next;
        return 0;
}

static char *build_path(const struct ad_engine_build *req)
{
        json_auto_t *labels = labels_object(req->labels);
        cleanup_free char *ltext =
                labels ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        cleanup_free char *query = NULL;
        char *path = NULL;
        int ret = ltext ? 0 : -1;

        for (size_t i = 0; req->tags && req->tags[i] && ret == 0; i++)
                ret = add_query(&query, "t", req->tags[i]);
        if (ret == 0 && req->dockerfile)
                ret = add_query(&query, "dockerfile", req->dockerfile);
        if (ret == 0)
                ret = add_query(&query, "labels", ltext);
        /* RUN steps never share the host's network namespace (podman 4.3's
         * compat /build ignores Docker's networkmode=<name> and runs them
         * on the host's: its own nsoptions and networkmode=1, "disabled",
         * are what it honours). */
        if (ret == 0 && req->network && strcmp(req->network, "none") == 0)
                ret = add_query(&query, "networkmode", "1");
        else if (ret == 0)
                ret = add_query(&query, "nsoptions", "[{\"Name\":\"network\",\"Host\":false}]");
        if (ret == 0 && req->memory_bytes > 0) {
                char v[32];
                snprintf(v, sizeof(v), "%llu", (unsigned long long)req->memory_bytes);
                ret = add_query(&query, "memory", v);
                if (ret == 0)
                        ret = add_query(&query, "memswap", v); /* no swap beyond it */
        }
        if (ret == 0 && req->cpu_millis > 0) {
                char v[32];
                snprintf(v, sizeof(v), "%ld", req->cpu_millis * 100);
                ret = add_query(&query, "cpuperiod", "100000");
                if (ret == 0)
                        ret = add_query(&query, "cpuquota", v);
        }
        if (ret == 0 && req->cgroup_parent && *req->cgroup_parent)
                ret = add_query(&query, "cgroupparent", req->cgroup_parent);
        /* Intermediate containers go, even after a failed step. */
        if (ret == 0)
                ret = add_query(&query, "rm", "1");
        if (ret == 0)
                ret = add_query(&query, "forcerm", "1");
        if (ret < 0 || asprintf(&path, "/build?%s", query) < 0)
                return NULL;
        return path;
}

int ad_engine_image_build(ad_engine *e, const struct ad_engine_build *req,
                          struct ad_engine_build_result *res, ad_error_t *err)
{
        const char *const headers[] = { e->config_header ? e->config_header
                                                         : ENGINE_NO_CONFIG_HEADER,
                                        NULL };
        cleanup_free char *path = build_path(req);
        cleanup_free struct build_state *s = calloc(1, sizeof(*s));
        cleanup_response struct ad_http_response resp = { 0 };
        struct json_lines jl = { .on_object = build_object };
        struct context_reader cr = { .req = req };
        struct call c = {
                .method = "POST",
                .read_fn = read_produced,
                .read_ud = &cr,
                .content_type = "application/x-tar",
                .headers = headers,
                .timeout_ms = req->timeout_ms,
                .on_chunk = json_lines_feed,
                .chunk_ud = &jl,
                .cancel = req->cancel,
        };
        int ret;

        memset(res, 0, sizeof(*res));
        if (s == NULL || path == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (req->context_read == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "no build context");
        c.path = path;
        s->req = req;
        s->res = res;
        jl.ud = s;
        ret = engine_call(e, &c, &resp, err);
        json_lines_end(&jl);
        build_flush(s);
        if (cr.failed) {
                /* The upload was aborted: the context's error is the
                 * cause, whatever the engine or curl made of it. */
                ret = -cr.err->kind;
                if (err) {
                        ad_error_release(err);
                        *err = TAKE_PTR(cr.err);
                }
        } else if (ret < 0) {
                if (err && *err && (*err)->kind == AD_ERR_TIMEOUT)
                        ad_error_wrap(err, "the build took longer than %lld s",
                                      (long long)(req->timeout_ms / 1000));
        } else if (resp.status != 200) {
                ret = ad_error_make(err, resp.status >= 500 ? AD_ERR_GENERIC : AD_ERR_INVALID,
                                    (int)resp.status, "engine answered %ld to /build: %s",
                                    resp.status, s->message ? s->message : "(no message)");
        } else if (res->error && heal_store(e, res->error)) {
                /* Not the build's fault: a retry finds the store whole. */
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                    "the engine's store held a half-written image (removed): %s",
                                    res->error);
        } else if (res->error == NULL && res->image_id == NULL) {
                /* The stream ended without a result: the engine went away
                 * mid-build. */
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                    "the engine's build stream ended without a result");
        }
        free(s->message);
        ad_error_release(&cr.err);
        if (ret < 0)
                ad_engine_build_result_clear(res);
        return ret;
}

void ad_engine_build_result_clear(struct ad_engine_build_result *res)
{
        if (res == NULL)
                return;
        free(res->image_id);
        free(res->error);
        memset(res, 0, sizeof(*res));
}

bool ad_engine_find_digest(const char *text, char out[AD_ENGINE_DIGEST_LEN + 1])
{
        const char *p = text ? strstr(text, "digest: sha256:") : NULL;

        if (p == NULL)
                return false;
        p += 8;
        if (strspn(p + 7, "0123456789abcdef") < 64)
                return false;
        memcpy(out, p, AD_ENGINE_DIGEST_LEN);
        out[AD_ENGINE_DIGEST_LEN] = '\0';
        return true;
}

struct push_state {
        char *error;
        char *message;
        char digest[AD_ENGINE_DIGEST_LEN + 1];
};

static void push_object(json_t *obj, void *ud)
{
        struct push_state *s = ud;
        const char *text;
        json_t *aux;

        if ((text = str_member(obj, "error")) != NULL) {
                keep_first(&s->error, text);
        } else if ((text = str_member(obj, "status")) != NULL) {
                ad_engine_find_digest(text, s->digest);
        } else if ((aux = json_object_get(obj, "aux")) != NULL) {
                const char *d = str_member(aux, "Digest");

                if (d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == AD_ENGINE_DIGEST_LEN)
                        memcpy(s->digest, d, AD_ENGINE_DIGEST_LEN + 1);
        } else if ((text = str_member(obj, "message")) != NULL) {
                keep_first(&s->message, text);
        }
}

int ad_engine_image_push(ad_engine *e, const char *name, const char *tag, int64_t timeout_ms,
                         bool (*cancel)(void), char **digest, ad_error_t *err)
{
        const char *const headers[] = { e->auth_header ? e->auth_header : ENGINE_NO_AUTH_HEADER,
                                        NULL };
        cleanup_free char *etag = ad_http_escape(tag), *path = NULL;
        cleanup_response struct ad_http_response resp = { 0 };
        struct push_state s = { 0 };
        struct json_lines jl = { .on_object = push_object, .ud = &s };
        struct call c = {
                .method = "POST",
                .headers = headers,
                .timeout_ms = timeout_ms,
                .on_chunk = json_lines_feed,
                .chunk_ud = &jl,
                .cancel = cancel,
        };
        int ret;

        /* The name stays unescaped: podman routes /images/{name:.*}/push. */
        if (etag == NULL ||
            asprintf(&path, "/images/%s/push?tag=%s&tlsVerify=false", name, etag) < 0) {
                path = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        ret = engine_call(e, &c, &resp, err);
        json_lines_end(&jl);
        if (ret < 0)
                ad_error_wrap(err, "push %s:%s", name, tag);
        else if (resp.status == 404)
                ret = ad_error_make(err, AD_ERR_NOT_FOUND, 404, "push %s:%s: %s", name, tag,
                                    s.message ? s.message : "no such image");
        else if (resp.status != 200)
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, (int)resp.status,
                                    "push %s:%s: engine answered %ld: %s", name, tag, resp.status,
                                    s.message ? s.message : "(no message)");
        else if (s.error)
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "push %s:%s: %s%s", name, tag,
                                    s.error,
                                    heal_store(e, s.error) ? " (that image was removed)" : "");
        if (ret == 0 && digest)
                *digest = s.digest[0] ? strdup(s.digest) : NULL;
        free(s.error);
        free(s.message);
        return ret;
}

/* Newest image first. */
static int image_by_created_desc(const void *a, const void *b)
{
        json_int_t ca = json_integer_value(json_object_get(*(json_t *const *)a, "Created"));
        json_int_t cb = json_integer_value(json_object_get(*(json_t *const *)b, "Created"));

        return ca < cb ? 1 : ca > cb ? -1 : 0;
}

int ad_engine_image_list(ad_engine *e, const char *const *filters, char ***refs, ad_error_t *err)
{
        cleanup_free char *q = label_filters_query(filters);
        cleanup_free char *path = NULL;
        cleanup_free json_t **imgs = NULL;
        json_auto_t *list = NULL;
        struct call c = { 0 };
        char **out = NULL;
        size_t n = 0, i, count;
        int ret;

        if (q == NULL || asprintf(&path, "/images/json?filters=%s", q) < 0) {
                path = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        ret = engine_expect(e, &c, &list, "list images", err);
        if (ret < 0)
                return ret;
        if (!json_is_array(list))
                return ad_error_make(err, AD_ERR_GENERIC, 0, "engine's image list is not an array");
        count = json_array_size(list);
        out = calloc(1, sizeof(*out));
        imgs = calloc(count + 1, sizeof(*imgs));
        if (out == NULL || imgs == NULL) {
                free(out);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        for (i = 0; i < count; i++)
                imgs[i] = json_array_get(list, i);
        qsort(imgs, count, sizeof(*imgs), image_by_created_desc);
        for (i = 0; i < count; i++) {
                json_t *rt = json_object_get(imgs[i], "RepoTags"), *t;
                size_t j;

                json_array_foreach (rt, j, t) {
                        const char *tag = json_string_value(t);
                        char **grown;

                        if (tag == NULL || strstr(tag, "<none>") != NULL)
                                continue;
                        /* out stays NULL-terminated for ad_engine_strv_free. */
                        grown = realloc(out, (n + 2) * sizeof(*out));
                        if (grown == NULL || (grown[n] = strdup(tag)) == NULL) {
                                ad_engine_strv_free(grown ? grown : out);
                                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                        }
                        out = grown;
                        out[++n] = NULL;
                }
        }
        *refs = out;
        return 0;
}

/* --- containers -------------------------------------------------------- */

static json_t *strv_array(const char *const *v)
{
        json_t *a = json_array();

        for (size_t i = 0; a && v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *container_body(const struct ad_container_spec *s)
{
        json_t *body = json_object(), *hc = json_object();
        char port[32];

        if (body == NULL || hc == NULL) {
                json_decref(body);
                json_decref(hc);
                return NULL;
        }
        json_object_set_new(body, "Image", json_string(s->image));
        if (s->cmd)
                json_object_set_new(body, "Cmd", strv_array(s->cmd));
        json_object_set_new(body, "Env", strv_array(s->env));
        json_object_set_new(body, "Labels", labels_object(s->labels));
        if (s->user)
                json_object_set_new(body, "User", json_string(s->user));
        if (s->container_port) {
                snprintf(port, sizeof(port), "%u/tcp", s->container_port);
                json_object_set_new(body, "ExposedPorts", json_pack("{s:{}}", port));
                /* An empty HostPort: the engine picks a free one. */
                json_object_set_new(hc, "PortBindings",
                                    json_pack("{s:[{s:s,s:s}]}", port, "HostIp",
                                              s->host_ip ? s->host_ip : "127.0.0.1", "HostPort",
                                              ""));
        }
        if (s->network)
                json_object_set_new(hc, "NetworkMode", json_string(s->network));
        if (s->memory_bytes > 0) {
                json_object_set_new(hc, "Memory", json_integer(s->memory_bytes));
                /* No swap on top of the limit. */
                json_object_set_new(hc, "MemorySwap", json_integer(s->memory_bytes));
        }
        if (s->nano_cpus > 0)
                json_object_set_new(hc, "NanoCpus", json_integer(s->nano_cpus));
        if (s->pids_limit > 0)
                json_object_set_new(hc, "PidsLimit", json_integer(s->pids_limit));
        if (s->cap_drop_all)
                json_object_set_new(hc, "CapDrop", json_pack("[s]", "ALL"));
        if (s->no_new_privileges)
                json_object_set_new(hc, "SecurityOpt", json_pack("[s]", "no-new-privileges"));
        json_object_set_new(hc, "ReadonlyRootfs", json_boolean(s->read_only_rootfs));
        if (s->read_only_rootfs)
                json_object_set_new(hc, "Tmpfs", json_pack("{s:s}", "/tmp", "rw,nosuid,nodev"));
        if (s->restart_policy)
                json_object_set_new(hc, "RestartPolicy",
                                    json_pack("{s:s}", "Name", s->restart_policy));
        json_object_set_new(body, "HostConfig", hc);
        return body;
}

int ad_engine_container_create(ad_engine *e, const struct ad_container_spec *spec, char **id,
                               ad_error_t *err)
{
        json_auto_t *body = container_body(spec);
        json_auto_t *j = NULL;
        cleanup_free char *esc = ad_http_escape(spec->name);
        cleanup_free char *path = NULL;
        struct call c = { .method = "POST" };
        const char *cid;
        char *copy;
        int ret;

        if (body == NULL || esc == NULL || asprintf(&path, "/containers/create?name=%s", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        c.path = path;
        c.body = body;
        ret = engine_expect(e, &c, &j, "create container", err);
        if (ret < 0)
                return WRAP(ret, err, "container %s", spec->name);
        cid = json_string_value(json_object_get(j, "Id"));
        if (cid == NULL || *cid == '\0')
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "create container %s: no Id in the engine's answer",
                                     spec->name);
        copy = strdup(cid);
        if (copy == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        *id = copy;
        return 0;
}

/* POST/DELETE on <api>/containers/<id><suffix>, with an optional JSON
 * body; api is "" (the Docker-compatible API) or "/libpod" (podman's). */
static int container_action(ad_engine *e, const char *api, const char *method, const char *id,
                            const char *suffix, const json_t *body, long timeout_ms,
                            const char *what, ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(id);
        cleanup_free char *path = NULL;
        struct call c = { .method = method, .timeout_ms = timeout_ms, .body = body };
        int ret;

        if (esc == NULL || asprintf(&path, "%s/containers/%s%s", api, esc, suffix) < 0) {
                path = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        ret = engine_expect(e, &c, NULL, what, err);
        return ret < 0 ? WRAP(ret, err, "container %s", id) : 0;
}

int ad_engine_container_start(ad_engine *e, const char *id, ad_error_t *err)
{
        return container_action(e, "", "POST", id, "/start", NULL, 0, "start", err);
}

/* podman's own update (the Docker-compatible one is not served by podman
 * 4): runc writes the CFS quota of the running container's cgroup.  The
 * container's stored configuration is left as created, so a restart runs
 * with the limit it was created with. */
int ad_engine_container_set_cpus(ad_engine *e, const char *id, int64_t nano_cpus, ad_error_t *err)
{
        json_auto_t *body = NULL;

        if (nano_cpus < 1000000 || nano_cpus > INT64_C(1024) * 1000000000)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "container %s: %" PRId64 " nano cpus is out of range", id,
                                     nano_cpus);
        /* quota / period = cpus, with the period podman gives --cpus. */
        body = json_pack("{s:{s:I, s:I}}", "cpu", "quota",
                         (json_int_t)(nano_cpus * ENGINE_CPU_PERIOD_US / 1000000000), "period",
                         (json_int_t)ENGINE_CPU_PERIOD_US);
        if (body == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return container_action(e, "/libpod", "POST", id, "/update", body, 30000, "update", err);
}

int ad_engine_container_stop(ad_engine *e, const char *id, int timeout_s, ad_error_t *err)
{
        char suffix[32];

        if (timeout_s < 0)
                timeout_s = 0;
        snprintf(suffix, sizeof(suffix), "/stop?t=%d", timeout_s);
        return container_action(e, "", "POST", id, suffix, NULL, (timeout_s + 30) * 1000L, "stop",
                                err);
}

int ad_engine_container_remove(ad_engine *e, const char *id, bool force, ad_error_t *err)
{
        /* v=1: anonymous volumes go with it. */
        return container_action(e, "", "DELETE", id, force ? "?force=1&v=1" : "?v=1", NULL, 60000,
                                "remove", err);
}

void ad_container_clear(struct ad_container *c)
{
        if (c == NULL)
                return;
        free(c->id);
        free(c->name);
        free(c->image);
        free(c->state);
        free(c->app);
        free(c->deployment);
        free(c->host_ip);
        memset(c, 0, sizeof(*c));
}

void ad_container_list_free(struct ad_container *list, size_t n)
{
        for (size_t i = 0; list && i < n; i++)
                ad_container_clear(&list[i]);
        free(list);
}

bool ad_container_live(const struct ad_container *c)
{
        return c->running || (c->state && (strcmp(c->state, "running") == 0 ||
                                           strcmp(c->state, "restarting") == 0 ||
                                           strcmp(c->state, "paused") == 0));
}

static char *dup_or_empty(const char *s)
{
        return strdup(s ? s : "");
}

static void labels_into(struct ad_container *c, const json_t *labels)
{
        c->app = dup_or_empty(json_string_value(json_object_get(labels, AD_LABEL_APP)));
        c->deployment =
                dup_or_empty(json_string_value(json_object_get(labels, AD_LABEL_DEPLOYMENT)));
}

/* "2026-11-26T22:23:20.95Z" -> Unix seconds (0 when unreadable). */
static int64_t parse_time(const char *s)
{
        struct tm tm;

        if (s == NULL)
                return 0;
        memset(&tm, 0, sizeof(tm));
        if (strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
                return 0;
        return (int64_t)timegm(&tm);
}

static bool container_filled(const struct ad_container *c)
{
        return c->id && c->name && c->image && c->state && c->app && c->deployment && c->host_ip;
}

/* NetworkSettings.Ports of inspect: {"8080/tcp": [{"HostIp", "HostPort"}]} */
static void inspect_ports(struct ad_container *c, const json_t *ports)
{
        const char *key;
        json_t *binds;

        json_object_foreach ((json_t *)ports, key, binds) {
                size_t i;
                json_t *b;

                json_array_foreach (binds, i, b) {
                        const char *hp = json_string_value(json_object_get(b, "HostPort"));
                        const char *ip = json_string_value(json_object_get(b, "HostIp"));

                        if (hp == NULL || *hp == '\0')
                                continue;
                        c->container_port = (unsigned)strtoul(key, NULL, 10);
                        c->host_port = (unsigned)strtoul(hp, NULL, 10);
                        free(c->host_ip);
                        c->host_ip = dup_or_empty(ip);
                        return;
                }
        }
}

static int container_inspect_once(ad_engine *e, const char *id, struct ad_container *out,
                                  ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(id);
        cleanup_free char *path = NULL;
        json_auto_t *j = NULL;
        struct ad_container c = { 0 };
        struct call call = { 0 };
        const json_t *state, *config;
        const char *name;
        int ret;

        if (esc == NULL || asprintf(&path, "/containers/%s/json", esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        call.path = path;
        ret = engine_expect(e, &call, &j, "inspect", err);
        if (ret < 0)
                return WRAP(ret, err, "container %s", id);
        state = json_object_get(j, "State");
        config = json_object_get(j, "Config");
        name = json_string_value(json_object_get(j, "Name"));
        c.id = dup_or_empty(json_string_value(json_object_get(j, "Id")));
        c.name = dup_or_empty(name && *name == '/' ? name + 1 : name);
        c.image = dup_or_empty(json_string_value(json_object_get(config, "Image")));
        c.state = dup_or_empty(json_string_value(json_object_get(state, "Status")));
        c.running = json_is_true(json_object_get(state, "Running"));
        c.exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
        c.restart_count = (int)json_integer_value(json_object_get(j, "RestartCount"));
        c.created = parse_time(json_string_value(json_object_get(j, "Created")));
        c.host_ip = dup_or_empty(NULL);
        labels_into(&c, json_object_get(config, "Labels"));
        inspect_ports(&c, json_object_get(json_object_get(j, "NetworkSettings"), "Ports"));
        if (!container_filled(&c)) {
                ad_container_clear(&c);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        *out = c;
        return 0;
}

/* podman 4.3 may answer the inspect of a container whose process is
 * exiting at that moment with 500 "read /proc/PID/cgroup: no such
 * process"; an inspect a moment later sees it exited.  Seen by
 * test_provision_deploy's release phase waiting for a short command. */
#define INSPECT_RACE_TRIES 5

int ad_engine_container_inspect(ad_engine *e, const char *id, struct ad_container *out,
                                ad_error_t *err)
{
        for (int attempt = 1;; attempt++) {
                ad_error_t lerr = NULL;
                int ret = container_inspect_once(e, id, out, &lerr);

                if (ret == 0)
                        return 0;
                if (attempt < INSPECT_RACE_TRIES &&
                    strstr(ad_error_message(lerr), "no such process") != NULL) {
                        ad_error_release(&lerr);
                        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
                        continue;
                }
                if (err != NULL && *err == NULL)
                        *err = lerr;
                else
                        ad_error_release(&lerr);
                return ret;
        }
}

static int by_created_desc(const void *a, const void *b)
{
        const struct ad_container *x = a, *y = b;

        if (x->created != y->created)
                return x->created < y->created ? 1 : -1;
        return strcmp(x->id, y->id);
}

int ad_engine_container_list(ad_engine *e, const char *const *filters, bool all,
                             struct ad_container **out, size_t *n, ad_error_t *err)
{
        cleanup_free char *q = label_filters_query(filters);
        cleanup_free char *path = NULL;
        json_auto_t *j = NULL;
        struct ad_container *list;
        struct call call = { 0 };
        size_t i, count = 0;
        json_t *it;
        int ret;

        if (q == NULL || asprintf(&path, "/containers/json?all=%d&filters=%s", all ? 1 : 0, q) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        call.path = path;
        ret = engine_expect(e, &call, &j, "list containers", err);
        if (ret < 0)
                return ret;
        if (!json_is_array(j))
                return ad_error_make(err, AD_ERR_GENERIC, 0, "list containers: not an array");
        list = calloc(json_array_size(j) + 1, sizeof(*list));
        if (list == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        json_array_foreach (j, i, it) {
                struct ad_container *c = &list[count];
                const json_t *names = json_object_get(it, "Names");
                const char *name = json_string_value(json_array_get(names, 0));
                const json_t *ports = json_object_get(it, "Ports");
                size_t k;
                json_t *p;

                c->id = dup_or_empty(json_string_value(json_object_get(it, "Id")));
                c->name = dup_or_empty(name && *name == '/' ? name + 1 : name);
                c->image = dup_or_empty(json_string_value(json_object_get(it, "Image")));
                c->state = dup_or_empty(json_string_value(json_object_get(it, "State")));
                c->running = c->state && strcmp(c->state, "running") == 0;
                c->created = json_integer_value(json_object_get(it, "Created"));
                c->host_ip = NULL;
                labels_into(c, json_object_get(it, "Labels"));
                json_array_foreach (ports, k, p) {
                        json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));

                        if (pub <= 0)
                                continue;
                        c->host_port = (unsigned)pub;
                        c->container_port =
                                (unsigned)json_integer_value(json_object_get(p, "PrivatePort"));
                        c->host_ip = dup_or_empty(json_string_value(json_object_get(p, "IP")));
                        break;
                }
                if (c->host_ip == NULL)
                        c->host_ip = dup_or_empty(NULL);
                if (!container_filled(c)) {
                        ad_container_list_free(list, count + 1);
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                }
                count++;
        }
        qsort(list, count, sizeof(*list), by_created_desc);
        *out = list;
        *n = count;
        return 0;
}

size_t ad_engine_demux_logs(const char *data, size_t len, char *out)
{
        const unsigned char *p = (const unsigned char *)data;
        size_t i = 0, n = 0;

        while (i < len) {
                uint32_t size;

                /* A frame header: stream 0-2, three zero bytes, size. */
                if (len - i < 8 || p[i] > 2 || p[i + 1] || p[i + 2] || p[i + 3]) {
                        memcpy(out + n, data + i, len - i);
                        n += len - i;
                        break;
                }
                size = (uint32_t)p[i + 4] << 24 | (uint32_t)p[i + 5] << 16 |
                       (uint32_t)p[i + 6] << 8 | (uint32_t)p[i + 7];
                i += 8;
                if (size > len - i)
                        size = (uint32_t)(len - i); /* cut by our bound */
                memcpy(out + n, data + i, size);
                n += size;
                i += size;
        }
        out[n] = '\0';
        return n;
}

/* Keeps the first `cap` bytes of a streamed body, then stops the
 * transfer: a chatty container's log is cut, not refused. */
struct log_sink {
        char *buf;
        size_t len, cap;
        bool full;
};

static int log_chunk(const char *data, size_t len, void *ud)
{
        struct log_sink *s = ud;
        size_t room = s->cap - s->len;

        if (len > room) {
                memcpy(s->buf + s->len, data, room);
                s->len += room;
                s->full = true;
                return -1;
        }
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        return 0;
}

int ad_engine_container_logs(ad_engine *e, const char *id, int tail, size_t max_bytes, char **out,
                             ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(id);
        cleanup_free char *path = NULL;
        cleanup_response struct ad_http_response resp = { 0 };
        cleanup_error ad_error_t cerr = NULL;
        struct log_sink sink = { 0 };
        struct call c = { 0 };
        char *text;
        int ret;

        if (max_bytes == 0)
                max_bytes = ENGINE_LOGS_DEFAULT_MAX;
        if (tail > 0)
                ret = asprintf(&path, "/containers/%s/logs?stdout=1&stderr=1&tail=%d",
                               esc ? esc : "", tail);
        else
                ret = asprintf(&path, "/containers/%s/logs?stdout=1&stderr=1", esc ? esc : "");
        /* The frame headers take room too: allow for them, cut the text
         * after. */
        sink.cap = max_bytes + max_bytes / 4 + 64;
        sink.buf = malloc(sink.cap + 1);
        if (esc == NULL || ret < 0 || sink.buf == NULL) {
                if (ret < 0)
                        path = NULL;
                free(sink.buf);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        c.on_chunk = log_chunk;
        c.chunk_ud = &sink;
        ret = engine_call(e, &c, &resp, &cerr);
        if (ret < 0 && !sink.full) {
                free(sink.buf);
                hand_over(err, &cerr, ret);
                return WRAP(ret, err, "logs of container %s", id);
        }
        if (ret == 0 && resp.status != 200) {
                sink.buf[sink.len] = '\0';
                resp.body = TAKE_PTR(sink.buf);
                resp.len = sink.len;
                return status_error(err, &resp, "container logs");
        }
        text = malloc(sink.len + 1);
        if (text == NULL) {
                free(sink.buf);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        if (ad_engine_demux_logs(sink.buf, sink.len, text) > max_bytes)
                text[max_bytes] = '\0';
        free(sink.buf);
        *out = text;
        return 0;
}

/* A follow's chunks go to the caller only when they are the log stream: an
 * error answer's JSON body (a 404 after the container went) is kept for
 * the error instead. */
struct follow_sink {
        int (*fn)(const char *data, size_t len, void *ud);
        void *ud;
        bool started, error_body;
        char body[512];
        size_t len;
};

static int follow_chunk(const char *data, size_t len, void *ud)
{
        struct follow_sink *f = ud;

        if (!f->started && len > 0) {
                f->started = true;
                f->error_body = data[0] == '{';
        }
        if (f->error_body) {
                size_t n = len < sizeof(f->body) - 1 - f->len ? len : sizeof(f->body) - 1 - f->len;

                memcpy(f->body + f->len, data, n);
                f->len += n;
                f->body[f->len] = '\0';
                return 0;
        }
        return f->fn(data, len, f->ud);
}

int ad_engine_container_follow(ad_engine *e, const char *id, const char *since, long timeout_ms,
                               bool (*cancel)(void),
                               int (*on_chunk)(const char *data, size_t len, void *ud), void *ud,
                               ad_error_t *err)
{
        cleanup_free char *esc = ad_http_escape(id);
        cleanup_free char *path = NULL;
        cleanup_response struct ad_http_response resp = { 0 };
        struct follow_sink sink = { .fn = on_chunk, .ud = ud };
        struct call c = { 0 };
        int ret;

        if (since && strspn(since, "0123456789") != strlen(since))
                return ad_error_make(err, AD_ERR_INVALID, 0, "since must be Unix seconds");
        ret = asprintf(&path, "/containers/%s/logs?follow=1&stdout=1&stderr=1&timestamps=1%s%s",
                       esc ? esc : "", since ? "&since=" : "", since ? since : "");
        if (esc == NULL || ret < 0) {
                path = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        c.path = path;
        c.timeout_ms = timeout_ms;
        c.cancel = cancel;
        c.on_chunk = follow_chunk;
        c.chunk_ud = &sink;
        ret = engine_call(e, &c, &resp, err);
        if (ret < 0) {
                /* The whole-transfer timeout ends a long follow: not an
                 * error, the caller follows again from where it is. */
                if (ret == -AD_ERR_TIMEOUT && !(cancel && cancel())) {
                        ad_error_release(err);
                        return 0;
                }
                return WRAP(ret, err, "follow the log of container %s", id);
        }
        if (resp.status != 200) {
                free(resp.body);
                resp.body = strdup(sink.body);
                resp.len = resp.body ? strlen(resp.body) : 0;
                return status_error(err, &resp, "container logs");
        }
        return 0;
}
