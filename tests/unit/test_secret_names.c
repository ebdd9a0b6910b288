/* Sealed secrets and resource names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/sealed_v1.h"

#include "ad/names.h"
#include "ad/secret.h"

static const char *const hexkey =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static const char *const hexkey2 =
        "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

static void test_seal_open_round_trip(void **state)
{
        struct ad_secret_key key;
        struct ad_secret_keyring ring;
        ad_error_t err = NULL;
        char *sealed = NULL, *sealed2 = NULL, *plain = NULL;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        ad_secret_keyring_of(&ring, &key);
        assert_int_equal(
                ad_secret_seal(&sealed, &key, "shop", "DB_URL", "postgres://u:hunter2@db/x", &err),
                0);
        assert_true(ad_secret_is_sealed(sealed));
        assert_null(strstr(sealed, "hunter2"));
        /* The current form names its key. */
        assert_int_equal(strncmp(sealed, AD_SECRET_PREFIX_V2, strlen(AD_SECRET_PREFIX_V2)), 0);
        assert_int_equal(strncmp(sealed + strlen(AD_SECRET_PREFIX_V2), key.id, 8), 0);
        assert_true(ad_secret_is_current(sealed, &key));
        /* A fresh nonce each time: equal values do not look equal. */
        assert_int_equal(
                ad_secret_seal(&sealed2, &key, "shop", "DB_URL", "postgres://u:hunter2@db/x", &err),
                0);
        assert_string_not_equal(sealed, sealed2);
        assert_int_equal(ad_secret_open(&plain, &ring, "shop", "DB_URL", sealed, &err), 0);
        assert_string_equal(plain, "postgres://u:hunter2@db/x");
        free(plain);
        plain = NULL;
        assert_int_equal(ad_secret_seal(&plain, &key, "shop", "E", "", &err), 0);
        free(sealed2);
        assert_int_equal(ad_secret_open(&sealed2, &ring, "shop", "E", plain, &err), 0);
        assert_string_equal(sealed2, "");
        free(plain);
        free(sealed2);
        free(sealed);
}

static void test_tampered_or_wrong_key_fails(void **state)
{
        struct ad_secret_key key, other;
        struct ad_secret_keyring ring, other_ring;
        ad_error_t err = NULL;
        char *sealed = NULL, *plain = NULL;
        size_t n;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        assert_int_equal(ad_secret_key_parse(&other, hexkey2, &err), 0);
        ad_secret_keyring_of(&ring, &key);
        ad_secret_keyring_of(&other_ring, &other);
        assert_int_equal(ad_secret_seal(&sealed, &key, "shop", "V", "value", &err), 0);
        assert_true(ad_secret_open(&plain, &other_ring, "shop", "V", sealed, &err) < 0);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), key.id)); /* names the missing key */
        ad_error_release(&err);
        /* Another key with the same id (forged): still does not open. */
        memcpy(other.id, key.id, sizeof(key.id));
        ad_secret_keyring_of(&other_ring, &other);
        assert_true(ad_secret_open(&plain, &other_ring, "shop", "V", sealed, &err) < 0);
        ad_error_release(&err);
        n = strlen(sealed);
        sealed[n - 6] = sealed[n - 6] == 'A' ? 'B' : 'A';
        assert_true(ad_secret_open(&plain, &ring, "shop", "V", sealed, &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &ring, "shop", "V", "sealed:v1:!!!", &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &ring, "shop", "V", "sealed:v1:AAAA", &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &ring, "shop", "V", "plain", &err) < 0);
        ad_error_release(&err);
        assert_null(plain);
        free(sealed);
}

/* The attack: a sealed value copied to another variable, or to another
 * app's config, does not open there. */
