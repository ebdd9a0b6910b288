#include "ad/probe_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ad/cleanup.h"

#define DEFAULT_MAX_CONNS 32
#define DEFAULT_TIMEOUT_S 5
/* After the reply: how long the client's own close is waited for (its
 * unread bytes would otherwise make the close a reset, which can cut the
 * reply short on the client's side). */
#define DRAIN_MS 1000

/* ---- the request head ---------------------------------------------- */

static bool is_tchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum ad_probe_head_result refuse(struct ad_probe_head *out, int status, const char *code,
                                        const char *message)
{
        out->status = status;
        out->code = code;
        out->message = message;
        return AD_PROBE_HEAD_ERROR;
}

static enum ad_probe_head_result bad(struct ad_probe_head *out, const char *message)
{
        return refuse(out, 400, "bad_request", message);
}

/* The end of the line starting at buf[from] within n bytes: the offset
 * of its CR (followed by LF), -1 not ended yet, -2 a bare CR or LF. */
static long line_end(const char *buf, size_t from, size_t n)
{
        for (size_t i = from; i < n; i++) {
                if (buf[i] == '\n')
                        return -2;
                if (buf[i] == '\r') {
                        if (i + 1 == n)
                                return -1;
                        return buf[i + 1] == '\n' ? (long)i : -2;
                }
        }
        return -1;
}

/* `METHOD SP /target SP HTTP/1.x`, buf[0..len) without its CRLF. */
static enum ad_probe_head_result request_line(const char *buf, size_t len,
                                              struct ad_probe_head *out)
{
        size_t m = 0, t, tend, q;

        while (m < len && is_tchar((unsigned char)buf[m]))
                m++;
        if (m == 0 || m == len || buf[m] != ' ')
                return bad(out, "the request line is not `METHOD /path HTTP/1.1`");
        t = m + 1;
        tend = t;
        while (tend < len && (unsigned char)buf[tend] > 0x20 && (unsigned char)buf[tend] < 0x7f)
                tend++;
        if (tend == t || tend == len || buf[tend] != ' ')
                return bad(out, "the request line is not `METHOD /path HTTP/1.1`");
        if (buf[t] != '/')
                return bad(out, "the request target is not a path (`/...`)");
        if (len - tend - 1 != 8 || memcmp(buf + tend + 1, "HTTP/1.", 7) != 0 ||
            (buf[len - 1] != '0' && buf[len - 1] != '1'))
                return bad(out, "only HTTP/1.0 and HTTP/1.1 are spoken here");
        if (m == 3 && memcmp(buf, "GET", 3) == 0)
                out->head_only = false;
        else if (m == 4 && memcmp(buf, "HEAD", 4) == 0)
                out->head_only = true;
        else
                return refuse(out, 405, "method_not_allowed",
                              "this port answers GET and HEAD only (/healthz, /metrics)");
        for (q = t; q < tend && buf[q] != '?'; q++)
                ;
        out->path = buf + t;
        out->path_len = q - t;
        return AD_PROBE_HEAD_DONE;
}

/* Is field value v[0..n) (optional whitespace around) "0"s only?  -1 when
 * it is not a number at all. */
static int zero_length(const char *v, size_t n)
{
        size_t i = 0, digits = 0;
        bool zero = true;

        while (i < n && (v[i] == ' ' || v[i] == '\t'))
                i++;
        for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
                zero = zero && v[i] == '0';
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
                i++;
        if (digits == 0 || i != n)
                return -1;
        return zero ? 1 : 0;
}

/* One header field line, buf[0..len) without its CRLF. */
static enum ad_probe_head_result field_line(const char *buf, size_t len, struct ad_probe_head *out)
{
        size_t name = 0;
        int z;

        if (len > 0 && (buf[0] == ' ' || buf[0] == '\t'))
                return bad(out, "folded header lines are not accepted");
        while (name < len && is_tchar((unsigned char)buf[name]))
                name++;
        if (name == 0 || name == len || buf[name] != ':')
                return bad(out, "a header line is not `Name: value`");
        for (size_t i = name + 1; i < len; i++) {
                unsigned char c = (unsigned char)buf[i];

                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        return bad(out, "a header value holds a control character");
        }
        if (name == 17 && strncasecmp(buf, "Transfer-Encoding", 17) == 0)
                return refuse(out, 413, "body_too_large", "this port takes no request body");
        if (name == 14 && strncasecmp(buf, "Content-Length", 14) == 0) {
                z = zero_length(buf + name + 1, len - name - 1);
                if (z < 0)
                        return bad(out, "Content-Length is not a number");
                if (z == 0)
                        return refuse(out, 413, "body_too_large",
                                      "this port takes no request body");
        }
        return AD_PROBE_HEAD_MORE;
}

