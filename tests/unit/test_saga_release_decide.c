/* What deploy.rollback, deploy.release and deploy.app.destroy do
 * (services/coordinator/saga_release_decide.c), with no database: which
 * release's image runs again, why a request is refused, the config and
 * scale the new deployment runs and the app keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "saga_release_decide.h"

static const struct saga_reuse v1 = {
        .found = true,
        .deployment_id = "11111111-1111-1111-1111-111111111111",
        .env = "{\"A\":\"one\"}",
        .config_version = "1",
        .version = "1",
        .containers = 2,
};
static const struct saga_reuse v2 = {
        .found = true,
        .deployment_id = "22222222-2222-2222-2222-222222222222",
        .env = "{\"A\":\"two\",\"B\":\"b\"}",
        .config_version = "3",
        .version = "2",
        .containers = 1,
};

/* A release request against app "web" at config version 3, v2 running. */
static struct saga_release_input app_at_v2(void)
{
        return (struct saga_release_input){
                .app_found = true,
                .app_env = "{\"A\":\"two\",\"B\":\"b\"}",
                .app_config_version = "3",
                .app_web_replicas = 0,
                .current = v2,
        };
}

/* The app's releases, newest first (as the handler loads them): v2, the
 * target, made at 300; v1 made at 100. */
