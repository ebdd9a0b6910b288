/* The base layer's hashes (ad/digest.h) against the RFCs' test vectors and
 * OpenSSL, the secrets key's derived parts unchanged by the move to them,
 * and the kernel's random generator under OpenSSL (ad/random.h). */
/* RAND_get_rand_method: deprecated, but what tells whose generator it is. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "ad/digest.h"
#include "ad/random.h"
#include "ad/secret.h"

static void hex(char *out, const unsigned char *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static size_t unhex(unsigned char *out, const char *s)
{
        size_t n = strlen(s) / 2;

        for (size_t i = 0; i < n; i++) {
                char byte[3] = { s[2 * i], s[2 * i + 1], 0 };
                out[i] = (unsigned char)strtoul(byte, NULL, 16);
        }
        return n;
}

static void test_sha(void **state)
{
        unsigned char md[AD_SHA256_LEN];
        char text[2 * AD_SHA256_LEN + 1];

        (void)state;
        ad_sha256(md, "abc", 3);
        hex(text, md, AD_SHA256_LEN);
        assert_string_equal(text,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ad_sha256(md, "", 0);
        hex(text, md, AD_SHA256_LEN);
        assert_string_equal(text,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        ad_sha1(md, "abc", 3);
        hex(text, md, AD_SHA1_LEN);
        assert_string_equal(text, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* RFC 4231 cases 1, 2 and 6 (a key longer than the block is hashed). */
static void test_hmac_rfc4231(void **state)
{
        unsigned char key[131], mac[AD_SHA256_LEN];
        char text[2 * AD_SHA256_LEN + 1];
        static const char *large = "Test Using Larger Than Block-Size Key - Hash Key First";

        (void)state;
        memset(key, 0x0b, 20);
        ad_hmac_sha256(mac, key, 20, "Hi There", 8);
        hex(text, mac, sizeof(mac));
        assert_string_equal(text,
                            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        ad_hmac_sha256(mac, "Jefe", 4, "what do ya want for nothing?", 28);
        hex(text, mac, sizeof(mac));
        assert_string_equal(text,
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        memset(key, 0xaa, sizeof(key));
        ad_hmac_sha256(mac, key, sizeof(key), large, strlen(large));
        hex(text, mac, sizeof(mac));
        assert_string_equal(text,
                            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* RFC 5869 cases 1 and 3 (no salt, no info). */
static void test_hkdf_rfc5869(void **state)
{
        unsigned char ikm[22], salt[13], info[10], okm[42];
        char text[2 * sizeof(okm) + 1];

        (void)state;
        memset(ikm, 0x0b, sizeof(ikm));
        unhex(salt, "000102030405060708090a0b0c");
        unhex(info, "f0f1f2f3f4f5f6f7f8f9");
        ad_hkdf_sha256(okm, sizeof(okm), salt, sizeof(salt), ikm, sizeof(ikm), info, sizeof(info));
        hex(text, okm, sizeof(okm));
        assert_string_equal(text, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                  "34007208d5b887185865");
        ad_hkdf_sha256(okm, sizeof(okm), "", 0, ikm, sizeof(ikm), "", 0);
        hex(text, okm, sizeof(okm));
        assert_string_equal(text, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                  "9d201395faa4b61a96c8");
}

/* What OpenSSL's HKDF made of a key before the move to ad_hkdf_sha256: the
 * sealing key, the fingerprint key and the key id must not change, or
 * stored values stop opening and fingerprints stop matching. */
static void openssl_hkdf(unsigned char out[32], const unsigned char ikm[32], const char *label)
{
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
        size_t len = 32;

        assert_non_null(pctx);
        assert_true(EVP_PKEY_derive_init(pctx) > 0);
        assert_true(EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) > 0);
        assert_true(EVP_PKEY_CTX_set1_hkdf_salt(pctx, (const unsigned char *)"app-deployer", 12) >
                    0);
        assert_true(EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm, 32) > 0);
        assert_true(EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *)label,
                                                (int)strlen(label)) > 0);
        assert_true(EVP_PKEY_derive(pctx, out, &len) > 0);
        assert_int_equal(len, 32);
        EVP_PKEY_CTX_free(pctx);
}

