#include "ad/digest.h"

#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

void ad_sha256(unsigned char out[AD_SHA256_LEN], const void *data, size_t len)
{
        struct sha256_ctx ctx;

        sha256_init(&ctx);
        sha256_update(&ctx, len, data);
        sha256_digest(&ctx, AD_SHA256_LEN, out);
}

void ad_sha1(unsigned char out[AD_SHA1_LEN], const void *data, size_t len)
{
        struct sha1_ctx ctx;

        sha1_init(&ctx);
        sha1_update(&ctx, len, data);
        sha1_digest(&ctx, AD_SHA1_LEN, out);
}

void ad_hmac_sha256(unsigned char out[AD_SHA256_LEN], const void *key, size_t key_len,
                    const void *data, size_t len)
{
        struct hmac_sha256_ctx ctx;

        hmac_sha256_set_key(&ctx, key_len, key);
        hmac_sha256_update(&ctx, len, data);
        hmac_sha256_digest(&ctx, AD_SHA256_LEN, out);
}

void ad_hkdf_sha256(unsigned char *out, size_t out_len, const void *salt, size_t salt_len,
                    const void *ikm, size_t ikm_len, const void *info, size_t info_len)
{
        struct hmac_sha256_ctx ctx;
        unsigned char prk[AD_SHA256_LEN];

        hmac_sha256_set_key(&ctx, salt_len, salt);
        hkdf_extract(&ctx, (nettle_hash_update_func *)hmac_sha256_update,
                     (nettle_hash_digest_func *)hmac_sha256_digest, AD_SHA256_LEN, ikm_len, ikm,
                     prk);
        hmac_sha256_set_key(&ctx, sizeof(prk), prk);
        hkdf_expand(&ctx, (nettle_hash_update_func *)hmac_sha256_update,
                    (nettle_hash_digest_func *)hmac_sha256_digest, AD_SHA256_LEN, info_len, info,
                    out_len, out);
}

bool ad_digest_equal(const void *a, const void *b, size_t n)
{
        return memeql_sec(a, b, n) != 0;
}
