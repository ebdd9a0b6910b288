/* Short-lived JSON Web Tokens (POST /auth/token), without a server or a
 * database so the unit tests and tests/fuzz/fuzz_jwt.c run exactly this
 * code: the signing keys of api.jwt_keys, signing (HS256, libjwt, the
 * first key, its id in the `kid` header) and verifying (the `kid` picks
 * one of the listed keys; the HMAC is compared in constant time; then
 * issuer, audience, lifetime and our claims).  Every refusal is
 * AD_ERR_INVALID with a reason a user can act on; a refusal that a new
 * token cures says so. */
#ifndef AD_API_JWT_H
#define AD_API_JWT_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"
#include "ad/uuid.h"
#include "api_tokens_request.h"

#define API_JWT_MAX_KEYS 8
#define API_JWT_KID_MAX 64
#define API_JWT_SECRET_MIN 32
#define API_JWT_SECRET_MAX 512
#define API_JWT_MAX_LEN 4096
#define API_JWT_DEFAULT_TTL_S 900
/* Clocks of several API replicas may differ this much (nbf only: a
 * token expires when it says). */
#define API_JWT_LEEWAY_S 30

struct api_jwt_key {
        char kid[API_JWT_KID_MAX + 1];
        unsigned char secret[API_JWT_SECRET_MAX];
        size_t len;
};

/* The verification keys, the first of which signs. */
struct api_jwt_keys {
        struct api_jwt_key key[API_JWT_MAX_KEYS];
        size_t n;
        char issuer[128];
        char audience[128];
        long ttl_s;
};

/* What a token says: the API key it came from (checked still live on
 * every request), its team and role, who (sub: "team/key-name"). */
struct api_jwt_claims {
        char key_id[AD_UUID_LEN + 1];
        char team_id[AD_UUID_LEN + 1];
        char team[API_TEAM_NAME_MAX + 1];
        enum api_role role;
        char sub[128];
        long exp;
        char kid[API_JWT_KID_MAX + 1];
};

/* api.jwt_keys: "kid:secret[,kid:secret...]", at most API_JWT_MAX_KEYS,
 * ids of [A-Za-z0-9._-], secrets of API_JWT_SECRET_MIN bytes or more;
 * "" gives no key (JWTs are off).  The list is zeroed first. */
int api_jwt_keys_parse(struct api_jwt_keys *keys, const char *spec, ad_error_t *err);

/* The credential of an Authorization header ("Bearer <credential>",
 * the scheme in any case, spaces after it skipped), NULL without one. */
const char *api_bearer_credential(const char *authorization);

/* Whether a bearer credential has a JWT's shape (three base64url parts,
 * a JSON header): the API then verifies it as one. */
bool api_jwt_looks_like(const char *token);

/* Signs claims (key_id, team_id, team, role, sub) with the first key for
 * keys->ttl_s from now (Unix seconds); *out is malloc'd, *exp set. */
int api_jwt_sign(const struct api_jwt_keys *keys, const struct api_jwt_claims *claims, long now,
                 char **out, long *exp, ad_error_t *err);

/* Verifies token at time now; 0 with *out filled. */
int api_jwt_verify(const struct api_jwt_keys *keys, const char *token, long now,
                   struct api_jwt_claims *out, ad_error_t *err);

#endif
