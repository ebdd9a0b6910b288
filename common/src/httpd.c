#include "ad/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ad_httpd {
        struct MHD_Daemon *daemon;
        ad_httpd_handler handler;
        void *ud;
        size_t max_body;
        int port;
        char *tls_cert, *tls_key; /* PEM, kept for the daemon's life */
        atomic_int upgraded;      /* upgrade threads running */
};

/* TLS 1.2 minimum, 1.3 preferred (GnuTLS priority string). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLS_FILE_MAX (1 << 20)

/* Per-request state, kept between MHD's calls for one request. */
struct req_ctx {
        char *body;
        size_t len;
        int too_large;
};

struct stream_ctx {
        ad_httpd_stream_fn fn;
        void *ud;
        void (*free_fn)(void *ud);
};

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct stream_ctx *s = cls;
        ssize_t n;

        (void)pos;
        n = s->fn(s->ud, buf, max);
        if (n < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        return n;
}

static void stream_free(void *cls)
{
        struct stream_ctx *s = cls;

        if (s->free_fn)
                s->free_fn(s->ud);
        free(s);
}

struct upgrade_ctx {
        ad_httpd *h;
        void (*fn)(void *ud, int fd);
        void *ud;
        void (*free_fn)(void *ud);
        int fd;
        struct MHD_UpgradeResponseHandle *urh;
};

static void *upgrade_main(void *arg)
{
        struct upgrade_ctx *u = arg;

        u->fn(u->ud, u->fd);
        MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
        if (u->free_fn)
                u->free_fn(u->ud);
        atomic_fetch_sub(&u->h->upgraded, 1);
        free(u);
        return NULL;
}

/* MHD hands over the socket; the work runs in a thread of its own so the
 * connection's thread is free again. */
static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
        struct upgrade_ctx *u = cls;
        pthread_attr_t attr;
        pthread_t t;

        (void)conn;
        (void)con_cls;
        (void)extra_in; /* a client that speaks before the 101: its bytes are dropped */
        (void)extra_in_size;
        u->fd = sock;
        u->urh = urh;
        atomic_fetch_add(&u->h->upgraded, 1);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, upgrade_main, u) != 0) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                if (u->free_fn)
                        u->free_fn(u->ud);
                atomic_fetch_sub(&u->h->upgraded, 1);
                free(u);
        }
        pthread_attr_destroy(&attr);
}

