/* Credentials in repository URLs (ad/secret.h, common/src/secret_url.c,
 * ad_git_clone): a password sealed in place opens only for its app, the
 * sealed URL keeps the user name and nothing of the password, and a clone
 * of the opened URL sends the credential to the real server (a forked
 * HTTP server on loopback that asks for Basic authentication and records
 * what it gets) while its error message never holds the password. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/gitserver.h"
#include "ad/git.h"
#include "ad/secret.h"

#define TOKEN "tok3n-S3CRET_value"
/* base64("alice:tok3n-S3CRET_value") */
#define BASIC "Basic YWxpY2U6dG9rM24tUzNDUkVUX3ZhbHVl"
#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct server {
        pid_t pid;
        int port;
        char seen[64]; /* a file: the Authorization headers received */
};

/* Answers 401 (Basic) without an Authorization header, 404 with one, and
 * appends each Authorization header to s->seen. */
static void server_start(struct server *s)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t len = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;

        assert_true(l >= 0);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(l, 16), 0);
        assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
        s->port = ntohs(a.sin_port);
        strcpy(s->seen, "/tmp/ad-test-cred-XXXXXX");
        fd = mkstemp(s->seen);
        assert_true(fd >= 0);
        close(fd);
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) {
                        char buf[8192], *auth;
                        size_t got = 0;
                        int c = accept(l, NULL, NULL);
                        const char *resp;

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
                        buf[got] = '\0';
                        auth = strcasestr(buf, "\r\nAuthorization: ");
                        if (auth) {
                                FILE *f = fopen(s->seen, "a");

                                auth += 17;
                                if (f) {
                                        fprintf(f, "%.*s\n", (int)strcspn(auth, "\r\n"), auth);
                                        fclose(f);
                                }
                                resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
                        } else {
                                resp = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
                                       "realm=\"git\"\r\nContent-Length: 0\r\nConnection: "
                                       "close\r\n\r\n";
                        }
                        if (write(c, resp, strlen(resp)) < 0) {
                                /* the client went away */
                        }
                        close(c);
                }
        }
        close(l);
}

static void server_stop(struct server *s)
{
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        unlink(s->seen);
}

static void ring_of(struct ad_secret_keyring *ring)
{
        assert_int_equal(ad_secret_keyring_parse(ring, KEY_HEX, NULL, NULL), 0);
}

static void test_seal_and_open(void **state)
{
        struct ad_secret_keyring ring;
        char *sealed = NULL, *opened = NULL, *again = NULL;
        ad_error_t err = NULL;
        const char *url = "https://alice:" TOKEN "@git.example.com/acme/private.git";

        (void)state;
        ring_of(&ring);
        assert_true(ad_secret_url_has_password(url));
        assert_false(ad_secret_url_is_sealed(url));
        assert_int_equal(ad_secret_url_seal(&sealed, &ring.keys[0], "shop", url, NULL), 0);
        assert_null(strstr(sealed, TOKEN));
        assert_non_null(strstr(sealed, "https://alice:sealed%3Av2%3A"));
        assert_non_null(strstr(sealed, "@git.example.com/acme/private.git"));
        {
                /* Nothing in the sealed password ends the userinfo early. */
                const char *pw = strstr(sealed, "alice:") + 6;
                const char *at = strstr(sealed, "@git.example.com");

                assert_true(at > pw);
                assert_null(memchr(pw, '/', (size_t)(at - pw)));
                assert_null(memchr(pw, '@', (size_t)(at - pw)));
        }
        assert_true(ad_secret_url_is_sealed(sealed));
        /* Sealing a sealed URL changes nothing. */
        assert_int_equal(ad_secret_url_seal(&again, &ring.keys[0], "shop", sealed, NULL), 0);
        assert_string_equal(again, sealed);
        free(again);
        assert_int_equal(ad_secret_url_open(&opened, &ring, "shop", sealed, NULL), 0);
        assert_string_equal(opened, url);
        free(opened);
        /* Bound to its app; no key, no opening; neither message quotes it. */
        assert_true(ad_secret_url_open(&opened, &ring, "other", sealed, &err) < 0);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        assert_null(strstr(ad_error_message(err), TOKEN));
        assert_null(strstr(ad_error_message(err), "sealed%3A"));
        ad_error_release(&err);
        assert_true(ad_secret_url_open(&opened, NULL, "shop", sealed, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "secrets.key"));
        ad_error_release(&err);
        free(sealed);
        /* URLs without a password pass as they are. */
        for (const char *plain = "https://git.example.com/acme/x.git"; plain; plain = NULL) {
                assert_false(ad_secret_url_has_password(plain));
                assert_int_equal(ad_secret_url_seal(&sealed, &ring.keys[0], "shop", plain, NULL),
                                 0);
                assert_string_equal(sealed, plain);
                free(sealed);
                assert_int_equal(ad_secret_url_open(&opened, NULL, "shop", plain, NULL), 0);
                assert_string_equal(opened, plain);
                free(opened);
        }
        assert_false(ad_secret_url_has_password("https://alice@git.example.com/x.git"));
        assert_false(ad_secret_url_has_password("https://git.example.com/a:b@c/x.git"));
        assert_true(ad_secret_url_has_password("https://a:p@ss@git.example.com/x.git"));
}

static void test_clone_sends_and_hides(void **state)
{
        struct ad_secret_keyring ring;
        struct server s;
        char url[256], allow[64], dir[128], sha[AD_GIT_SHA_LEN + 1], seen[512] = "";
        char *sealed = NULL, *opened = NULL;
        struct ad_git_limits lim = { .timeout_ms = 20000, .allowlist = allow };
        ad_error_t err = NULL;
        FILE *f;

        (void)state;
        ring_of(&ring);
        server_start(&s);
        snprintf(url, sizeof(url), "http://alice:" TOKEN "@127.0.0.1:%d/acme/private.git", s.port);
        snprintf(allow, sizeof(allow), "127.0.0.1:%d", s.port);
        snprintf(dir, sizeof(dir), "/tmp/ad-test-cred-clone-%d", (int)getpid());
        assert_int_equal(ad_secret_url_seal(&sealed, &ring.keys[0], "shop", url, NULL), 0);
        assert_int_equal(ad_secret_url_open(&opened, &ring, "shop", sealed, NULL), 0);
        assert_true(ad_git_clone(opened, NULL, dir, &lim, sha, &err) < 0);
        /* The server got the credential, the message does not show it. */
        f = fopen(s.seen, "r");
        assert_non_null(f);
        if (fgets(seen, sizeof(seen), f) == NULL)
                seen[0] = '\0';
        fclose(f);
        seen[strcspn(seen, "\n")] = '\0';
        assert_string_equal(seen, BASIC);
        if (strstr(ad_error_message(err), TOKEN))
                fail_msg("the clone's error shows the password: %s", ad_error_message(err));
        assert_non_null(strstr(ad_error_message(err), "alice:***@127.0.0.1"));
        ad_error_release(&err);
        free(sealed);
        free(opened);
        server_stop(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seal_and_open),
                cmocka_unit_test(test_clone_sends_and_hides),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
