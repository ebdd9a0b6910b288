/* The status module: names, every predicate, and the CHECK constraint of
 * migration 008 naming exactly the statuses of the C table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ad/db.h"
#include "ad/status.h"

static void test_names_round_trip(void **state)
{
        (void)state;
        for (int i = 0; i < AD_STATUS_COUNT; i++) {
                const char *name = ad_status_name((enum ad_status)i);

                assert_string_not_equal(name, "UNKNOWN");
                assert_int_equal(ad_status_parse(name), i);
        }
        assert_int_equal(ad_status_parse(NULL), AD_STATUS_UNKNOWN);
        assert_int_equal(ad_status_parse("exposed"), AD_STATUS_UNKNOWN);
        assert_int_equal(ad_status_parse(""), AD_STATUS_UNKNOWN);
        assert_int_equal(ad_status_parse("EXPOSED "), AD_STATUS_UNKNOWN);
        assert_string_equal(ad_status_name(AD_STATUS_UNKNOWN), "UNKNOWN");
        assert_string_equal(ad_status_name(AD_STATUS_COUNT), "UNKNOWN");
}

/* Each predicate, as the set of statuses it holds for. */
static void expect_set(bool (*pred)(enum ad_status), const char *want)
{
        char got[256] = "";

        for (int i = 0; i < AD_STATUS_COUNT; i++)
                if (pred((enum ad_status)i)) {
                        if (*got)
                                strcat(got, " ");
                        strcat(got, ad_status_name((enum ad_status)i));
                }
        assert_string_equal(got, want);
        assert_false(pred(AD_STATUS_UNKNOWN));
}

static void test_predicates(void **state)
{
        (void)state;
        expect_set(ad_status_is_final, "EXPOSED SUPERSEDED FAILED ROLLED_BACK DESTROYED");
        expect_set(ad_status_served, "EXPOSED SUPERSEDED");
        expect_set(ad_status_is_active, "QUEUED ANALYZING BUILDING PROVISIONING DEPLOYING");
        expect_set(ad_status_is_abandoned,
                   "SUPERSEDED FAILED ROLLING_BACK ROLLED_BACK DESTROYING DESTROYED");
        assert_true(ad_status_final("ROLLED_BACK"));
        assert_false(ad_status_final("ROLLING_BACK"));
        assert_false(ad_status_final(NULL));
}

static void test_forward_rank(void **state)
{
        static const enum ad_status path[] = { AD_STATUS_QUEUED,    AD_STATUS_ANALYZING,
                                               AD_STATUS_BUILDING,  AD_STATUS_PROVISIONING,
                                               AD_STATUS_DEPLOYING, AD_STATUS_HEALTHY,
                                               AD_STATUS_EXPOSED };

        (void)state;
        for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++)
                assert_int_equal(ad_status_rank(path[i]), (int)i);
        assert_int_equal(ad_status_rank(AD_STATUS_FAILED), -1);
        assert_int_equal(ad_status_rank(AD_STATUS_SUPERSEDED), -1);
        assert_int_equal(ad_status_rank(AD_STATUS_UNKNOWN), -1);
}

static void test_compensations_implied(void **state)
{
        (void)state;
        /* Newest first: deploy, provision, build. */
        assert_int_equal(ad_status_touched_steps(AD_STATUS_QUEUED), 0);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_ANALYZING), 0);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_BUILDING), 1);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_PROVISIONING), 2);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_DEPLOYING), 3);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_HEALTHY), 3);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_EXPOSED), 3);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_SUPERSEDED), 3);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_FAILED), 0);
        assert_int_equal(ad_status_touched_steps(AD_STATUS_UNKNOWN), 0);
        assert_int_equal(ad_status_destroy_steps(AD_STATUS_EXPOSED), 3);
        assert_int_equal(ad_status_destroy_steps(AD_STATUS_FAILED), 1);
        assert_int_equal(ad_status_destroy_steps(AD_STATUS_ROLLED_BACK), 1);
        assert_int_equal(ad_status_destroy_steps(AD_STATUS_DESTROYED), 0);
}

/* The CHECK constraint lists every name of the table and nothing else. */
static void test_migration_names_every_status(void **state)
{
        const char *sql = NULL;
        int quoted = 0;

        (void)state;
        for (size_t i = 0; i < ad_migrations_count; i++)
                if (strstr(ad_migrations[i].sql, "deployments_status_known"))
                        sql = ad_migrations[i].sql;
        assert_non_null(sql);
        for (int i = 0; i < AD_STATUS_COUNT; i++) {
                char needle[32];

                snprintf(needle, sizeof(needle), "'%s'", ad_status_name((enum ad_status)i));
                if (strstr(sql, needle) == NULL)
                        fail_msg("migration's CHECK lacks %s", needle);
        }
        /* Quotes come in pairs, one pair per name, outside the comments. */
        for (const char *p = strstr(sql, "CHECK"); p && *p; p++)
                quoted += *p == '\'';
        assert_int_equal(quoted, 2 * AD_STATUS_COUNT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_round_trip),
                cmocka_unit_test(test_predicates),
                cmocka_unit_test(test_forward_rank),
                cmocka_unit_test(test_compensations_implied),
                cmocka_unit_test(test_migration_names_every_status),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