static enum MHD_Result send_reply(ad_httpd *h, struct MHD_Connection *conn,
                                  struct ad_httpd_reply *r)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (r->upgrade) {
                struct upgrade_ctx *u = calloc(1, sizeof(*u));

                if (u == NULL)
                        return MHD_NO;
                u->h = h;
                u->fn = r->upgrade;
                u->ud = r->upgrade_ud;
                u->free_fn = r->upgrade_free;
                resp = MHD_create_response_for_upgrade(on_upgrade, u);
                if (resp == NULL) {
                        if (u->free_fn)
                                u->free_fn(u->ud);
                        free(u);
                        return MHD_NO;
                }
                for (int i = 0; i < AD_HTTPD_MAX_HEADERS && r->headers[i][0]; i++)
                        MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
                ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
                MHD_destroy_response(resp);
                return ret;
        }
        if (r->stream) {
                struct stream_ctx *s = calloc(1, sizeof(*s));
                if (s == NULL)
                        return MHD_NO;
                s->fn = r->stream;
                s->ud = r->stream_ud;
                s->free_fn = r->stream_free;
                resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_cb, s,
                                                         stream_free);
        } else {
                resp = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (void *)"",
                                                       r->body ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
                r->body = NULL;
        }
        if (resp == NULL)
                return MHD_NO;
        if (r->content_type)
                MHD_add_response_header(resp, "Content-Type", r->content_type);
        for (int i = 0; i < AD_HTTPD_MAX_HEADERS && r->headers[i][0]; i++)
                MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        ret = MHD_queue_response(conn, (unsigned)(r->status ? r->status : 200), resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        ad_httpd *h = cls;
        struct req_ctx *ctx = *con_cls;
        struct ad_httpd_request req;
        struct ad_httpd_reply reply;
        const union MHD_ConnectionInfo *ci;
        char ip[INET6_ADDRSTRLEN] = "";
        enum MHD_Result ret;

        (void)version;
        if (ctx == NULL) {
                ctx = calloc(1, sizeof(*ctx));
                if (ctx == NULL)
                        return MHD_NO;
                *con_cls = ctx;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                /* Keep reading past the limit (discarding) so the client
                 * gets a 413 rather than a reset connection. */
                if (!ctx->too_large && ctx->len + *upload_data_size > h->max_body) {
                        ctx->too_large = 1;
                        free(ctx->body);
                        ctx->body = NULL;
                        ctx->len = 0;
                }
                if (!ctx->too_large) {
                        char *b = realloc(ctx->body, ctx->len + *upload_data_size + 1);
                        if (b == NULL)
                                return MHD_NO;
                        memcpy(b + ctx->len, upload_data, *upload_data_size);
                        ctx->body = b;
                        ctx->len += *upload_data_size;
                        ctx->body[ctx->len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        memset(&reply, 0, sizeof(reply));
        if (ctx->too_large) {
                ad_httpd_reply_error(&reply, 413, "body_too_large",
                                     "request body is larger than %zu bytes", h->max_body);
                return send_reply(h, conn, &reply);
        }
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
                if (ci->client_addr->sa_family == AF_INET)
                        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr,
                                  ip, sizeof(ip));
                else if (ci->client_addr->sa_family == AF_INET6)
                        inet_ntop(AF_INET6,
                                  &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip,
                                  sizeof(ip));
        }
        req.method = method;
        req.path = url;
        req.body = ctx->body;
        req.body_len = ctx->len;
        req.remote_ip = ip;
        req.conn = conn;
        h->handler(&req, &reply, h->ud);
        ret = send_reply(h, conn, &reply);
        free(reply.body);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct req_ctx *ctx = *con_cls;

        (void)cls;
        (void)conn;
        (void)toe;
        if (ctx) {
                free(ctx->body);
                free(ctx);
                *con_cls = NULL;
        }
}

/* A PEM file into memory, bounded. */
static int read_pem(char **out, const char *path, const char *what, ad_error_t *err)
{
        FILE *f = fopen(path, "r");
        char *buf;
        size_t n;

        if (f == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "cannot read the TLS %s %s: %s", what,
                                     path, strerror(errno));
        buf = malloc(TLS_FILE_MAX + 1);
        if (buf == NULL) {
                fclose(f);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        n = fread(buf, 1, TLS_FILE_MAX + 1, f);
        fclose(f);
        if (n == 0 || n > TLS_FILE_MAX || strstr(buf, "-----BEGIN") == NULL) {
                free(buf);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the TLS %s %s is not a PEM file of at most %d bytes", what,
                                     path, TLS_FILE_MAX);
        }
        buf[n] = '\0';
        *out = buf;
        return 0;
}

static void free_httpd(ad_httpd *h)
{
        if (h->tls_key) {
                explicit_bzero(h->tls_key, strlen(h->tls_key));
                free(h->tls_key);
        }
        free(h->tls_cert);
        free(h);
}

int ad_httpd_start(ad_httpd **out, const struct ad_httpd_options *opts, ad_httpd_handler handler,
                   void *ud, ad_error_t *err)
{
        struct sockaddr_in addr = { .sin_family = AF_INET };
        const char *bind = opts->bind ? opts->bind : "127.0.0.1";
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_ITC | MHD_ALLOW_UPGRADE;
        struct MHD_OptionItem tls[4] = {
                { MHD_OPTION_END, 0, NULL },
                { MHD_OPTION_END, 0, NULL },
                { MHD_OPTION_END, 0, NULL },
                { MHD_OPTION_END, 0, NULL },
        };
        ad_httpd *h;

        if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "http bind address `%s` is not an IPv4 address", bind);
        if (opts->port < 0 || opts->port > 65535)
                return ad_error_make(err, AD_ERR_INVALID, 0, "http port %d is out of range",
                                     opts->port);
        addr.sin_port = htons((uint16_t)opts->port);
        h = calloc(1, sizeof(*h));
        if (h == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        h->handler = handler;
        h->ud = ud;
        h->max_body = opts->max_body ? opts->max_body : 64 * 1024;
        if (opts->tls_cert_file && *opts->tls_cert_file) {
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                        free_httpd(h);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "this libmicrohttpd has no TLS support");
                }
                if (read_pem(&h->tls_cert, opts->tls_cert_file, "certificate", err) < 0 ||
                    read_pem(&h->tls_key, opts->tls_key_file ? opts->tls_key_file : "", "key",
                             err) < 0) {
                        free_httpd(h);
                        return -AD_ERR_INVALID;
                }
                flags |= MHD_USE_TLS;
                tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert };
                tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key };
                tls[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                  (void *)TLS_PRIORITIES };
        }
        /* A thread per connection: log streams (SSE) block in their
         * callbacks without holding up other clients. */
        h->daemon = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)(opts->max_conns ? opts->max_conns : 256), MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)(opts->timeout_s ? opts->timeout_s : 30),
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_conns_per_ip, MHD_OPTION_ARRAY, tls,
                MHD_OPTION_END);
        if (h->daemon == NULL) {
                bool with_tls = h->tls_cert != NULL;

                free_httpd(h);
                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                     with_tls ? "cannot listen on %s:%d (port in use, or the TLS "
                                                "certificate and key do not load or match?)"
                                              : "cannot listen on %s:%d (port in use?)",
                                     bind, opts->port);
        }
        info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : opts->port;
        *out = h;
        return 0;
}

int ad_httpd_port(const ad_httpd *h)
{
        return h->port;
}

void ad_httpd_stop(ad_httpd *h)
{
        if (h == NULL)
                return;
        /* Upgraded connections end on their own once the service stops. */
        for (int i = 0; i < 100 && atomic_load(&h->upgraded) > 0; i++)
                usleep(50000);
        MHD_stop_daemon(h->daemon);
        free_httpd(h);
}

const char *ad_httpd_header(const struct ad_httpd_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *ad_httpd_query(const struct ad_httpd_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int start_any(void **out, const struct ad_httpd_options *opts, ad_httpd_handler handler,
                     void *ud, ad_error_t *err)
{
        ad_httpd *h = NULL;
        int ret = ad_httpd_start(&h, opts, handler, ud, err);

        if (ret == 0)
                *out = h;
        return ret;
}

static int port_any(const void *server)
{
        return ad_httpd_port(server);
}

static void stop_any(void *server)
{
        ad_httpd_stop(server);
}

const struct ad_http_server ad_httpd_server = {
        .start = start_any,
        .port = port_any,
        .stop = stop_any,
};
