/* Parsing what clients send about teams and keys, without a server or a
 * database (the unit tests, tests/fuzz/fuzz_tokens_body.c and `adapi
 * admin` call exactly this code): role names, durations ("30d"), team,
 * user and key names, API keys and the POST /tokens body.  Every
 * rejection is AD_ERR_INVALID with a message a user can act on. */
#ifndef AD_API_TOKENS_REQUEST_H
#define AD_API_TOKENS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

/* Roles, weakest first; a caller may do what its role and every weaker
 * role may.  API_ROLE_OPERATOR is a platform operator (api.tokens, or
 * the anonymous loopback mode): every team, everything. */
enum api_role {
        API_ROLE_NONE = 0,
        API_ROLE_VIEWER,
        API_ROLE_DEPLOYER,
        API_ROLE_ADMIN,
        API_ROLE_OPERATOR,
};

/* "viewer", "deployer", "admin" (not "operator": no key has it). */
int api_role_parse(enum api_role *out, const char *text, ad_error_t *err);
const char *api_role_name(enum api_role role);

/* A team: 1..63 of [a-z0-9-], not starting with '-'. */
#define API_TEAM_NAME_MAX 63
bool api_team_name_valid(const char *name);
/* A user: 1..63 of [A-Za-z0-9._@-]. */
#define API_USER_NAME_MAX 63
bool api_user_name_valid(const char *name);
/* A key's name: 1..63 of [A-Za-z0-9._-] (as api.tokens names). */
#define API_KEY_NAME_MAX 63
bool api_key_name_valid(const char *name);

/* A lifetime: N followed by s, m, h, d or w ("30d"), at most ten years;
 * "never" gives 0 (no expiry). */
#define API_DURATION_MAX_S (10LL * 366 * 24 * 3600)
int api_duration_parse(long long *seconds, const char *text, ad_error_t *err);

/* API keys: "adk_" and 64 lowercase hex characters (32 random bytes). */
#define API_KEY_PREFIX "adk_"
#define API_KEY_LEN (4 + 64)
/* The first characters shown in lists: "adk_" and 8 hex characters. */
#define API_KEY_SHOWN_LEN 12
bool api_key_looks_valid(const char *key);
/* Makes a new key (OpenSSL's RAND_bytes) and its SHA-256 in hex. */
int api_key_generate(char key[API_KEY_LEN + 1], char hash[65], ad_error_t *err);
/* The SHA-256 of text in lowercase hex. */
void api_key_hash(const char *key, char hash[65]);

/* POST /tokens: {"name": "ci", "role": "deployer", "expires_in"?: "30d" |
 * "never", "team"?: "web", "user"?: "alice"}.  Without expires_in a key
 * lives API_KEY_DEFAULT_TTL_S. */
#define API_KEY_DEFAULT_TTL_S (90LL * 24 * 3600)
struct api_token_create {
        char name[API_KEY_NAME_MAX + 1];
        enum api_role role;
        long long ttl_s;                  /* 0: never expires */
        char team[API_TEAM_NAME_MAX + 1]; /* "" when not given */
        char user[API_USER_NAME_MAX + 1]; /* "" when not given */
};
int api_token_create_parse(struct api_token_create *out, const char *body, size_t len,
                           ad_error_t *err);

/* POST /teams/{team}/members: {"user": "alice", "role": "deployer"}
 * (with_user); PATCH /teams/{team}/members/{user}: {"role": "viewer"}
 * (the user is the path's; a "user" field is refused). */
struct api_member {
        char user[API_USER_NAME_MAX + 1]; /* "" without with_user */
        enum api_role role;
};
int api_member_parse(struct api_member *out, const char *body, size_t len, bool with_user,
                     ad_error_t *err);

#endif
