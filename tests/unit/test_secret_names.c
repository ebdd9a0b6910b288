/* Sealed secrets and resource names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/names.h"
#include "ad/secret.h"

static const char *const hexkey =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void test_seal_open_round_trip(void **state)
{
        struct ad_secret_key key;
        ad_error_t err = NULL;
        char *sealed = NULL, *sealed2 = NULL, *plain = NULL;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        assert_int_equal(ad_secret_seal(&sealed, &key, "postgres://u:hunter2@db/x", &err), 0);
        assert_true(ad_secret_is_sealed(sealed));
        assert_null(strstr(sealed, "hunter2"));
        /* A fresh nonce each time: equal values do not look equal. */
        assert_int_equal(ad_secret_seal(&sealed2, &key, "postgres://u:hunter2@db/x", &err), 0);
        assert_string_not_equal(sealed, sealed2);
        assert_int_equal(ad_secret_open(&plain, &key, sealed, &err), 0);
        assert_string_equal(plain, "postgres://u:hunter2@db/x");
        free(plain);
        plain = NULL;
        assert_int_equal(ad_secret_seal(&plain, &key, "", &err), 0);
        free(sealed2);
        assert_int_equal(ad_secret_open(&sealed2, &key, plain, &err), 0);
        assert_string_equal(sealed2, "");
        free(plain);
        free(sealed2);
        free(sealed);
}

static void test_tampered_or_wrong_key_fails(void **state)
{
        struct ad_secret_key key, other;
        ad_error_t err = NULL;
        char *sealed = NULL, *plain = NULL;
        size_t n;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        memcpy(&other, &key, sizeof(key));
        other.bytes[0] ^= 1;
        assert_int_equal(ad_secret_seal(&sealed, &key, "value", &err), 0);
        assert_true(ad_secret_open(&plain, &other, sealed, &err) < 0);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        ad_error_release(&err);
        n = strlen(sealed);
        sealed[n - 6] = sealed[n - 6] == 'A' ? 'B' : 'A';
        assert_true(ad_secret_open(&plain, &key, sealed, &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &key, "sealed:v1:!!!", &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &key, "sealed:v1:AAAA", &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &key, "plain", &err) < 0);
        ad_error_release(&err);
        assert_null(plain);
        free(sealed);
}

static void test_bad_keys(void **state)
{
        struct ad_secret_key key;
        ad_error_t err = NULL;

        (void)state;
        assert_true(ad_secret_key_parse(&key, "abc", &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "64 hex"));
        ad_error_release(&err);
        assert_true(ad_secret_key_parse(&key, NULL, &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_key_parse(
                            &key,
                            "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                            &err) < 0);
        ad_error_release(&err);
}

static void test_app_names(void **state)
{
        static const struct {
                const char *url, *name;
        } cases[] = {
                { "https://github.com/acme/Shop.git", "shop" },
                { "https://github.com/acme/my_app/", "my-app" },
                { "git://127.0.0.1:9418/node-express", "node-express" },
                { "file:///tmp/x/--Weird..Name--.git", "weird-name" },
                { "git@github.com:acme/api.git", "api" },
        };
        char out[AD_APP_NAME_MAX + 1];
        ad_error_t err = NULL;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(ad_app_name_from_url(out, cases[i].url, &err), 0);
                assert_string_equal(out, cases[i].name);
                assert_true(ad_app_name_valid(out));
        }
        assert_true(ad_app_name_from_url(out, "https://example.com/___.git", &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "name"));
        ad_error_release(&err);
        assert_true(ad_app_name_from_url(out, "", &err) < 0);
        ad_error_release(&err);
        assert_false(ad_app_name_valid("Shop"));
        assert_false(ad_app_name_valid("-shop"));
        assert_false(ad_app_name_valid("shop-"));
        assert_false(ad_app_name_valid("sh op"));
        assert_false(ad_app_name_valid(""));
        assert_false(ad_app_name_valid("a23456789012345678901234567890123456789012"));
}

static void test_resource_names(void **state)
{
        char buf[128];

        (void)state;
        ad_name_container(buf, sizeof(buf), "shop", "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        assert_string_equal(buf, "ad-shop-0b7c4a526f7e");
        ad_name_network(buf, sizeof(buf), "shop");
        assert_string_equal(buf, "ad-shop");
        ad_name_route(buf, sizeof(buf), "shop");
        assert_string_equal(buf, "ad-route-shop");
        ad_name_image(buf, sizeof(buf), "127.0.0.1:5000", "shop", "latest");
        assert_string_equal(buf, "127.0.0.1:5000/shop:latest");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seal_open_round_trip),
                cmocka_unit_test(test_tampered_or_wrong_key_fails),
                cmocka_unit_test(test_bad_keys),
                cmocka_unit_test(test_app_names),
                cmocka_unit_test(test_resource_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
