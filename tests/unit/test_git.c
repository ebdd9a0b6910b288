/* ad_git_*: URL checks, bounded clones from repositories made by the test
 * with the git command line, and ad_rmtree never following symlinks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad/git.h"

struct fixture {
        char root[64];    /* mkdtemp'd, removed by teardown */
        char repo[128];   /* a repository with two commits, a tag, a branch */
        char url[160];    /* file:// URL of repo */
        char head[64];    /* sha of main's tip */
        char first[64];   /* sha of the first commit (tagged v1) */
        char feature[64]; /* sha of branch `feature` */
};

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd);
}

static void capture(char *out, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void capture(char *out, size_t size, const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        p = popen(cmd, "r");
        assert_non_null(p);
        if (fgets(out, (int)size, p) == NULL)
                out[0] = '\0';
        out[strcspn(out, "\n")] = '\0';
        pclose(p);
}

#define GIT                                                                                        \
        "git -c user.name=t -c user.email=t@t -c init.defaultBranch=main -c commit.gpgsign=false"

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        strcpy(f->root, "/tmp/ad-test-git-XXXXXX");
        if (mkdtemp(f->root) == NULL)
                return -1;
        snprintf(f->repo, sizeof(f->repo), "%s/repo", f->root);
        snprintf(f->url, sizeof(f->url), "file://%s", f->repo);
        if (run("set -e; mkdir -p %s && cd %s && " GIT " init -q . && echo one > a.txt && " GIT
                " add a.txt && " GIT " commit -qm one && " GIT " tag v1 && " GIT
                " checkout -qb feature && echo f > f.txt && " GIT " add f.txt && " GIT
                " commit -qm feature && " GIT " checkout -q main && mkdir sub && echo two > "
                "sub/b.txt && ln -s a.txt link && " GIT " add . && " GIT " commit -qm two",
                f->repo, f->repo) != 0)
                return -1;
        capture(f->head, sizeof(f->head), "git -C %s rev-parse main", f->repo);
        capture(f->first, sizeof(f->first), "git -C %s rev-parse v1^{commit}", f->repo);
        capture(f->feature, sizeof(f->feature), "git -C %s rev-parse feature", f->repo);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        if (f) {
                ad_rmtree(f->root, NULL);
                free(f);
        }
        return 0;
}

static const struct ad_git_limits local = { .allow_local = true, .timeout_ms = 60000 };

static void dest(const struct fixture *f, char *out, size_t size, const char *name)
{
        snprintf(out, size, "%s/%s", f->root, name);
}

static void assert_kind(ad_error_t err, int kind)
{
        assert_non_null(err);
        if (err->kind != kind)
                fail_msg("expected error kind %d, got %d: %s", kind, err->kind,
                         ad_error_message(err));
}

static void test_url_check(void **state)
{
        static const char *const bad[] = {
                "ftp://x",
                "",
                "http://",
                "--upload-pack=x",
                "-x",
                "https://host",
                "https://host/",
                "git@github.com:owner/repo.git",
                "ssh://git@github.com/owner/repo.git",
                "https://exa mple.com/r",
                "https://example.com/r\n",
                "https://:80/r",
                "https://host:99999999/r",
                "https://host:/r",
                "just-a-name",
        };
        static const char *const good[] = {
                "https://github.com/owner/repo.git",
                "http://example.com/owner/repo",
                "git://127.0.0.1:9418/repo",
                "https://user:token@git.example.com:8443/group/repo.git",
                "http://[::1]:8080/repo",
        };
        (void)state;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ad_error_t err = NULL;

                if (ad_git_url_check(bad[i], true, &err) != -AD_ERR_INVALID)
                        fail_msg("`%s` was accepted", bad[i]);
                assert_kind(err, AD_ERR_INVALID);
                ad_error_release(&err);
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                ad_error_t err = NULL;

                if (ad_git_url_check(good[i], false, &err) != 0)
                        fail_msg("`%s` was rejected: %s", good[i], ad_error_message(err));
        }
        /* Local sources only when allowed. */
        assert_int_equal(ad_git_url_check("file:///srv/repo", true, NULL), 0);
        assert_int_equal(ad_git_url_check("/srv/repo", true, NULL), 0);
        assert_int_equal(ad_git_url_check("file:///srv/repo", false, NULL), -AD_ERR_INVALID);
        assert_int_equal(ad_git_url_check("/srv/repo", false, NULL), -AD_ERR_INVALID);
        assert_int_equal(ad_git_url_check("file://relative", true, NULL), -AD_ERR_INVALID);
}

