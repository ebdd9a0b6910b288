#include "api_request.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad/base64.h"
#include "ad/cleanup.h"
#include "ad/digest.h"
#include "ad/git.h"

static int invalid(const char **code, const char *c, ad_error_t *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int invalid(const char **code, const char *c, ad_error_t *err, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        *code = c;
        return ad_error_make(err, AD_ERR_INVALID, 0, "%s", msg);
}

void api_text_excerpt(char *out, size_t size, const char *s)
{
        size_t n = 0;

        if (size == 0)
                return;
        for (; s && *s && n + 4 < size; s++)
                out[n++] = ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) ? *s : '?';
        if (s && *s && size >= 4) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
}

bool api_env_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > AD_ENV_NAME_MAX || isdigit((unsigned char)name[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char)name[i]) || name[i] == '_') ||
                    (unsigned char)name[i] > 0x7f)
                        return false;
        return true;
}

bool api_ref_valid(const char *ref)
{
        size_t n = ref ? strlen(ref) : 0;

        /* A leading '-' would read as an option to any git tool. */
        if (n == 0 || n > AD_REF_MAX || ref[0] == '-' || ref[0] == '/' || ref[n - 1] == '/' ||
            ref[n - 1] == '.')
                return false;
        if (strstr(ref, "..") || strstr(ref, "@{") || strstr(ref, "//") || strcmp(ref, "@") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)ref[i];
                if (c <= 0x20 || c >= 0x7f || strchr("~^:?*[\\", c))
                        return false;
        }
        return true;
}

bool api_content_type_is_json(const char *ct)
{
        const char *end, *plus;
        size_t n;

        if (ct == NULL)
                return false;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        end = ct + strcspn(ct, ";");
        while (end > ct && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        n = (size_t)(end - ct);
        if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
                return true;
        /* application/merge-patch+json, application/vnd.x+json, ... */
        if (n > strlen("application/") + 5 && strncasecmp(ct, "application/", 12) == 0) {
                plus = end - 5;
                return strncasecmp(plus, "+json", 5) == 0;
        }
        return false;
}

int api_idempotency_key_check(const char *key, ad_error_t *err)
{
        size_t n = key ? strlen(key) : 0;

        if (n == 0 || n > API_IDEMPOTENCY_KEY_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Idempotency-Key must be 1 to %d characters",
                                     API_IDEMPOTENCY_KEY_MAX);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] >= 0x7f)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "Idempotency-Key must be printable ASCII");
        return 0;
}

void api_deploy_request_free(struct api_deploy_request *req)
{
        if (req == NULL)
                return;
        for (size_t i = 0; i < req->n_env; i++) {
                if (req->env[i].value)
                        explicit_bzero(req->env[i].value, strlen(req->env[i].value));
                free(req->env[i].name);
                free(req->env[i].value);
        }
        free(req->env);
        free(req->repo_url);
        free(req->ref);
        free(req);
}

/* A string with no control characters (they have no place in a URL or a
 * ref, and would make log lines and error messages lie). */
static bool printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static int parse_repo_url(struct api_deploy_request *req, json_t *v, bool allow_local,
                          const char **code, ad_error_t *err)
{
        const char *url;

        if (v == NULL)
                return invalid(code, "invalid_repo_url", err, "\"repo_url\" is required");
        if (!json_is_string(v))
                return invalid(code, "invalid_repo_url", err, "\"repo_url\" must be a string");
        url = json_string_value(v);
        if (*url == '\0')
                return invalid(code, "invalid_repo_url", err, "\"repo_url\" is empty");
        if (strlen(url) > AD_REPO_URL_MAX)
                return invalid(code, "invalid_repo_url", err,
                               "\"repo_url\" is longer than %d characters", AD_REPO_URL_MAX);
        if (!printable(url))
                return invalid(code, "invalid_repo_url", err,
                               "\"repo_url\" contains control characters");
        if (ad_git_url_check(url, allow_local, err) < 0) {
                *code = "invalid_repo_url";
                return ad_error_wrap(err, "\"repo_url\"");
        }
        req->repo_url = strdup(url);
        return req->repo_url ? 0 : ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
}

