#include "k8s_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "ad/base64.h"
#include "ad/buf.h"
#include "ad/cleanup.h"
#include "ad/http.h"

#define K8S_MAX_BODY (16 * 1024 * 1024)
#define K8S_MAX_CRED (256 * 1024)
#define K8S_TIMEOUT_MS 30000L
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Immutable after k8s_client_open: safe to share between threads (each
 * request has its own curl handle). */
struct k8s_client {
        char *server; /* https://host:port, no trailing slash */
        char *ca;
        size_t ca_len;
        char *cert;
        size_t cert_len;
        char *key;
        size_t key_len;
        char *token_file; /* re-read on each request (rotated tokens) */
        char *token;
};

/* --- kubeconfig ---------------------------------------------------------- */

static int oom(ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
}

static const yaml_node_t *map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
        if (map == NULL || map->type != YAML_MAPPING_NODE)
                return NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                const yaml_node_t *k = yaml_document_get_node(doc, p->key);

                if (k && k->type == YAML_SCALAR_NODE &&
                    strcmp((const char *)k->data.scalar.value, key) == 0)
                        return yaml_document_get_node(doc, p->value);
        }
        return NULL;
}

static const char *map_str(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
        const yaml_node_t *v = map_get(doc, map, key);

        if (v == NULL || v->type != YAML_SCALAR_NODE)
                return NULL;
        /* A NUL inside a scalar would cut it silently. */
        if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
                return NULL;
        return (const char *)v->data.scalar.value;
}

/* The entry of list (clusters, users, contexts) called name: its inner
 * mapping under `inner`. */
static const yaml_node_t *named(yaml_document_t *doc, const yaml_node_t *root, const char *list,
                                const char *name, const char *inner)
{
        const yaml_node_t *seq = map_get(doc, root, list);

        if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
             i++) {
                const yaml_node_t *e = yaml_document_get_node(doc, *i);
                const char *n = map_str(doc, e, "name");

                if (n && strcmp(n, name) == 0) {
                        const yaml_node_t *m = map_get(doc, e, inner);

                        return m && m->type == YAML_MAPPING_NODE ? m : NULL;
                }
        }
        return NULL;
}

/* Standard base64, whitespace ignored, padding optional, by the strict
 * decoder of the base layer. NUL-terminated output (PEM text), *len
 * without the NUL. */
static int b64_decode(const char *in, char **out, size_t *len, const char *what, ad_error_t *err)
{
        size_t n = strlen(in), max = AD_BASE64_DECODED_MAX(n), o;
        cleanup_error ad_error_t why = NULL;
        char *buf;

        if (n > K8S_MAX_CRED * 2)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "kubeconfig: %s is too large", what);
        buf = malloc(max + 1);
        if (buf == NULL)
                return oom(err);
        if (ad_base64_decode(in, n, AD_BASE64_PAD | AD_BASE64_SPACE, buf, max, &o, &why) < 0 ||
            o == 0) {
                free(buf);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: %s is not valid base64 (%s)", what,
                                     why ? ad_error_message(why) : "empty");
        }
        buf[o] = '\0';
        *out = buf;
        *len = o;
        return 0;
}

static int dup_opt(char **dst, const char *s, ad_error_t *err)
{
        if (s == NULL || *s == '\0')
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : oom(err);
}

void k8s_kubeconfig_clear(struct k8s_kubeconfig *kc)
{
        if (kc == NULL)
                return;
        free(kc->server);
        free(kc->ca_file);
        free(kc->ca_data);
        free(kc->cert_file);
        free(kc->cert_data);
        free(kc->key_file);
        if (kc->key_data) {
                explicit_bzero(kc->key_data, kc->key_len);
                free(kc->key_data);
        }
        if (kc->token) {
                explicit_bzero(kc->token, strlen(kc->token));
                free(kc->token);
        }
        free(kc->token_file);
        free(kc->namespace);
        memset(kc, 0, sizeof(*kc));
}