enum ad_probe_head_result ad_probe_parse_head(const char *buf, size_t len, size_t max_head,
                                              struct ad_probe_head *out)
{
        size_t n = len < max_head ? len : max_head, pos;
        enum ad_probe_head_result r;
        long end;

        memset(out, 0, sizeof(*out));
        end = line_end(buf, 0, n);
        if (end == -2)
                return bad(out, "lines end with CRLF");
        if (end == -1) {
                /* Refuse what can never become a request line at once. */
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)buf[i];

                        if ((c < 0x20 && c != '\r') || c >= 0x7f)
                                return bad(out, "the request line holds a control character");
                }
                goto incomplete;
        }
        r = request_line(buf, (size_t)end, out);
        if (r == AD_PROBE_HEAD_ERROR)
                return r;
        for (pos = (size_t)end + 2;; pos = (size_t)end + 2) {
                end = line_end(buf, pos, n);
                if (end == -2)
                        return bad(out, "lines end with CRLF");
                if (end == -1)
                        goto incomplete;
                if ((size_t)end == pos) {
                        out->head_len = pos + 2;
                        return AD_PROBE_HEAD_DONE;
                }
                r = field_line(buf + pos, (size_t)end - pos, out);
                if (r == AD_PROBE_HEAD_ERROR)
                        return r;
        }
incomplete:
        out->path = NULL;
        out->path_len = 0;
        if (n >= max_head)
                return refuse(out, 431, "header_too_large",
                              "the request head is larger than this port accepts (8 KiB)");
        return AD_PROBE_HEAD_MORE;
}

/* ---- the server ----------------------------------------------------- */

enum conn_state { FREE, READING, WRITING, DRAINING };

struct conn {
        int fd;
        enum conn_state state;
        int64_t deadline_ms;
        char ip[INET6_ADDRSTRLEN];
        char *in; /* AD_PROBE_MAX_HEAD bytes while READING */
        size_t in_len;
        char *out; /* the whole reply */
        size_t out_len, out_off;
};

struct ad_probe_server {
        int listen_fd;
        int wake[2]; /* stop: a byte on wake[1] */
        int port;
        unsigned max_conns;
        int64_t timeout_ms;
        ad_httpd_handler handler;
        void *ud;
        struct conn *conns;
        struct pollfd *pfds;
        pthread_t thread;
        bool started;
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        free(c->in);
        free(c->out);
        memset(c, 0, sizeof(*c));
        c->fd = -1;
        c->state = FREE;
}

static const char *reason(int status)
{
        switch (status) {
        case 200:
                return "OK";
        case 400:
                return "Bad Request";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 413:
                return "Content Too Large";
        case 431:
                return "Request Header Fields Too Large";
        case 500:
                return "Internal Server Error";
        case 503:
                return "Service Unavailable";
        default:
                return "Status";
        }
}

/* The reply as bytes to send: status line, headers, body (not for HEAD). */
static int format_reply(struct conn *c, const struct ad_httpd_reply *r, bool head_only)
{
        int status = r->status ? r->status : 200;
        size_t body_len = r->body ? r->body_len : 0;
        char head[2048];
        int n;

        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nX-Content-Type-Options: nosniff\r\n",
                     status, reason(status), r->content_type ? r->content_type : "text/plain",
                     body_len);
        for (int i = 0;
             i < AD_HTTPD_MAX_HEADERS && r->headers[i][0] && n > 0 && (size_t)n < sizeof(head); i++)
                n += snprintf(head + n, sizeof(head) - (size_t)n, "%s: %s\r\n", r->headers[i][0],
                              r->headers[i][1]);
        if (n < 0 || (size_t)n + 2 >= sizeof(head))
                return -1;
        head[n++] = '\r';
        head[n++] = '\n';
        if (head_only)
                body_len = 0;
        c->out = malloc((size_t)n + body_len);
        if (c->out == NULL)
                return -1;
        memcpy(c->out, head, (size_t)n);
        if (body_len)
                memcpy(c->out + n, r->body, body_len);
        c->out_len = (size_t)n + body_len;
        c->out_off = 0;
        return 0;
}

static void reply_free(struct ad_httpd_reply *r)
{
        free(r->body);
        if (r->stream_free)
                r->stream_free(r->stream_ud);
        if (r->upgrade_free)
                r->upgrade_free(r->upgrade_ud);
}

