/* Authentication: a pre-handler hook that says who asks.
 *  - a token of api.tokens: a platform operator (every team, everything);
 *  - an API key ("adk_..." , api_keys): its team and role, checked on every
 *    request, so a revoked or expired key stops working at once;
 *  - a JWT of POST /auth/token (api_jwt.h): its team and role from its
 *    claims, once its signature, issuer, audience and expiry are checked;
 *    the API key it came from is looked up by id on every request (one
 *    primary-key read), so revoking the key ends its JWTs at once;
 *  - no key: an anonymous operator when the API may serve anonymously (no
 *    api.tokens, a loopback bind, api.require_auth off), else 401.
 * Keys are looked up by their SHA-256: the database never sees a key. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"

#define HINT                                                                                       \
        "send Authorization: Bearer <key> with an API key (adctl login), a token of POST "         \
        "/auth/token or a token of api.tokens"

/* The key's row; last_used_at is written at most once a minute per key. */
static const char sql_key[] =
        "WITH k AS (SELECT k.id, k.name, k.role, k.team_id, t.name AS team, u.name AS user_name, "
        "  k.user_id IS NOT NULL AS has_user, m.role AS member_role, k.revoked_at IS NOT NULL AS "
        "  revoked, k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired, "
        "  to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires "
        "  FROM api_keys k JOIN teams t ON t.id = k.team_id LEFT JOIN users u ON u.id = k.user_id "
        "  LEFT JOIN memberships m ON m.user_id = k.user_id AND m.team_id = k.team_id "
        "  WHERE k.hash = $1), "
        "u AS (UPDATE api_keys SET last_used_at = now() WHERE id = (SELECT id FROM k "
        "  WHERE NOT revoked AND NOT expired) AND (last_used_at IS NULL OR last_used_at < now() - "
        "  interval '1 minute') RETURNING 1) "
        "SELECT id, name, role, team_id, team, user_name, has_user, member_role, revoked, "
        "  expired, expires FROM k";

/* A row of sql_key (NULLs read as ""). */
struct key_row {
        const char *id, *name, *role, *team_id, *team, *user_name, *member_role, *expires;
        bool has_user, revoked, expired;
};
static const struct ad_db_field key_fields[] = {
        AD_DB_FIELD(struct key_row, id, AD_DB_TEXT, "id"),
        AD_DB_FIELD(struct key_row, name, AD_DB_TEXT, "name"),
        AD_DB_FIELD(struct key_row, role, AD_DB_TEXT, "role"),
        AD_DB_FIELD(struct key_row, team_id, AD_DB_TEXT, "team_id"),
        AD_DB_FIELD(struct key_row, team, AD_DB_TEXT, "team"),
        AD_DB_FIELD(struct key_row, user_name, AD_DB_TEXT, "user_name"),
        AD_DB_FIELD(struct key_row, has_user, AD_DB_BOOL, "has_user"),
        AD_DB_FIELD(struct key_row, member_role, AD_DB_TEXT, "member_role"),
        AD_DB_FIELD(struct key_row, revoked, AD_DB_BOOL, "revoked"),
        AD_DB_FIELD(struct key_row, expired, AD_DB_BOOL, "expired"),
        AD_DB_FIELD(struct key_row, expires, AD_DB_TEXT, "expires"),
        AD_DB_FIELDS_END,
};

/* The state of a JWT's API key.  $1: its id, $2: its team. */
static const char sql_jwt_key[] =
        "SELECT k.revoked_at IS NOT NULL AS revoked, k.expires_at IS NOT NULL AND "
        "k.expires_at <= now() AS expired, k.user_id IS NOT NULL AND m.role IS NULL AS user_left, "
        "k.name, coalesce(m.role, '') AS member_role FROM api_keys k LEFT JOIN memberships m "
        "ON m.user_id = k.user_id AND "
        "m.team_id = k.team_id WHERE k.id = $1::uuid AND k.team_id = $2::uuid";