static void test_secret_key_parts_unchanged(void **state)
{
        struct ad_secret_key key;
        unsigned char want[32];
        char text[65];
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(ad_secret_key_parse(
                                 &key,
                                 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                                 &err),
                         0);
        hex(text, key.seal, 32);
        assert_string_equal(text,
                            "ef873b5e04242f8ce9ac571eba37c4696c58b89b29dcdd5851bf029ab3425f5e");
        hex(text, key.digest, 32);
        assert_string_equal(text,
                            "695c40031cb47d1da6c3bcf652df5ebb62ad81063809fb97901e180f3f436250");
        assert_string_equal(key.id, "28776439");
        openssl_hkdf(want, key.bytes, "app-deployer sealed v2");
        assert_memory_equal(want, key.seal, 32);
        openssl_hkdf(want, key.bytes, "app-deployer env digest v1");
        assert_memory_equal(want, key.digest, 32);
}

static void test_hmac_matches_openssl(void **state)
{
        unsigned char key[100], data[300], mac[AD_SHA256_LEN], want[EVP_MAX_MD_SIZE];
        unsigned int want_len = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(key); i++)
                key[i] = (unsigned char)(i * 7 + 1);
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (unsigned char)(i * 13 + 5);
        for (size_t klen = 0; klen <= sizeof(key); klen += 25) {
                ad_hmac_sha256(mac, key, klen, data, sizeof(data));
                assert_non_null(
                        HMAC(EVP_sha256(), key, (int)klen, data, sizeof(data), want, &want_len));
                assert_int_equal(want_len, AD_SHA256_LEN);
                assert_memory_equal(mac, want, AD_SHA256_LEN);
        }
}

static void test_digest_equal(void **state)
{
        (void)state;
        assert_true(ad_digest_equal("abcdef", "abcdef", 6));
        assert_false(ad_digest_equal("abcdef", "abcdeg", 6));
        assert_false(ad_digest_equal("xbcdef", "abcdef", 6));
        assert_true(ad_digest_equal("a", "b", 0));
}

/* After ad_random_use_kernel_for_openssl, OpenSSL's RAND_bytes and
 * RAND_priv_bytes are the kernel's, and what OpenSSL makes from them (a
 * key pair, as a TLS handshake does) still works. */
static void test_openssl_uses_the_kernel(void **state)
{
        unsigned char a[32], b[32], zero[32] = { 0 };
        EVP_PKEY *pkey;

        (void)state;
        assert_int_equal(ad_random_bytes(a, sizeof(a)), 0);
        assert_int_equal(ad_random_bytes(b, sizeof(b)), 0);
        assert_memory_not_equal(a, b, sizeof(a));
        assert_int_equal(ad_random_bytes(a, 0), 0);

        assert_ptr_equal(RAND_get_rand_method(), RAND_OpenSSL());
        assert_int_equal(ad_random_use_kernel_for_openssl(), 0);
        assert_ptr_not_equal(RAND_get_rand_method(), RAND_OpenSSL());
        assert_int_equal(RAND_status(), 1);
        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        assert_int_equal(RAND_bytes(a, sizeof(a)), 1);
        assert_int_equal(RAND_priv_bytes(b, sizeof(b)), 1);
        assert_memory_not_equal(a, zero, sizeof(a));
        assert_memory_not_equal(a, b, sizeof(a));
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(pkey);
        EVP_PKEY_free(pkey);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha),
                cmocka_unit_test(test_hmac_rfc4231),
                cmocka_unit_test(test_hkdf_rfc5869),
                cmocka_unit_test(test_secret_key_parts_unchanged),
                cmocka_unit_test(test_hmac_matches_openssl),
                cmocka_unit_test(test_digest_equal),
                cmocka_unit_test(test_openssl_uses_the_kernel),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