static int parse_doc(struct k8s_kubeconfig *kc, yaml_document_t *doc, const char *context,
                     ad_error_t *err)
{
        const yaml_node_t *root = yaml_document_get_root_node(doc), *ctx, *cl, *us;
        const char *cname, *cluster, *user, *s;
        int ret;

        if (root == NULL || root->type != YAML_MAPPING_NODE)
                return ad_error_make(err, AD_ERR_INVALID, 0, "kubeconfig: not a YAML mapping");
        cname = context && *context ? context : map_str(doc, root, "current-context");
        if (cname == NULL || *cname == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: no current-context and no context given "
                                     "(kubernetes.context)");
        ctx = named(doc, root, "contexts", cname, "context");
        if (ctx == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "kubeconfig: no context `%.80s`",
                                     cname);
        cluster = map_str(doc, ctx, "cluster");
        user = map_str(doc, ctx, "user");
        if (cluster == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: context `%.80s` names no cluster", cname);
        cl = named(doc, root, "clusters", cluster, "cluster");
        if (cl == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "kubeconfig: no cluster `%.80s`",
                                     cluster);
        s = map_str(doc, cl, "server");
        if (s == NULL || strncmp(s, "https://", 8) != 0 || s[8] == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: cluster `%.80s`: server must be an https:// "
                                     "URL, got `%.80s`",
                                     cluster, s ? s : "");
        s = map_str(doc, cl, "insecure-skip-tls-verify");
        if (s && strcmp(s, "true") == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: cluster `%.80s`: insecure-skip-tls-verify is "
                                     "refused: give the cluster's CA",
                                     cluster);
        if ((ret = dup_opt(&kc->server, map_str(doc, cl, "server"), err)) < 0 ||
            (ret = dup_opt(&kc->ca_file, map_str(doc, cl, "certificate-authority"), err)) < 0 ||
            (ret = dup_opt(&kc->namespace, map_str(doc, ctx, "namespace"), err)) < 0)
                return ret;
        s = map_str(doc, cl, "certificate-authority-data");
        if (s &&
            (ret = b64_decode(s, &kc->ca_data, &kc->ca_len, "certificate-authority-data", err)) < 0)
                return ret;
        if (user == NULL)
                return 0; /* anonymous: the API server decides */
        us = named(doc, root, "users", user, "user");
        if (us == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "kubeconfig: no user `%.80s`", user);
        if (map_get(doc, us, "exec") || map_get(doc, us, "auth-provider"))
                return ad_error_make(err, AD_ERR_UNSUPPORTED, 0,
                                     "kubeconfig: user `%.80s` uses an exec or auth-provider "
                                     "plugin, which the deployer does not run: give a client "
                                     "certificate or a token",
                                     user);
        if ((ret = dup_opt(&kc->cert_file, map_str(doc, us, "client-certificate"), err)) < 0 ||
            (ret = dup_opt(&kc->key_file, map_str(doc, us, "client-key"), err)) < 0 ||
            (ret = dup_opt(&kc->token, map_str(doc, us, "token"), err)) < 0 ||
            (ret = dup_opt(&kc->token_file, map_str(doc, us, "tokenFile"), err)) < 0)
                return ret;
        s = map_str(doc, us, "client-certificate-data");
        if (s && (ret = b64_decode(s, &kc->cert_data, &kc->cert_len, "client-certificate-data",
                                   err)) < 0)
                return ret;
        s = map_str(doc, us, "client-key-data");
        if (s && (ret = b64_decode(s, &kc->key_data, &kc->key_len, "client-key-data", err)) < 0)
                return ret;
        if ((kc->cert_file || kc->cert_data) != (kc->key_file || kc->key_data))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "kubeconfig: user `%.80s`: a client certificate needs its "
                                     "key (and the other way round)",
                                     user);
        return 0;
}

