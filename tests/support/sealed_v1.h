/* A value in the v1 sealed form (written before key ids and authenticated
 * data): AES-256-GCM under the configured key itself.  The code no longer
 * writes it; the tests make rows as older releases left them. */
#ifndef AD_TEST_SEALED_V1_H
#define AD_TEST_SEALED_V1_H

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "ad/secret.h"

/* NULL on failure; plain at most 256 bytes. */
static inline char *test_seal_v1(const struct ad_secret_key *key, const char *plain)
{
        unsigned char raw[12 + 256 + 16];
        size_t n = strlen(plain), prefix = strlen(AD_SECRET_PREFIX_V1);
        char *text = malloc(prefix + 4 * ((sizeof(raw) + 2) / 3) + 1);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len, ok;

        ok = n <= 256 && text != NULL && ctx != NULL && RAND_bytes(raw, 12) == 1 &&
             EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->bytes, raw) == 1 &&
             EVP_EncryptUpdate(ctx, raw + 12, &len, (const unsigned char *)plain, (int)n) == 1 &&
             EVP_EncryptFinal_ex(ctx, raw + 12 + len, &len) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + 12 + n) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (!ok) {
                free(text);
                return NULL;
        }
        memcpy(text, AD_SECRET_PREFIX_V1, prefix);
        EVP_EncodeBlock((unsigned char *)text + prefix, raw, (int)(12 + n + 16));
        return text;
}

#endif
