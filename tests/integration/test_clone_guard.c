/* Clones go only where they should: against a real `git daemon` and small
 * HTTP servers on loopback, a clone of a loopback address in any spelling,
 * or of an allowlisted server that redirects to a loopback port that is
 * not allowlisted, is refused before any connection to that port, with a
 * message that tells no port's state.
 *
 * Each "canary" is a listening socket nobody accepts on: a clone that
 * connected would leave a connection in its backlog (the kernel completes
 * the handshake), so "nothing to accept" proves the clone never got there;
 * without the guard each of these clones would connect. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/gitserver.h"
#include "ad/git.h"

struct canary {
        int fd, port;
};

static void canary_open(struct canary *c, int family)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;

        c->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                len = sizeof(*a);
        }
        assert_int_equal(bind(c->fd, (struct sockaddr *)&ss, len), 0);
        assert_int_equal(listen(c->fd, 16), 0);
        assert_int_equal(getsockname(c->fd, (struct sockaddr *)&ss, &len), 0);
        c->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Connections that reached the canary since the last call. */
static int canary_hits(struct canary *c)
{
        int n = 0, fd;

        while ((fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                close(fd);
                n++;
        }
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return n;
}

/* An HTTP server (a forked process) that answers every request with a 302
 * to `location`, and counts requests in a file. */
struct redirector {
        pid_t pid;
        int port;
        char count_file[64];
};

static void redirector_start(struct redirector *r, const char *location)
{
        struct canary l;
        char resp[1024];

        canary_open(&l, AF_INET);
        r->port = l.port;
        strcpy(r->count_file, "/tmp/ad-test-redirect-XXXXXX");
        {
                int fd = mkstemp(r->count_file);
                assert_true(fd >= 0);
                close(fd);
        }
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 location);
        r->pid = fork();
        assert_true(r->pid >= 0);
        if (r->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion skips stop */
                int flags = fcntl(l.fd, F_GETFL);
                fcntl(l.fd, F_SETFL, flags & ~O_NONBLOCK);
                for (;;) {
                        char buf[4096];
                        size_t got = 0;
                        int c = accept(l.fd, NULL, NULL);
                        if (c < 0)
                                continue;
                        while (got < sizeof(buf) - 1) {
                                ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
                                if (n <= 0)
                                        break;
                                got += (size_t)n;
                                buf[got] = '\0';
                                if (strstr(buf, "\r\n\r\n"))
                                        break;
                        }
                        if (write(c, resp, strlen(resp)) < 0) {
                                /* the client went away: still counted */
                        }
                        close(c);
                        FILE *f = fopen(r->count_file, "a");
                        if (f) {
                                fputs("request\n", f);
                                fclose(f);
                        }
                }
        }
        close(l.fd);
}

static int redirector_requests(const struct redirector *r)
{
        FILE *f = fopen(r->count_file, "r");
        int n = 0, ch;

        assert_non_null(f);
        while ((ch = fgetc(f)) != EOF)
                n += ch == '\n';
        fclose(f);
        return n;
}

static void redirector_stop(struct redirector *r)
{
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        unlink(r->count_file);
}

struct fixture {
        struct test_gitserver git;
        char dir[300];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (f == NULL || test_gitserver_start(&f->git) < 0 ||
            test_gitserver_add(&f->git, "x.git", AD_SOURCE_DIR "/examples/static-site") != 0)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/clone", f->git.root);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        test_gitserver_stop(&f->git);
        free(f);
        return 0;
}

/* Clones url with the allowlist; returns the error kind (0: success) and
 * checks the message never carries the socket layer's words. */
static int clone_kind(struct fixture *f, const char *url, const char *allowlist, char *msg,
                      size_t msg_size)
{
        struct ad_git_limits lim = { .timeout_ms = 30000, .allowlist = allowlist };
        char sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;
        int ret;

        ad_rmtree(f->dir, NULL);
        ret = ad_git_clone(url, NULL, f->dir, &lim, sha, &err);
        if (msg)
                snprintf(msg, msg_size, "%s", err ? ad_error_message(err) : "");
        if (err) {
                const char *m = ad_error_message(err);
                if (strcasestr(m, "refused") || strcasestr(m, "errno") ||
                    strcasestr(m, "failed to connect"))
                        fail_msg("`%s`: the message tells the network's state: %s", url, m);
        }
        ad_error_release(&err);
        return ret < 0 ? -ret : 0;
}