int k8s_kubeconfig_parse(struct k8s_kubeconfig *out, const char *text, size_t len,
                         const char *context, ad_error_t *err)
{
        struct k8s_kubeconfig kc = { 0 };
        yaml_parser_t parser;
        yaml_document_t doc;
        int ret;

        if (len > K8S_KUBECONFIG_MAX_BYTES)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "kubeconfig: larger than %d bytes",
                                     K8S_KUBECONFIG_MAX_BYTES);
        if (!yaml_parser_initialize(&parser))
                return oom(err);
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc)) {
                ret = ad_error_make(err, AD_ERR_INVALID, 0, "kubeconfig: line %zu: %s",
                                    parser.problem_mark.line + 1,
                                    parser.problem ? parser.problem : "invalid YAML");
                yaml_parser_delete(&parser);
                return ret;
        }
        ret = parse_doc(&kc, &doc, context, err);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (ret < 0) {
                k8s_kubeconfig_clear(&kc);
                return ret;
        }
        *out = kc;
        return 0;
}

/* --- client -------------------------------------------------------------- */

static int read_file(const char *path, size_t max, char **out, size_t *len, ad_error_t *err)
{
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        char *buf;
        ssize_t n;
        size_t got = 0;

        if (fd < 0)
                return ad_error_make_errno(err, errno, "open `%s`", path);
        if (fstat(fd, &st) < 0)
                return ad_error_make_errno(err, errno, "stat `%s`", path);
        if ((size_t)st.st_size > max)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "`%s` is larger than %zu bytes",
                                     path, max);
        buf = malloc((size_t)st.st_size + 1);
        if (buf == NULL)
                return oom(err);
        while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
                got += (size_t)n;
        buf[got] = '\0';
        *out = buf;
        *len = got;
        return 0;
}

/* path relative to the kubeconfig's directory, as kubectl resolves it. */
static int read_rel(const char *base_dir, const char *path, size_t max, char **out, size_t *len,
                    ad_error_t *err)
{
        cleanup_free char *full = NULL;

        if (path[0] != '/' && base_dir) {
                if (asprintf(&full, "%s/%s", base_dir, path) < 0)
                        return oom(err);
                path = full;
        }
        return read_file(path, max, out, len, err);
}

void k8s_client_close(k8s_client *c)
{
        if (c == NULL)
                return;
        free(c->server);
        free(c->ca);
        free(c->cert);
        if (c->key) {
                explicit_bzero(c->key, c->key_len);
                free(c->key);
        }
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        free(c->token_file);
        free(c);
}

const char *k8s_client_server(const k8s_client *c)
{
        return c->server;
}

static int open_kubeconfig(k8s_client *c, const char *path, const char *context, ad_error_t *err)
{
        struct k8s_kubeconfig kc = { 0 };
        cleanup_free char *text = NULL;
        cleanup_free char *pathcopy = strdup(path);
        const char *dir;
        size_t len = 0;
        int ret;

        if (pathcopy == NULL)
                return oom(err);
        dir = dirname(pathcopy);
        ret = read_file(path, K8S_KUBECONFIG_MAX_BYTES, &text, &len, err);
        if (ret == 0)
                ret = k8s_kubeconfig_parse(&kc, text, len, context, err);
        if (ret < 0)
                return ad_error_wrap(err, "kubeconfig `%s`", path);
        c->server = TAKE_PTR(kc.server);
        if (kc.ca_data) {
                c->ca = TAKE_PTR(kc.ca_data);
                c->ca_len = kc.ca_len;
        } else if (kc.ca_file) {
                ret = read_rel(dir, kc.ca_file, K8S_MAX_CRED, &c->ca, &c->ca_len, err);
        }
        if (ret == 0 && kc.cert_data) {
                c->cert = TAKE_PTR(kc.cert_data);
                c->cert_len = kc.cert_len;
        } else if (ret == 0 && kc.cert_file) {
                ret = read_rel(dir, kc.cert_file, K8S_MAX_CRED, &c->cert, &c->cert_len, err);
        }
        if (ret == 0 && kc.key_data) {
                c->key = TAKE_PTR(kc.key_data);
                c->key_len = kc.key_len;
        } else if (ret == 0 && kc.key_file) {
                ret = read_rel(dir, kc.key_file, K8S_MAX_CRED, &c->key, &c->key_len, err);
        }
        if (ret == 0 && kc.token) {
                c->token = TAKE_PTR(kc.token);
        } else if (ret == 0 && kc.token_file) {
                if (kc.token_file[0] == '/')
                        c->token_file = TAKE_PTR(kc.token_file);
                else if (asprintf(&c->token_file, "%s/%s", dir, kc.token_file) < 0)
                        ret = oom(err);
        }
        k8s_kubeconfig_clear(&kc);
        if (ret == 0 && c->ca == NULL)
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "kubeconfig `%s`: the cluster has no certificate-authority: "
                                    "the deployer always verifies the API server",
                                    path);
        return ret;
}

