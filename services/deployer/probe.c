#include "probe.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ad/caddy.h"
#include "ad/http.h"

/* Bodies are not kept: a probe only needs to know that one came. */
#define PROBE_MAX_BODY (64 * 1024)

struct probe_sink {
        struct probe_result *res;
        size_t body;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct probe_sink *s = ud;
        size_t n = size * nmemb;

        (void)data;
        s->body += n;
        /* Enough seen: stop reading (the status is already known). */
        return s->body > PROBE_MAX_BODY ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
        struct probe_sink *s = ud;
        size_t n = size * nmemb, name = strlen(AD_CADDY_DEPLOYMENT_HEADER);

        if (n > name + 1 && strncasecmp(data, AD_CADDY_DEPLOYMENT_HEADER, name) == 0 &&
            data[name] == ':') {
                const char *v = data + name + 1;
                size_t len = n - name - 1;

                while (len && (*v == ' ' || *v == '\t')) {
                        v++;
                        len--;
                }
                while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
                        len--;
                snprintf(s->res->deployment, sizeof(s->res->deployment), "%.*s", (int)len, v);
        }
        return n;
}

void probe_get(const char *url, const char *host, long timeout_ms, struct probe_result *res)
{
        struct probe_sink sink = { .res = res };
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdrs = NULL;
        char host_header[300];
        CURLcode rc;
        CURL *c;

        memset(res, 0, sizeof(*res));
        ad_http_global_init();
        c = curl_easy_init();
        if (c == NULL) {
                snprintf(res->detail, sizeof(res->detail), "curl_easy_init failed");
                return;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 2000L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 2000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
        /* A fresh connection each time: a probe must not ride on a
         * connection an old configuration accepted. */
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        if (host) {
                snprintf(host_header, sizeof(host_header), "Host: %s", host);
                hdrs = curl_slist_append(hdrs, host_header);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        }
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        /* A body cut short by us still means the server answered. */
        res->answered = res->status > 0 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR);
        if (res->answered)
                snprintf(res->detail, sizeof(res->detail), "HTTP %ld", res->status);
        else
                snprintf(res->detail, sizeof(res->detail), "%s",
                         *errbuf ? errbuf : curl_easy_strerror(rc));
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
}