static void test_allowlisted_server_clones(void **state)
{
        struct fixture *f = *state;
        char url[128], allow[64], msg[1024];

        snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git", f->git.port);
        snprintf(allow, sizeof(allow), "127.0.0.1:%d", f->git.port);
        if (clone_kind(f, url, allow, msg, sizeof(msg)) != 0)
                fail_msg("allowlisted clone failed: %s", msg);
        /* The same server off the list: refused. */
        assert_int_equal(clone_kind(f, url, "", msg, sizeof(msg)), AD_ERR_INVALID);
        assert_non_null(strstr(msg, "loopback"));
        /* An allowlist for another port does not open this one. */
        snprintf(allow, sizeof(allow), "127.0.0.1:%d", f->git.port + 1);
        assert_int_equal(clone_kind(f, url, allow, msg, sizeof(msg)), AD_ERR_INVALID);
}

static void test_loopback_spellings_refused(void **state)
{
        struct fixture *f = *state;
        static const char *const v4[] = {
                "http://127.0.0.1:%d/x.git",
                "http://2130706433:%d/x.git",
                "http://0x7f000001:%d/x.git",
                "http://127.1:%d/x.git",
                "git://0177.0.0.1:%d/x.git",
                "https://017700000001:%d/x.git",
                "http://[::ffff:127.0.0.1]:%d/x.git",
                "http://localhost:%d/x.git",
                "https://github.com@127.0.0.1:%d/x.git",
        };
        struct canary c4, c6;
        char url[160], msg[1024];

        canary_open(&c4, AF_INET);
        canary_open(&c6, AF_INET6);
        for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
                snprintf(url, sizeof(url), v4[i], c4.port);
                if (clone_kind(f, url, "", msg, sizeof(msg)) != AD_ERR_INVALID)
                        fail_msg("`%s` was not refused: %s", url, msg);
                assert_non_null(strstr(msg, "only repositories on public hosts"));
        }
        snprintf(url, sizeof(url), "http://[::1]:%d/x.git", c6.port);
        assert_int_equal(clone_kind(f, url, "", msg, sizeof(msg)), AD_ERR_INVALID);
        assert_int_equal(canary_hits(&c4), 0);
        assert_int_equal(canary_hits(&c6), 0);
        close(c4.fd);
        close(c6.fd);
}

static void test_redirect_to_loopback_refused(void **state)
{
        struct fixture *f = *state;
        static const char *const targets[] = {
                "http://127.0.0.1:%d/x.git/info/refs?service=git-upload-pack",
                "http://2130706433:%d/x.git/info/refs?service=git-upload-pack",
                "http://[::ffff:127.0.0.1]:%d/x.git/info/refs?service=git-upload-pack",
        };
        struct canary c;
        char location[256], url[128], allow[64], msg[1024];

        canary_open(&c, AF_INET);
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
                struct redirector r;

                snprintf(location, sizeof(location), targets[i], c.port);
                redirector_start(&r, location);
                /* The public-looking server is the allowlisted one; where
                 * it sends the clone is not. */
                snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.git", r.port);
                snprintf(allow, sizeof(allow), "127.0.0.1:%d", r.port);
                assert_int_equal(clone_kind(f, url, allow, msg, sizeof(msg)), AD_ERR_INVALID);
                assert_non_null(strstr(msg, "loopback"));
                assert_int_equal(redirector_requests(&r), 1); /* it was asked, and redirected */
                assert_int_equal(canary_hits(&c), 0);
                redirector_stop(&r);
        }
        /* The control: a redirect to an allowlisted port is followed (the
         * canary sees the connection), so the refusals above are the
         * guard's and not a redirect libgit2 ignored. */
        {
                struct redirector r;

                snprintf(location, sizeof(location), targets[0], c.port);
                redirector_start(&r, location);
                snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.git", r.port);
                snprintf(allow, sizeof(allow), "127.0.0.1:%d,127.0.0.1:%d", r.port, c.port);
                /* The canary never answers: the clone times out. */
                struct ad_git_limits lim = { .timeout_ms = 2000, .allowlist = allow };
                char sha[AD_GIT_SHA_LEN + 1];
                ad_error_t err = NULL;

                ad_rmtree(f->dir, NULL);
                assert_true(ad_git_clone(url, NULL, f->dir, &lim, sha, &err) < 0);
                ad_error_release(&err);
                assert_int_equal(canary_hits(&c), 1);
                redirector_stop(&r);
        }
        close(c.fd);
}

static void test_unreachable_message(void **state)
{
        struct fixture *f = *state;
        struct canary c;
        char url[128], allow[64], msg[1024];
        int port;

        /* A closed allowlisted port: retryable, and the words do not say
         * "connection refused" (clone_kind checks). */
        canary_open(&c, AF_INET);
        port = c.port;
        close(c.fd);
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git", port);
        snprintf(allow, sizeof(allow), "127.0.0.1:%d", port);
        assert_int_equal(clone_kind(f, url, allow, msg, sizeof(msg)), AD_ERR_UNAVAILABLE);
        assert_non_null(strstr(msg, "cannot connect"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_allowlisted_server_clones, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loopback_spellings_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redirect_to_loopback_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreachable_message, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
