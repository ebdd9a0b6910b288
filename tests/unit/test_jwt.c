/* JWTs without a server (services/api/api_jwt.c): api.jwt_keys, a token
 * signed and verified, and each refusal with its reason (the messages
 * test_jwt.sh sees through the API).  The same functions
 * tests/fuzz/fuzz_jwt.c drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_jwt.h"

#define NOW 1800000000L
#define S1 "secret-one-0123456789abcdef0123456789"
#define S2 "secret-two-0123456789abcdef0123456789"

static void keys_of(struct api_jwt_keys *k, const char *spec)
{
        ad_error_t err = NULL;

        if (api_jwt_keys_parse(k, spec, &err) < 0)
                fail_msg("%s: %s", spec, ad_error_message(err));
        strcpy(k->issuer, "app-deployer");
        strcpy(k->audience, "app-deployer-api");
        k->ttl_s = 900;
}

static char *sign(const struct api_jwt_keys *k, long now)
{
        struct api_jwt_claims c = { .role = API_ROLE_DEPLOYER };
        ad_error_t err = NULL;
        char *token = NULL;
        long exp;

        strcpy(c.key_id, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        strcpy(c.team_id, "1b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        strcpy(c.team, "red");
        strcpy(c.sub, "red/ci");
        if (api_jwt_sign(k, &c, now, &token, &exp, &err) < 0)
                fail_msg("sign: %s", ad_error_message(err));
        assert_int_equal(exp, now + k->ttl_s);
        return token;
}

static void expect_refused(const struct api_jwt_keys *k, const char *token, long now,
                           const char *needle)
{
        struct api_jwt_claims c;
        ad_error_t err = NULL;

        assert_true(api_jwt_verify(k, token, now, &c, &err) < 0);
        assert_non_null(err);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        if (strstr(ad_error_message(err), needle) == NULL)
                fail_msg("message \"%s\" lacks \"%s\"", ad_error_message(err), needle);
        ad_error_release(&err);
}

static void test_keys_parse(void **state)
{
        struct api_jwt_keys k;
        ad_error_t err = NULL;
        const char *bad[][2] = {
                { "k1", "no `:`" },
                { "k1:short", "a secret is 32" },
                { ":" S1, "a key id is 1 to" },
                { "k/1:" S1, "letters, digits" },
                { "k1:" S1 ",k1:" S2, "listed twice" },
        };

        (void)state;
        assert_int_equal(api_jwt_keys_parse(&k, "", &err), 0);
        assert_int_equal(k.n, 0);
        assert_int_equal(api_jwt_keys_parse(&k, " k2:" S2 " , k1:" S1 ",", &err), 0);
        assert_int_equal(k.n, 2);
        assert_string_equal(k.key[0].kid, "k2");
        assert_int_equal(k.key[0].len, strlen(S2));
        assert_memory_equal(k.key[1].secret, S1, strlen(S1));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_true(api_jwt_keys_parse(&k, bad[i][0], &err) < 0);
                if (strstr(ad_error_message(err), bad[i][1]) == NULL)
                        fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], ad_error_message(err),
                                 bad[i][1]);
                /* The secret is never in a message. */
                assert_null(strstr(ad_error_message(err), "secret-"));
                ad_error_release(&err);
        }
}

static void test_round_trip_and_rotation(void **state)
{
        struct api_jwt_keys old, both, next;
        struct api_jwt_claims c;
        ad_error_t err = NULL;
        char *t1, *t2;

        (void)state;
        keys_of(&old, "k1:" S1);
        keys_of(&both, "k2:" S2 ",k1:" S1);
        keys_of(&next, "k2:" S2);
        t1 = sign(&old, NOW);
        assert_int_equal(api_jwt_verify(&old, t1, NOW + 1, &c, &err), 0);
        assert_string_equal(c.kid, "k1");
        assert_string_equal(c.team, "red");
        assert_string_equal(c.sub, "red/ci");
        assert_int_equal(c.role, API_ROLE_DEPLOYER);
        assert_string_equal(c.key_id, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        /* Rotation: the previous key still listed verifies; new tokens
         * are the first key's; a retired key's tokens are refused. */
        assert_int_equal(api_jwt_verify(&both, t1, NOW + 1, &c, &err), 0);
        t2 = sign(&both, NOW);
        assert_int_equal(api_jwt_verify(&next, t2, NOW + 1, &c, &err), 0);
        assert_string_equal(c.kid, "k2");
        expect_refused(&next, t1, NOW + 1, "unknown signing key id `k1`");
        /* A token the other key of the same id signed. */
        keys_of(&next, "k1:" S2);
        expect_refused(&next, t1, NOW + 1, "bad token signature");
        free(t1);
        free(t2);
}

static void test_refusals(void **state)
{
        struct api_jwt_keys k, other;
        char *t, *forged;
        size_t n;

        (void)state;
        keys_of(&k, "k1:" S1);
        t = sign(&k, NOW);
        expect_refused(&k, t, NOW + 900, "token expired at");
        expect_refused(&k, t, NOW - 3600, "not valid before");
        other = k;
        strcpy(other.audience, "other-api");
        expect_refused(&other, t, NOW, "wrong token audience `app-deployer-api`");
        other = k;
        strcpy(other.issuer, "someone");
        expect_refused(&other, t, NOW, "wrong token issuer");
        /* The last signature character changed. */
        forged = strdup(t);
        n = strlen(forged);
        forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
        expect_refused(&k, forged, NOW, "bad token signature");
        free(forged);
        expect_refused(&k, "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.e30.", NOW, "HS256 only");
        expect_refused(&k, "eyJhbGciOiJIUzI1NiJ9.e30.x", NOW, "no key id");
        expect_refused(&k, "eyJ!!.e30.x", NOW, "not base64url");
        expect_refused(&k, "eyJhbGciOiJIUzI1NiJ9.e30", NOW, "three base64url parts");
        expect_refused(&k, "adk_0000", NOW, "three base64url parts");
        free(t);
}

static void test_bearer(void **state)
{
        (void)state;
        assert_string_equal(api_bearer_credential("Bearer abc"), "abc");
        assert_string_equal(api_bearer_credential("bearer   abc"), "abc");
        assert_null(api_bearer_credential("Basic abc"));
        assert_null(api_bearer_credential("Bearer    "));
        assert_null(api_bearer_credential(NULL));
        assert_true(api_jwt_looks_like("eyJa.b.c"));
        assert_false(api_jwt_looks_like("eyJa.b.c.d"));
        assert_false(api_jwt_looks_like("adk_x.y.z"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keys_parse),
                cmocka_unit_test(test_round_trip_and_rotation),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_bearer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