static void test_value_bound_to_app_and_name(void **state)
{
        struct ad_secret_key key;
        struct ad_secret_keyring ring;
        ad_error_t err = NULL;
        char *sealed = NULL, *plain = NULL;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        ad_secret_keyring_of(&ring, &key);
        assert_int_equal(ad_secret_seal(&sealed, &key, "shop", "DB_PASSWORD", "hunter2", &err), 0);
        assert_true(ad_secret_open(&plain, &ring, "shop", "GREETING", sealed, &err) < 0);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "another app or variable"));
        assert_null(strstr(ad_error_message(err), sealed + 20));
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &ring, "blog", "DB_PASSWORD", sealed, &err) < 0);
        ad_error_release(&err);
        /* The parts' boundaries count: ("shop", "DB_PASSWORD") is not
         * ("shopD", "B_PASSWORD"). */
        assert_true(ad_secret_open(&plain, &ring, "shopD", "B_PASSWORD", sealed, &err) < 0);
        ad_error_release(&err);
        assert_null(plain);
        assert_int_equal(ad_secret_open(&plain, &ring, "shop", "DB_PASSWORD", sealed, &err), 0);
        assert_string_equal(plain, "hunter2");
        free(plain);
        free(sealed);
}

/* Rotation: the current key seals, old keys still open what they sealed,
 * v1 values (no key id) open with whichever key sealed them. */
