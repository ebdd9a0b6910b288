/* The probe server (ad/probe_server.h): its request-head parser on
 * complete, partial, refused and oversized heads, and the server itself
 * on a loopback port (a real socket, a real client): GET and HEAD
 * answered with Content-Length and `Connection: close`, a POST 405, an
 * oversized head 431, garbage 400, a slow client dropped, and more
 * clients than its cap all answered in turn. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad/probe_server.h"

static enum ad_probe_head_result parse(const char *text, struct ad_probe_head *h)
{
        return ad_probe_parse_head(text, strlen(text), AD_PROBE_MAX_HEAD, h);
}

static void test_parse_accepts(void **state)
{
        struct ad_probe_head h;
        const char *req = "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";

        (void)state;
        assert_int_equal(parse(req, &h), AD_PROBE_HEAD_DONE);
        assert_int_equal(h.path_len, strlen("/healthz"));
        assert_memory_equal(h.path, "/healthz", h.path_len);
        assert_false(h.head_only);
        assert_int_equal(h.head_len, strlen(req));

        assert_int_equal(parse("HEAD /metrics HTTP/1.0\r\n\r\n", &h), AD_PROBE_HEAD_DONE);
        assert_true(h.head_only);
        assert_memory_equal(h.path, "/metrics", h.path_len);

        /* A body of length 0 is no body. */
        assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h),
                         AD_PROBE_HEAD_DONE);
        assert_int_equal(h.path_len, 1);
        /* The head ends at its blank line: what follows is not read. */
        assert_int_equal(parse("GET /a HTTP/1.1\r\n\r\nGARBAGE\x01", &h), AD_PROBE_HEAD_DONE);
        assert_int_equal(h.head_len, strlen("GET /a HTTP/1.1\r\n\r\n"));
}