/* The head is complete (or refused): the handler's reply, or the error. */
static void respond(ad_probe_server *p, struct conn *c, enum ad_probe_head_result res,
                    const struct ad_probe_head *h)
{
        struct ad_httpd_reply reply;
        bool head_only = false;

        memset(&reply, 0, sizeof(reply));
        if (res == AD_PROBE_HEAD_ERROR) {
                ad_httpd_reply_error(&reply, h->status, h->code, "%s", h->message);
                if (h->status == 405)
                        ad_httpd_reply_header(&reply, "Allow", "GET, HEAD");
        } else {
                cleanup_free char *path = strndup(h->path, h->path_len);
                struct ad_httpd_request req = {
                        .method = h->head_only ? "HEAD" : "GET",
                        .path = path,
                        .remote_ip = c->ip,
                };

                head_only = h->head_only;
                if (path == NULL) {
                        conn_close(c);
                        return;
                }
                p->handler(&req, &reply, p->ud);
                if (reply.stream || reply.upgrade) {
                        reply_free(&reply);
                        memset(&reply, 0, sizeof(reply));
                        ad_httpd_reply_error(&reply, 500, "internal",
                                             "this port does not stream or upgrade");
                }
        }
        free(c->in);
        c->in = NULL;
        if (format_reply(c, &reply, head_only) < 0) {
                reply_free(&reply);
                conn_close(c);
                return;
        }
        reply_free(&reply);
        c->state = WRITING;
}

static void on_readable(ad_probe_server *p, struct conn *c)
{
        struct ad_probe_head h;
        enum ad_probe_head_result res;
        ssize_t n;

        if (c->state == DRAINING) {
                char sink[1024];

                n = recv(c->fd, sink, sizeof(sink), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        conn_close(c);
                return;
        }
        n = recv(c->fd, c->in + c->in_len, AD_PROBE_MAX_HEAD - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                conn_close(c); /* the client left before its head ended */
                return;
        }
        c->in_len += (size_t)n;
        res = ad_probe_parse_head(c->in, c->in_len, AD_PROBE_MAX_HEAD, &h);
        if (res != AD_PROBE_HEAD_MORE)
                respond(p, c, res, &h);
}

static void on_writable(struct conn *c)
{
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                conn_close(c);
                return;
        }
        c->out_off += (size_t)n;
        if (c->out_off < c->out_len)
                return;
        free(c->out);
        c->out = NULL;
        shutdown(c->fd, SHUT_WR);
        c->state = DRAINING;
        if (c->deadline_ms > now_ms() + DRAIN_MS)
                c->deadline_ms = now_ms() + DRAIN_MS;
}

static void accept_one(ad_probe_server *p)
{
        struct sockaddr_in addr;
        socklen_t alen = sizeof(addr);
        struct conn *c = NULL;
        int fd;

        for (unsigned i = 0; i < p->max_conns; i++)
                if (p->conns[i].state == FREE) {
                        c = &p->conns[i];
                        break;
                }
        if (c == NULL)
                return;
        fd = accept4(p->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
                return;
        c->in = malloc(AD_PROBE_MAX_HEAD);
        if (c->in == NULL) {
                close(fd);
                return;
        }
        c->fd = fd;
        c->state = READING;
        c->in_len = 0;
        c->deadline_ms = now_ms() + p->timeout_ms;
        if (addr.sin_family != AF_INET ||
            inet_ntop(AF_INET, &addr.sin_addr, c->ip, sizeof(c->ip)) == NULL)
                c->ip[0] = '\0';
}

static void *serve(void *arg)
{
        ad_probe_server *p = arg;
        struct pollfd *pfds = p->pfds;

        for (;;) {
                unsigned open = 0;
                nfds_t nfds = 2;
                int64_t now = now_ms(), next = -1;
                int timeout;

                for (unsigned i = 0; i < p->max_conns; i++) {
                        struct conn *c = &p->conns[i];

                        if (c->state == FREE)
                                continue;
                        if (c->deadline_ms <= now) {
                                conn_close(c); /* too slow: dropped */
                                continue;
                        }
                        open++;
                        if (next < 0 || c->deadline_ms < next)
                                next = c->deadline_ms;
                        pfds[nfds].fd = c->fd;
                        pfds[nfds].events = c->state == WRITING ? POLLOUT : POLLIN;
                        pfds[nfds].revents = 0;
                        nfds++;
                }
                pfds[0] = (struct pollfd){ .fd = p->wake[0], .events = POLLIN };
                /* At the cap, more clients wait in the backlog. */
                pfds[1] = (struct pollfd){ .fd = open < p->max_conns ? p->listen_fd : -1,
                                           .events = POLLIN };
                timeout = next < 0 ? -1 : (int)(next - now);
                if (poll(pfds, nfds, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfds[0].revents)
                        break;
                for (nfds_t k = 2; k < nfds; k++) {
                        struct conn *c = NULL;

                        if (pfds[k].revents == 0)
                                continue;
                        for (unsigned i = 0; i < p->max_conns && c == NULL; i++)
                                if (p->conns[i].state != FREE && p->conns[i].fd == pfds[k].fd)
                                        c = &p->conns[i];
                        if (c == NULL)
                                continue;
                        if (c->state == WRITING)
                                on_writable(c);
                        else
                                on_readable(p, c);
                }
                if (pfds[1].fd >= 0 && pfds[1].revents)
                        accept_one(p);
        }
        return NULL;
}

static void free_server(ad_probe_server *p)
{
        if (p->conns)
                for (unsigned i = 0; i < p->max_conns; i++)
                        conn_close(&p->conns[i]);
        if (p->listen_fd >= 0)
                close(p->listen_fd);
        if (p->wake[0] >= 0)
                close(p->wake[0]);
        if (p->wake[1] >= 0)
                close(p->wake[1]);
        free(p->conns);
        free(p->pfds);
        free(p);
}

static int listen_on(ad_probe_server *p, const char *bind_addr, int port, ad_error_t *err)
{
        struct sockaddr_in addr = { .sin_family = AF_INET };
        socklen_t alen = sizeof(addr);
        int one = 1;

        if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "http bind address `%s` is not an IPv4 address", bind_addr);
        if (port < 0 || port > 65535)
                return ad_error_make(err, AD_ERR_INVALID, 0, "http port %d is out of range", port);
        addr.sin_port = htons((uint16_t)port);
        p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->listen_fd < 0)
                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "socket: %s", strerror(errno));
        setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
            listen(p->listen_fd, 64) < 0)
                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                     "cannot listen on %s:%d (port in use?): %s", bind_addr, port,
                                     strerror(errno));
        if (getsockname(p->listen_fd, (struct sockaddr *)&addr, &alen) < 0)
                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "getsockname: %s",
                                     strerror(errno));
        p->port = ntohs(addr.sin_port);
        return 0;
}

