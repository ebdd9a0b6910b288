/* Keys, roles, lifetimes and the POST /tokens body
 * (services/api/api_tokens_request.c), valid and invalid.  No server:
 * the same functions tests/fuzz/fuzz_tokens_body.c drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_tokens_request.h"

static void expect_create_error(const char *body, const char *needle)
{
        struct api_token_create req;
        ad_error_t err = NULL;

        assert_true(api_token_create_parse(&req, body, strlen(body), &err) < 0);
        assert_non_null(err);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        if (strstr(ad_error_message(err), needle) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", body, ad_error_message(err), needle);
        ad_error_release(&err);
}

static void test_roles(void **state)
{
        enum api_role r;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(api_role_parse(&r, "viewer", &err), 0);
        assert_int_equal(r, API_ROLE_VIEWER);
        assert_int_equal(api_role_parse(&r, "deployer", &err), 0);
        assert_int_equal(r, API_ROLE_DEPLOYER);
        assert_int_equal(api_role_parse(&r, "admin", &err), 0);
        assert_int_equal(r, API_ROLE_ADMIN);
        assert_true(API_ROLE_VIEWER < API_ROLE_DEPLOYER && API_ROLE_DEPLOYER < API_ROLE_ADMIN &&
                    API_ROLE_ADMIN < API_ROLE_OPERATOR);
        /* No key is an operator; names are exact. */
        assert_true(api_role_parse(&r, "operator", &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "admin, deployer or viewer"));
        ad_error_release(&err);
        assert_true(api_role_parse(&r, "Admin", &err) < 0);
        ad_error_release(&err);
        assert_true(api_role_parse(&r, NULL, &err) < 0);
        ad_error_release(&err);
        assert_string_equal(api_role_name(API_ROLE_DEPLOYER), "deployer");
}

static void test_durations(void **state)
{
        long long s = -1;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(api_duration_parse(&s, "30d", &err), 0);
        assert_int_equal(s, 30LL * 86400);
        assert_int_equal(api_duration_parse(&s, "90m", &err), 0);
        assert_int_equal(s, 5400);
        assert_int_equal(api_duration_parse(&s, "2w", &err), 0);
        assert_int_equal(s, 14LL * 86400);
        assert_int_equal(api_duration_parse(&s, "12h", &err), 0);
        assert_int_equal(s, 12LL * 3600);
        assert_int_equal(api_duration_parse(&s, "45s", &err), 0);
        assert_int_equal(s, 45);
        assert_int_equal(api_duration_parse(&s, "never", &err), 0);
        assert_int_equal(s, 0);
        for (const char *const *bad = (const char *const[]){ "", "d", "0d", "-1d", "30", "30dd",
                                                             "30y", " 30d", "3.5d", NULL };
             *bad; bad++) {
                assert_true(api_duration_parse(&s, *bad, &err) < 0);
                assert_non_null(strstr(ad_error_message(err), "s, m, h, d or w"));
                ad_error_release(&err);
        }
        assert_true(api_duration_parse(&s, "99999999999999999999d", &err) < 0);
        ad_error_release(&err);
        assert_true(api_duration_parse(&s, "4000d", &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "ten years"));
        ad_error_release(&err);
}

static void test_names(void **state)
{
        (void)state;
        assert_true(api_team_name_valid("web-team-2"));
        assert_false(api_team_name_valid("-web"));
        assert_false(api_team_name_valid("Web"));
        assert_false(api_team_name_valid(""));
        assert_false(api_team_name_valid("a/b"));
        assert_true(api_team_name_valid(
                "a23456789012345678901234567890123456789012345678901234567890123"));
        assert_false(api_team_name_valid(
                "a234567890123456789012345678901234567890123456789012345678901234"));
        assert_true(api_user_name_valid("alice@example.com"));
        assert_false(api_user_name_valid("alice smith"));
        assert_true(api_key_name_valid("ci.deploy_1-x"));
        assert_false(api_key_name_valid("ci/deploy"));
        assert_false(api_key_name_valid(NULL));
}

static void test_keys(void **state)
{
        char key[API_KEY_LEN + 1], key2[API_KEY_LEN + 1], hash[65], again[65];
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(api_key_generate(key, hash, &err), 0);
        assert_int_equal(api_key_generate(key2, again, &err), 0);
        assert_true(api_key_looks_valid(key));
        assert_string_not_equal(key, key2);
        assert_int_equal(strlen(hash), 64);
        api_key_hash(key, again);
        assert_string_equal(hash, again);
        /* The SHA-256 of "abc". */
        api_key_hash("abc", again);
        assert_string_equal(again,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_false(api_key_looks_valid("adk_"));
        assert_false(api_key_looks_valid(
                "adk_8FD41D2A889A3A91E49148A6CFE0A3672748F6DC53BB9B07FB214CE76EFF00CB"));
        assert_false(api_key_looks_valid(
                "xdk_8fd41d2a889a3a91e49148a6cfe0a3672748f6dc53bb9b07fb214ce76eff00cb"));
        assert_false(api_key_looks_valid(
                "adk_8fd41d2a889a3a91e49148a6cfe0a3672748f6dc53bb9b07fb214ce76eff00cb0"));
}

static void test_create_body(void **state)
{
        struct api_token_create req;
        ad_error_t err = NULL;
        const char *b = "{\"name\":\"ci\",\"role\":\"deployer\"}";

        (void)state;
        assert_int_equal(api_token_create_parse(&req, b, strlen(b), &err), 0);
        assert_string_equal(req.name, "ci");
        assert_int_equal(req.role, API_ROLE_DEPLOYER);
        assert_int_equal(req.ttl_s, API_KEY_DEFAULT_TTL_S);
        assert_string_equal(req.team, "");
        assert_string_equal(req.user, "");
        b = "{\"name\":\"x\",\"role\":\"admin\",\"expires_in\":\"never\",\"team\":\"web\","
            "\"user\":\"al@x.io\"}";
        assert_int_equal(api_token_create_parse(&req, b, strlen(b), &err), 0);
        assert_int_equal(req.ttl_s, 0);
        assert_string_equal(req.team, "web");
        assert_string_equal(req.user, "al@x.io");

        expect_create_error("", "invalid JSON");
        expect_create_error("[]", "JSON object");
        expect_create_error("{\"role\":\"viewer\"}", "`name` is required");
        expect_create_error("{\"name\":\"ci\"}", "`role` is required");
        expect_create_error("{\"name\":\"ci\",\"role\":\"root\"}", "unknown role");
        expect_create_error("{\"name\":\"c i\",\"role\":\"viewer\"}", "key name");
        expect_create_error("{\"name\":1,\"role\":\"viewer\"}", "must be a string");
        expect_create_error("{\"name\":\"ci\",\"role\":\"viewer\",\"hash\":\"x\"}",
                            "unknown field `hash`");
        expect_create_error("{\"name\":\"ci\",\"name\":\"b\",\"role\":\"viewer\"}", "invalid JSON");
        expect_create_error("{\"name\":\"ci\",\"role\":\"viewer\",\"expires_in\":30}",
                            "expires_in");
        expect_create_error("{\"name\":\"ci\",\"role\":\"viewer\",\"expires_in\":\"soon\"}",
                            "lifetime `soon`");
        expect_create_error("{\"name\":\"ci\",\"role\":\"viewer\",\"team\":\"Web\"}", "team name");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roles),       cmocka_unit_test(test_durations),
                cmocka_unit_test(test_names),       cmocka_unit_test(test_keys),
                cmocka_unit_test(test_create_body),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