static int parse_ref(struct api_deploy_request *req, json_t *v, const char **code, ad_error_t *err)
{
        const char *ref = "";

        if (v != NULL && !json_is_null(v)) {
                if (!json_is_string(v))
                        return invalid(code, "invalid_ref", err, "\"ref\" must be a string");
                ref = json_string_value(v);
                if (*ref && !api_ref_valid(ref))
                        return invalid(code, "invalid_ref", err,
                                       "\"ref\" must be a branch, tag or commit name (at most %d "
                                       "printable characters, no spaces, not starting with '-')",
                                       AD_REF_MAX);
        }
        req->ref = strdup(ref);
        return req->ref ? 0 : ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
}

static int parse_name(struct api_deploy_request *req, json_t *v, const char **code, ad_error_t *err)
{
        if (v == NULL || json_is_null(v)) {
                req->app_from_url = true;
                if (ad_app_name_from_url(req->app, req->repo_url, err) < 0) {
                        *code = "invalid_name";
                        return -AD_ERR_INVALID;
                }
                return 0;
        }
        if (!json_is_string(v))
                return invalid(code, "invalid_name", err, "\"name\" must be a string");
        if (!ad_app_name_valid(json_string_value(v)))
                return invalid(code, "invalid_name", err,
                               "\"name\" must be 1 to %d characters of a-z, 0-9 and '-', not "
                               "starting or ending with '-'",
                               AD_APP_NAME_MAX);
        snprintf(req->app, sizeof(req->app), "%s", json_string_value(v));
        return 0;
}

/* An env value as text: strings as they are, integers and booleans the
 * way a shell would write them. */
static char *env_value_text(json_t *v)
{
        char buf[32];

        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_integer(v)) {
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return strdup(buf);
        }
        return strdup(json_is_true(v) ? "true" : "false");
}

