/* The builder's pure parts: the build-context tar writer (checked with the
 * system's tar), the build log's tail. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad/git.h"
#include "builder_log.h"
#include "builder_tar.h"

static char root[64];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd);
}

static int setup(void **state)
{
        (void)state;
        strcpy(root, "/tmp/ad-test-tar-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        ad_rmtree(root, NULL);
        return 0;
}

/* Writes the archive of root/src to root/out.tar. */
static int make_tar(uint64_t max, struct builder_tar_stats *st, ad_error_t *err)
{
        char src[128], out[128];
        int fd, ret;

        snprintf(src, sizeof(src), "%s/src", root);
        snprintf(out, sizeof(out), "%s/out.tar", root);
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        ret = builder_tar_dir(fd, src, max, st, err);
        close(fd);
        return ret;
}

static void test_tar_roundtrip(void **state)
{
        const char *long_dir = "a-directory-name-that-is-long/another-directory-with-a-long-name/"
                               "and-a-third-one-to-pass-one-hundred-bytes";
        struct builder_tar_stats st;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(
                run("set -e; cd %s; mkdir -p src/sub/deeper src/.git/objects src/%s outside; "
                    "echo hello > src/a.txt; printf '#!/bin/sh\\n' > src/run.sh; chmod 755 "
                    "src/run.sh; echo deep > src/sub/deeper/d.txt; echo x > src/.git/objects/x; "
                    "echo long > src/%s/file-with-a-long-name-too.txt; echo secret > "
                    "outside/secret; ln -s a.txt src/link-in; ln -s ../a.txt src/sub/link-up; "
                    "ln -s ../../outside/secret src/sub/link-out; ln -s /etc/passwd src/abs; "
                    "mkfifo src/fifo; head -c 70000 /dev/urandom > src/sub/blob; "
                    /* Past ustar's 100-byte name and link fields: pax records. */
                    "echo pax > src/sub/$(printf 'n%%.0s' $(seq 120)); "
                    "ln -s $(printf 'deeper/../%%.0s' $(seq 11))deeper/d.txt src/sub/longlink",
                    root, long_dir, long_dir),
                0);
        if (make_tar(64 * 1024 * 1024, &st, &err) != 0)
                fail_msg("%s", ad_error_message(err));
        assert_int_equal(st.symlinks, 3);
        assert_int_equal(st.skipped, 3); /* link-out, abs, fifo */
        assert_int_equal(st.bytes % 512, 0);

        /* GNU tar reads it back (pax long names included), nothing lost. */
        assert_int_equal(run("set -e; cd %s; mkdir x; tar -xf out.tar -C x; "
                             "cmp src/a.txt x/a.txt; cmp src/sub/blob x/sub/blob; "
                             "cmp src/sub/deeper/d.txt x/sub/deeper/d.txt; "
                             "cmp src/%s/file-with-a-long-name-too.txt "
                             "x/%s/file-with-a-long-name-too.txt; "
                             "test -x x/run.sh; test \"$(readlink x/link-in)\" = a.txt; "
                             "test \"$(readlink x/sub/link-up)\" = ../a.txt; "
                             "test ! -e x/.git; test ! -e x/sub/link-out; test ! -e x/abs; "
                             "test ! -e x/fifo; cmp src/sub/$(printf 'n%%.0s' $(seq 120)) "
                             "x/sub/$(printf 'n%%.0s' $(seq 120)); cmp x/sub/longlink "
                             "src/sub/deeper/d.txt",
                             root, long_dir, long_dir),
                         0);
        /* Fixed owner and mtime: the same tree gives the same bytes. */
        assert_int_equal(run("set -e; cd %s; tar -tvf out.tar | grep -q ' 0/0 .* 2000-01-01'; "
                             "cp out.tar first.tar",
                             root),
                         0);
        assert_int_equal(run("touch %s/src/a.txt", root), 0);
        assert_int_equal(make_tar(64 * 1024 * 1024, &st, &err), 0);
        assert_int_equal(run("cmp -s %s/out.tar %s/first.tar", root, root), 0);
}

static void test_tar_bounded(void **state)
{
        struct builder_tar_stats st;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(
                run("set -e; mkdir -p %s/src; head -c 300000 /dev/zero > %s/src/big", root, root),
                0);
        assert_int_equal(make_tar(100 * 1024, &st, &err), -AD_ERR_TOO_LARGE);
        assert_non_null(strstr(ad_error_message(err), "larger than"));
        ad_error_release(&err);
}

static void test_log_tail(void **state)
{
        struct builder_log log;
        char *tail;

        (void)state;
        /* No bus, no database: only the tail is kept. */
        builder_log_open(&log, NULL, NULL, "00000000-0000-4000-8000-000000000000", 5);
        for (int i = 0; i < 30; i++)
                builder_log_linef(&log, "line %d", i);
        builder_log_line(&log, "bad \xff utf-8 \x01 here");
        tail = builder_log_tail(&log, 3);
        assert_string_equal(tail, "line 28\nline 29\nbad ? utf-8   here");
        free(tail);
        builder_log_close(&log);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tar_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tar_bounded, setup, teardown),
                cmocka_unit_test(test_log_tail),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
