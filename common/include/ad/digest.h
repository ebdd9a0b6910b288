/* Hashes and MACs of the tree: SHA-256 (derived ids, token and manifest
 * digests), HMAC-SHA256 (JWTs, env fingerprints), HKDF-SHA256 (the parts
 * of a secrets key) and SHA-1 (the WebSocket handshake).  In the base
 * layer, over nettle: its functions need no set-up, whereas OpenSSL 3's
 * first digest builds its provider's method tables, about 2 MiB of every
 * service that never needs anything else from it (docs/benchmarks.md).
 * AES-GCM (ad/secret.h) stays with OpenSSL. */
#ifndef AD_DIGEST_H
#define AD_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define AD_SHA256_LEN 32
#define AD_SHA1_LEN 20

void ad_sha256(unsigned char out[AD_SHA256_LEN], const void *data, size_t len);
void ad_sha1(unsigned char out[AD_SHA1_LEN], const void *data, size_t len);
void ad_hmac_sha256(unsigned char out[AD_SHA256_LEN], const void *key, size_t key_len,
                    const void *data, size_t len);
/* RFC 5869: extract with salt, then expand with info to out_len bytes (at
 * most 255 * AD_SHA256_LEN). */
void ad_hkdf_sha256(unsigned char *out, size_t out_len, const void *salt, size_t salt_len,
                    const void *ikm, size_t ikm_len, const void *info, size_t info_len);
/* Compares in time that depends on n only, not on where a and b differ. */
bool ad_digest_equal(const void *a, const void *b, size_t n);

#endif
