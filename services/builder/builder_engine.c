/* Engine /build and /push: see builder_engine.h.
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
#include "builder_engine.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/engine.h"
#include "ad/http.h"

#define MAX_JSON_LINE (1024 * 1024)
#define MAX_PENDING 16384
/* base64("{}"): no credentials (the platform's registry has none). */
#define NO_AUTH_HEADER "X-Registry-Auth: e30="

/* Splits a stream of JSON objects, one per line, and hands each over. */
struct json_lines {
        char *buf;
        size_t len, cap;
        bool overflow; /* the current line passed MAX_JSON_LINE: skip it */
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

                if (!jl->overflow && jl->len + n > MAX_JSON_LINE) {
                        jl->overflow = true;
                        jl->len = 0;
                }
                if (!jl->overflow) {
                        if (jl->len + n + 1 > jl->cap) {
                                size_t cap = jl->cap ? jl->cap : 4096;
                                char *b;

                                while (cap < jl->len + n + 1)
                                        cap *= 2;
                                b = realloc(jl->buf, cap);
                                if (b == NULL)
                                        return -1;
                                jl->buf = b;
                                jl->cap = cap;
                        }
                        memcpy(jl->buf + jl->len, data, n);
                        jl->len += n;
                }
                if (nl == NULL)
                        break;
                if (!jl->overflow)
                        json_lines_line(jl, jl->buf, jl->len);
                jl->len = 0;
                jl->overflow = false;
                data += n + 1;
                len -= n + 1;
        }
        return 0;
}

static void json_lines_end(struct json_lines *jl)
{
        if (!jl->overflow && jl->len > 0)
                json_lines_line(jl, jl->buf, jl->len);
        free(jl->buf);
        jl->buf = NULL;
        jl->len = jl->cap = 0;
}

static const char *str_member(const json_t *obj, const char *key)
{
        return json_string_value(json_object_get(obj, key));
}

/* The engine's own message for a non-200 answer ({"message": ...}). */
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

/* ---- build ------------------------------------------------------------ */

