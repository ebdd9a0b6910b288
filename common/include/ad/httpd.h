/* The API's HTTP server (libmicrohttpd): the REST API, and its /healthz
 * and /metrics; the other services answer those with the probe server
 * (ad/probe_server.h), through the same handler and reply types.  Request bodies
 * are bounded (413 past the limit); a handler fills a reply, or a stream
 * for Server-Sent Events. */
#ifndef AD_HTTPD_H
#define AD_HTTPD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ad/error.h"

typedef struct ad_httpd ad_httpd;

struct ad_httpd_request {
        const char *method;
        const char *path;
        const char *body; /* NUL-terminated, may be NULL */
        size_t body_len;
        const char *remote_ip;
        void *conn; /* struct MHD_Connection * */
};

/* Streams a body of unknown length: fill buf, return bytes written, 0 to
 * wait and be called again, -1 to end the stream. */
typedef ssize_t (*ad_httpd_stream_fn)(void *ud, char *buf, size_t max);

#define AD_HTTPD_MAX_HEADERS 8

#define AD_HTTPD_HEADER_VALUE_MAX 96

struct ad_httpd_reply {
        int status;
        char *body; /* owned: freed by the server */
        size_t body_len;
        const char *content_type;
        /* Name and value of each extra header; the first NULL name ends
         * the list.  Values set with ad_httpd_reply_header() live in
         * values[]. */
        const char *headers[AD_HTTPD_MAX_HEADERS][2];
        char values[AD_HTTPD_MAX_HEADERS][AD_HTTPD_HEADER_VALUE_MAX];
        ad_httpd_stream_fn stream;
        void *stream_ud;
        void (*stream_free)(void *ud);
        /* Or a protocol upgrade (WebSocket): the reply goes out as "101
         * Switching Protocols" with `headers`, then upgrade(ud, fd) runs
         * in a thread of its own with the connection's socket (blocking
         * reads and writes) and returns when it is done; the server closes
         * the socket after and calls upgrade_free(ud).  upgrade must return
         * soon after the service starts stopping: ad_httpd_stop waits for
         * it (a few seconds at most). */
        void (*upgrade)(void *ud, int fd);
        void *upgrade_ud;
        void (*upgrade_free)(void *ud);
};

typedef void (*ad_httpd_handler)(const struct ad_httpd_request *req, struct ad_httpd_reply *reply,
                                 void *ud);

struct ad_httpd_options {
        const char *bind;          /* IPv4 address; NULL: 127.0.0.1 */
        int port;                  /* 0: any free port */
        size_t max_body;           /* 0: 64 KiB */
        unsigned max_conns;        /* 0: 256 */
        unsigned timeout_s;        /* idle connection timeout; 0: 30 */
        unsigned max_conns_per_ip; /* 0: no cap per client address */
        /* HTTPS (GnuTLS through libmicrohttpd, TLS 1.2 or 1.3) when both
         * are set: PEM files of the certificate chain and its key. */
        const char *tls_cert_file;
        const char *tls_key_file;
};

/* A server ad_service_start runs on a service's port, behind function
 * pointers so that a binary links only the one it names:
 * ad_httpd_server (this file's, libmicrohttpd: bodies, SSE, WebSocket,
 * TLS; the API's) or ad_probe_http_server (ad/probe_server.h; the other
 * services', GET and HEAD only). */
struct ad_http_server {
        int (*start)(void **out, const struct ad_httpd_options *opts, ad_httpd_handler handler,
                     void *ud, ad_error_t *err);
        int (*port)(const void *server);
        void (*stop)(void *server);
};
extern const struct ad_http_server ad_httpd_server;

int ad_httpd_start(ad_httpd **out, const struct ad_httpd_options *opts, ad_httpd_handler handler,
                   void *ud, ad_error_t *err);
int ad_httpd_port(const ad_httpd *h);
void ad_httpd_stop(ad_httpd *h);

const char *ad_httpd_header(const struct ad_httpd_request *req, const char *name);
const char *ad_httpd_query(const struct ad_httpd_request *req, const char *name);

/* The replies' builders (httpd_reply.c), for either server. */
/* Sets a JSON body (reference stolen). */
void ad_httpd_reply_json(struct ad_httpd_reply *reply, int status, json_t *body);
/* {"error": {"code": code, "message": ...}} */
void ad_httpd_reply_error(struct ad_httpd_reply *reply, int status, const char *code,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds a header in the first free slot, its value formatted into the
 * reply (name must outlive the reply: a literal); -1 when every slot is
 * taken. */
int ad_httpd_reply_header(struct ad_httpd_reply *reply, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void ad_httpd_reply_text(struct ad_httpd_reply *reply, int status, const char *content_type,
                         const char *text);

#endif
