#include "ad/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad/buf.h"

#define MAX_HEADER_VALUE 1024

struct sink {
        const struct ad_http_request *req;
        struct ad_buf body;
        size_t max;
        int too_large;
        int aborted;
        char *header_value; /* req->capture_header's value */
        int cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ad_http_global_init(void)
{
        pthread_once(&curl_once, curl_init_once);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;

        if (s->req->on_chunk) {
                if (s->req->on_chunk(data, n, s->req->chunk_ud) < 0) {
                        s->aborted = 1;
                        return 0;
                }
                return n;
        }
        if (s->body.len + n > s->max) {
                s->too_large = 1;
                return 0;
        }
        return ad_buf_append(&s->body, data, n) < 0 ? 0 : n;
}

/* Keeps the value of req->capture_header; a later response (after a 100
 * Continue or a redirect) replaces an earlier one. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb, name_len = strlen(s->req->capture_header);
        const char *v, *end = data + n;
        char *copy;

        if (n <= name_len || data[name_len] != ':' ||
            strncasecmp(data, s->req->capture_header, name_len) != 0)
                return n;
        v = data + name_len + 1;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if ((size_t)(end - v) > MAX_HEADER_VALUE)
                return n;
        copy = strndup(v, (size_t)(end - v));
        if (copy == NULL)
                return 0;
        free(s->header_value);
        s->header_value = copy;
        return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct sink *s = ud;

        (void)dltotal;
        (void)dlnow;
        (void)ultotal;
        (void)ulnow;
        if (s->req->cancel && s->req->cancel()) {
                s->cancelled = 1;
                return 1;
        }
        return 0;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
        const struct ad_http_request *req = ud;
        ssize_t n = req->read_fn(buf, size * nmemb, req->read_ud);

        if (n < 0)
                return CURL_READFUNC_ABORT;
        return (size_t)n;
}

int ad_http_do(const struct ad_http_request *req, struct ad_http_response *resp, ad_error_t *err)
{
        struct sink sink = { .req = req };
        struct curl_slist *hdrs = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        const char *method = req->method ? req->method : "GET";
        CURLcode rc;
        CURL *c;
        int ret = 0;

        ad_http_global_init();
        memset(resp, 0, sizeof(*resp));
        sink.max = req->max_body ? req->max_body : AD_HTTP_DEFAULT_MAX_BODY;
        c = curl_easy_init();
        if (c == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "curl_easy_init failed");

        curl_easy_setopt(c, CURLOPT_URL, req->url);
        if (req->ca_file && *req->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
        if (req->userpwd && *req->userpwd) {
                curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(c, CURLOPT_USERPWD, req->userpwd);
        }
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        if (req->unix_socket)
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 30000L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         req->connect_timeout_ms ? req->connect_timeout_ms : 5000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        if (req->cancel) {
                curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
                curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sink);
                curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        }
        if (req->capture_header && *req->capture_header) {
                curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
                curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
        }

        if (req->read_fn) {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c, CURLOPT_READDATA, req);
                hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
                hdrs = curl_slist_append(hdrs, "Expect:");
        } else if (req->body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                   strcmp(method, "PATCH") == 0) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        }
        if (strcmp(method, "GET") != 0)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (req->content_type) {
                char h[256];
                snprintf(h, sizeof(h), "Content-Type: %s", req->content_type);
                hdrs = curl_slist_append(hdrs, h);
        }
        for (size_t i = 0; req->headers && req->headers[i]; i++)
                hdrs = curl_slist_append(hdrs, req->headers[i]);
        if (hdrs)
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

        rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
                int kind = AD_ERR_UNAVAILABLE;

                if (sink.too_large)
                        kind = AD_ERR_TOO_LARGE;
                else if (rc == CURLE_OPERATION_TIMEDOUT)
                        kind = AD_ERR_TIMEOUT;
                else if (sink.aborted || rc == CURLE_ABORTED_BY_CALLBACK)
                        kind = AD_ERR_GENERIC;
                if (sink.cancelled)
                        ret = ad_error_make(err, AD_ERR_GENERIC, (int)rc, "%s %s: cancelled",
                                            method, req->url);
                else if (sink.too_large)
                        ret = ad_error_make(err, kind, (int)rc,
                                            "%s %s: response larger than %zu bytes", method,
                                            req->url, sink.max);
                else
                        ret = ad_error_make(err, kind, (int)rc, "%s %s%s%s: %s", method, req->url,
                                            req->unix_socket ? " via " : "",
                                            req->unix_socket ? req->unix_socket : "",
                                            *errbuf ? errbuf : curl_easy_strerror(rc));
                ad_buf_free(&sink.body);
                free(sink.header_value);
        } else {
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
                if (!req->on_chunk && sink.body.data == NULL)
                        sink.body.data = calloc(1, 1);
                resp->body = sink.body.data;
                resp->len = sink.body.len;
                resp->header_value = sink.header_value;
        }
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return ret;
}

void ad_http_response_free(struct ad_http_response *resp)
{
        if (resp == NULL)
                return;
        free(resp->body);
        resp->body = NULL;
        resp->len = 0;
        free(resp->header_value);
        resp->header_value = NULL;
}

char *ad_http_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *p = out;

        if (out == NULL)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
                        *p++ = (char)ch;
                } else {
                        *p++ = '%';
                        *p++ = hex[ch >> 4];
                        *p++ = hex[ch & 15];
                }
        }
        *p = '\0';
        return out;
}
