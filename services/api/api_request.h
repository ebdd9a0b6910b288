/* Parsing and validating what clients send the API, without a server or a
 * database, so the unit tests and the fuzz target reach every branch:
 * the POST /deployments body, list cursors and limits, headers.
 *
 * Every rejection is AD_ERR_INVALID (or AD_ERR_TOO_LARGE) with a message a
 * user can act on, plus a stable machine-readable code for the JSON error
 * ("invalid_json", "invalid_repo_url", ...). */
#ifndef AD_API_REQUEST_H
#define AD_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ad/error.h"
#include "ad/event.h"
#include "ad/limits.h"
#include "ad/names.h"
#include "ad/secret.h"

/* The request's own bounds come from the contract (ad/limits.h). */
#define API_IDEMPOTENCY_KEY_MAX 255

struct api_env_var {
        char *name;
        char *value; /* plain text: seal before it goes anywhere */
};

struct api_deploy_request {
        char *repo_url;
        char *ref; /* "" for the default branch */
        char app[AD_APP_NAME_MAX + 1];
        bool app_from_url; /* no "name" given: derived from repo_url */
        struct api_env_var *env;
        size_t n_env;
};

/* Parses a POST /deployments body:
 *   {"repo_url": "...", "ref"?: "...", "name"?: "...", "env"?: {"K": "V"}}
 * Unknown fields, duplicate keys and wrong types are rejected; env values
 * may be strings, integers or booleans (given to the app as text).
 * allow_local accepts file:// URLs and absolute paths (tests, the demo).
 * On failure *code is set to the error code for the reply. */
int api_deploy_request_parse(struct api_deploy_request **out, const char *body, size_t len,
                             bool allow_local, const char **code, ad_error_t *err);

/* A fingerprint of the request's env: HMAC-SHA256 under the key's
 * fingerprint key (key->digest, derived apart from the sealing key) of the
 * variables sorted by name (name, NUL, value, NUL each), in hex; "" when
 * there are none.  Tells two requests' env apart without keeping the
 * values (they are secrets). */
#define API_ENV_DIGEST_LEN 64
int api_deploy_request_env_digest(const struct api_deploy_request *req,
                                  const struct ad_secret_key *key, char out[API_ENV_DIGEST_LEN + 1],
                                  ad_error_t *err);
/* Whether stored (a recorded fingerprint) is the fingerprint of req's env
 * under any key of ring: the current key's, an old key's (recorded before
 * a rotation), or, for rows recorded before fingerprint keys were derived,
 * the HMAC under the configured key itself. */
int api_deploy_request_env_same(const struct api_deploy_request *req,
                                const struct ad_secret_keyring *ring, const char *stored,
                                bool *same, ad_error_t *err);

/* API bearer tokens (api.tokens): "name:sha256hex[,name:sha256hex...]",
 * where sha256hex is the SHA-256 of the token in hex, so the tokens
 * themselves are never in the configuration.  A name (1..63 of
 * [A-Za-z0-9._-]) becomes the requests' principal (requested_by). */
#define API_TOKEN_NAME_MAX 63
#define API_TOKENS_MAX 64
struct api_token {
        char name[API_TOKEN_NAME_MAX + 1];
        unsigned char hash[32];
};
struct api_tokens {
        struct api_token tokens[API_TOKENS_MAX];
        size_t n;
};
int api_tokens_parse(struct api_tokens *out, const char *spec, ad_error_t *err);

/* The token's name when `authorization` (the header's value) is
 * "Bearer <a configured token>", NULL otherwise.  Compares in constant
 * time with every configured hash. */
const char *api_tokens_match(const struct api_tokens *t, const char *authorization);

/* Frees the request, wiping the env values first.  NULL is a no-op. */
void api_deploy_request_free(struct api_deploy_request *req);

static inline void api_deploy_request_freep(struct api_deploy_request **req)
{
        api_deploy_request_free(*req);
}
#define cleanup_deploy_request __attribute__((cleanup(api_deploy_request_freep)))

/* Copies s into out (bounded, "..." when cut) with every byte outside
 * printable ASCII replaced by '?': user input quoted in an error message
 * must not break the reply's JSON (which needs valid UTF-8). */
void api_text_excerpt(char *out, size_t size, const char *s);

/* [A-Za-z_][A-Za-z0-9_]*, at most AD_ENV_NAME_MAX characters. */
bool api_env_name_valid(const char *name);

/* A branch, tag or commit: printable, no spaces, no leading '-', nothing
 * git's check-ref-format forbids ("..", "@{", "~^:?*[\"). */
bool api_ref_valid(const char *ref);

/* application/json or application/<x>+json, any parameters. */
bool api_content_type_is_json(const char *content_type);

/* Idempotency-Key: 1..255 printable ASCII characters. */
int api_idempotency_key_check(const char *key, ad_error_t *err);

/* The position of the last item of a page: the list resumes after it. */
struct api_cursor {
        int64_t created_us; /* created_at, microseconds since the epoch */
        char id[AD_UUID_LEN + 1];
};

/* Opaque to clients: base64url of "v1:<created_us>:<id>".  The caller
 * frees the string. */
char *api_cursor_encode(const struct api_cursor *cursor);
int api_cursor_decode(struct api_cursor *cursor, const char *text, ad_error_t *err);

/* ?limit=: NULL or "" gives def; 1..max, larger values are clamped to max. */
int api_limit_parse(const char *text, long def, long max, long *out, ad_error_t *err);

#endif