int ad_probe_server_start(ad_probe_server **out, const struct ad_httpd_options *opts,
                          ad_httpd_handler handler, void *ud, ad_error_t *err)
{
        ad_probe_server *p;
        sigset_t all, old;
        int ret;

        if (opts->tls_cert_file && *opts->tls_cert_file)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the probe server speaks plain HTTP only (no TLS)");
        p = calloc(1, sizeof(*p));
        if (p == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        p->listen_fd = p->wake[0] = p->wake[1] = -1;
        p->handler = handler;
        p->ud = ud;
        p->max_conns = opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
        p->timeout_ms = (int64_t)(opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S) * 1000;
        p->conns = calloc(p->max_conns, sizeof(*p->conns));
        p->pfds = calloc(p->max_conns + 2, sizeof(*p->pfds));
        if (p->conns == NULL || p->pfds == NULL) {
                free_server(p);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        for (unsigned i = 0; i < p->max_conns; i++)
                p->conns[i].fd = -1;
        if (pipe2(p->wake, O_CLOEXEC) < 0) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "pipe: %s", strerror(errno));
                free_server(p);
                return ret;
        }
        ret = listen_on(p, opts->bind ? opts->bind : "127.0.0.1", opts->port, err);
        if (ret < 0) {
                free_server(p);
                return ret;
        }
        /* Signals go to the service's own threads, not this one. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        ret = pthread_create(&p->thread, NULL, serve, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (ret != 0) {
                free_server(p);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot start the probe thread: %s",
                                     strerror(ret));
        }
        p->started = true;
        *out = p;
        return 0;
}

int ad_probe_server_port(const ad_probe_server *p)
{
        return p->port;
}

void ad_probe_server_stop(ad_probe_server *p)
{
        if (p == NULL)
                return;
        if (p->started) {
                ssize_t n;

                do
                        n = write(p->wake[1], "x", 1);
                while (n < 0 && errno == EINTR);
                pthread_join(p->thread, NULL);
        }
        free_server(p);
}

static int start_any(void **out, const struct ad_httpd_options *opts, ad_httpd_handler handler,
                     void *ud, ad_error_t *err)
{
        ad_probe_server *p = NULL;
        int ret = ad_probe_server_start(&p, opts, handler, ud, err);

        if (ret == 0)
                *out = p;
        return ret;
}

static int port_any(const void *server)
{
        return ad_probe_server_port(server);
}

static void stop_any(void *server)
{
        ad_probe_server_stop(server);
}

const struct ad_http_server ad_probe_http_server = {
        .start = start_any,
        .port = port_any,
        .stop = stop_any,
};