static int open_in_cluster(k8s_client *c, ad_error_t *err)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        int ret;

        if (host == NULL || *host == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "no kubernetes.kubeconfig and not in a cluster "
                                     "(KUBERNETES_SERVICE_HOST unset)");
        if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                     port && *port ? port : "443") < 0) {
                c->server = NULL;
                return oom(err);
        }
        ret = read_file(SA_DIR "/ca.crt", K8S_MAX_CRED, &c->ca, &c->ca_len, err);
        if (ret == 0) {
                c->token_file = strdup(SA_DIR "/token");
                if (c->token_file == NULL)
                        ret = oom(err);
        }
        return ret;
}

int k8s_client_open(k8s_client **out, const char *path, const char *context, ad_error_t *err)
{
        k8s_client *c = calloc(1, sizeof(*c));
        int ret;

        if (c == NULL)
                return oom(err);
        ret = path && *path ? open_kubeconfig(c, path, context, err) : open_in_cluster(c, err);
        if (ret == 0) {
                size_t n = strlen(c->server);

                while (n > 0 && c->server[n - 1] == '/')
                        c->server[--n] = '\0';
        }
        if (ret < 0) {
                k8s_client_close(c);
                return ret;
        }
        *out = c;
        return 0;
}

struct sink {
        struct ad_buf body;
        bool too_large;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;

        if (s->body.len + n > K8S_MAX_BODY) {
                s->too_large = true;
                return 0;
        }
        return ad_buf_append(&s->body, data, n) < 0 ? 0 : n;
}

static int status_error(long status, const char *method, const char *path, json_t *body,
                        ad_error_t *err)
{
        const char *msg = json_string_value(json_object_get(body, "message"));
        int kind = status == 404                    ? AD_ERR_NOT_FOUND
                   : status == 409                  ? AD_ERR_CONFLICT
                   : status == 429 || status >= 500 ? AD_ERR_UNAVAILABLE
                   : status == 401 || status == 403 || status == 400 || status == 422
                           ? AD_ERR_INVALID
                           : AD_ERR_GENERIC;

        return ad_error_make(err, kind, (int)status, "Kubernetes API %s %.200s: %ld: %s", method,
                             path, status, msg ? msg : "(no message)");
}

static int bearer(k8s_client *c, struct curl_slist **hdrs, ad_error_t *err)
{
        cleanup_free char *file_token = NULL;
        cleanup_free char *h = NULL;
        const char *t = c->token;
        struct curl_slist *n;
        size_t len = 0;

        if (t == NULL && c->token_file) {
                int ret = read_file(c->token_file, 64 * 1024, &file_token, &len, err);

                if (ret < 0)
                        return ret;
                while (len > 0 && (file_token[len - 1] == '\n' || file_token[len - 1] == '\r' ||
                                   file_token[len - 1] == ' '))
                        file_token[--len] = '\0';
                t = file_token;
        }
        if (t == NULL || *t == '\0')
                return 0;
        if (strpbrk(t, "\r\n"))
                return ad_error_make(err, AD_ERR_INVALID, 0, "the bearer token has a line break");
        if (asprintf(&h, "Authorization: Bearer %s", t) < 0) {
                h = NULL;
                return oom(err);
        }
        n = curl_slist_append(*hdrs, h);
        explicit_bzero(h, strlen(h));
        if (file_token)
                explicit_bzero(file_token, len);
        if (n == NULL)
                return oom(err);
        *hdrs = n;
        return 0;
}

/* One request; the answer's bytes in *s (the caller frees s->body) and
 * its status in *code.  Only transport errors are errors here. */