struct build_state {
        const struct builder_build_request *req;
        struct builder_build_result *res;
        char pending[MAX_PENDING]; /* output text not yet ended by '\n' */
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

static ssize_t read_context(char *buf, size_t size, void *ud)
{
        const int *fd = ud;

        for (;;) {
                ssize_t n = read(*fd, buf, size);
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 ? -1 : n;
        }
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

static char *labels_json(const char *const *labels)
{
        json_t *o = json_object();
        char *out = NULL;

        for (size_t i = 0; o && labels && labels[i]; i++) {
                const char *eq = strchr(labels[i], '=');
                cleanup_free char *key = NULL;

                if (eq == NULL)
                        continue;
                key = strndup(labels[i], (size_t)(eq - labels[i]));
                if (key)
                        json_object_set_new(o, key, json_string(eq + 1));
        }
        if (o)
                out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return out;
}

int builder_engine_build(const struct builder_build_request *req, struct builder_build_result *res,
                         ad_error_t *err)
{
        static const char *const headers[] = { NO_AUTH_HEADER, NULL };
        cleanup_free char *query = NULL, *url = NULL, *labels = labels_json(req->labels);
        cleanup_free struct build_state *s = calloc(1, sizeof(*s));
        struct json_lines jl = { .on_object = build_object };
        struct ad_http_request hr = { 0 };
        struct ad_http_response resp;
        int fd = req->context_fd, ret = 0;

        memset(res, 0, sizeof(*res));
        if (s == NULL || labels == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        for (size_t i = 0; req->tags && req->tags[i] && ret == 0; i++)
                ret = add_query(&query, "t", req->tags[i]);
        if (ret == 0 && req->dockerfile)
                ret = add_query(&query, "dockerfile", req->dockerfile);
        if (ret == 0)
                ret = add_query(&query, "labels", labels);
        /* Intermediate containers go, even after a failed step. */
        if (ret == 0)
                ret = add_query(&query, "rm", "1");
        if (ret == 0)
                ret = add_query(&query, "forcerm", "1");
        if (ret < 0 || asprintf(&url, "http://d/%s/build?%s", AD_ENGINE_API_VERSION, query) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (lseek(fd, 0, SEEK_SET) < 0)
                return ad_error_make_errno(err, errno, "cannot rewind the build context");

        s->req = req;
        s->res = res;
        jl.ud = s;
        hr.method = "POST";
        hr.url = url;
        hr.unix_socket = req->socket;
        hr.read_fn = read_context;
        hr.read_ud = &fd;
        hr.content_type = "application/x-tar";
        hr.headers = headers;
        hr.timeout_ms = req->timeout_ms;
        hr.cancel = req->cancel;
        hr.on_chunk = json_lines_feed;
        hr.chunk_ud = &jl;
        ret = ad_http_do(&hr, &resp, err);
        json_lines_end(&jl);
        build_flush(s);
        if (ret < 0) {
                if (err && *err && (*err)->kind == AD_ERR_TIMEOUT)
                        ad_error_wrap(err, "the build took longer than %lld s",
                                      (long long)(req->timeout_ms / 1000));
                else
                        ad_error_wrap(err, "container engine");
        } else if (resp.status != 200) {
                ret = ad_error_make(err, resp.status >= 500 ? AD_ERR_GENERIC : AD_ERR_INVALID,
                                    (int)resp.status, "engine answered %ld to /build: %s",
                                    resp.status, s->message ? s->message : "(no message)");
        } else if (res->error == NULL && res->image_id == NULL) {
                /* The stream ended without a result: the engine went away
                 * mid-build. */
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                    "the engine's build stream ended without a result");
        }
        ad_http_response_free(&resp);
        free(s->message);
        if (ret < 0)
                builder_build_result_clear(res);
        return ret;
}

void builder_build_result_clear(struct builder_build_result *res)
{
        free(res->image_id);
        free(res->error);
        memset(res, 0, sizeof(*res));
}

/* ---- push ------------------------------------------------------------- */

struct push_state {
        char *error;
        char *message;
        char digest[72];
};

bool builder_find_digest(const char *text, char out[72])
{
        const char *p = text ? strstr(text, "digest: sha256:") : NULL;

        if (p == NULL)
                return false;
        p += 8;
        if (strspn(p + 7, "0123456789abcdef") < 64)
                return false;
        memcpy(out, p, 71);
        out[71] = '\0';
        return true;
}

static void push_object(json_t *obj, void *ud)
{
        struct push_state *s = ud;
        const char *text;
        json_t *aux;

        if ((text = str_member(obj, "error")) != NULL)
                keep_first(&s->error, text);
        else if ((text = str_member(obj, "status")) != NULL)
                builder_find_digest(text, s->digest);
        else if ((aux = json_object_get(obj, "aux")) != NULL) {
                const char *d = str_member(aux, "Digest");
                if (d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71)
                        memcpy(s->digest, d, 72);
        } else if ((text = str_member(obj, "message")) != NULL)
                keep_first(&s->message, text);
}

int builder_engine_push(const char *socket, const char *name, const char *tag, int64_t timeout_ms,
                        bool (*cancel)(void), char **digest, ad_error_t *err)
{
        static const char *const headers[] = { NO_AUTH_HEADER, NULL };
        cleanup_free char *etag = ad_http_escape(tag), *url = NULL;
        struct push_state s = { 0 };
        struct json_lines jl = { .on_object = push_object, .ud = &s };
        struct ad_http_request hr = { 0 };
        struct ad_http_response resp;
        int ret;

        /* The name stays unescaped: podman routes /images/{name:.*}/push. */
        if (etag == NULL || asprintf(&url, "http://d/%s/images/%s/push?tag=%s&tlsVerify=false",
                                     AD_ENGINE_API_VERSION, name, etag) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        hr.method = "POST";
        hr.url = url;
        hr.unix_socket = socket;
        hr.headers = headers;
        hr.timeout_ms = timeout_ms;
        hr.cancel = cancel;
        hr.on_chunk = json_lines_feed;
        hr.chunk_ud = &jl;
        ret = ad_http_do(&hr, &resp, err);
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
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "push %s:%s: %s", name, tag,
                                    s.error);
        ad_http_response_free(&resp);
        if (ret == 0 && digest)
                *digest = s.digest[0] ? strdup(s.digest) : NULL;
        free(s.error);
        free(s.message);
        return ret;
}

/* ---- images by label ---------------------------------------------------- */

int builder_engine_images_by_label(const char *socket, const char *label, char ***tags,
                                   ad_error_t *err)
{
        cleanup_free char *filters = NULL, *esc = NULL, *url = NULL;
        struct ad_http_request hr = { 0 };
        struct ad_http_response resp;
        json_t *f, *list;
        char **out = NULL;
        size_t n = 0, i;
        json_t *img;
        int ret;

        f = json_pack("{s:[s]}", "label", label);
        if (f)
                filters = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (filters)
                esc = ad_http_escape(filters);
        if (esc == NULL ||
            asprintf(&url, "http://d/%s/images/json?filters=%s", AD_ENGINE_API_VERSION, esc) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        hr.url = url;
        hr.unix_socket = socket;
        ret = ad_http_do(&hr, &resp, err);
        if (ret < 0)
                return ad_error_wrap(err, "container engine");
        if (resp.status != 200) {
                ret = ad_error_make(err, AD_ERR_GENERIC, (int)resp.status,
                                    "engine answered %ld to /images/json: %.200s", resp.status,
                                    resp.body);
                ad_http_response_free(&resp);
                return ret;
        }
        list = json_loadb(resp.body, resp.len, 0, NULL);
        ad_http_response_free(&resp);
        if (!json_is_array(list)) {
                json_decref(list);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "engine's image list is not an array");
        }
        json_array_foreach (list, i, img) {
                json_t *rt = json_object_get(img, "RepoTags"), *t;
                size_t j;

                json_array_foreach (rt, j, t) {
                        const char *s = json_string_value(t);
                        char **grown;

                        if (s == NULL || strstr(s, "<none>") != NULL)
                                continue;
                        grown = realloc(out, (n + 2) * sizeof(*out));
                        if (grown == NULL)
                                break;
                        out = grown;
                        out[n] = strdup(s);
                        if (out[n] == NULL)
                                break;
                        out[++n] = NULL;
                }
        }
        json_decref(list);
        if (out == NULL)
                out = calloc(1, sizeof(*out));
        if (out == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        *tags = out;
        return 0;
}
