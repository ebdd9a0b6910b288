#include "api_jwt.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ad/base64.h"
#include "ad/cleanup.h"
#include "ad/digest.h"
#include "ad/random.h"

#define RENEW "get a new token (POST /auth/token with your API key; adctl does it by itself)"

static void jwt_freep(jwt_t **j)
{
        jwt_free(*j);
}
#define cleanup_jwt __attribute__((cleanup(jwt_freep)))

static bool kid_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

int api_jwt_keys_parse(struct api_jwt_keys *keys, const char *spec, ad_error_t *err)
{
        const char *p = spec ? spec : "";

        explicit_bzero(keys->key, sizeof(keys->key));
        keys->n = 0;
        while (*p) {
                const char *next = p + strcspn(p, ","), *e = next, *colon, *s;
                struct api_jwt_key *k;
                size_t kid_len;

                while (p < e && *p == ' ')
                        p++;
                while (e > p && e[-1] == ' ')
                        e--;
                colon = memchr(p, ':', (size_t)(e - p));
                if (e == p) {
                        p = next + (*next == ',');
                        continue;
                }
                if (colon == NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.jwt_keys: entry %zu has no `:` (kid:secret, "
                                             "comma-separated; the first signs)",
                                             keys->n + 1);
                kid_len = (size_t)(colon - p);
                if (kid_len == 0 || kid_len > API_JWT_KID_MAX)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.jwt_keys: entry %zu: a key id is 1 to %d "
                                             "characters",
                                             keys->n + 1, API_JWT_KID_MAX);
                for (size_t i = 0; i < kid_len; i++)
                        if (!kid_char(p[i]))
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.jwt_keys: entry %zu: a key id is "
                                                     "letters, digits, `.`, `_` and `-`",
                                                     keys->n + 1);
                s = colon + 1;
                if ((size_t)(e - s) < API_JWT_SECRET_MIN || (size_t)(e - s) > API_JWT_SECRET_MAX)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.jwt_keys: key `%.*s`: a secret is %d to %d "
                                             "characters (openssl rand -hex 32)",
                                             (int)kid_len, p, API_JWT_SECRET_MIN,
                                             API_JWT_SECRET_MAX);
                if (keys->n >= API_JWT_MAX_KEYS)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "api.jwt_keys: at most %d keys", API_JWT_MAX_KEYS);
                for (size_t i = 0; i < keys->n; i++)
                        if (strlen(keys->key[i].kid) == kid_len &&
                            memcmp(keys->key[i].kid, p, kid_len) == 0)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.jwt_keys: key id `%.*s` is listed "
                                                     "twice",
                                                     (int)kid_len, p);
                k = &keys->key[keys->n++];
                memcpy(k->kid, p, kid_len);
                k->kid[kid_len] = '\0';
                k->len = (size_t)(e - s);
                memcpy(k->secret, s, k->len);
                p = next + (*next == ',');
        }
        return 0;
}

/* n characters of unpadded base64url into out (at most max bytes), by
 * the strict decoder of the base layer; the decoded length, or -1. */
static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t max)
{
        size_t len;

        return ad_base64_decode(in, n, AD_BASE64_URL, out, max, &len, NULL) < 0 ? -1 : (long)len;
}

const char *api_bearer_credential(const char *authorization)
{
        const char *c;

        if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
                return NULL;
        for (c = authorization + 7; *c == ' ';)
                c++;
        return *c ? c : NULL;
}

bool api_jwt_looks_like(const char *token)
{
        const char *d1, *d2;

        if (token == NULL || strncmp(token, "eyJ", 3) != 0)
                return false;
        d1 = strchr(token, '.');
        d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        return d2 != NULL && strchr(d2 + 1, '.') == NULL;
}

static const struct api_jwt_key *find_key(const struct api_jwt_keys *keys, const char *kid)
{
        for (size_t i = 0; i < keys->n; i++)
                if (strcmp(keys->key[i].kid, kid) == 0)
                        return &keys->key[i];
        return NULL;
}