static void test_clone_default_branch(void **state)
{
        struct fixture *f = *state;
        char dir[256], sha[AD_GIT_SHA_LEN + 1] = "", path[300], target[64];
        ad_error_t err = NULL;
        struct stat st;
        ssize_t n;

        dest(f, dir, sizeof(dir), "default");
        if (ad_git_clone(f->url, NULL, dir, &local, sha, &err) != 0)
                fail_msg("clone failed: %s", ad_error_message(err));
        assert_string_equal(sha, f->head);
        snprintf(path, sizeof(path), "%s/sub/b.txt", dir);
        assert_int_equal(stat(path, &st), 0);
        /* Symlinks stay symlinks. */
        snprintf(path, sizeof(path), "%s/link", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        n = readlink(path, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "a.txt");
        assert_int_equal(ad_rmtree(dir, NULL), 0);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_clone_refs(void **state)
{
        struct fixture *f = *state;
        struct {
                const char *ref;
                const char *want;
        } cases[] = {
                { "main", f->head },
                { "feature", f->feature },
                { "refs/heads/feature", f->feature },
                { "v1", f->first },
                { "refs/tags/v1", f->first },
                { f->first, f->first },
                { "", f->head },
        };
        char short_sha[16];

        snprintf(short_sha, sizeof(short_sha), "%.10s", f->feature);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) + 1; i++) {
                const char *ref = i < sizeof(cases) / sizeof(cases[0]) ? cases[i].ref : short_sha;
                const char *want =
                        i < sizeof(cases) / sizeof(cases[0]) ? cases[i].want : f->feature;
                char dir[256], sha[AD_GIT_SHA_LEN + 1] = "";
                ad_error_t err = NULL;

                snprintf(dir, sizeof(dir), "%s/ref%zu", f->root, i);
                if (ad_git_clone(f->url, ref, dir, &local, sha, &err) != 0)
                        fail_msg("clone of `%s` failed: %s", ref, ad_error_message(err));
                assert_string_equal(sha, want);
                ad_rmtree(dir, NULL);
        }
}

static void test_missing_ref(void **state)
{
        struct fixture *f = *state;
        const char *refs[] = { "no-such-branch", "0123456789abcdef0123456789abcdef01234567" };

        for (size_t i = 0; i < 2; i++) {
                char dir[256], sha[AD_GIT_SHA_LEN + 1] = "";
                ad_error_t err = NULL;

                dest(f, dir, sizeof(dir), "missing-ref");
                assert_int_equal(ad_git_clone(f->url, refs[i], dir, &local, sha, &err),
                                 -AD_ERR_NOT_FOUND);
                assert_kind(err, AD_ERR_NOT_FOUND);
                assert_non_null(strstr(ad_error_message(err), refs[i]));
                ad_error_release(&err);
                /* Nothing half-cloned is left behind. */
                assert_int_equal(access(dir, F_OK), -1);
        }
}

