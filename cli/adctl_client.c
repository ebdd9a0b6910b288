/* Talking to the API: one request, its JSON, and its errors in words. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "adctl.h"

/* A streamed reply keeps its first bytes: enough for an error's JSON. */
#define STREAM_KEEP (64 * 1024)

struct stream_tee {
        const struct adctl_call *call;
        char *buf;
        size_t len;
};

static int tee_chunk(const char *data, size_t len, void *ud)
{
        struct stream_tee *t = ud;
        size_t keep = len;

        if (t->len + keep > STREAM_KEEP)
                keep = STREAM_KEEP - t->len;
        if (keep > 0) {
                char *b = realloc(t->buf, t->len + keep + 1);

                if (b == NULL)
                        return -1;
                memcpy(b + t->len, data, keep);
                t->buf = b;
                t->len += keep;
                t->buf[t->len] = '\0';
        }
        return t->call->on_chunk(data, len, t->call->chunk_ud);
}

/* "GET http://host/path: Failed to connect..." -> "Failed to connect...":
 * the caller names the address already. */
static const char *transport_reason(const char *msg, const char *method, const char *url)
{
        size_t m = strlen(method), u = strlen(url);

        if (strncmp(msg, method, m) == 0 && msg[m] == ' ' && strncmp(msg + m + 1, url, u) == 0 &&
            strncmp(msg + m + 1 + u, ": ", 2) == 0)
                return msg + m + 1 + u + 2;
        return msg;
}

int adctl_request_as(const struct adctl *ctl, const struct adctl_call *call,
                     struct adctl_reply *reply, const char *credential)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response resp = { 0 };
        struct stream_tee tee = { .call = call };
        const char *method = call->method ? call->method : "GET";
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *url = NULL;
        cleanup_free char *auth = NULL;
        const char *headers[8] = { NULL };
        size_t n = 0;

        memset(reply, 0, sizeof(*reply));
        if (asprintf(&url, "%s%s", ctl->api, call->path) < 0) {
                url = NULL;
                fprintf(stderr, "adctl: out of memory\n");
                return -1;
        }
        req.method = method;
        req.url = url;
        req.body = call->body;
        req.body_len = call->body ? strlen(call->body) : 0;
        req.content_type = call->body ? "application/json" : NULL;
        for (size_t i = 0; call->headers && call->headers[i] && n < AD_ARRAY_SIZE(headers) - 2; i++)
                headers[n++] = call->headers[i];
        if (credential && *credential) {
                if (asprintf(&auth, "Authorization: Bearer %s", credential) < 0) {
                        auth = NULL;
                        fprintf(stderr, "adctl: out of memory\n");
                        return -1;
                }
                headers[n++] = auth;
        }
        req.headers = n ? headers : NULL;
        req.ca_file = getenv("ADCTL_CA_FILE");
        req.timeout_ms = call->timeout_ms;
        req.max_body = call->max_body;
        if (call->on_chunk) {
                req.on_chunk = tee_chunk;
                req.chunk_ud = &tee;
        }
        if (ad_http_do(&req, &resp, &err) < 0) {
                free(tee.buf);
                if (err->kind == AD_ERR_TOO_LARGE)
                        fprintf(stderr, "adctl: the API's reply is too large: %s\n",
                                ad_error_message(err));
                else
                        fprintf(stderr, "adctl: cannot reach the API at %s: %s\n", ctl->api,
                                transport_reason(ad_error_message(err), method, url));
                return -1;
        }
        reply->status = resp.status;
        if (call->on_chunk) {
                reply->body = tee.buf ? tee.buf : strdup("");
                reply->len = tee.len;
        } else {
                reply->body = resp.body ? resp.body : strdup("");
                reply->len = resp.len;
        }
        if (reply->body)
                reply->doc = json_loadb(reply->body, reply->len, 0, NULL);
        return 0;
}

/* The saved key (adctl login) travels once per JWT lifetime: requests
 * carry the JWT; one refused (rotated keys, a restart) is renewed once.
 * A stream is not retried: its first bytes went to the caller. */
int adctl_request(const struct adctl *ctl, const struct adctl_call *call, struct adctl_reply *reply)
{
        const char *jwt = ctl->token_saved ? adctl_jwt_get(ctl, false) : NULL;
        int ret = adctl_request_as(ctl, call, reply, jwt ? jwt : ctl->token);

        if (ret == 0 && jwt && reply->status == 401 && call->on_chunk == NULL &&
            (jwt = adctl_jwt_get(ctl, true)) != NULL) {
                adctl_reply_free(reply);
                ret = adctl_request_as(ctl, call, reply, jwt);
        }
        return ret;
}

void adctl_reply_free(struct adctl_reply *reply)
{
        free(reply->body);
        json_decref(reply->doc);
        memset(reply, 0, sizeof(*reply));
}

void adctl_print_raw(const struct adctl_reply *reply)
{
        fwrite(reply->body, 1, reply->len, stdout);
        if (reply->len == 0 || reply->body[reply->len - 1] != '\n')
                fputc('\n', stdout);
        fflush(stdout);
}

int adctl_fail(const struct adctl *ctl, const struct adctl_reply *reply)
{
        json_t *e = reply->doc ? json_object_get(reply->doc, "error") : NULL;
        const char *msg = adctl_str(e, "message"), *code = adctl_str(e, "code");

        if (ctl->json && reply->doc) {
                adctl_print_raw(reply);
                return ADCTL_EXIT_FAILURE;
        }
        if (*msg)
                fprintf(stderr, "adctl: %s (HTTP %ld, %s)\n", msg, reply->status, code);
        else
                fprintf(stderr, "adctl: the API at %s answered HTTP %ld%s%.200s\n", ctl->api,
                        reply->status, reply->len ? ": " : "", reply->body ? reply->body : "");
        return ADCTL_EXIT_FAILURE;
}

char *adctl_deployment_path(const char *id, const char *suffix)
{
        cleanup_free char *esc = ad_http_escape(id);
        char *path = NULL;

        if (esc == NULL || asprintf(&path, "/deployments/%s%s", esc, suffix ? suffix : "") < 0)
                return NULL;
        return path;
}

const char *adctl_str(const json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));

        return s ? s : "";
}

bool adctl_is_uuid(const char *s)
{
        if (s == NULL || strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
                        return false;
        }
        return true;
}
