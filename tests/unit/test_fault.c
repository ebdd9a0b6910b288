/* The fault points' switch (ad/fault.h): which hits act, what a failing
 * point returns, and that crash is an _exit(137). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad/fault.h"

static void arm(const char *spec)
{
        if (spec)
                setenv("AD_FAULT", spec, 1);
        else
                unsetenv("AD_FAULT");
        ad_fault_reset();
}

/* Which of the first n hits of (name, where) fail, as a string of 0/1. */
static void hits(const char *name, const char *where, int n, char *out)
{
        for (int i = 0; i < n; i++) {
                ad_error_t err = NULL;
                int ret = AD_FAULT_ERR(name, where, &err);

                out[i] = ret < 0 ? '1' : '0';
                if (ret < 0) {
                        assert_int_equal(ret, -AD_ERR_UNAVAILABLE);
                        assert_non_null(err);
                        assert_int_equal(err->kind, AD_ERR_UNAVAILABLE);
                        assert_non_null(strstr(ad_error_message(err), name));
                } else {
                        assert_null(err);
                }
                ad_error_release(&err);
        }
        out[n] = '\0';
}

static void test_unarmed_does_nothing(void **state)
{
        char got[8];

        (void)state;
        arm(NULL);
        hits("engine.call", "GET", 5, got);
        assert_string_equal(got, "00000");
        AD_FAULT("step.after_effect", "deploy"); /* returns */
}

static void test_fail_the_nth(void **state)
{
        char got[8];

        (void)state;
        arm("engine.call:fail:3");
        hits("engine.call", "GET", 6, got);
        assert_string_equal(got, "001000");
        hits("other.point", NULL, 3, got);
        assert_string_equal(got, "000");
}

static void test_fail_count_and_where(void **state)
{
        char got[8];

        (void)state;
        arm("engine.call@POST:fail:2:3,step.after_effect:fail");
        hits("engine.call", "GET", 4, got); /* another qualifier: not counted */
        assert_string_equal(got, "0000");
        hits("engine.call", "POST", 6, got);
        assert_string_equal(got, "011100");
        hits("step.after_effect", "provision", 3, got);
        assert_string_equal(got, "100");
}

static int child_status(const char *spec, const char *where)
{
        int status = 0;
        pid_t pid = fork();

        if (pid == 0) {
                arm(spec);
                AD_FAULT("coordinator.after_commit", where);
                _exit(0);
        }
        assert_true(pid > 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_crash_exits_137(void **state)
{
        (void)state;
        assert_int_equal(child_status("coordinator.after_commit:crash", "deploy.built"), 137);
        assert_int_equal(
                child_status("coordinator.after_commit@deploy.exposed:crash", "deploy.built"), 0);
        /* A malformed entry stops the process rather than test nothing. */
        assert_int_equal(child_status("coordinator.after_commit:explode", "deploy.built"), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unarmed_does_nothing),
                cmocka_unit_test(test_fail_the_nth),
                cmocka_unit_test(test_fail_count_and_where),
                cmocka_unit_test(test_crash_exits_137),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
