/* Secrets at rest: the values of an app's environment variables travel on
 * the bus and sit in PostgreSQL sealed with AES-256-GCM under the platform
 * key (config secrets.key / AD_SECRETS_KEY: 64 hex characters).  Only the
 * deployer opens them, to hand them to the container.
 *
 * Sealed form: "sealed:v1:" + base64(12-byte nonce | ciphertext | 16-byte tag). */
#ifndef AD_SECRET_H
#define AD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define AD_SECRET_KEY_LEN 32
#define AD_SECRET_PREFIX "sealed:v1:"

struct ad_secret_key {
        unsigned char bytes[AD_SECRET_KEY_LEN];
};

/* Parses 64 hex characters. */
int ad_secret_key_parse(struct ad_secret_key *key, const char *hex, ad_error_t *err);

int ad_secret_seal(char **out, const struct ad_secret_key *key, const char *plain, ad_error_t *err);
/* Fails (AD_ERR_INVALID) on a tampered value or the wrong key. */
int ad_secret_open(char **out, const struct ad_secret_key *key, const char *sealed,
                   ad_error_t *err);
bool ad_secret_is_sealed(const char *value);

#endif
