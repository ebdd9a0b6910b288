/* The /apps bodies (services/api/api_apps_request.c): config patches,
 * scale, rollback and app deploy bodies, valid and invalid.  No server:
 * the same functions tests/fuzz/fuzz_apps_body.c drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_apps_request.h"

static void expect_patch_error(const char *body, const char *needle)
{
        struct api_config_patch *p = NULL;
        ad_error_t err = NULL;

        assert_true(api_config_patch_parse(&p, body, strlen(body), &err) < 0);
        assert_null(p);
        assert_non_null(err);
        if (strstr(ad_error_message(err), needle) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", body, ad_error_message(err), needle);
        ad_error_release(&err);
}

static void test_config_patch_sets_and_unsets(void **state)
{
        const char *body = "{\"GREETING\": \"hello world\", \"N\": 3, \"ON\": true, \"OLD\": null}";
        struct api_config_patch *p = NULL;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(api_config_patch_parse(&p, body, strlen(body), &err), 0);
        assert_int_equal(p->n_set, 3);
        assert_string_equal(p->set[0].name, "GREETING");
        assert_string_equal(p->set[0].value, "hello world");
        assert_string_equal(p->set[1].value, "3");
        assert_string_equal(p->set[2].value, "true");
        assert_int_equal(p->n_unset, 1);
        assert_string_equal(p->unset[0], "OLD");
        api_config_patch_free(p);
        api_config_patch_free(NULL);
}

static void test_config_patch_rejects(void **state)
{
        (void)state;
        expect_patch_error("", "JSON object");
        expect_patch_error("[]", "JSON object");
        expect_patch_error("{}", "nothing to change");
        expect_patch_error("{\"1A\": \"x\"}", "not valid");
        expect_patch_error("{\"A-B\": \"x\"}", "not valid");
        expect_patch_error("{\"A\": [1]}", "must be a string");
        expect_patch_error("{\"A\": 1.5}", "must be a string");
        expect_patch_error("{\"A\": \"x\", \"A\": \"y\"}", "invalid JSON");
        expect_patch_error("{\"A\": \"x\\u0000y\"}", "NUL");
        expect_patch_error("{\"A\": ", "invalid JSON");
        /* More than AD_ENV_MAX_VARS names. */
        {
                char *body = malloc(16 * (AD_ENV_MAX_VARS + 2));
                size_t len = 0;

                len += (size_t)sprintf(body + len, "{");
                for (int i = 0; i <= AD_ENV_MAX_VARS; i++)
                        len += (size_t)sprintf(body + len, "%s\"V%d\": null", i ? "," : "", i);
                sprintf(body + len, "}");
                expect_patch_error(body, "at most");
                free(body);
        }
}

static void test_scale(void **state)
{
        ad_error_t err = NULL;
        struct api_scale sc = { 0 };

        (void)state;
        assert_int_equal(api_scale_parse(&sc, "{\"web\": 3}", strlen("{\"web\": 3}"), &err), 0);
        assert_int_equal(sc.web, 3);
        assert_int_equal(sc.n_other, 0);
        assert_true(api_scale_parse(&sc, "{\"web\": 0}", strlen("{\"web\": 0}"), &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "from 1 to 100"));
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "{\"web\": 101}", strlen("{\"web\": 101}"), &err) < 0);
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "{\"web\": \"3\"}", strlen("{\"web\": \"3\"}"), &err) < 0);
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "", strlen(""), &err) < 0);
        ad_error_release(&err);
        assert_int_equal(sc.web, 3); /* untouched on failure */
        /* Other process types: 0 stops them; web then stays as it is. */
        assert_int_equal(api_scale_parse(&sc, "{\"worker\": 0, \"clock-2\": 2}",
                                         strlen("{\"worker\": 0, \"clock-2\": 2}"), &err),
                         0);
        assert_int_equal(sc.web, 0);
        assert_int_equal(sc.n_other, 2);
        assert_string_equal(sc.other[0].name, "worker");
        assert_int_equal(sc.other[0].replicas, 0);
        assert_string_equal(sc.other[1].name, "clock-2");
        assert_int_equal(sc.other[1].replicas, 2);
        assert_true(api_scale_parse(&sc, "{\"Worker\": 1}", strlen("{\"Worker\": 1}"), &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "not a process type"));
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "{\"release\": 1}", strlen("{\"release\": 1}"), &err) < 0);
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "{\"worker\": 101}", strlen("{\"worker\": 101}"), &err) <
                    0);
        ad_error_release(&err);
        assert_true(api_scale_parse(&sc, "{}", strlen("{}"), &err) < 0);
        ad_error_release(&err);
}

