/* Secrets at rest: the values of an app's environment variables travel on
 * the bus and sit in PostgreSQL sealed with AES-256-GCM.  The API seals,
 * the deployer (and the API's config reader) opens.
 *
 * Keys.  secrets.key (AD_SECRETS_KEY, 64 hex characters) is the current
 * key: it seals.  secrets.old_keys (comma-separated, same form) are keys
 * that still open what they sealed, until `adapi secrets rotate` has
 * re-sealed every stored value under the current key.  Each configured key
 * is never used directly on v2 values: HKDF-SHA256 derives from it a
 * sealing key, a fingerprint (HMAC) key and a public key id, each with its
 * own label, so the sealing key and the idempotency fingerprints' key are
 * independent.
 *
 * Sealed forms:
 *   v2 "sealed:v2:" <key id: 8 hex> ":" base64(12-byte nonce | ciphertext | 16-byte tag)
 *      under the derived sealing key, with additional authenticated data
 *      "app-deployer sealed v2" NUL <key id> NUL <app> NUL <variable name>:
 *      a value opens only as the variable it was sealed for, in its app.
 *   v1 "sealed:v1:" base64(nonce | ciphertext | tag) under the configured
 *      key itself, no authenticated data: still opened (by every
 *      configured key in turn), never written; rotation replaces them. */
#ifndef AD_SECRET_H
#define AD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define AD_SECRET_KEY_LEN 32
#define AD_SECRET_KEY_ID_LEN 8
/* The current key and up to seven old ones. */
#define AD_SECRET_MAX_KEYS 8
/* Every sealed form starts with it. */
#define AD_SECRET_PREFIX "sealed:"
#define AD_SECRET_PREFIX_V1 "sealed:v1:"
#define AD_SECRET_PREFIX_V2 "sealed:v2:"
/* The longest plain value sealed. */
#define AD_SECRET_MAX_PLAIN (64 * 1024)

struct ad_secret_key {
        unsigned char bytes[AD_SECRET_KEY_LEN];  /* as configured (opens v1 values) */
        unsigned char seal[AD_SECRET_KEY_LEN];   /* derived: seals and opens v2 values */
        unsigned char digest[AD_SECRET_KEY_LEN]; /* derived: HMAC key for fingerprints */
        char id[AD_SECRET_KEY_ID_LEN + 1];       /* derived, public: names the key */
};

/* keys[0] is the current key (seals); every key opens. */
struct ad_secret_keyring {
        struct ad_secret_key keys[AD_SECRET_MAX_KEYS];
        size_t n;
};

/* A sealed value taken apart (no key needed). */
struct ad_sealed {
        int version;                           /* 1 or 2 */
        char key_id[AD_SECRET_KEY_ID_LEN + 1]; /* v2; "" for v1 */
        unsigned char *raw;                    /* nonce | ciphertext | tag (owned) */
        size_t raw_len;
};

/* Parses 64 hex characters and derives the key's parts. */
int ad_secret_key_parse(struct ad_secret_key *key, const char *hex, ad_error_t *err);
/* The current key (required) and the old ones (comma-separated, may be
 * NULL or empty).  Refuses a repeated key. */
int ad_secret_keyring_parse(struct ad_secret_keyring *ring, const char *current, const char *old,
                            ad_error_t *err);
/* A ring of one key. */
void ad_secret_keyring_of(struct ad_secret_keyring *ring, const struct ad_secret_key *key);

/* Seals plain (at most AD_SECRET_MAX_PLAIN bytes) under key, bound to the
 * variable name of app (v2). */
int ad_secret_seal(char **out, const struct ad_secret_key *key, const char *app, const char *name,
                   const char *plain, ad_error_t *err);
/* Opens a v2 value with the ring's key of its id, bound to app and name,
 * or a v1 value with whichever key opens it.  AD_ERR_INVALID for a
 * malformed or tampered value, one sealed for another app or variable, or
 * under a key the ring lacks.  The message never quotes the value. */
int ad_secret_open(char **out, const struct ad_secret_keyring *ring, const char *app,
                   const char *name, const char *sealed, ad_error_t *err);
bool ad_secret_is_sealed(const char *value);
/* Takes a sealed value apart; AD_ERR_INVALID when it is not one. */
int ad_sealed_parse(struct ad_sealed *out, const char *sealed, ad_error_t *err);
void ad_sealed_clear(struct ad_sealed *s);
/* True when value is sealed in the current form under key (nothing for
 * rotation to do); it is not opened. */
bool ad_secret_is_current(const char *value, const struct ad_secret_key *key);

/* Credentials in a repository URL (https://user:token@host/owner/repo):
 * the API seals the password in place, so every copy of the URL (the
 * request, the events, the deployments and apps rows) holds it sealed;
 * the services that clone (analyzer, builder) open it just before the
 * clone.  The sealed form is percent-encoded (`sealed%3Av2%3A...`), bound
 * to app and the name AD_SECRET_URL_NAME; the user name stays in clear.
 * The password is sealed as written (percent-encoding included). */
#define AD_SECRET_URL_NAME "repo_url"
/* Whether url's userinfo has a password (sealed or not); and whether it
 * is sealed. */
bool ad_secret_url_has_password(const char *url);
bool ad_secret_url_is_sealed(const char *url);
/* True when url's password is sealed in the current form under key
 * (nothing for rotation to do); it is not opened. */
bool ad_secret_url_is_current(const char *url, const struct ad_secret_key *key);
/* A copy of url with its password sealed under key; a URL without one
 * (or sealed already) is copied as it is. */
int ad_secret_url_seal(char **out, const struct ad_secret_key *key, const char *app,
                       const char *url, ad_error_t *err);
/* A copy of url with its sealed password opened (ring may be NULL when the
 * URL holds none: copied as it is).  AD_ERR_INVALID when it does not open;
 * the message names neither the password nor the sealed form. */
int ad_secret_url_open(char **out, const struct ad_secret_keyring *ring, const char *app,
                       const char *url, ad_error_t *err);

#endif
