#include "ad/secret.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/digest.h"
#include "ad/random.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define MAX_B64 (4 * ((AD_SECRET_MAX_PLAIN + NONCE_LEN + TAG_LEN + 2) / 3))
/* HKDF's salt and the labels of the parts derived from a configured key:
 * changing one changes every v2 value's meaning. */
#define KDF_SALT "app-deployer"
#define LABEL_SEAL "app-deployer sealed v2"
#define LABEL_DIGEST "app-deployer env digest v1"
#define LABEL_ID "app-deployer key id v1"
#define AAD_TAG "app-deployer sealed v2"

static void hkdf(unsigned char out[AD_SECRET_KEY_LEN], const unsigned char *ikm, const char *label)
{
        ad_hkdf_sha256(out, AD_SECRET_KEY_LEN, KDF_SALT, strlen(KDF_SALT), ikm, AD_SECRET_KEY_LEN,
                       label, strlen(label));
}

int ad_secret_key_parse(struct ad_secret_key *key, const char *hex, ad_error_t *err)
{
        unsigned char id[AD_SECRET_KEY_LEN];

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
        hkdf(key->seal, key->bytes, LABEL_SEAL);
        hkdf(key->digest, key->bytes, LABEL_DIGEST);
        hkdf(id, key->bytes, LABEL_ID);
        for (int i = 0; i < AD_SECRET_KEY_ID_LEN / 2; i++)
                snprintf(key->id + 2 * i, 3, "%02x", id[i]);
        return 0;
}

void ad_secret_keyring_of(struct ad_secret_keyring *ring, const struct ad_secret_key *key)
{
        memset(ring, 0, sizeof(*ring));
        ring->keys[0] = *key;
        ring->n = 1;
}

int ad_secret_keyring_parse(struct ad_secret_keyring *ring, const char *current, const char *old,
                            ad_error_t *err)
{
        struct ad_secret_keyring r = { .n = 0 };
        int ret = ad_secret_key_parse(&r.keys[0], current, err);

        if (ret < 0)
                return ret;
        r.n = 1;
        for (const char *p = old ? old : ""; *p;) {
                size_t len = strcspn(p, ","), lead = 0;
                char hex[AD_SECRET_KEY_LEN * 2 + 1];

                while (lead < len && p[lead] == ' ')
                        lead++;
                while (len > lead && p[len - 1] == ' ')
                        len--;
                if (len > lead) {
                        if (r.n == AD_SECRET_MAX_KEYS)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "secrets.old_keys: at most %d old keys",
                                                     AD_SECRET_MAX_KEYS - 1);
                        if (len - lead != AD_SECRET_KEY_LEN * 2)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "secrets.old_keys: key %zu is not %d hex "
                                                     "characters",
                                                     r.n, AD_SECRET_KEY_LEN * 2);
                        memcpy(hex, p + lead, len - lead);
                        hex[len - lead] = '\0';
                        ret = ad_secret_key_parse(&r.keys[r.n], hex, err);
                        explicit_bzero(hex, sizeof(hex));
                        if (ret < 0)
                                return ad_error_wrap(err, "secrets.old_keys: key %zu", r.n);
                        for (size_t i = 0; i < r.n; i++)
                                if (memcmp(r.keys[i].bytes, r.keys[r.n].bytes, AD_SECRET_KEY_LEN) ==
                                    0)
                                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                                             "secrets.old_keys: key %s is given "
                                                             "twice (or is secrets.key)",
                                                             r.keys[r.n].id);
                        r.n++;
                }
                p += strcspn(p, ",");
                if (*p == ',')
                        p++;
        }
        *ring = r;
        explicit_bzero(&r, sizeof(r));
        return 0;
}

bool ad_secret_is_sealed(const char *value)
{
        return value && strncmp(value, AD_SECRET_PREFIX, strlen(AD_SECRET_PREFIX)) == 0;
}

void ad_sealed_clear(struct ad_sealed *s)
{
        free(s->raw);
        s->raw = NULL;
        s->raw_len = 0;
}

