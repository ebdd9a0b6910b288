/* Authentication: a pre-handler hook that says who asks.
 *  - a token of api.tokens: a platform operator (every team, everything);
 *  - an API key ("adk_..." , api_keys): its team and role, checked on every
 *    request, so a revoked or expired key stops working at once;
 *  - no key: an anonymous operator when the API may serve anonymously (no
 *    api.tokens, a loopback bind, api.require_auth off), else 401.
 * Keys are looked up by their SHA-256: the database never sees a key. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"

#define HINT                                                                                       \
        "send Authorization: Bearer <key> with an API key (adctl login) or a token of api.tokens"

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
        "SELECT id, name, role, team_id, team, coalesce(user_name, ''), has_user, "
        "  coalesce(member_role, ''), revoked, expired, coalesce(expires, '') FROM k";

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
        if (strcmp(PQgetvalue(r, 0, 8), "t") == 0) {
                snprintf(why, sizeof(why),
                         "API key %s of team %s was revoked: ask a team admin for a new one",
                         PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 4));
                return unauthorized(call, why);
        }
        if (strcmp(PQgetvalue(r, 0, 9), "t") == 0) {
                snprintf(why, sizeof(why),
                         "API key %s of team %s expired at %s: ask a team admin for a new one",
                         PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 10));
                return unauthorized(call, why);
        }
        if (api_role_parse(&role, PQgetvalue(r, 0, 2), &err) < 0) {
                api_reply_error(call, "an API key has an unknown role", err);
                return -1;
        }
        /* A key bound to a user acts with the weaker of the two roles. */
        if (strcmp(PQgetvalue(r, 0, 6), "t") == 0) {
                ad_error_release(&err);
                if (api_role_parse(&member, PQgetvalue(r, 0, 7), &err) < 0) {
                        snprintf(why, sizeof(why),
                                 "API key %s belongs to user %s, who is no longer a member of "
                                 "team %s",
                                 PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 4));
                        return unauthorized(call, why);
                }
                if (member < role)
                        role = member;
        }
        call->role = role;
        snprintf(call->team_id, sizeof(call->team_id), "%s", PQgetvalue(r, 0, 3));
        snprintf(call->team, sizeof(call->team), "%s", PQgetvalue(r, 0, 4));
        snprintf(call->principal, sizeof(call->principal), "%s/%s", PQgetvalue(r, 0, 4),
                 PQgetvalue(r, 0, 1));
        return 0;
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
        key = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        while (key && *key == ' ')
                key++;
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