static void test_key_ring(void **state)
{
        struct ad_secret_keyring old_ring, ring, new_only;
        ad_error_t err = NULL;
        char *old_v2 = NULL, *new_v2 = NULL, *v1 = NULL, *plain = NULL;
        char both[200];

        (void)state;
        assert_int_equal(ad_secret_keyring_parse(&old_ring, hexkey, NULL, &err), 0);
        assert_int_equal(old_ring.n, 1);
        snprintf(both, sizeof(both), " %s , ", hexkey);
        assert_int_equal(ad_secret_keyring_parse(&ring, hexkey2, both, &err), 0);
        assert_int_equal(ring.n, 2);
        assert_string_equal(ring.keys[1].id, old_ring.keys[0].id);
        assert_string_not_equal(ring.keys[0].id, ring.keys[1].id);
        assert_int_equal(ad_secret_keyring_parse(&new_only, hexkey2, "", &err), 0);

        assert_int_equal(ad_secret_seal(&old_v2, &old_ring.keys[0], "a", "X", "old", &err), 0);
        assert_int_equal(ad_secret_seal(&new_v2, &ring.keys[0], "a", "X", "new", &err), 0);
        v1 = test_seal_v1(&old_ring.keys[0], "legacy");
        assert_true(ad_secret_is_sealed(v1));
        assert_false(ad_secret_is_current(v1, &ring.keys[0]));
        assert_false(ad_secret_is_current(old_v2, &ring.keys[0]));
        assert_true(ad_secret_is_current(new_v2, &ring.keys[0]));

        assert_int_equal(ad_secret_open(&plain, &ring, "a", "X", old_v2, &err), 0);
        assert_string_equal(plain, "old");
        free(plain);
        assert_int_equal(ad_secret_open(&plain, &ring, "a", "X", new_v2, &err), 0);
        assert_string_equal(plain, "new");
        free(plain);
        /* A v1 value opens in any app and variable (it was never bound). */
        assert_int_equal(ad_secret_open(&plain, &ring, "b", "Y", v1, &err), 0);
        assert_string_equal(plain, "legacy");
        free(plain);
        plain = NULL;
        /* With the old key dropped, what it sealed no longer opens. */
        assert_true(ad_secret_open(&plain, &new_only, "a", "X", old_v2, &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_open(&plain, &new_only, "a", "X", v1, &err) < 0);
        ad_error_release(&err);
        assert_null(plain);

        /* Bad rings. */
        snprintf(both, sizeof(both), "%s,%s", hexkey, hexkey);
        assert_true(ad_secret_keyring_parse(&ring, hexkey2, both, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "twice"));
        ad_error_release(&err);
        assert_true(ad_secret_keyring_parse(&ring, hexkey2, hexkey2, &err) < 0);
        ad_error_release(&err);
        assert_true(ad_secret_keyring_parse(&ring, hexkey2, "abc", &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "secrets.old_keys"));
        assert_null(strstr(ad_error_message(err), "abc"));
        ad_error_release(&err);
        assert_true(ad_secret_keyring_parse(&ring, "", hexkey, &err) < 0);
        ad_error_release(&err);
        free(old_v2);
        free(new_v2);
        free(v1);
}

/* The derived parts differ from the key and from each other: the
 * fingerprint key is not the sealing key. */
static void test_derived_keys(void **state)
{
        struct ad_secret_key key, again;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(ad_secret_key_parse(&key, hexkey, &err), 0);
        assert_int_equal(ad_secret_key_parse(&again, hexkey, &err), 0);
        assert_memory_equal(&key, &again, sizeof(key)); /* deterministic */
        assert_memory_not_equal(key.seal, key.bytes, AD_SECRET_KEY_LEN);
        assert_memory_not_equal(key.digest, key.bytes, AD_SECRET_KEY_LEN);
        assert_memory_not_equal(key.digest, key.seal, AD_SECRET_KEY_LEN);
        assert_int_equal(strlen(key.id), AD_SECRET_KEY_ID_LEN);
        assert_null(strstr(hexkey, key.id));
}

static void test_sealed_parse(void **state)
{
        struct ad_sealed s;
        ad_error_t err = NULL;
        static const char *const bad[] = {
                "sealed:",
                "sealed:v3:AAAA",
                "sealed:v2:AAAA",
                "sealed:v2:0123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "sealed:v2:0123456G:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "sealed:v2:01234567AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "sealed:v2:01234567:",
                "sealed:v2:01234567:AAAA",
                "sealed:v1:AAAA=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                "sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA A",
                "sealed:v1:====",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (ad_sealed_parse(&s, bad[i], &err) == 0)
                        fail_msg("`%s` parsed", bad[i]);
                ad_error_release(&err);
        }
        assert_int_equal(
                ad_sealed_parse(&s, "sealed:v2:0123abcd:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                &err),
                0);
        assert_int_equal(s.version, 2);
        assert_string_equal(s.key_id, "0123abcd");
        assert_int_equal(s.raw_len, 30);
        ad_sealed_clear(&s);
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

/* Process types: the names a Procfile may use, and the type of a
 * container told by its name (deployer/process.c names them). */
static void test_process_names(void **state)
{
        char t[AD_PROCESS_NAME_MAX + 1];

        (void)state;
        assert_true(ad_process_name_valid("worker", 6));
        assert_true(ad_process_name_valid("clock-2", 7));
        assert_true(ad_process_name_valid("abcdefghijabcdefghijabcdefghij", 30));
        assert_false(ad_process_name_valid("abcdefghijabcdefghijabcdefghijk", 31));
        assert_false(ad_process_name_valid("Worker", 6));
        assert_false(ad_process_name_valid("my_worker", 9));
        assert_false(ad_process_name_valid("2nd", 3));
        assert_false(ad_process_name_valid("worker-", 7));
        assert_false(ad_process_name_valid("", 0));
        assert_false(ad_process_name_valid(NULL, 3));
        ad_name_process_type(t, "ad-shop-0b7c4a526f7e", "shop");
        assert_string_equal(t, "web");
        ad_name_process_type(t, "ad-shop-0b7c4a526f7e-3", "shop");
        assert_string_equal(t, "web");
        ad_name_process_type(t, "ad-shop-0b7c4a526f7e-worker-2", "shop");
        assert_string_equal(t, "worker");
        ad_name_process_type(t, "ad-my-shop-0b7c4a526f7e-clock-2-1", "my-shop");
        assert_string_equal(t, "clock-2");
        ad_name_process_type(t, "ad-shop-0b7c4a526f7e-Bad_Name-1", "shop");
        assert_string_equal(t, "web");
        ad_name_process_type(t, "short", "shop");
        assert_string_equal(t, "web");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seal_open_round_trip),
                cmocka_unit_test(test_tampered_or_wrong_key_fails),
                cmocka_unit_test(test_value_bound_to_app_and_name),
                cmocka_unit_test(test_key_ring),
                cmocka_unit_test(test_derived_keys),
                cmocka_unit_test(test_sealed_parse),
                cmocka_unit_test(test_bad_keys),
                cmocka_unit_test(test_app_names),
                cmocka_unit_test(test_resource_names),
                cmocka_unit_test(test_process_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