/* A JSON-safe excerpt of what a client sent, for messages. */
static void excerpt(char *out, size_t size, const char *s)
{
        size_t n = 0;

        for (; *s && n + 4 < size; s++)
                out[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ? *s : '?';
        if (*s) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
}

static const char *str_claim(jwt_t *j, const char *name, size_t max)
{
        const char *v = jwt_get_grant(j, name);

        return v && strlen(v) <= max ? v : NULL;
}

int api_jwt_verify(const struct api_jwt_keys *keys, const char *token, long now,
                   struct api_jwt_claims *out, ad_error_t *err)
{
        unsigned char head[1024], sig[64], mac[AD_SHA256_LEN];
        const char *d1, *d2, *alg, *kid, *v;
        const struct api_jwt_key *key;
        cleanup_jwt jwt_t *j = NULL;
        json_t *h;
        long n, sig_len, exp, nbf;
        size_t len;
        char shown[80];

        len = token ? strnlen(token, API_JWT_MAX_LEN + 1) : 0;
        if (len > API_JWT_MAX_LEN)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed token: longer than %d characters", API_JWT_MAX_LEN);
        if (!api_jwt_looks_like(token))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed token: a JWT is three base64url parts joined "
                                     "by `.`");
        d1 = strchr(token, '.');
        d2 = strchr(d1 + 1, '.');
        n = b64url_decode(token, (size_t)(d1 - token), head, sizeof(head) - 1);
        if (n < 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed token: its header is not base64url");
        head[n] = '\0';
        h = json_loadb((const char *)head, (size_t)n, 0, NULL);
        alg = json_string_value(json_object_get(h, "alg"));
        kid = json_string_value(json_object_get(h, "kid"));
        if (h == NULL || !json_is_object(h)) {
                json_decref(h);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed token: its header is not a JSON object");
        }
        if (alg == NULL || strcmp(alg, "HS256") != 0) {
                excerpt(shown, sizeof(shown), alg ? alg : "none");
                json_decref(h);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "token signed with algorithm %s: this API accepts HS256 "
                                     "only; " RENEW,
                                     shown);
        }
        if (kid == NULL) {
                json_decref(h);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "token has no key id (`kid` header); " RENEW);
        }
        key = find_key(keys, kid);
        if (key == NULL) {
                excerpt(shown, sizeof(shown), kid);
                json_decref(h);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "unknown signing key id `%s`: the key was retired or the "
                                     "token is not from this platform; " RENEW,
                                     shown);
        }
        json_decref(h);
        /* The HMAC first, in constant time (libjwt 1.10 compares the
         * base64 text with strcmp). */
        sig_len = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
        ad_hmac_sha256(mac, key->secret, key->len, token, (size_t)(d2 - token));
        if (sig_len != (long)sizeof(mac) || !ad_digest_equal(sig, mac, sizeof(mac)))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "bad token signature (key id `%s`): the token was "
                                     "altered or not signed by this platform; " RENEW,
                                     key->kid);
        if (jwt_decode(&j, token, key->secret, (int)key->len) != 0 || j == NULL ||
            jwt_get_alg(j) != JWT_ALG_HS256)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "malformed token: its claims are not a JSON object");
        v = jwt_get_grant(j, "iss");
        if (v == NULL || strcmp(v, keys->issuer) != 0) {
                excerpt(shown, sizeof(shown), v ? v : "none");
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "wrong token issuer `%s` (this API's is `%s`); " RENEW, shown,
                                     keys->issuer);
        }
        v = jwt_get_grant(j, "aud");
        if (v == NULL || strcmp(v, keys->audience) != 0) {
                excerpt(shown, sizeof(shown), v ? v : "none");
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "wrong token audience `%s` (this API is `%s`): the token is "
                                     "for another service; " RENEW,
                                     shown, keys->audience);
        }
        errno = 0;
        exp = jwt_get_grant_int(j, "exp");
        if (errno != 0 || exp <= 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "token has no expiry (`exp`); " RENEW);
        if (now >= exp) {
                time_t t = (time_t)exp;
                struct tm tm;
                char at[32] = "";

                if (gmtime_r(&t, &tm))
                        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "token expired at %s (%ld s ago); " RENEW, at, now - exp);
        }
        errno = 0;
        nbf = jwt_get_grant_int(j, "nbf");
        if (errno == 0 && nbf > now + API_JWT_LEEWAY_S)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "token is not valid before %ld (in %ld s): check the "
                                     "clocks",
                                     nbf, nbf - now);
        memset(out, 0, sizeof(*out));
        if ((v = str_claim(j, "key_id", AD_UUID_LEN)) == NULL || !ad_uuid_valid(v))
                goto bad_claims;
        snprintf(out->key_id, sizeof(out->key_id), "%s", v);
        if ((v = str_claim(j, "team_id", AD_UUID_LEN)) == NULL || !ad_uuid_valid(v))
                goto bad_claims;
        snprintf(out->team_id, sizeof(out->team_id), "%s", v);
        if ((v = str_claim(j, "team", API_TEAM_NAME_MAX)) == NULL || !api_team_name_valid(v))
                goto bad_claims;
        snprintf(out->team, sizeof(out->team), "%s", v);
        if ((v = str_claim(j, "role", 16)) == NULL || api_role_parse(&out->role, v, NULL) < 0)
                goto bad_claims;
        if ((v = str_claim(j, "sub", sizeof(out->sub) - 1)) == NULL || *v == '\0')
                goto bad_claims;
        excerpt(out->sub, sizeof(out->sub), v);
        out->exp = exp;
        snprintf(out->kid, sizeof(out->kid), "%s", key->kid);
        return 0;