static int perform(k8s_client *c, const char *method, const char *path, const char *content_type,
                   const char *body, struct sink *s, long *code_out, ad_error_t *err)
{
        cleanup_free char *url = NULL;
        cleanup_free char *ct = NULL;
        struct curl_slist *hdrs = NULL;
        char ebuf[CURL_ERROR_SIZE] = "";
        long code = 0;
        CURL *curl;
        CURLcode rc;
        int ret;

        if (asprintf(&url, "%s%s", c->server, path) < 0) {
                url = NULL;
                return oom(err);
        }
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (body) {
                if (asprintf(&ct, "Content-Type: %s",
                             content_type ? content_type : "application/json") < 0) {
                        ct = NULL;
                        curl_slist_free_all(hdrs);
                        return oom(err);
                }
                hdrs = curl_slist_append(hdrs, ct);
        }
        ret = bearer(c, &hdrs, err);
        if (ret < 0) {
                curl_slist_free_all(hdrs);
                return ret;
        }
        ad_http_global_init();
        curl = curl_easy_init();
        if (curl == NULL) {
                curl_slist_free_all(hdrs);
                return oom(err);
        }
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, K8S_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        {
                struct curl_blob ca = { c->ca, c->ca_len, CURL_BLOB_NOCOPY };

                curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
        }
        if (c->cert && c->key) {
                struct curl_blob cert = { c->cert, c->cert_len, CURL_BLOB_NOCOPY };
                struct curl_blob key = { c->key, c->key_len, CURL_BLOB_NOCOPY };

                curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
                curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
                curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
                curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (body) {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(curl);
        curl_slist_free_all(hdrs); /* the Authorization line is freed with it */
        if (rc != CURLE_OK) {
                ad_buf_free(&s->body);
                if (s->too_large)
                        return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                             "Kubernetes API %s %.200s: answer larger than %d "
                                             "bytes",
                                             method, path, K8S_MAX_BODY);
                return ad_error_make(err,
                                     rc == CURLE_OPERATION_TIMEDOUT ? AD_ERR_TIMEOUT
                                     : rc == CURLE_PEER_FAILED_VERIFICATION ||
                                                     rc == CURLE_SSL_CACERT_BADFILE ||
                                                     rc == CURLE_SSL_CERTPROBLEM
                                             ? AD_ERR_INVALID
                                             : AD_ERR_UNAVAILABLE,
                                     (int)rc, "Kubernetes API %s %s: %s", method, c->server,
                                     *ebuf ? ebuf : curl_easy_strerror(rc));
        }
        *code_out = code;
        return 0;
}

int k8s_request(k8s_client *c, const char *method, const char *path, const char *content_type,
                const char *body, long *status, json_t **out, ad_error_t *err)
{
        struct sink s = { 0 };
        json_t *j = NULL;
        long code = 0;
        int ret = perform(c, method, path, content_type, body, &s, &code, err);

        if (ret < 0)
                return ret;
        if (status)
                *status = code;
        if (s.body.len)
                j = json_loadb(s.body.data, s.body.len, 0, NULL);
        ad_buf_free(&s.body);
        if (code >= 400) {
                ret = status_error(code, method, path, j, err);
                json_decref(j);
                return ret;
        }
        if (out)
                *out = j;
        else
                json_decref(j);
        return 0;
}

int k8s_get_text(k8s_client *c, const char *path, char **out, size_t *len, ad_error_t *err)
{
        struct sink s = { 0 };
        long code = 0;
        int ret;

        ret = perform(c, "GET", path, NULL, NULL, &s, &code, err);
        if (ret < 0)
                return ret;
        if (code >= 400) {
                json_t *j = s.body.len ? json_loadb(s.body.data, s.body.len, 0, NULL) : NULL;

                ad_buf_free(&s.body);
                ret = status_error(code, "GET", path, j, err);
                json_decref(j);
                return ret;
        }
        if (ad_buf_append(&s.body, "", 1) < 0) { /* the terminating NUL */
                ad_buf_free(&s.body);
                return oom(err);
        }
        *len = s.body.len - 1;
        *out = s.body.data;
        return 0;
}

int k8s_get(k8s_client *c, const char *path, json_t **out, ad_error_t *err)
{
        json_t *j = NULL;
        int ret = k8s_request(c, "GET", path, NULL, NULL, NULL, &j, err);

        if (ret < 0)
                return ret;
        if (!json_is_object(j)) {
                json_decref(j);
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "Kubernetes API GET %.200s: the answer is not a JSON object",
                                     path);
        }
        *out = j;
        return 0;
}