static void test_bad_ref_shape(void **state)
{
        struct fixture *f = *state;
        char dir[256], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        dest(f, dir, sizeof(dir), "bad-ref");
        assert_int_equal(ad_git_clone(f->url, "HEAD~1", dir, &local, sha, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(ad_git_clone(f->url, "--orphan", dir, &local, sha, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
}

static void test_missing_repository(void **state)
{
        struct fixture *f = *state;
        char dir[256], url[256], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        dest(f, dir, sizeof(dir), "missing-repo");
        snprintf(url, sizeof(url), "file://%s/nope", f->root);
        assert_int_equal(ad_git_clone(url, NULL, dir, &local, sha, &err), -AD_ERR_NOT_FOUND);
        assert_kind(err, AD_ERR_NOT_FOUND);
        /* libgit2's own text is kept. */
        assert_non_null(strstr(ad_error_message(err), "nope"));
        ad_error_release(&err);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_local_not_allowed(void **state)
{
        struct fixture *f = *state;
        struct ad_git_limits lim = { .allow_local = false };
        char dir[256], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        dest(f, dir, sizeof(dir), "not-allowed");
        assert_int_equal(ad_git_clone(f->url, NULL, dir, &lim, sha, &err), -AD_ERR_INVALID);
        assert_kind(err, AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(ad_git_clone(f->repo, NULL, dir, &lim, sha, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_destination_exists(void **state)
{
        struct fixture *f = *state;
        char sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        /* The repository itself exists: never clone over it. */
        assert_int_equal(ad_git_clone(f->url, NULL, f->repo, &local, sha, &err), -AD_ERR_CONFLICT);
        ad_error_release(&err);
}

static void test_too_large(void **state)
{
        struct fixture *f = *state;
        struct ad_git_limits lim = { .allow_local = true, .max_bytes = 256 * 1024 };
        char big[160], url[200], dir[256], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        snprintf(big, sizeof(big), "%s/big", f->root);
        snprintf(url, sizeof(url), "file://%s", big);
        /* Random data does not compress: the pack is about 2 MiB. */
        assert_int_equal(run("set -e; mkdir %s && cd %s && " GIT " init -q . && head -c 2097152 "
                             "/dev/urandom > blob && " GIT " add blob && " GIT " commit -qm big",
                             big, big),
                         0);
        dest(f, dir, sizeof(dir), "too-large");
        assert_int_equal(ad_git_clone(url, NULL, dir, &lim, sha, &err), -AD_ERR_TOO_LARGE);
        assert_kind(err, AD_ERR_TOO_LARGE);
        ad_error_release(&err);
        assert_int_equal(access(dir, F_OK), -1);

        /* Highly compressible content passes the transfer bound but not
         * the checkout bound. */
        assert_int_equal(run("set -e; cd %s && head -c 4194304 /dev/zero > zeros && " GIT
                             " add zeros && " GIT " rm -q blob && " GIT " commit -qm zeros && " GIT
                             " gc -q --prune=now",
                             big),
                         0);
        lim.max_bytes = 3 * 1024 * 1024;
        assert_int_equal(ad_git_clone(url, NULL, dir, &lim, sha, &err), -AD_ERR_TOO_LARGE);
        ad_error_release(&err);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_unreachable(void **state)
{
        struct fixture *f = *state;
        struct ad_git_limits lim = { .timeout_ms = 10000, .allowlist = "127.0.0.1:1" };
        char dir[256], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;

        dest(f, dir, sizeof(dir), "unreachable");
        /* Port 1 on loopback (allowlisted): refused at once. */
        assert_int_equal(ad_git_clone("git://127.0.0.1:1/repo", NULL, dir, &lim, sha, &err),
                         -AD_ERR_UNAVAILABLE);
        assert_true(ad_error_is_retryable(err));
        /* Said without the socket's words: they would map the network. */
        assert_null(strcasestr(ad_error_message(err), "refused"));
        ad_error_release(&err);
}

static void test_timeout(void **state)
{
        struct fixture *f = *state;
        struct ad_git_limits lim = { .timeout_ms = 1500 };
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        char dir[256], url[64], allow[32], sha[AD_GIT_SHA_LEN + 1];
        ad_error_t err = NULL;
        int s;

        /* A server that accepts connections (the backlog does) and never
         * says a word: libgit2 alone would wait forever. */
        s = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(s >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(s, 8), 0);
        assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/repo", ntohs(sa.sin_port));
        snprintf(allow, sizeof(allow), "127.0.0.1:%d", ntohs(sa.sin_port));
        lim.allowlist = allow;
        dest(f, dir, sizeof(dir), "timeout");
        assert_int_equal(ad_git_clone(url, NULL, dir, &lim, sha, &err), -AD_ERR_TIMEOUT);
        assert_kind(err, AD_ERR_TIMEOUT);
        ad_error_release(&err);
        close(s);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_rmtree_no_follow(void **state)
{
        struct fixture *f = *state;
        char tree[200], outside[200], path[300];

        snprintf(tree, sizeof(tree), "%s/tree", f->root);
        snprintf(outside, sizeof(outside), "%s/outside", f->root);
        assert_int_equal(run("set -e; mkdir -p %s/d/e %s && echo keep > %s/precious && "
                             "ln -s %s %s/d/link && ln -s %s/precious %s/d/e/file-link && "
                             "echo x > %s/d/e/x",
                             tree, outside, outside, outside, tree, outside, tree, tree),
                         0);
        assert_int_equal(ad_rmtree(tree, NULL), 0);
        assert_int_equal(access(tree, F_OK), -1);
        snprintf(path, sizeof(path), "%s/precious", outside);
        assert_int_equal(access(path, F_OK), 0);
        /* Already gone: fine. */
        assert_int_equal(ad_rmtree(tree, NULL), 0);
        assert_int_equal(ad_rmtree("/", NULL), -AD_ERR_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_check),
                cmocka_unit_test_setup_teardown(test_clone_default_branch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clone_refs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_ref, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_ref_shape, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_repository, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_not_allowed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_destination_exists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rmtree_no_follow, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