static bool b64_char(char c)
{
        return isalnum((unsigned char)c) || c == '+' || c == '/';
}

static bool key_id_valid(const char *s)
{
        for (int i = 0; i < AD_SECRET_KEY_ID_LEN; i++)
                if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return true;
}

int ad_sealed_parse(struct ad_sealed *out, const char *sealed, ad_error_t *err)
{
        struct ad_sealed s = { 0 };
        const char *b64;
        size_t b64_len, pad = 0;
        int n;

        if (!ad_secret_is_sealed(sealed))
                return ad_error_make(err, AD_ERR_INVALID, 0, "value is not sealed");
        if (strncmp(sealed, AD_SECRET_PREFIX_V1, strlen(AD_SECRET_PREFIX_V1)) == 0) {
                s.version = 1;
                b64 = sealed + strlen(AD_SECRET_PREFIX_V1);
        } else if (strncmp(sealed, AD_SECRET_PREFIX_V2, strlen(AD_SECRET_PREFIX_V2)) == 0) {
                const char *id = sealed + strlen(AD_SECRET_PREFIX_V2);

                if (strnlen(id, AD_SECRET_KEY_ID_LEN + 1) < AD_SECRET_KEY_ID_LEN + 1 ||
                    !key_id_valid(id) || id[AD_SECRET_KEY_ID_LEN] != ':')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "sealed value is malformed (no key id)");
                s.version = 2;
                memcpy(s.key_id, id, AD_SECRET_KEY_ID_LEN);
                b64 = id + AD_SECRET_KEY_ID_LEN + 1;
        } else {
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "sealed value of an unknown version (this build reads v1 "
                                     "and v2)");
        }
        b64_len = strnlen(b64, MAX_B64 + 1);
        if (b64_len % 4 != 0 || b64_len > MAX_B64 || b64_len == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "sealed value is malformed");
        if (b64[b64_len - 1] == '=')
                pad++;
        if (b64[b64_len - 2] == '=')
                pad++;
        for (size_t i = 0; i < b64_len - pad; i++)
                if (!b64_char(b64[i]))
                        return ad_error_make(err, AD_ERR_INVALID, 0, "sealed value is malformed");
        s.raw = malloc(b64_len / 4 * 3 + 1);
        if (s.raw == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        n = EVP_DecodeBlock(s.raw, (const unsigned char *)b64, (int)b64_len);
        if (n < 0 || (size_t)n < pad + NONCE_LEN + TAG_LEN) {
                ad_sealed_clear(&s);
                return ad_error_make(err, AD_ERR_INVALID, 0, "sealed value is malformed");
        }
        s.raw_len = (size_t)n - pad;
        *out = s;
        return 0;
}

/* "app-deployer sealed v2" NUL id NUL app NUL name: NUL cannot occur in
 * the parts, so the split is unambiguous. */
static unsigned char *make_aad(const char *id, const char *app, const char *name, size_t *len)
{
        size_t t = strlen(AAD_TAG) + 1, i = strlen(id) + 1, a = strlen(app) + 1, n = strlen(name);
        unsigned char *aad = malloc(t + i + a + n + 1);

        if (aad == NULL)
                return NULL;
        memcpy(aad, AAD_TAG, t);
        memcpy(aad + t, id, i);
        memcpy(aad + t + i, app, a);
        memcpy(aad + t + i + a, name, n + 1); /* its NUL is not part of the AAD */
        *len = t + i + a + n;
        return aad;
}

/* 0 and *out (NUL-terminated) when raw opens under k with aad. */
static int gcm_open(char **out, const unsigned char *k, const unsigned char *raw, size_t raw_len,
                    const unsigned char *aad, size_t aad_len)
{
        int n = (int)(raw_len - NONCE_LEN - TAG_LEN), len, ok;
        char *plain = malloc((size_t)n + 1);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

        ok = plain != NULL && ctx != NULL &&
             EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k, raw) == 1 &&
             (aad == NULL || EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1) &&
             EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, raw + NONCE_LEN, n) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                                 (void *)(raw + NONCE_LEN + n)) == 1 &&
             EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (!ok) {
                if (plain)
                        explicit_bzero(plain, (size_t)n + 1);
                free(plain);
                return -1;
        }
        plain[n] = '\0';
        *out = plain;
        return 0;
}