struct jwt_key_row {
        const char *name, *member_role;
        bool revoked, expired, user_left;
};
static const struct ad_db_field jwt_key_fields[] = {
        AD_DB_FIELD(struct jwt_key_row, revoked, AD_DB_BOOL, "revoked"),
        AD_DB_FIELD(struct jwt_key_row, expired, AD_DB_BOOL, "expired"),
        AD_DB_FIELD(struct jwt_key_row, user_left, AD_DB_BOOL, "user_left"),
        AD_DB_FIELD(struct jwt_key_row, name, AD_DB_TEXT, "name"),
        AD_DB_FIELD(struct jwt_key_row, member_role, AD_DB_TEXT, "member_role"),
        AD_DB_FIELDS_END,
};

static int unauthorized(struct api_call *call, const char *why)
{
        ad_httpd_reply_error(call->reply, 401, "unauthorized", "%s", why);
        return -1;
}

/* A key of api_keys: 0 with the caller set, < 0 with the reply made. */
static int key_lookup(struct api_call *call, const char *key)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char hash[65], why[256];
        enum api_role role, member = API_ROLE_NONE;
        struct key_row k;
        ad_db *db;

        api_key_hash(key, hash);
        if ((db = api_db_get(call)) == NULL)
                return -1;
        if (ad_db_exec(db, &r, sql_key, 1, (const char *[]){ hash }, &err) < 0) {
                api_reply_error(call, "cannot look up an API key", err);
                return -1;
        }
        if (PQntuples(r) == 0)
                return unauthorized(call, "unknown API key: " HINT);
        if (ad_db_read_row(r, 0, key_fields, &k, &err) < 0) {
                api_reply_error(call, "cannot look up an API key", err);
                return -1;
        }
        if (k.revoked) {
                snprintf(why, sizeof(why),
                         "API key %s of team %s was revoked: ask a team admin for a new one",
                         k.name, k.team);
                return unauthorized(call, why);
        }
        if (k.expired) {
                snprintf(why, sizeof(why),
                         "API key %s of team %s expired at %s: ask a team admin for a new one",
                         k.name, k.team, k.expires);
                return unauthorized(call, why);
        }
        if (api_role_parse(&role, k.role, &err) < 0) {
                api_reply_error(call, "an API key has an unknown role", err);
                return -1;
        }
        /* A key bound to a user acts with the weaker of the two roles. */
        if (k.has_user) {
                ad_error_release(&err);
                if (api_role_parse(&member, k.member_role, &err) < 0) {
                        snprintf(why, sizeof(why),
                                 "API key %s belongs to user %s, who is no longer a member of "
                                 "team %s",
                                 k.name, k.user_name, k.team);
                        return unauthorized(call, why);
                }
                if (member < role)
                        role = member;
        }
        call->role = role;
        snprintf(call->key_id, sizeof(call->key_id), "%s", k.id);
        snprintf(call->team_id, sizeof(call->team_id), "%s", k.team_id);
        snprintf(call->team, sizeof(call->team), "%s", k.team);
        snprintf(call->principal, sizeof(call->principal), "%s/%s", k.team, k.name);
        return 0;
}

static int jwt_refused(struct api_call *call, const char *why)
{
        call->reply->headers[0][0] = "WWW-Authenticate";
        call->reply->headers[0][1] = "Bearer error=\"invalid_token\"";
        return unauthorized(call, why);
}

/* A JWT: verified without the database, then its API key's row by id
 * (revoked, expired, its user gone from the team). */
static int jwt_lookup(struct api_call *call, const char *token)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct api_jwt_claims c;
        struct jwt_key_row k;
        char why[512];
        ad_db *db;

        if (api_jwt_verify(&call->api->jwt, token, (long)time(NULL), &c, &err) < 0)
                return jwt_refused(call, ad_error_message(err));
        if ((db = api_db_get(call)) == NULL)
                return -1;
        if (ad_db_exec(db, &r, sql_jwt_key, 2, (const char *[]){ c.key_id, c.team_id }, &err) < 0) {
                api_reply_error(call, "cannot look up a token's API key", err);
                return -1;
        }
        if (PQntuples(r) == 0)
                return jwt_refused(call, "the API key of this token no longer exists: ask a "
                                         "team admin for a new key");
        if (ad_db_read_row(r, 0, jwt_key_fields, &k, &err) < 0) {
                api_reply_error(call, "cannot look up a token's API key", err);
                return -1;
        }
        if (k.revoked || k.expired || k.user_left) {
                snprintf(why, sizeof(why),
                         "API key %s of team %s, which this token came from, %s: ask a team "
                         "admin for a new one",
                         k.name, c.team,
                         k.revoked   ? "was revoked"
                         : k.expired ? "expired"
                                     : "belongs to a user who left the team");
                return jwt_refused(call, why);
        }
        call->role = c.role;
        /* The member's role now, when it was lowered after the token
         * was made: the weaker of the two, as for the key itself. */
        {
                enum api_role member;

                if (api_role_parse(&member, k.member_role, NULL) == 0 && member < c.role)
                        call->role = member;
        }
        call->via_jwt = true;
        snprintf(call->key_id, sizeof(call->key_id), "%s", c.key_id);
        snprintf(call->team_id, sizeof(call->team_id), "%s", c.team_id);
        snprintf(call->team, sizeof(call->team), "%s", c.team);
        snprintf(call->principal, sizeof(call->principal), "%s", c.sub);
        return 0;
}