static void test_parse_partial(void **state)
{
        const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        struct ad_probe_head h;

        (void)state;
        /* Every prefix is "more", never an error; the whole is done. */
        for (size_t n = 0; n < strlen(req); n++)
                assert_int_equal(ad_probe_parse_head(req, n, AD_PROBE_MAX_HEAD, &h),
                                 AD_PROBE_HEAD_MORE);
        assert_int_equal(ad_probe_parse_head(req, strlen(req), AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_DONE);
}

static void expect_refused(const char *text, int status)
{
        struct ad_probe_head h;

        assert_int_equal(parse(text, &h), AD_PROBE_HEAD_ERROR);
        assert_int_equal(h.status, status);
        assert_non_null(h.code);
        assert_non_null(h.message);
}

static void test_parse_refuses(void **state)
{
        (void)state;
        /* Other methods: 405 as soon as the request line is complete. */
        expect_refused("POST /healthz HTTP/1.1\r\n", 405);
        expect_refused("DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405);
        expect_refused("get /healthz HTTP/1.1\r\n\r\n", 405);
        /* A body is refused. */
        expect_refused("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413);
        expect_refused("GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 413);
        expect_refused("GET / HTTP/1.1\r\nContent-Length: five\r\n\r\n", 400);
        /* Malformed request lines and headers. */
        expect_refused("GET  /healthz HTTP/1.1\r\n\r\n", 400);
        expect_refused("GET healthz HTTP/1.1\r\n\r\n", 400);
        expect_refused("GET http://a/healthz HTTP/1.1\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/2.0\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1 \r\n\r\n", 400);
        expect_refused("GET /healthz\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1\n\n", 400);
        expect_refused("GET /healthz HTTP/1.1\r\nHost a\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1\r\n folded\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400);
        expect_refused("GET /healthz HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
        expect_refused("\r\nGET / HTTP/1.1\r\n\r\n", 400);
        /* Binary garbage: refused before any line ends. */
        expect_refused("\x16\x03\x01\x02\x00\x01", 400);
        expect_refused("GET /\x80", 400);
}

static void test_parse_bounded(void **state)
{
        char *big = malloc(AD_PROBE_MAX_HEAD * 2);
        struct ad_probe_head h;
        size_t n;

        (void)state;
        assert_non_null(big);
        /* A head that does not end within the bound: 431, however much
         * follows, and with exactly the bound read. */
        n = (size_t)snprintf(big, AD_PROBE_MAX_HEAD * 2, "GET / HTTP/1.1\r\nX-Pad: ");
        memset(big + n, 'a', AD_PROBE_MAX_HEAD * 2 - n);
        assert_int_equal(ad_probe_parse_head(big, AD_PROBE_MAX_HEAD, AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_ERROR);
        assert_int_equal(h.status, 431);
        assert_int_equal(ad_probe_parse_head(big, AD_PROBE_MAX_HEAD * 2, AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_ERROR);
        assert_int_equal(h.status, 431);
        assert_int_equal(ad_probe_parse_head(big, AD_PROBE_MAX_HEAD - 1, AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_MORE);
        /* A request line as long as the bound. */
        memset(big, 'b', AD_PROBE_MAX_HEAD * 2);
        big[0] = 'G';
        big[1] = 'E';
        big[2] = 'T';
        big[3] = ' ';
        big[4] = '/';
        assert_int_equal(ad_probe_parse_head(big, AD_PROBE_MAX_HEAD, AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_ERROR);
        assert_int_equal(h.status, 431);
        /* A complete head past the bound still counts as too large. */
        n = (size_t)snprintf(big, AD_PROBE_MAX_HEAD * 2, "GET / HTTP/1.1\r\nX-Pad: ");
        memset(big + n, 'a', AD_PROBE_MAX_HEAD);
        for (size_t i = 0; i < 4; i++)
                big[n + AD_PROBE_MAX_HEAD + i] = "\r\n\r\n"[i];
        assert_int_equal(ad_probe_parse_head(big, n + AD_PROBE_MAX_HEAD + 4, AD_PROBE_MAX_HEAD, &h),
                         AD_PROBE_HEAD_ERROR);
        assert_int_equal(h.status, 431);
        free(big);
}

/* ---- the server, on a loopback port ---- */

static void handler(const struct ad_httpd_request *req, struct ad_httpd_reply *reply, void *ud)
{
        int *calls = ud;

        (*calls)++;
        if (strcmp(req->path, "/healthz") == 0)
                ad_httpd_reply_text(reply, 200, "application/json", "{\"status\":\"ok\"}\n");
        else
                ad_httpd_reply_error(reply, 404, "not_found", "no such path: %s", req->path);
}

static int dial(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

/* Sends req (len bytes), reads until the server closes (10 s at most);
 * the answer, NUL-ended (static). */
static const char *exchange_fd(int fd, const char *req, size_t len)
{
        static char out[65536];
        size_t got = 0;

        if (len)
                assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                assert_int_equal(poll(&p, 1, 10000), 1);
                n = recv(fd, out + got, sizeof(out) - 1 - got, 0);
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        out[got] = '\0';
        close(fd);
        return out;
}

static const char *exchange(int port, const char *req)
{
        return exchange_fd(dial(port), req, strlen(req));
}

static void test_server(void **state)
{
        struct ad_httpd_options opts = {
                .bind = "127.0.0.1", .port = 0, .max_conns = 2, .timeout_s = 1
        };
        ad_probe_server *p = NULL;
        ad_error_t err = NULL;
        const char *r;
        char *big;
        int calls = 0, port, held[2];

        (void)state;
        assert_int_equal(ad_probe_server_start(&p, &opts, handler, &calls, &err), 0);
        port = ad_probe_server_port(p);
        assert_true(port > 0);

        r = exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(r, "Content-Length: 16\r\n"));
        assert_non_null(strstr(r, "Connection: close\r\n"));
        assert_non_null(strstr(r, "\r\n\r\n{\"status\":\"ok\"}\n"));

        r = exchange(port, "HEAD /healthz HTTP/1.1\r\n\r\n");
        assert_non_null(strstr(r, "Content-Length: 16\r\n"));
        assert_non_null(strstr(r, "\r\n\r\n"));
        assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n"); /* no body */

        r = exchange(port, "GET /nope HTTP/1.1\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 404 Not Found\r\n"));
        assert_non_null(strstr(r, "\"code\":\"not_found\""));

        r = exchange(port, "POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert_non_null(strstr(r, "HTTP/1.1 405 Method Not Allowed\r\n"));
        assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
        assert_non_null(strstr(r, "\"code\":\"method_not_allowed\""));

        r = exchange(port, "\x16\x03\x01 garbage\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request\r\n"));

        big = malloc(3 * AD_PROBE_MAX_HEAD);
        assert_non_null(big);
        memcpy(big, "GET /healthz HTTP/1.1\r\nX-Pad: ", 30);
        memset(big + 30, 'a', 3 * AD_PROBE_MAX_HEAD - 30);
        r = exchange_fd(dial(port), big, 3 * AD_PROBE_MAX_HEAD);
        assert_non_null(strstr(r, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert_non_null(strstr(r, "\"code\":\"header_too_large\""));
        free(big);
        calls = 0;

        /* Two silent clients fill the cap; a third waits in the backlog
         * and is answered once the server drops them (timeout_s). */
        held[0] = dial(port);
        held[1] = dial(port);
        r = exchange(port, "GET /healthz HTTP/1.1\r\n\r\n");
        assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
        assert_int_equal(calls, 1);
        /* The silent ones were closed without an answer. */
        assert_string_equal(exchange_fd(held[0], NULL, 0), "");
        assert_string_equal(exchange_fd(held[1], NULL, 0), "");

        ad_probe_server_stop(p);
        ad_probe_server_stop(NULL);
}

static void test_server_refuses_tls_and_bad_bind(void **state)
{
        struct ad_httpd_options opts = { .bind = "localhost", .port = 0 };
        ad_probe_server *p = NULL;
        ad_error_t err = NULL;
        int calls = 0;

        (void)state;
        assert_true(ad_probe_server_start(&p, &opts, handler, &calls, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "not an IPv4 address"));
        ad_error_release(&err);
        opts.bind = "127.0.0.1";
        opts.tls_cert_file = "/x.pem";
        assert_true(ad_probe_server_start(&p, &opts, handler, &calls, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "no TLS"));
        ad_error_release(&err);
        assert_null(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_accepts),
                cmocka_unit_test(test_parse_partial),
                cmocka_unit_test(test_parse_refuses),
                cmocka_unit_test(test_parse_bounded),
                cmocka_unit_test(test_server),
                cmocka_unit_test(test_server_refuses_tls_and_bad_bind),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
