/* The replies' builders, apart from the server (httpd.c) so that a service
 * answering with the probe server (probe_server.c) links no libmicrohttpd. */
#include "ad/httpd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ad_httpd_reply_json(struct ad_httpd_reply *reply, int status, json_t *body)
{
        char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t n = text ? strlen(text) : 0;

        json_decref(body);
        free(reply->body);
        reply->status = status;
        reply->content_type = "application/json";
        /* A trailing newline makes curl output readable. */
        reply->body = text ? realloc(text, n + 2) : NULL;
        if (reply->body) {
                reply->body[n] = '\n';
                reply->body[n + 1] = '\0';
                reply->body_len = n + 1;
        } else {
                free(text);
                reply->body_len = 0;
        }
}

void ad_httpd_reply_error(struct ad_httpd_reply *reply, int status, const char *code,
                          const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ad_httpd_reply_json(reply, status,
                            json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void ad_httpd_reply_text(struct ad_httpd_reply *reply, int status, const char *content_type,
                         const char *text)
{
        free(reply->body);
        reply->status = status;
        reply->content_type = content_type;
        reply->body = strdup(text ? text : "");
        reply->body_len = reply->body ? strlen(reply->body) : 0;
}

int ad_httpd_reply_header(struct ad_httpd_reply *reply, const char *name, const char *fmt, ...)
{
        va_list ap;

        for (int i = 0; i < AD_HTTPD_MAX_HEADERS; i++) {
                if (reply->headers[i][0])
                        continue;
                va_start(ap, fmt);
                vsnprintf(reply->values[i], sizeof(reply->values[i]), fmt, ap);
                va_end(ap);
                reply->headers[i][0] = name;
                reply->headers[i][1] = reply->values[i];
                return 0;
        }
        return -1;
}