static void test_rollback_previous(void **state)
{
        const struct saga_reuse rel[] = { v2, v1 };
        const int64_t created[] = { 300, 100 };
        struct saga_rollback_input in = { .target = v2.deployment_id,
                                          .target_found = true,
                                          .target_created_us = 300,
                                          .n_releases = 2,
                                          .releases = rel,
                                          .created_us = created };
        struct saga_request_decision d;

        (void)state;
        assert_int_equal(saga_decide_rollback(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
        /* The release before the target runs again, as it ran. */
        assert_ptr_equal(d.from, &rel[1]);
        assert_string_equal(d.env, v1.env);
        assert_int_equal(d.replicas, 2);
        assert_string_equal(d.kind, "rollback");
        assert_string_equal(d.rollback_of, v2.deployment_id);
        assert_string_equal(d.description, "rollback to v1");
        saga_request_decision_clear(&d);
        assert_null(d.env);
}

static void test_rollback_skips_newer(void **state)
{
        /* Rolling back a deployment that is not the newest: releases made
         * after it (and its own) are skipped. */
        const struct saga_reuse v3 = { .found = true,
                                       .deployment_id = "33333333-3333-3333-3333-333333333333",
                                       .env = "{}",
                                       .version = "3",
                                       .containers = 1 };
        const struct saga_reuse rel[] = { v3, v2, v1 };
        const int64_t created[] = { 500, 300, 100 };
        struct saga_rollback_input in = { .target = v2.deployment_id,
                                          .target_found = true,
                                          .target_created_us = 300,
                                          .n_releases = 3,
                                          .releases = rel,
                                          .created_us = created };
        struct saga_request_decision d;

        (void)state;
        assert_int_equal(saga_decide_rollback(&in, &d), 0);
        assert_ptr_equal(d.from, &rel[2]);
        saga_request_decision_clear(&d);
        /* Made in the same microsecond as the target: not older. */
        in.target_created_us = 100;
        assert_int_equal(saga_decide_rollback(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
}

static void test_rollback_refused(void **state)
{
        const struct saga_reuse rel[] = { v1 };
        const int64_t created[] = { 100 };
        struct saga_rollback_input in = { .target = v1.deployment_id,
                                          .target_found = true,
                                          .target_created_us = 100,
                                          .n_releases = 1,
                                          .releases = rel,
                                          .created_us = created };
        struct saga_request_decision d;

        (void)state;
        /* Nothing but the target itself: its deployment fails, saying so. */
        assert_int_equal(saga_decide_rollback(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
        assert_string_equal(d.note, "no earlier healthy release of this app to roll back to");
        assert_string_equal(d.failed_step, "rollback");
        assert_string_equal(d.rollback_of, v1.deployment_id);
        assert_string_equal(d.description, "rollback to v");
        assert_null(d.from);
        assert_null(d.env);

        /* An unknown target: nothing is written. */
        in = (struct saga_rollback_input){ .target = "99999999-9999-9999-9999-999999999999" };
        assert_int_equal(saga_decide_rollback(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_IGNORE);
        assert_string_equal(d.note,
                            "rollback target 99999999-9999-9999-9999-999999999999 is unknown");
        assert_null(d.rollback_of);
}

static void test_rollback_to_number(void **state)
{
        struct saga_release_input in = app_at_v2();
        struct saga_request_decision d;

        (void)state;
        in.rollback_to = 1;
        in.numbered = v1;
        in.app_web_replicas = 3;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
        assert_string_equal(d.kind, "rollback");
        assert_string_equal(d.description, "rollback to v1");
        assert_ptr_equal(d.from, &in.numbered);
        assert_string_equal(d.rollback_of, v1.deployment_id);
        /* v1's config and its config version; the app's scale stays. */
        assert_string_equal(d.env, v1.env);
        assert_string_equal(d.config_version, "1");
        assert_int_equal(d.replicas, 3);
        assert_int_equal(d.app_web_replicas, 0);
        assert_false(d.merge_scale);
        saga_request_decision_clear(&d);

        /* A release whose deployment recorded no config version runs at
         * the app's. */
        in.numbered.config_version = NULL;
        in.app_web_replicas = 0;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_string_equal(d.config_version, "3");
        /* No scale set on the app: as many as the current release runs. */
        assert_int_equal(d.replicas, 1);
        saga_request_decision_clear(&d);
}

static void test_rollback_image_gone(void **state)
{
        struct saga_release_input in = app_at_v2();
        struct saga_request_decision d;

        (void)state;
        /* v1's image was built, then a build compensation (a destroy of
         * the deployment that built it) removed it from the registry. */
        in.rollback_to = 1;
        in.numbered = v1;
        in.numbered.image_built_us = 1000;
        in.numbered.image_removed_us = 2000;
        assert_true(saga_image_removed(&in.numbered));
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
        assert_string_equal(d.note, "no such release of this app, or its image was removed");
        assert_string_equal(d.failed_step, "release");
        assert_string_equal(d.kind, "rollback");
        assert_null(d.rollback_of);
        assert_null(d.from);
        assert_null(d.env);

        /* Built again since (another deployment of the same image): it runs. */
        in.numbered.image_built_us = 3000;
        assert_false(saga_image_removed(&in.numbered));
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
        assert_string_equal(d.rollback_of, v1.deployment_id);
        saga_request_decision_clear(&d);

        /* No release of that number at all. */
        in.numbered = (struct saga_reuse){ 0 };
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
        assert_string_equal(d.note, "no such release of this app, or its image was removed");
        assert_string_equal(d.failed_step, "release");
        assert_string_equal(d.kind, "rollback");
        assert_null(d.rollback_of);
        assert_null(d.from);
        assert_null(d.env);
}

static void test_release_refused(void **state)
{
        struct saga_release_input in = app_at_v2();
        struct saga_request_decision d;

        (void)state;
        in.app_found = false;
        in.app_env = NULL;
        in.app_config_version = NULL;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
        assert_string_equal(d.note, "no such app");
        /* No app: no release to point at even though one was found. */
        assert_null(d.rollback_of);

        in = app_at_v2();
        in.current.found = false;
        in.web_replicas = 2;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_FAIL);
        assert_string_equal(d.note, "the app has no running release to change: deploy it first");
        assert_string_equal(d.kind, "scale");
}

static void test_config_change(void **state)
{
        struct saga_release_input in = app_at_v2();
        const char *set_names[] = { "A", "C", "D" }, *set_values[] = { "new", "c", NULL };
        const char *unset[] = { "B" };
        struct saga_request_decision d;

        (void)state;
        in.n_set = 3;
        in.set_names = set_names;
        in.set_values = set_values;
        in.n_unset = 1;
        in.unset_names = unset;
        in.app_web_replicas = 4;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
        assert_string_equal(d.kind, "config");
        assert_string_equal(d.description, "config set A set C set D unset B");
        /* The image of the running release, the changed config at the next
         * version, the app's scale. */
        assert_ptr_equal(d.from, &in.current);
        assert_string_equal(d.rollback_of, v2.deployment_id);
        assert_string_equal(d.env, "{\"A\":\"new\",\"C\":\"c\"}");
        assert_null(d.config_version);
        assert_int_equal(d.replicas, 4);
        assert_int_equal(d.app_web_replicas, 0);
        assert_false(d.merge_scale);
        saga_request_decision_clear(&d);
}

static void test_scale(void **state)
{
        struct saga_release_input in = app_at_v2();
        const char *names[] = { "worker" };
        const uint32_t replicas[] = { 3 };
        struct saga_request_decision d;

        (void)state;
        in.web_replicas = 5;
        in.n_scale = 1;
        in.scale_names = names;
        in.scale_replicas = replicas;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
        assert_string_equal(d.kind, "scale");
        assert_string_equal(d.description, "scale web=5 worker=3");
        /* Same config, same version; the app's scale changes. */
        assert_string_equal(d.env, in.app_env);
        assert_string_equal(d.config_version, "3");
        assert_int_equal(d.replicas, 5);
        assert_int_equal(d.app_web_replicas, 5);
        assert_true(d.merge_scale);
        saga_request_decision_clear(&d);

        /* Only another process type: web keeps the current release's count. */
        in.web_replicas = 0;
        assert_int_equal(saga_decide_release(&in, &d), 0);
        assert_string_equal(d.kind, "scale");
        assert_string_equal(d.description, "scale worker=3");
        assert_int_equal(d.replicas, 1);
        assert_int_equal(d.app_web_replicas, 0);
        saga_request_decision_clear(&d);
}

static void test_config_apply(void **state)
{
        const char *n[] = { "X" }, *v[] = { "1" };
        char *s;

        (void)state;
        /* Not an object (or not JSON): starts from {}. */
        s = saga_config_apply("[1]", 1, n, v, 0, NULL);
        assert_string_equal(s, "{\"X\":\"1\"}");
        free(s);
        s = saga_config_apply(NULL, 0, NULL, NULL, 1, n);
        assert_string_equal(s, "{}");
        free(s);
}

static void test_app_destroy(void **state)
{
        struct saga_request_decision d;

        (void)state;
        saga_decide_app_destroy("web", false, &d);
        assert_int_equal(d.verdict, SAGA_REQUEST_IGNORE);
        assert_string_equal(d.note, "app web does not exist (already destroyed?)");
        saga_decide_app_destroy("web", true, &d);
        assert_int_equal(d.verdict, SAGA_REQUEST_RUN);
}

static void test_app_destroy_in_flight(void **state)
{
        /* Newest first: a rollback destroyed already (it reused an image,
         * it built none), one being destroyed by its own saga, one still
         * deploying, one exposed, a destroyed deploy whose image a later
         * release reused (kept), a destroyed deploy whose image is gone. */
        struct saga_destroy_candidate c[] = {
                { .id = "r", .status = "DESTROYED", .kind = "rollback" },
                { .id = "g", .status = "DESTROYING", .kind = "deploy", .has_build = true },
                { .id = "b", .status = "BUILDING", .kind = "deploy" },
                { .id = "x", .status = "EXPOSED", .kind = "config", .has_build = true },
                { .id = "k", .status = "DESTROYED", .kind = "deploy", .has_build = true },
                { .id = "o", .status = "ROLLED_BACK", .kind = "deploy", .has_build = true },
                { .id = "z",
                  .status = "DESTROYED",
                  .kind = "deploy",
                  .has_build = true,
                  .build_removed = true },
        };

        (void)state;
        /* The deployment in flight goes first: one at a time, newest first,
         * leaving the one already being destroyed to its own saga. */
        assert_int_equal(saga_app_destroy_next(c, 7), 2);
        c[2].status = "DESTROYED";
        assert_int_equal(saga_app_destroy_next(c, 7), 3);
        c[3].status = "DESTROYING";
        /* Then the destroyed deploy that kept its image for later releases;
         * a rolled-back one keeping its image too; never one whose image
         * is gone, nor a rollback (it built nothing). */
        assert_int_equal(saga_app_destroy_next(c, 7), 4);
        assert_true(saga_app_destroy_takes_image(c[4].status));
        c[4].build_removed = true;
        assert_int_equal(saga_app_destroy_next(c, 7), 5);
        assert_false(saga_app_destroy_takes_image(c[5].status));
        c[5].build_removed = true;
        assert_int_equal(saga_app_destroy_next(c, 7), -1);
        assert_int_equal(saga_app_destroy_next(c, 0), -1);
        /* A deployment in any running status is taken. */
        assert_false(saga_app_destroy_takes_image("EXPOSED"));
        assert_false(saga_app_destroy_takes_image(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rollback_previous),
                cmocka_unit_test(test_rollback_skips_newer),
                cmocka_unit_test(test_rollback_refused),
                cmocka_unit_test(test_rollback_to_number),
                cmocka_unit_test(test_rollback_image_gone),
                cmocka_unit_test(test_release_refused),
                cmocka_unit_test(test_config_change),
                cmocka_unit_test(test_scale),
                cmocka_unit_test(test_config_apply),
                cmocka_unit_test(test_app_destroy),
                cmocka_unit_test(test_app_destroy_in_flight),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
