/* The probe server: /healthz and /metrics of the five worker services,
 * without libmicrohttpd, whose library constructor initialises GnuTLS
 * (the workers load GnuTLS through libpq and libcurl too, and skip its
 * implicit initialisation: ad_service_start; docs/benchmarks.md).
 *
 * A small HTTP/1.1 responder: one thread, poll(), GET and HEAD only, no
 * request body, one request per connection (`Connection: close`).  What a
 * client can make it hold is bounded: the request head (8 KiB, else 431),
 * the connections open at once (32 unless set, more wait in the listen
 * backlog) and each connection's life (5 s unless set).  Requests go to
 * the same handler type as ad_httpd's (ad/httpd.h); a reply that streams
 * or upgrades is answered 500 (a probe does not).
 *
 * The API keeps ad_httpd for its port (bodies, SSE, WebSocket, TLS). */
#ifndef AD_PROBE_SERVER_H
#define AD_PROBE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"
#include "ad/httpd.h"

#define AD_PROBE_MAX_HEAD 8192

typedef struct ad_probe_server ad_probe_server;

/* Reads opts->bind, port, max_conns and timeout_s (0: 32 connections,
 * 5 s); a TLS certificate is refused (plain HTTP only). */
int ad_probe_server_start(ad_probe_server **out, const struct ad_httpd_options *opts,
                          ad_httpd_handler handler, void *ud, ad_error_t *err);
/* The port bound (the one asked for, or the free one picked for 0). */
int ad_probe_server_port(const ad_probe_server *p);
/* Stops the thread, closes every connection, frees; NULL is a no-op. */
void ad_probe_server_stop(ad_probe_server *p);

/* ad_probe_server_* as an ad_http_server (ad/httpd.h), what
 * ad_service_start uses unless the service asks for another. */
extern const struct ad_http_server ad_probe_http_server;

/* What ad_probe_parse_head found in the bytes read so far. */
enum ad_probe_head_result {
        AD_PROBE_HEAD_ERROR = -1, /* refuse: status, code, message say why */
        AD_PROBE_HEAD_MORE = 0,   /* valid so far, not complete */
        AD_PROBE_HEAD_DONE = 1,   /* a complete, acceptable GET or HEAD */
};

struct ad_probe_head {
        /* DONE: the request target's path (before any `?`), pointing
         * into the buffer parsed, not NUL-terminated. */
        const char *path;
        size_t path_len;
        bool head_only;  /* HEAD: the reply goes without its body */
        size_t head_len; /* bytes of the head, its blank line included */
        /* ERROR: the HTTP status (400, 405, 413, 431), an error code and
         * a message for the JSON error body (static strings). */
        int status;
        const char *code;
        const char *message;
};

/* Parses the request head at the start of buf[0..len) (the bytes read
 * so far), pure: no allocation, no I/O, reads nothing past len.  Only
 * the first max_head bytes count: a head not ended within them is 431.
 * A request line that is already complete is checked at once, so garbage
 * is refused without waiting for the rest.  Accepted: `GET` or `HEAD`,
 * an origin-form target (`/...`, visible ASCII), HTTP/1.0 or HTTP/1.1,
 * CRLF line ends, header fields `name: value` with token names, and no
 * body (a Content-Length other than 0, or any Transfer-Encoding, is
 * 413). */
enum ad_probe_head_result ad_probe_parse_head(const char *buf, size_t len, size_t max_head,
                                              struct ad_probe_head *out);

#endif