static int parse_env(struct api_deploy_request *req, json_t *v, const char **code, ad_error_t *err)
{
        const char *name;
        json_t *value;
        size_t n;

        if (v == NULL || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return invalid(code, "invalid_env", err,
                               "\"env\" must be an object of NAME: value pairs");
        n = json_object_size(v);
        if (n > AD_ENV_MAX_VARS)
                return invalid(code, "invalid_env", err,
                               "\"env\" has %zu variables, the limit is %d", n, AD_ENV_MAX_VARS);
        if (n == 0)
                return 0;
        req->env = calloc(n, sizeof(*req->env));
        if (req->env == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        json_object_foreach (v, name, value) {
                struct api_env_var *e = &req->env[req->n_env];

                /* Never echo a value back: it may be a secret. */
                if (!api_env_name_valid(name)) {
                        char shown[72];

                        api_text_excerpt(shown, sizeof(shown), name);
                        return invalid(code, "invalid_env", err,
                                       "env name `%s` is invalid: use letters, digits and '_', "
                                       "not starting with a digit (at most %d characters)",
                                       shown, AD_ENV_NAME_MAX);
                }
                if (!(json_is_string(value) || json_is_integer(value) || json_is_boolean(value)))
                        return invalid(code, "invalid_env", err,
                                       "env %s: the value must be a string, an integer or a "
                                       "boolean",
                                       name);
                if (json_is_string(value) && json_string_length(value) > AD_ENV_VALUE_MAX)
                        return invalid(code, "invalid_env", err,
                                       "env %s: the value is %zu bytes, the limit is %d", name,
                                       json_string_length(value), AD_ENV_VALUE_MAX);
                e->name = strdup(name);
                e->value = env_value_text(value);
                /* Counted now so a failure below frees what was made. */
                req->n_env++;
                if (e->name == NULL || e->value == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        return 0;
}

int api_deploy_request_parse(struct api_deploy_request **out, const char *body, size_t len,
                             bool allow_local, const char **code, ad_error_t *err)
{
        static const char *const known[] = { "repo_url", "ref", "name", "env" };
        json_auto_t *root = NULL;
        struct api_deploy_request *req;
        json_error_t jerr;
        const char *key;
        json_t *value;
        int ret;

        *code = "invalid_json";
        if (body == NULL || len == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the request body is empty: send a JSON object such as "
                                     "{\"repo_url\": \"https://...\"}");
        /* Duplicate keys are an error: {"env": {"A": "1", "A": "2"}} is
         * ambiguous, and so is a repeated "repo_url". */
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (root == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed JSON at line %d, column %d: %s", jerr.line,
                                     jerr.column, jerr.text);
        if (!json_is_object(root))
                return invalid(code, "invalid_body", err,
                               "the request body must be a JSON object such as "
                               "{\"repo_url\": \"https://...\"}");
        json_object_foreach (root, key, value) {
                char shown[72];
                bool ok = false;

                for (size_t i = 0; i < AD_ARRAY_SIZE(known); i++)
                        ok = ok || strcmp(key, known[i]) == 0;
                api_text_excerpt(shown, sizeof(shown), key);
                if (!ok)
                        return invalid(code, "invalid_body", err,
                                       "unknown field \"%s\": expected repo_url, ref, name, env",
                                       shown);
        }

        req = calloc(1, sizeof(*req));
        if (req == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = parse_repo_url(req, json_object_get(root, "repo_url"), allow_local, code, err);
        if (ret == 0)
                ret = parse_ref(req, json_object_get(root, "ref"), code, err);
        if (ret == 0)
                ret = parse_name(req, json_object_get(root, "name"), code, err);
        if (ret == 0)
                ret = parse_env(req, json_object_get(root, "env"), code, err);
        if (ret < 0) {
                api_deploy_request_free(req);
                return ret;
        }
        *out = req;
        return 0;
}

char *api_cursor_encode(const struct api_cursor *cursor)
{
        char plain[96], *out;
        size_t n;

        n = (size_t)snprintf(plain, sizeof(plain), "v1:%" PRId64 ":%s", cursor->created_us,
                             cursor->id);
        out = malloc(ad_base64_encoded_len(n, AD_BASE64_URL) + 1);
        if (out == NULL)
                return NULL;
        ad_base64_encode(out, plain, n, AD_BASE64_URL);
        return out;
}

int api_cursor_decode(struct api_cursor *cursor, const char *text, ad_error_t *err)
{
        char plain[96], id[AD_UUID_LEN + 2], *end;
        size_t n = text ? strlen(text) : 0, o = 0;
        long long us;

        if (n == 0 || n > 128 ||
            ad_base64_decode(text, n, AD_BASE64_URL, plain, sizeof(plain) - 1, &o, NULL) < 0)
                goto bad;
        plain[o] = '\0';
        if (strlen(plain) != o || strncmp(plain, "v1:", 3) != 0)
                goto bad;
        errno = 0;
        us = strtoll(plain + 3, &end, 10);
        if (errno || end == plain + 3 || *end != ':' || us < 0)
                goto bad;
        snprintf(id, sizeof(id), "%s", end + 1);
        if (!ad_uuid_valid(id))
                goto bad;
        cursor->created_us = us;
        memcpy(cursor->id, id, sizeof(cursor->id));
        return 0;
bad:
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "invalid cursor: pass the \"next_cursor\" of a previous page as is");
}

int api_limit_parse(const char *text, long def, long max, long *out, ad_error_t *err)
{
        char *end;
        long v;

        if (text == NULL || *text == '\0') {
                *out = def;
                return 0;
        }
        errno = 0;
        v = strtol(text, &end, 10);
        if (errno == ERANGE && v > 0)
                v = max;
        else if (errno || *end != '\0' || end == text || v < 1 || !isdigit((unsigned char)*text))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "limit must be a whole number from 1 to %ld", max);
        *out = v > max ? max : v;
        return 0;
}

static int env_by_name(const void *a, const void *b)
{
        return strcmp((*(const struct api_env_var *const *)a)->name,
                      (*(const struct api_env_var *const *)b)->name);
}

static int env_digest_with(const struct api_deploy_request *req,
                           const unsigned char hkey[AD_SECRET_KEY_LEN],
                           char out[API_ENV_DIGEST_LEN + 1], ad_error_t *err)
{
        cleanup_free const struct api_env_var **sorted = NULL;
        cleanup_free unsigned char *data = NULL;
        unsigned char mac[AD_SHA256_LEN];
        size_t len = 0, at = 0;

        out[0] = '\0';
        if (req->n_env == 0)
                return 0;
        sorted = calloc(req->n_env, sizeof(*sorted));
        if (sorted == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_env; i++) {
                sorted[i] = &req->env[i];
                len += strlen(req->env[i].name) + strlen(req->env[i].value) + 2;
        }
        qsort(sorted, req->n_env, sizeof(*sorted), env_by_name);
        /* Each string with its NUL: ("AB", "C") and ("A", "BC") differ. */
        data = malloc(len);
        if (data == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_env; i++) {
                size_t n = strlen(sorted[i]->name) + 1, v = strlen(sorted[i]->value) + 1;

                memcpy(data + at, sorted[i]->name, n);
                memcpy(data + at + n, sorted[i]->value, v);
                at += n + v;
        }
        ad_hmac_sha256(mac, hkey, AD_SECRET_KEY_LEN, data, len);
        explicit_bzero(data, len);
        for (size_t i = 0; i < sizeof(mac); i++)
                snprintf(out + 2 * i, 3, "%02x", mac[i]);
        return 0;
}

int api_deploy_request_env_digest(const struct api_deploy_request *req,
                                  const struct ad_secret_key *key, char out[API_ENV_DIGEST_LEN + 1],
                                  ad_error_t *err)
{
        return env_digest_with(req, key->digest, out, err);
}

int api_deploy_request_env_same(const struct api_deploy_request *req,
                                const struct ad_secret_keyring *ring, const char *stored,
                                bool *same, ad_error_t *err)
{
        char d[API_ENV_DIGEST_LEN + 1];

        *same = false;
        if (*stored == '\0' || req->n_env == 0) {
                *same = *stored == '\0' && req->n_env == 0;
                return 0;
        }
        if (strlen(stored) != API_ENV_DIGEST_LEN)
                return 0;
        for (size_t i = 0; i < ring->n && !*same; i++) {
                /* The derived key's fingerprint, then the configured key's. */
                for (int legacy = 0; legacy < 2 && !*same; legacy++) {
                        int ret = env_digest_with(
                                req, legacy ? ring->keys[i].bytes : ring->keys[i].digest, d, err);

                        if (ret < 0)
                                return ret;
                        *same = ad_digest_equal(d, stored, API_ENV_DIGEST_LEN);
                }
        }
        return 0;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int api_tokens_parse(struct api_tokens *out, const char *spec, ad_error_t *err)
{
        const char *p = spec;

        memset(out, 0, sizeof(*out));
        while (p && *p) {
                const char *end = strchr(p, ','), *colon;
                size_t len = end ? (size_t)(end - p) : strlen(p), name_len;
                struct api_token *t;

                while (len > 0 && (*p == ' ' || *p == '\t')) {
                        p++;
                        len--;
                }
                while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                        len--;
                colon = memchr(p, ':', len);
                name_len = colon ? (size_t)(colon - p) : 0;
                if (colon == NULL || name_len == 0 || name_len > API_TOKEN_NAME_MAX ||
                    len - name_len - 1 != 2 * sizeof(t->hash))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.tokens: entry %zu is not name:<64 hex "
                                             "characters of the token's SHA-256>",
                                             out->n + 1);
                if (out->n == API_TOKENS_MAX)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.tokens: more than %d tokens", API_TOKENS_MAX);
                t = &out->tokens[out->n];
                for (size_t i = 0; i < name_len; i++) {
                        if (!(isalnum((unsigned char)p[i]) || p[i] == '.' || p[i] == '_' ||
                              p[i] == '-'))
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.tokens: entry %zu: a name is 1 to %d "
                                                     "of [A-Za-z0-9._-]",
                                                     out->n + 1, API_TOKEN_NAME_MAX);
                        t->name[i] = p[i];
                }
                t->name[name_len] = '\0';
                for (size_t i = 0; i < sizeof(t->hash); i++) {
                        int hi = hex_value(colon[1 + 2 * i]), lo = hex_value(colon[2 + 2 * i]);

                        if (hi < 0 || lo < 0)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.tokens: entry %zu (%s): the hash is "
                                                     "not hex",
                                                     out->n + 1, t->name);
                        t->hash[i] = (unsigned char)(hi << 4 | lo);
                }
                out->n++;
                p = end ? end + 1 : NULL;
        }
        return 0;
}

#define API_TOKEN_MAX 1024

const char *api_tokens_match(const struct api_tokens *t, const char *authorization)
{
        unsigned char hash[AD_SHA256_LEN];
        const char *token, *found = NULL;
        size_t len;

        if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
                return NULL;
        token = authorization + 7;
        while (*token == ' ')
                token++;
        len = strnlen(token, API_TOKEN_MAX + 1);
        if (len == 0 || len > API_TOKEN_MAX)
                return NULL;
        ad_sha256(hash, token, len);
        for (size_t i = 0; i < t->n; i++)
                if (ad_digest_equal(hash, t->tokens[i].hash, sizeof(hash)) && found == NULL)
                        found = t->tokens[i].name;
        return found;
}
