/* The base layer's base64 (ad/base64.h): RFC 4648's test vectors in both
 * alphabets, and the strict decoder refusing every text that is not the
 * one canonical encoding of its bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ad/base64.h"

/* Decodes text; returns the return value, the bytes in out (NUL-ended). */
static int decode(const char *text, unsigned flags, char *out, size_t max)
{
        size_t len = 0;
        int ret = ad_base64_decode(text, strlen(text), flags, out, max, &len, NULL);

        if (ret == 0)
                out[len] = '\0';
        return ret;
}

static void test_rfc4648_vectors(void **state)
{
        static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        static const char *padded[] = { "",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        static const char *bare[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
        char enc[32], dec[32];

        (void)state;
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
                size_t n = strlen(plain[i]);

                assert_int_equal(ad_base64_encoded_len(n, AD_BASE64_PAD), strlen(padded[i]));
                assert_int_equal(ad_base64_encode(enc, plain[i], n, AD_BASE64_PAD),
                                 strlen(padded[i]));
                assert_string_equal(enc, padded[i]);
                assert_int_equal(ad_base64_encoded_len(n, AD_BASE64_URL), strlen(bare[i]));
                ad_base64_encode(enc, plain[i], n, AD_BASE64_URL);
                assert_string_equal(enc, bare[i]);

                assert_int_equal(decode(padded[i], AD_BASE64_PAD, dec, sizeof(dec)), 0);
                assert_string_equal(dec, plain[i]);
                /* padding is optional where it is accepted */
                assert_int_equal(decode(bare[i], AD_BASE64_PAD, dec, sizeof(dec)), 0);
                assert_string_equal(dec, plain[i]);
                assert_int_equal(decode(bare[i], AD_BASE64_URL, dec, sizeof(dec)), 0);
                assert_string_equal(dec, plain[i]);
        }
}

static void test_alphabets(void **state)
{
        const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
        char enc[8];
        unsigned char dec[4];
        size_t len;

        (void)state;
        ad_base64_encode(enc, bytes, 3, 0);
        assert_string_equal(enc, "+/+/");
        ad_base64_encode(enc, bytes, 3, AD_BASE64_URL);
        assert_string_equal(enc, "-_-_");
        assert_int_equal(ad_base64_decode("-_-_", 4, AD_BASE64_URL, dec, sizeof(dec), &len, NULL),
                         0);
        assert_int_equal(len, 3);
        assert_memory_equal(dec, bytes, 3);
        /* each alphabet refuses the other's two characters */
        assert_int_equal(ad_base64_decode("+/+/", 4, AD_BASE64_URL, dec, sizeof(dec), &len, NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(ad_base64_decode("-_-_", 4, 0, dec, sizeof(dec), &len, NULL),
                         -AD_ERR_INVALID);
}

static void test_strict(void **state)
{
        char dec[32];
        ad_error_t err = NULL;
        size_t len;

        (void)state;
        /* non-canonical unused bits: "QQ" is "A", "QR".."QW" are not */
        assert_int_equal(decode("QQ", AD_BASE64_URL, dec, sizeof(dec)), 0);
        assert_string_equal(dec, "A");
        assert_int_equal(decode("QR", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("QUF", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("QUE", AD_BASE64_URL, dec, sizeof(dec)), 0);
        assert_int_equal(decode("Zm9=", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        /* a length no encoding has */
        assert_int_equal(decode("Q", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zm9vY", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        /* padding: refused without the flag; where accepted, exactly to a
         * multiple of 4, at the end only */
        assert_int_equal(decode("Zg==", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zg=", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zg===", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zm9v====", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("====", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zg==Zm9v", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Z=g=", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        /* bad characters, a NUL among them */
        assert_int_equal(decode("Zm9v!", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(decode("Zm 9v", AD_BASE64_PAD, dec, sizeof(dec)), -AD_ERR_INVALID);
        assert_int_equal(ad_base64_decode("Zm\0v", 4, AD_BASE64_URL, dec, sizeof(dec), &len, NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(decode("Zm9v\xc3\xa9", AD_BASE64_URL, dec, sizeof(dec)), -AD_ERR_INVALID);
        /* the reason names the offset */
        assert_int_equal(ad_base64_decode("Zm9v*", 5, 0, dec, sizeof(dec), &len, &err),
                         -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "offset 4"));
        ad_error_release(&err);
}

static void test_space(void **state)
{
        char dec[32];

        (void)state;
        assert_int_equal(decode(" Zm9v\nYmFy\r\n", AD_BASE64_SPACE, dec, sizeof(dec)), 0);
        assert_string_equal(dec, "foobar");
        assert_int_equal(decode("Zm9vYg=\n=\n", AD_BASE64_SPACE | AD_BASE64_PAD, dec, sizeof(dec)),
                         0);
        assert_string_equal(dec, "foob");
        assert_int_equal(decode("Zm9vYg==\nZg", AD_BASE64_SPACE | AD_BASE64_PAD, dec, sizeof(dec)),
                         -AD_ERR_INVALID);
}

static void test_bounds(void **state)
{
        unsigned char dec[8];
        size_t len = 99;

        (void)state;
        /* "foobar" needs 6 bytes: 5 is too small, and nothing is written past it */
        memset(dec, 0xaa, sizeof(dec));
        assert_int_equal(ad_base64_decode("Zm9vYmFy", 8, 0, dec, 5, &len, NULL), -AD_ERR_TOO_LARGE);
        assert_int_equal(dec[5], 0xaa);
        assert_int_equal(len, 99); /* *len untouched on failure */
        assert_int_equal(ad_base64_decode("Zm9vYmFy", 8, 0, dec, 6, &len, NULL), 0);
        assert_int_equal(len, 6);
        assert_true(AD_BASE64_DECODED_MAX(8) >= 6);
        assert_true(AD_BASE64_DECODED_MAX(7) >= 5);
        assert_int_equal(ad_base64_decode("", 0, 0, dec, 0, &len, NULL), 0);
        assert_int_equal(len, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_alphabets),
                cmocka_unit_test(test_strict),          cmocka_unit_test(test_space),
                cmocka_unit_test(test_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
