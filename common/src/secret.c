#include "ad/secret.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define MAX_PLAIN (64 * 1024)

int ad_secret_key_parse(struct ad_secret_key *key, const char *hex, ad_error_t *err)
{
        if (hex == NULL || strlen(hex) != AD_SECRET_KEY_LEN * 2)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "secrets.key must be %d hex characters (e.g. from "
                                     "`openssl rand -hex 32`)",
                                     AD_SECRET_KEY_LEN * 2);
        for (int i = 0; i < AD_SECRET_KEY_LEN; i++) {
                char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };
                if (!isxdigit((unsigned char)byte[0]) || !isxdigit((unsigned char)byte[1]))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "secrets.key must be hex characters only");
                key->bytes[i] = (unsigned char)strtoul(byte, NULL, 16);
        }
        return 0;
}

bool ad_secret_is_sealed(const char *value)
{
        return value && strncmp(value, AD_SECRET_PREFIX, strlen(AD_SECRET_PREFIX)) == 0;
}

int ad_secret_seal(char **out, const struct ad_secret_key *key, const char *plain, ad_error_t *err)
{
        size_t n = strlen(plain), raw_len = NONCE_LEN + n + TAG_LEN;
        size_t prefix = strlen(AD_SECRET_PREFIX);
        unsigned char *raw = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        char *text = NULL;
        int len, ret = 0;

        if (n > MAX_PLAIN)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "secret larger than %d bytes",
                                     MAX_PLAIN);
        raw = malloc(raw_len);
        text = malloc(prefix + 4 * ((raw_len + 2) / 3) + 1);
        ctx = EVP_CIPHER_CTX_new();
        if (raw == NULL || text == NULL || ctx == NULL) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                goto out;
        }
        if (RAND_bytes(raw, NONCE_LEN) != 1 ||
            EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, raw) != 1 ||
            EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &len, (const unsigned char *)plain, (int)n) !=
                    1 ||
            EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + len, &len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "sealing a secret failed");
                goto out;
        }
        memcpy(text, AD_SECRET_PREFIX, prefix);
        EVP_EncodeBlock((unsigned char *)text + prefix, raw, (int)raw_len);
        *out = text;
        text = NULL;
out:
        EVP_CIPHER_CTX_free(ctx);
        free(raw);
        free(text);
        return ret;
}

int ad_secret_open(char **out, const struct ad_secret_key *key, const char *sealed, ad_error_t *err)
{
        const char *b64;
        size_t b64_len, raw_len, pad = 0;
        unsigned char *raw = NULL;
        char *plain = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        int len, n, ret = 0;

        if (!ad_secret_is_sealed(sealed))
                return ad_error_make(err, AD_ERR_INVALID, 0, "value is not sealed");
        b64 = sealed + strlen(AD_SECRET_PREFIX);
        b64_len = strlen(b64);
        if (b64_len % 4 != 0 || b64_len > 4 * ((MAX_PLAIN + NONCE_LEN + TAG_LEN + 2) / 3))
                return ad_error_make(err, AD_ERR_INVALID, 0, "sealed value is malformed");
        if (b64_len >= 1 && b64[b64_len - 1] == '=')
                pad++;
        if (b64_len >= 2 && b64[b64_len - 2] == '=')
                pad++;
        raw = malloc(b64_len / 4 * 3 + 1);
        if (raw == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
        if (n < 0 || (size_t)n < pad + NONCE_LEN + TAG_LEN) {
                ret = ad_error_make(err, AD_ERR_INVALID, 0, "sealed value is malformed");
                goto out;
        }
        raw_len = (size_t)n - pad;
        n = (int)(raw_len - NONCE_LEN - TAG_LEN);
        plain = malloc((size_t)n + 1);
        ctx = EVP_CIPHER_CTX_new();
        if (plain == NULL || ctx == NULL) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                goto out;
        }
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, raw) != 1 ||
            EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, raw + NONCE_LEN, n) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1 ||
            EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len) != 1) {
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "sealed value does not open with this key (tampered, or "
                                    "sealed under another secrets.key)");
                goto out;
        }
        plain[n] = '\0';
        *out = plain;
        plain = NULL;
out:
        EVP_CIPHER_CTX_free(ctx);
        free(raw);
        free(plain);
        return ret;
}
