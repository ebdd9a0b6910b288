/* builder_config_load: the build's deadline is the lower of
 * builder.build_timeout_s and the platform's limits.max_build_time, and
 * the key it came from is the one a timed-out build names; each image a
 * language's plan uses is builder.images.<key>, its default otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "builder.h"

static void load(struct builder_config *c, const char *yaml)
{
        ad_config *cfg = NULL;
        ad_error_t err = NULL;

        assert_int_equal(ad_config_load_string(&cfg, "test.yaml", yaml, strlen(yaml), &err), 0);
        if (builder_config_load(c, cfg, &err) < 0)
                fail_msg("builder_config_load: %s", ad_error_message(err));
        /* Strings are borrowed from cfg; the checks below read numbers
         * and the static key names only. */
        ad_config_free(cfg);
}

static void test_build_deadline_is_the_lower(void **state)
{
        struct builder_config c;

        (void)state;
        load(&c, "builder: {build_timeout_s: 900}\n");
        assert_int_equal(c.build_timeout_ms, 900000);
        assert_string_equal(c.build_timeout_key, "builder.build_timeout_s");

        load(&c, "builder: {build_timeout_s: 900}\nlimits: {max_build_time: 60}\n");
        assert_int_equal(c.build_timeout_ms, 60000);
        assert_string_equal(c.build_timeout_key, "limits.max_build_time");

        load(&c, "builder: {build_timeout_s: 120}\nlimits: {max_build_time: 600}\n");
        assert_int_equal(c.build_timeout_ms, 120000);
        assert_string_equal(c.build_timeout_key, "builder.build_timeout_s");

        load(&c, "limits: {max_build_time: 0}\n");
        assert_int_equal(c.build_timeout_ms, 900000);
        assert_string_equal(c.build_timeout_key, "builder.build_timeout_s");
}

static void test_images_by_key(void **state)
{
        static const char yaml[] = "builder:\n  images:\n    node: reg.corp/node:22\n"
                                   "    jre: reg.corp/jre:21\n    static: reg.corp/caddy:2\n";
        struct builder_config c;
        ad_config *cfg = NULL;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(ad_config_load_string(&cfg, "test.yaml", yaml, strlen(yaml), &err), 0);
        if (builder_config_load(&c, cfg, &err) < 0)
                fail_msg("builder_config_load: %s", ad_error_message(err));
        assert_string_equal(ad_buildplan_images_get(&c.images, "node"), "reg.corp/node:22");
        assert_string_equal(ad_buildplan_images_get(&c.images, "jre"), "reg.corp/jre:21");
        assert_string_equal(ad_buildplan_images_get(&c.images, "static"), "reg.corp/caddy:2");
        /* What the languages run on follows. */
        assert_string_equal(ad_buildplan_image(&c.images, "java"), "reg.corp/jre:21");
        assert_string_equal(ad_buildplan_image(&c.images, "deno"), "reg.corp/node:22");
        /* The others keep their defaults. */
        assert_string_equal(ad_buildplan_images_get(&c.images, "base"),
                            "localhost/app-deployer/base:bookworm");
        assert_string_equal(ad_buildplan_images_get(&c.images, "java"),
                            "localhost/app-deployer/java:bookworm");
        ad_config_free(cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_deadline_is_the_lower),
                cmocka_unit_test(test_images_by_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
