/* Process types in the saga (services/coordinator/saga_process.c), with
 * no database: what is stored of a build's and a release's process
 * types, and the scale a release made again from a build runs them at
 * (the request's, else the app's, else the build's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "saga_process.h"

static void test_stored(void **state)
{
        Appdeployer__V1__Process a = APPDEPLOYER__V1__PROCESS__INIT;
        Appdeployer__V1__Process b = APPDEPLOYER__V1__PROCESS__INIT;
        Appdeployer__V1__Process bad = APPDEPLOYER__V1__PROCESS__INIT;
        Appdeployer__V1__Process *v[] = { &a, &b, &bad };
        char *s;

        (void)state;
        a.name = (char *)"worker";
        a.command = (char *)"python3 w.py";
        a.replicas = 2;
        b.name = (char *)"clock";
        b.command = (char *)"./tick";
        bad.name = (char *)"Not_Valid";
        s = saga_processes_json(v, 3, true);
        assert_string_equal(s, "[{\"command\":\"python3 w.py\",\"name\":\"worker\",\"replicas\":2},"
                               "{\"command\":\"./tick\",\"name\":\"clock\",\"replicas\":0}]");
        free(s);
        s = saga_processes_json(v, 3, false);
        assert_string_equal(s, "{\"clock\":0,\"worker\":2}");
        free(s);
        s = saga_scale_json(v, 3);
        assert_string_equal(s, "{\"clock\":0,\"worker\":2}");
        free(s);
}

static void test_reuse_scale(void **state)
{
        const char *build = "[{\"name\":\"worker\",\"command\":\"w\",\"replicas\":1},"
                            "{\"name\":\"clock\",\"command\":\"c\",\"replicas\":1},"
                            "{\"name\":\"mailer\",\"command\":\"m\",\"replicas\":3}]";
        Appdeployer__V1__Process req = APPDEPLOYER__V1__PROCESS__INIT;
        Appdeployer__V1__Process *scale[] = { &req };
        struct saga_procs sp;

        (void)state;
        req.name = (char *)"worker";
        req.replicas = 4;
        /* worker: the request; clock: the app's (0 stops it); mailer: the build's. */
        saga_procs_load(&sp, build, "{\"clock\":0,\"worker\":2}", scale, 1);
        assert_int_equal(sp.n, 3);
        assert_string_equal(sp.p[0]->name, "worker");
        assert_string_equal(sp.p[0]->command, "w");
        assert_int_equal(sp.p[0]->replicas, 4);
        assert_string_equal(sp.p[1]->name, "clock");
        assert_int_equal(sp.p[1]->replicas, 0);
        assert_string_equal(sp.p[2]->name, "mailer");
        assert_int_equal(sp.p[2]->replicas, 3);
        saga_procs_clear(&sp);
        /* No request (a config change, a rollback): the app's scale. */
        saga_procs_load(&sp, build, "{\"worker\":2}", NULL, 0);
        assert_int_equal(sp.p[0]->replicas, 2);
        assert_int_equal(sp.p[1]->replicas, 1);
        saga_procs_clear(&sp);
        /* A build of no process types, or unreadable columns: none. */
        saga_procs_load(&sp, NULL, NULL, NULL, 0);
        assert_int_equal(sp.n, 0);
        saga_procs_clear(&sp);
        saga_procs_load(&sp, "not json", "{", NULL, 0);
        assert_int_equal(sp.n, 0);
        saga_procs_clear(&sp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stored),
                cmocka_unit_test(test_reuse_scale),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
