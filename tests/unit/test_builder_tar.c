/* The builder's pure parts: the build-context tar writer (checked with the
 * system's tar), its stream (the writer on a thread, read as the engine's
 * upload reads it), the build log's tail. */
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
#include "builder_stream.h"
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

/* Reads the stream to its end (0) or its failure (negative, returned)
 * into root/streamed.tar. */
static ssize_t drain(struct builder_stream *s, size_t *reads, ad_error_t *err)
{
        char path[128], buf[16384];
        ssize_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/streamed.tar", root);
        f = fopen(path, "w");
        assert_non_null(f);
        *reads = 0;
        while ((n = builder_stream_read(buf, sizeof(buf), s, err)) > 0) {
                assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
                ++*reads;
        }
        fclose(f);
        return n;
}

/* What the upload reads is the archive builder_tar_dir writes, and it
 * ends with 0 (the end of the body). */
static void test_stream_whole(void **state)
{
        struct builder_tar_stats st;
        struct builder_stream s;
        ad_error_t err = NULL;
        char src[128];
        size_t reads;

        (void)state;
        assert_int_equal(run("set -e; cd %s; mkdir -p src/sub; echo hello > src/a.txt; head -c "
                             "200000 /dev/urandom > src/sub/blob",
                             root),
                         0);
        assert_int_equal(make_tar(64 * 1024 * 1024, &st, &err), 0);
        snprintf(src, sizeof(src), "%s/src", root);
        assert_int_equal(builder_stream_start(&s, src, 64 * 1024 * 1024, &err), 0);
        assert_int_equal(drain(&s, &reads, &err), 0);
        builder_stream_finish(&s);
        assert_int_equal(s.ret, 0);
        assert_false(s.aborted);
        assert_int_equal(s.stats.bytes, st.bytes);
        assert_true(reads > 1);
        assert_int_equal(run("cmp %s/out.tar %s/streamed.tar", root, root), 0);
        builder_stream_clear(&s);
}

/* Past the bound after bytes were already read: the read fails with the
 * writer's error (the upload is aborted), it never returns the 0 that
 * would end the body as if the archive were whole. */
static void test_stream_aborts(void **state)
{
        struct builder_stream s;
        ad_error_t err = NULL;
        char src[128];
        size_t reads;

        (void)state;
        assert_int_equal(
                run("set -e; mkdir -p %s/src; head -c 1500000 /dev/zero > %s/src/big", root, root),
                0);
        snprintf(src, sizeof(src), "%s/src", root);
        assert_int_equal(builder_stream_start(&s, src, 1024 * 1024, &err), 0);
        assert_int_equal(drain(&s, &reads, &err), -AD_ERR_TOO_LARGE);
        assert_true(reads > 0); /* some of it went out first */
        assert_non_null(err);
        assert_string_equal(ad_error_message(err), "the build context is larger than 1 MiB");
        ad_error_release(&err);
        builder_stream_finish(&s);
        assert_true(s.aborted);
        assert_int_equal(s.ret, -AD_ERR_TOO_LARGE);
        /* A later read fails too (curl does not ask, but nothing ends). */
        {
                char b[16];
                assert_true(builder_stream_read(b, sizeof(b), &s, &err) < 0);
                ad_error_release(&err);
        }
        builder_stream_clear(&s);
}

/* The upload stops reading (the engine failed, SIGTERM): finishing the
 * stream unblocks the writer, which fails with EPIPE instead of the
 * process dying of SIGPIPE, and that is not an abort for the context's
 * sake. */
static void test_stream_reader_leaves(void **state)
{
        struct builder_stream s;
        ad_error_t err = NULL;
        char src[128], buf[4096];

        (void)state;
        assert_int_equal(
                run("set -e; mkdir -p %s/src; head -c 8000000 /dev/zero > %s/src/big", root, root),
                0);
        snprintf(src, sizeof(src), "%s/src", root);
        assert_int_equal(builder_stream_start(&s, src, 64 * 1024 * 1024, &err), 0);
        assert_true(builder_stream_read(buf, sizeof(buf), &s, &err) > 0);
        builder_stream_finish(&s);
        assert_false(s.aborted);
        assert_true(s.ret < 0);
        assert_non_null(strstr(ad_error_message(s.err), "cannot write the build context"));
        builder_stream_clear(&s);
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
                cmocka_unit_test_setup_teardown(test_stream_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream_aborts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream_reader_leaves, setup, teardown),
                cmocka_unit_test(test_log_tail),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