int ad_secret_seal(char **out, const struct ad_secret_key *key, const char *app, const char *name,
                   const char *plain, ad_error_t *err)
{
        size_t n = strlen(plain), raw_len = NONCE_LEN + n + TAG_LEN, aad_len = 0;
        size_t prefix = strlen(AD_SECRET_PREFIX_V2) + AD_SECRET_KEY_ID_LEN + 1;
        unsigned char *raw = NULL, *aad = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        char *text = NULL;
        int len, ret = 0;

        if (n > AD_SECRET_MAX_PLAIN)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "secret larger than %d bytes",
                                     AD_SECRET_MAX_PLAIN);
        raw = malloc(raw_len);
        text = malloc(prefix + 4 * ((raw_len + 2) / 3) + 1);
        aad = make_aad(key->id, app ? app : "", name ? name : "", &aad_len);
        ctx = EVP_CIPHER_CTX_new();
        if (raw == NULL || text == NULL || aad == NULL || ctx == NULL) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                goto out;
        }
        if (ad_random_bytes(raw, NONCE_LEN) < 0 ||
            EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->seal, raw) != 1 ||
            EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aad_len) != 1 ||
            EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &len, (const unsigned char *)plain, (int)n) !=
                    1 ||
            EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + len, &len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n) != 1) {
                ret = ad_error_make(err, AD_ERR_GENERIC, 0, "sealing a secret failed");
                goto out;
        }
        snprintf(text, prefix + 1, "%s%s:", AD_SECRET_PREFIX_V2, key->id);
        EVP_EncodeBlock((unsigned char *)text + prefix, raw, (int)raw_len);
        *out = text;
        text = NULL;
out:
        EVP_CIPHER_CTX_free(ctx);
        free(raw);
        free(aad);
        free(text);
        return ret;
}

int ad_secret_open(char **out, const struct ad_secret_keyring *ring, const char *app,
                   const char *name, const char *sealed, ad_error_t *err)
{
        struct ad_sealed s;
        cleanup_free unsigned char *aad = NULL;
        size_t aad_len = 0;
        bool have_id = false;
        int ret = ad_sealed_parse(&s, sealed, err);

        if (ret < 0)
                return ret;
        if (s.version == 2) {
                aad = make_aad(s.key_id, app ? app : "", name ? name : "", &aad_len);
                if (aad == NULL) {
                        ad_sealed_clear(&s);
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                }
        }
        for (size_t i = 0; i < ring->n; i++) {
                const struct ad_secret_key *k = &ring->keys[i];

                if (s.version == 2 && strcmp(k->id, s.key_id) != 0)
                        continue;
                have_id = true;
                if (gcm_open(out, s.version == 2 ? k->seal : k->bytes, s.raw, s.raw_len, aad,
                             aad_len) == 0) {
                        ad_sealed_clear(&s);
                        return 0;
                }
        }
        if (s.version == 2 && !have_id)
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "sealed under key %s, which is neither secrets.key nor one "
                                    "of secrets.old_keys",
                                    s.key_id);
        else if (s.version == 2)
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "sealed value does not open: tampered, or sealed for another "
                                    "app or variable");
        else
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "sealed value does not open with this key (tampered, or "
                                    "sealed under another secrets.key)");
        ad_sealed_clear(&s);
        return ret;
}

bool ad_secret_is_current(const char *value, const struct ad_secret_key *key)
{
        size_t p = strlen(AD_SECRET_PREFIX_V2);

        return value && strncmp(value, AD_SECRET_PREFIX_V2, p) == 0 &&
               strncmp(value + p, key->id, AD_SECRET_KEY_ID_LEN) == 0 &&
               value[p + AD_SECRET_KEY_ID_LEN] == ':';
}
