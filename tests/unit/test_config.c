/* config.yaml parsing: good files, bad files, and environment overrides.
 * Every error must name the file, the line and the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/config.h"

static const char *const known[] = { "log.level", "nats.url",  "nats.replicas", "database.url",
                                     "http.port", "http.bind", "builder.*",     NULL };

static ad_config *load_fixture(const char *name, ad_error_t *err)
{
        char path[512];
        ad_config *cfg = NULL;

        snprintf(path, sizeof(path), "%s/tests/fixtures/config/%s", AD_SOURCE_DIR, name);
        if (ad_config_load(&cfg, path, err) < 0)
                return NULL;
        return cfg;
}

static void test_good_file(void **state)
{
        ad_error_t err = NULL;
        ad_config *cfg = load_fixture("good.yaml", &err);
        long port = 0;

        (void)state;
        assert_non_null(cfg);
        assert_int_equal(ad_config_check_known(cfg, known, &err), 0);
        assert_string_equal(ad_config_string(cfg, "nats.url", NULL), "nats://127.0.0.1:4222");
        assert_string_equal(ad_config_string(cfg, "log.level", NULL), "debug");
        assert_int_equal(ad_config_int(cfg, "http.port", 1, 0, 65535, &port, &err), 0);
        assert_int_equal(port, 9200);
        /* Lists of scalars become comma-separated values. */
        assert_string_equal(ad_config_string(cfg, "builder.base_images", NULL), "node,python");
        /* Unset keys take the default. */
        assert_string_equal(ad_config_string(cfg, "nope.nope", "dflt"), "dflt");
        ad_config_free(cfg);
}

static void test_env_overrides_file(void **state)
{
        ad_error_t err = NULL;
        ad_config *cfg = load_fixture("good.yaml", &err);
        char origin[300];
        long port = 0;

        (void)state;
        assert_non_null(cfg);
        setenv("AD_NATS_URL", "nats://10.0.0.1:1", 1);
        setenv("AD_HTTP_PORT", "9999", 1);
        assert_string_equal(ad_config_string(cfg, "nats.url", NULL), "nats://10.0.0.1:1");
        assert_int_equal(ad_config_int(cfg, "http.port", 1, 0, 65535, &port, &err), 0);
        assert_int_equal(port, 9999);
        assert_string_equal(ad_config_origin(cfg, "http.port", origin, sizeof(origin)),
                            "environment variable AD_HTTP_PORT");
        setenv("AD_HTTP_PORT", "ninety", 1);
        assert_true(ad_config_int(cfg, "http.port", 1, 0, 65535, &port, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "AD_HTTP_PORT"));
        assert_non_null(strstr(ad_error_message(err), "http.port"));
        ad_error_release(&err);
        unsetenv("AD_NATS_URL");
        unsetenv("AD_HTTP_PORT");
        ad_config_free(cfg);
}

static void test_env_name(void **state)
{
        char buf[64];

        (void)state;
        ad_config_env_name("database.connect_timeout_s", buf, sizeof(buf));
        assert_string_equal(buf, "AD_DATABASE_CONNECT_TIMEOUT_S");
}

static void assert_error(const char *fixture, const char *const *parts)
{
        ad_error_t err = NULL;
        ad_config *cfg = load_fixture(fixture, &err);
        long v;

        if (cfg) {
                /* Parsed: the error must come from validation. */
                if (ad_config_check_known(cfg, known, &err) == 0)
                        ad_config_int(cfg, "nats.replicas", 1, 1, 5, &v, &err);
                ad_config_free(cfg);
        }
        assert_non_null(err);
        for (size_t i = 0; parts[i]; i++)
                if (strstr(ad_error_message(err), parts[i]) == NULL)
                        fail_msg("error `%s` does not mention `%s`", ad_error_message(err),
                                 parts[i]);
        ad_error_release(&err);
}

static void test_bad_int_names_file_line_key(void **state)
{
        (void)state;
        assert_error("bad-int.yaml",
                     (const char *[]){ "bad-int.yaml:3", "nats.replicas", "three", NULL });
}

static void test_bad_syntax_names_line(void **state)
{
        (void)state;
        assert_error("bad-syntax.yaml",
                     (const char *[]){ "bad-syntax.yaml:", "invalid YAML", NULL });
}

static void test_unknown_key(void **state)
{
        (void)state;
        assert_error("unknown-key.yaml",
                     (const char *[]){ "unknown-key.yaml:3", "unknown key", "nats.urll", NULL });
}

static void test_not_a_mapping(void **state)
{
        (void)state;
        assert_error("not-a-mapping.yaml",
                     (const char *[]){ "not-a-mapping.yaml:1", "mapping", NULL });
}

static void test_duplicate_key(void **state)
{
        (void)state;
        assert_error("duplicate-key.yaml",
                     (const char *[]){ "duplicate-key.yaml:4", "nats.url", "twice", NULL });
}

static void test_missing_file(void **state)
{
        ad_error_t err = NULL;
        ad_config *cfg = NULL;

        (void)state;
        assert_true(ad_config_load(&cfg, "/nonexistent/config.yaml", &err) < 0);
        assert_null(cfg);
        assert_non_null(strstr(ad_error_message(err), "/nonexistent/config.yaml"));
        ad_error_release(&err);
}

static void test_hostile_inputs(void **state)
{
        static const char *const docs[] = {
                "a: &x 1\nb: *x\n",                           /* aliases */
                "a: !!binary aGVsbG8=\nb: {c: [ {d: 1} ]}\n", /* mapping in a list */
                "A: 1\n",                                     /* upper-case key */
                "a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n       h:\n        i: 1\n",
                "\xff\xfe: 1\n",     /* invalid UTF-8 */
                "a: 1\n---\nb: 2\n", /* two documents */
        };
        (void)state;
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                ad_error_t err = NULL;
                ad_config *cfg = NULL;

                if (ad_config_load_string(&cfg, "hostile.yaml", docs[i], strlen(docs[i]), &err) ==
                    0) {
                        ad_config_free(cfg);
                        fail_msg("document %zu was accepted", i);
                }
                assert_non_null(strstr(ad_error_message(err), "hostile.yaml"));
                ad_error_release(&err);
        }
}

static void test_empty_config_is_valid(void **state)
{
        ad_error_t err = NULL;
        ad_config *cfg = NULL;

        (void)state;
        assert_int_equal(ad_config_load(&cfg, NULL, &err), 0);
        assert_string_equal(ad_config_string(cfg, "nats.url", "d"), "d");
        ad_config_free(cfg);
}

extern char **environ;

/* The tests own the configuration: no AD_* variable from the caller's
 * environment (the stack's env file sets several) may override a file. */
static void clear_ad_environment(void)
{
        for (size_t i = 0; environ[i];) {
                if (strncmp(environ[i], "AD_", 3) == 0) {
                        char name[256];
                        const char *eq = strchr(environ[i], '=');
                        size_t n = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);

                        snprintf(name, sizeof(name), "%.*s", (int)n, environ[i]);
                        unsetenv(name);
                        continue;
                }
                i++;
        }
}

int main(void)
{
        clear_ad_environment();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_file),
                cmocka_unit_test(test_env_overrides_file),
                cmocka_unit_test(test_env_name),
                cmocka_unit_test(test_bad_int_names_file_line_key),
                cmocka_unit_test(test_bad_syntax_names_line),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_not_a_mapping),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_hostile_inputs),
                cmocka_unit_test(test_empty_config_is_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