void api_auth_token(struct api_call *call)
{
        cleanup_error ad_error_t err = NULL;
        struct api_jwt_claims c = { .role = call->role };
        cleanup_free char *token = NULL;
        char at[32] = "";
        long exp = 0;
        time_t t;
        struct tm tm;

        if (call->api->jwt.n == 0) {
                ad_httpd_reply_error(call->reply, 404, "jwt_disabled",
                                     "this API issues no tokens (api.jwt_keys is empty): send "
                                     "your API key itself");
                return;
        }
        if (call->key_id[0] == '\0' || call->via_jwt) {
                ad_httpd_reply_error(call->reply, 403, "forbidden",
                                     "POST /auth/token takes a team API key (adk_...) in "
                                     "Authorization: Bearer, not %s",
                                     call->via_jwt ? "a token it issued (renew with the key)"
                                                   : "an operator token of api.tokens");
                return;
        }
        snprintf(c.key_id, sizeof(c.key_id), "%s", call->key_id);
        snprintf(c.team_id, sizeof(c.team_id), "%s", call->team_id);
        snprintf(c.team, sizeof(c.team), "%s", call->team);
        snprintf(c.sub, sizeof(c.sub), "%s", call->principal);
        if (api_jwt_sign(&call->api->jwt, &c, (long)time(NULL), &token, &exp, &err) < 0) {
                api_reply_error(call, "cannot sign a token", err);
                return;
        }
        t = (time_t)exp;
        if (gmtime_r(&t, &tm))
                strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "token", token, "token_type",
                                      "Bearer", "expires_in", (json_int_t)call->api->jwt.ttl_s,
                                      "expires_at", at, "kid", call->api->jwt.key[0].kid, "team",
                                      call->team, "role", api_role_name(call->role)));
        explicit_bzero(token, strlen(token));
}

int api_auth_hook(struct api_call *call, void *ud)
{
        const struct api_tokens *tokens = ud;
        const char *auth = ad_httpd_header(call->req, "Authorization");
        const char *name = api_tokens_match(tokens, auth), *key;

        if (name) {
                call->role = API_ROLE_OPERATOR;
                snprintf(call->principal, sizeof(call->principal), "%s", name);
                return 0;
        }
        key = api_bearer_credential(auth);
        if (key && strncmp(key, API_KEY_PREFIX, 4) == 0) {
                if (!api_key_looks_valid(key))
                        return unauthorized(call, "malformed API key (adk_ and 64 hex "
                                                  "characters): " HINT);
                return key_lookup(call, key);
        }
        /* caddy's on-demand TLS `ask` sends no token (api_domains.c): it
         * learns only whether a host name is one of the apps'. */
        if (key == NULL && strcmp(call->route, "domains_allowed") == 0)
                return 0;
        if (key && call->api->jwt.n > 0 && api_jwt_looks_like(key))
                return jwt_lookup(call, key);
        /* Without api.tokens, a token that is not a key is ignored as it
         * always was (loopback only). */
        if (call->api->anonymous_ok) {
                call->role = API_ROLE_OPERATOR;
                return 0;
        }
        return unauthorized(call, HINT "; adctl sends $ADCTL_TOKEN");
}

bool api_bind_is_loopback(const char *bind)
{
        return bind == NULL || strcmp(bind, "localhost") == 0 || strcmp(bind, "::1") == 0 ||
               strncmp(bind, "127.", 4) == 0;
}