static void test_rollback(void **state)
{
        ad_error_t err = NULL;
        uint32_t rel = 7;

        (void)state;
        assert_int_equal(api_rollback_parse(&rel, "", 0, &err), 0);
        assert_int_equal(rel, 0);
        assert_int_equal(api_rollback_parse(&rel, "{}", 2, &err), 0);
        assert_int_equal(rel, 0);
        assert_int_equal(api_rollback_parse(&rel, "{\"release\": 2}", 14, &err), 0);
        assert_int_equal(rel, 2);
        assert_true(api_rollback_parse(&rel, "{\"release\": 0}", 14, &err) < 0);
        ad_error_release(&err);
        assert_true(api_rollback_parse(&rel, "{\"release\": -1}", 15, &err) < 0);
        ad_error_release(&err);
        assert_true(api_rollback_parse(&rel, "{\"version\": 1}", 14, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "unknown field \"version\""));
        ad_error_release(&err);
}

static void test_app_deploy(void **state)
{
        ad_error_t err = NULL;
        char *ref = NULL;

        (void)state;
        assert_int_equal(api_app_deploy_parse(&ref, NULL, 0, &err), 0);
        assert_null(ref);
        assert_int_equal(api_app_deploy_parse(&ref, "{\"ref\": \"v2\"}", 13, &err), 0);
        assert_string_equal(ref, "v2");
        free(ref);
        ref = NULL;
        assert_true(api_app_deploy_parse(&ref, "{\"ref\": \"a..b\"}", 15, &err) < 0);
        ad_error_release(&err);
        assert_true(api_app_deploy_parse(&ref, "{\"ref\": 1}", 10, &err) < 0);
        ad_error_release(&err);
        assert_true(api_app_deploy_parse(&ref, "{\"repo_url\": \"x\"}", 17, &err) < 0);
        ad_error_release(&err);
        assert_null(ref);
}

/* One host name through the body parser: 0 and the normalized name, or
 * the error's message. */
static int domain(const char *hostname_json, char out[AD_HOSTNAME_MAX + 1], char *msg, size_t size)
{
        ad_error_t err = NULL;
        char body[1024];
        int ret;

        snprintf(body, sizeof(body), "{\"hostname\": %s}", hostname_json);
        ret = api_domain_parse(out, body, strlen(body), &err);
        snprintf(msg, size, "%s", err ? ad_error_message(err) : "");
        ad_error_release(&err);
        return ret;
}