bad_claims:
        memset(out, 0, sizeof(*out));
        return ad_error_make(
                err, AD_ERR_INVALID, 0,
                "token lacks a valid key_id, team_id, team, role or sub claim; " RENEW);
}

int api_jwt_sign(const struct api_jwt_keys *keys, const struct api_jwt_claims *claims, long now,
                 char **out, long *exp, ad_error_t *err)
{
        cleanup_jwt jwt_t *j = NULL;
        unsigned char raw[16];
        char jti[33];
        char *text;
        int ret;

        if (keys->n == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "api.jwt_keys is empty");
        if (ad_random_bytes(raw, sizeof(raw)) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, errno, "no random bytes for a token id");
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(jti + 2 * i, 3, "%02x", raw[i]);
        ret = jwt_new(&j);
        if (ret == 0)
                ret = jwt_set_alg(j, JWT_ALG_HS256, keys->key[0].secret, (int)keys->key[0].len);
        if (ret == 0)
                ret = jwt_add_header(j, "kid", keys->key[0].kid);
        if (ret == 0)
                ret = jwt_add_grant(j, "iss", keys->issuer);
        if (ret == 0)
                ret = jwt_add_grant(j, "aud", keys->audience);
        if (ret == 0)
                ret = jwt_add_grant(j, "sub", claims->sub);
        if (ret == 0)
                ret = jwt_add_grant(j, "jti", jti);
        if (ret == 0)
                ret = jwt_add_grant_int(j, "iat", now);
        if (ret == 0)
                ret = jwt_add_grant_int(j, "nbf", now);
        if (ret == 0)
                ret = jwt_add_grant_int(j, "exp", now + keys->ttl_s);
        if (ret == 0)
                ret = jwt_add_grant(j, "key_id", claims->key_id);
        if (ret == 0)
                ret = jwt_add_grant(j, "team_id", claims->team_id);
        if (ret == 0)
                ret = jwt_add_grant(j, "team", claims->team);
        if (ret == 0)
                ret = jwt_add_grant(j, "role", api_role_name(claims->role));
        if (ret != 0)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot build a token: %s",
                                     strerror(ret));
        text = jwt_encode_str(j);
        if (text == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot encode a token");
        *exp = now + keys->ttl_s;
        *out = text;
        return 0;
}