struct kind_path {
        const char *api_version, *kind, *prefix, *plural;
        bool namespaced;
};

static const struct kind_path kinds[] = {
        { "v1", "Namespace", "/api/v1", "namespaces", false },
        { "v1", "ResourceQuota", "/api/v1", "resourcequotas", true },
        { "v1", "LimitRange", "/api/v1", "limitranges", true },
        { "v1", "ConfigMap", "/api/v1", "configmaps", true },
        { "v1", "Secret", "/api/v1", "secrets", true },
        { "v1", "Pod", "/api/v1", "pods", true },
        { "v1", "Service", "/api/v1", "services", true },
        { "v1", "ServiceAccount", "/api/v1", "serviceaccounts", true },
        { "apps/v1", "Deployment", "/apis/apps/v1", "deployments", true },
        { "batch/v1", "Job", "/apis/batch/v1", "jobs", true },
        { "networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1", "ingresses", true },
        { "networking.k8s.io/v1", "NetworkPolicy", "/apis/networking.k8s.io/v1", "networkpolicies",
          true },
        { "autoscaling/v2", "HorizontalPodAutoscaler", "/apis/autoscaling/v2",
          "horizontalpodautoscalers", true },
};

char *k8s_object_path(const json_t *obj)
{
        const char *av = json_string_value(json_object_get(obj, "apiVersion"));
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const json_t *md = json_object_get(obj, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        char *p = NULL;

        if (av == NULL || kind == NULL || name == NULL || *name == '\0' || strchr(name, '/'))
                return NULL;
        for (size_t i = 0; i < AD_ARRAY_SIZE(kinds); i++) {
                const struct kind_path *k = &kinds[i];
                int r;

                if (strcmp(k->api_version, av) != 0 || strcmp(k->kind, kind) != 0)
                        continue;
                if (k->namespaced && (ns == NULL || *ns == '\0' || strchr(ns, '/')))
                        return NULL;
                r = k->namespaced
                            ? asprintf(&p, "%s/namespaces/%s/%s/%s", k->prefix, ns, k->plural, name)
                            : asprintf(&p, "%s/%s/%s", k->prefix, k->plural, name);
                return r < 0 ? NULL : p;
        }
        return NULL;
}

int k8s_apply(k8s_client *c, const json_t *obj, json_t **out, ad_error_t *err)
{
        cleanup_free char *path = k8s_object_path(obj);
        cleanup_free char *full = NULL;
        char *body;
        int ret;

        if (path == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "apply: an object of a kind the deployer does not know, or "
                                     "without a name");
        if (asprintf(&full, "%s?fieldManager=" K8S_FIELD_MANAGER "&force=true", path) < 0) {
                full = NULL;
                return oom(err);
        }
        /* JSON is YAML: the apply body needs no conversion. */
        body = json_dumps(obj, JSON_COMPACT);
        if (body == NULL)
                return oom(err);
        ret = k8s_request(c, "PATCH", full, "application/apply-patch+yaml", body, NULL, out, err);
        /* A Secret's data is in the body. */
        explicit_bzero(body, strlen(body));
        free(body);
        return ret;
}

int k8s_delete(k8s_client *c, const char *path, ad_error_t *err)
{
        int ret = k8s_request(c, "DELETE", path, "application/json",
                              "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                              "\"propagationPolicy\":\"Background\"}",
                              NULL, NULL, err);

        if (ret == -AD_ERR_NOT_FOUND) {
                if (err)
                        ad_error_release(err);
                return 0;
        }
        return ret;
}