static void test_domain(void **state)
{
        char host[AD_HOSTNAME_MAX + 1], msg[512], long_label[80], long_name[300];
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(domain("\"www.example.com\"", host, msg, sizeof(msg)), 0);
        assert_string_equal(host, "www.example.com");
        /* Lower-cased, the absolute form's trailing dot dropped. */
        assert_int_equal(domain("\"Shop.Example.TEST.\"", host, msg, sizeof(msg)), 0);
        assert_string_equal(host, "shop.example.test");
        assert_int_equal(domain("\"a-b.x1\"", host, msg, sizeof(msg)), 0);
        assert_string_equal(host, "a-b.x1");

        assert_true(domain("\"localhost\"", host, msg, sizeof(msg)) < 0);
        assert_non_null(strstr(msg, "fully qualified"));
        assert_true(domain("\"10.0.0.1\"", host, msg, sizeof(msg)) < 0);
        assert_non_null(strstr(msg, "IP address"));
        assert_true(domain("\"*.example.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"-a.example.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"a-.example.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"a..example.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\".example.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"example.com..\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\".\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"a b.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"a\\u0000b.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"ex_ample.com\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("\"b\\u00fccher.de\"", host, msg, sizeof(msg)) < 0);
        assert_true(domain("1", host, msg, sizeof(msg)) < 0);
        assert_non_null(strstr(msg, "required"));
        assert_true(domain("null", host, msg, sizeof(msg)) < 0);

        /* Labels of 63, names of 253 characters at most. */
        memset(long_label, 'a', 63);
        snprintf(long_label + 63, sizeof(long_label) - 63, ".com");
        snprintf(long_name, sizeof(long_name), "\"%s\"", long_label);
        assert_int_equal(domain(long_name, host, msg, sizeof(msg)), 0);
        memset(long_label, 'a', 64);
        snprintf(long_label + 64, sizeof(long_label) - 64, ".com");
        snprintf(long_name, sizeof(long_name), "\"%s\"", long_label);
        assert_true(domain(long_name, host, msg, sizeof(msg)) < 0);
        assert_non_null(strstr(msg, "63"));
        long_name[0] = '"';
        for (size_t i = 1; i < 256; i++)
                long_name[i] = i % 10 == 0 ? '.' : 'a';
        snprintf(long_name + 255, sizeof(long_name) - 255, "\"");
        assert_true(domain(long_name, host, msg, sizeof(msg)) < 0); /* 254 characters */
        assert_non_null(strstr(msg, "253"));
        long_name[254] = '"';
        long_name[255] = '\0';
        assert_int_equal(domain(long_name, host, msg, sizeof(msg)), 0); /* 253 */
        assert_int_equal(strlen(host), 253);

        snprintf(msg, sizeof(msg), "{\"hostname\": \"a.com\", \"x\": 1}");
        assert_true(api_domain_parse(host, msg, strlen(msg), &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "unknown field"));
        ad_error_release(&err);
        assert_true(api_domain_parse(host, "", 0, &err) < 0);
        ad_error_release(&err);
}

static void test_run(void **state)
{
        ad_error_t err = NULL;
        char *cmd = NULL, body[64];
        long t = -1;

        (void)state;
        snprintf(body, sizeof(body), "{\"command\": \"echo hi; exit 3\"}");
        assert_int_equal(api_run_parse(&cmd, &t, body, strlen(body), &err), 0);
        assert_string_equal(cmd, "echo hi; exit 3");
        assert_int_equal(t, 0);
        free(cmd);
        cmd = NULL;
        snprintf(body, sizeof(body), "{\"command\": \"x\", \"timeout_s\": 5}");
        assert_int_equal(api_run_parse(&cmd, &t, body, strlen(body), &err), 0);
        assert_int_equal(t, 5);
        free(cmd);
        cmd = NULL;
        snprintf(body, sizeof(body), "{\"command\": \"\"}");
        assert_true(api_run_parse(&cmd, &t, body, strlen(body), &err) < 0);
        ad_error_release(&err);
        snprintf(body, sizeof(body), "{\"command\": \"x\", \"timeout_s\": 0}");
        assert_true(api_run_parse(&cmd, &t, body, strlen(body), &err) < 0);
        ad_error_release(&err);
        snprintf(body, sizeof(body), "{\"command\": [\"x\"]}");
        assert_true(api_run_parse(&cmd, &t, body, strlen(body), &err) < 0);
        ad_error_release(&err);
        snprintf(body, sizeof(body), "{\"cmd\": \"x\"}");
        assert_true(api_run_parse(&cmd, &t, body, strlen(body), &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "unknown field"));
        ad_error_release(&err);
        snprintf(body, sizeof(body), "{\"command\": \"a\\u0000b\"}");
        assert_true(api_run_parse(&cmd, &t, body, strlen(body), &err) < 0);
        ad_error_release(&err);
        assert_null(cmd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_patch_sets_and_unsets),
                cmocka_unit_test(test_config_patch_rejects),
                cmocka_unit_test(test_scale),
                cmocka_unit_test(test_rollback),
                cmocka_unit_test(test_app_deploy),
                cmocka_unit_test(test_domain),
                cmocka_unit_test(test_run),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
