/* builder_config_load: the build's deadline is the lower of
 * builder.build_timeout_s and the platform's limits.max_build_time, and
 * the key it came from is the one a timed-out build names. */
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_deadline_is_the_lower),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
