/* An HTTP client on libcurl that can speak over a unix socket (the
 * container engine's Docker API) or TCP (caddy's admin API, the registry).
 * Every response body is bounded. */
#ifndef AD_HTTP_H
#define AD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ad/error.h"

#define AD_HTTP_DEFAULT_MAX_BODY (8 * 1024 * 1024)

/* Called with each chunk of the response body as it arrives (streaming);
 * return 0 to go on, negative to abort the transfer. */
typedef int (*ad_http_chunk_fn)(const char *data, size_t len, void *ud);

/* Called to fill the request body; return bytes written, 0 at the end,
 * negative to abort. */
typedef ssize_t (*ad_http_read_fn)(char *buf, size_t size, void *ud);

struct ad_http_request {
        const char *method;      /* NULL: GET */
        const char *url;         /* http://d/v1.41/... over a unix socket */
        const char *unix_socket; /* NULL for TCP */
        const char *body;        /* or read_fn for a streamed body */
        size_t body_len;
        ad_http_read_fn read_fn;
        void *read_ud;
        const char *content_type;
        const char *const *headers; /* NULL-terminated "Name: value" */
        long timeout_ms;            /* whole transfer; 0: 30 s */
        long connect_timeout_ms;    /* 0: 5 s */
        size_t max_body;            /* 0: AD_HTTP_DEFAULT_MAX_BODY */
        ad_http_chunk_fn on_chunk;  /* set: body streamed, not kept */
        void *chunk_ud;
        /* Optional: the name of one response header to keep (e.g.
         * "Docker-Content-Digest"), matched case-insensitively; its value,
         * trimmed, lands in resp->header_value. */
        const char *capture_header;
        /* Optional: asked about once a second during the transfer (also
         * while nothing arrives); true aborts it with AD_ERR_GENERIC
         * "cancelled" (a service stopping mid-build). */
        bool (*cancel)(void);
        /* Optional: a PEM bundle of the CAs to trust for https:// instead
         * of the system's (adctl's ADCTL_CA_FILE). */
        const char *ca_file;
        /* Optional: "user:password" for HTTP Basic authentication (the
         * registry's); never logged. */
        const char *userpwd;
};

struct ad_http_response {
        long status;
        char *body; /* NUL-terminated; NULL when streamed */
        size_t len;
        char *header_value; /* capture_header's value (the last one seen), or NULL */
};

/* libcurl's global set-up, once, on the first request rather than at
 * start-up: it sets up OpenSSL's TLS (about 1.7 MiB of the process,
 * docs/benchmarks.md), which a service that has not yet made a request
 * does not need.  ad_http_do calls it; code that uses libcurl directly
 * calls it before curl_easy_init. */
void ad_http_global_init(void);

/* Performs the request.  A transport failure (refused, timed out) is
 * AD_ERR_UNAVAILABLE/AD_ERR_TIMEOUT; any HTTP status is a success here,
 * the caller judges it. */
int ad_http_do(const struct ad_http_request *req, struct ad_http_response *resp, ad_error_t *err);

void ad_http_response_free(struct ad_http_response *resp);

/* Percent-encodes s for a URL path segment or query value. */
char *ad_http_escape(const char *s);

#endif
