/* /tokens: a team's API keys, for its admins (platform operators see and
 * manage every team's).  A key is shown once, in the reply that creates
 * it; the database keeps its SHA-256 only.  Revoking takes effect on the
 * next request (api_auth.c reads the key's row on every request). */
#include <stdio.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The team a key is made for, and its user there. */
struct key_team_row {
        const char *team_id;
        const char *member_role; /* the user's role in the team, "" when not a member */
        bool user_exists;
};
static const struct ad_db_field key_team_fields[] = {
        AD_DB_FIELD(struct key_team_row, team_id, AD_DB_TEXT, "team_id"),
        AD_DB_FIELD(struct key_team_row, member_role, AD_DB_TEXT, "member_role"),
        AD_DB_FIELD(struct key_team_row, user_exists, AD_DB_BOOL, "user_exists"),
        AD_DB_FIELDS_END,
};

/* A key as made or revoked. */
struct key_row {
        const char *expires_at; /* "" when it does not expire */
        const char *name, *team;
};
static const struct ad_db_field key_made_fields[] = {
        AD_DB_FIELD(struct key_row, expires_at, AD_DB_TEXT, "expires_at"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field key_revoked_fields[] = {
        AD_DB_FIELD(struct key_row, name, AD_DB_TEXT, "name"),
        AD_DB_FIELD(struct key_row, team, AD_DB_TEXT, "team"),
        AD_DB_FIELDS_END,
};

int api_key_create(ad_db *db, const struct api_token_create *req, const char *created_by,
                   char key[API_KEY_LEN + 1], char id[AD_UUID_LEN + 1], char expires[32],
                   ad_error_t *err)
{
        cleanup_pgresult PGresult *t = NULL, *r = NULL;
        char hash[65], ttl[24], shown[API_KEY_SHOWN_LEN + 1];
        struct key_team_row team;
        struct key_row made;
        enum api_role member;
        int ret;

        ret = ad_db_exec(db, &t,
                         "SELECT t.id AS team_id, coalesce(m.role, '') AS member_role, "
                         "u.id IS NOT NULL AS user_exists FROM teams t "
                         "LEFT JOIN users u ON u.name = $2 "
                         "LEFT JOIN memberships m ON m.team_id = t.id AND m.user_id = u.id "
                         "WHERE t.name = $1",
                         2, (const char *[]){ req->team, req->user }, err);
        if (ret < 0)
                return ret;
        if (PQntuples(t) == 0)
                return ad_error_make(err, AD_ERR_NOT_FOUND, 0, "no team %s", req->team);
        ret = ad_db_read_row(t, 0, key_team_fields, &team, err);
        if (ret < 0)
                return ret;
        if (req->user[0]) {
                if (api_role_parse(&member, team.member_role, NULL) < 0)
                        return ad_error_make(
                                err, AD_ERR_NOT_FOUND, 0, "%s %s is not a member of team %s",
                                team.user_exists ? "user" : "no user", req->user, req->team);
                if (req->role > member)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "user %s is a %s of team %s: their key cannot be "
                                             "%s",
                                             req->user, api_role_name(member), req->team,
                                             api_role_name(req->role));
        }
        ret = api_key_generate(key, hash, err);
        if (ret < 0)
                return ret;
        ad_uuid_v4(id);
        snprintf(ttl, sizeof(ttl), "%lld", req->ttl_s);
        snprintf(shown, sizeof(shown), "%.*s", API_KEY_SHOWN_LEN, key);
        ret = ad_db_exec(
                db, &r,
                "INSERT INTO api_keys (id, team_id, user_id, name, role, hash, prefix, created_by, "
                "expires_at) SELECT $1::uuid, $2::uuid, (SELECT id FROM users WHERE name = $3), "
                "$4, $5, $6, $7, $8, CASE WHEN $9::bigint > 0 THEN now() + $9::bigint * interval "
                "'1 second' END ON CONFLICT DO NOTHING RETURNING coalesce(to_char(expires_at AT "
                "TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS expires_at",
                9,
                (const char *[]){ id, team.team_id, req->user, req->name, api_role_name(req->role),
                                  hash, shown, created_by, ttl },
                err);
        if (ret < 0) {
                explicit_bzero(key, API_KEY_LEN);
                return ret;
        }
        if (PQntuples(r) == 0) {
                explicit_bzero(key, API_KEY_LEN);
                return ad_error_make(err, AD_ERR_CONFLICT, 0,
                                     "team %s has a key named %s already: revoke it or choose "
                                     "another name",
                                     req->team, req->name);
        }
        ret = ad_db_read_row(r, 0, key_made_fields, &made, err);
        if (ret < 0) {
                explicit_bzero(key, API_KEY_LEN);
                return ret;
        }
        snprintf(expires, 32, "%s", made.expires_at);
        return 0;
}

void api_tokens_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db = api_db_get(call);
        const char *text;

        if (db == NULL)
                return;
        if (ad_db_exec(
                    db, &r,
                    "SELECT json_build_object('tokens', coalesce(json_agg(json_build_object("
                    "'id', k.id, 'name', k.name, 'team', t.name, 'role', k.role, 'user', "
                    "u.name, 'prefix', k.prefix, 'created_by', k.created_by, "
                    "'created_at', " TS("k.created_at") ", 'expires_at', " TS(
                            "k.expires_at") ", "
                                            "'last_used_at', " TS(
                                                    "k.last_used_at") ", 'expired', "
                                                                      "coalesce(k.expires_"
                                                                      "at <= "
                                                                      "now(), false)) ORDER "
                                                                      "BY "
                                                                      "t.name, "
                                                                      "k.created_at), "
                                                                      "'[]'))::text AS tokens FROM "
                                                                      "api_keys k JOIN "
                                                                      "teams t "
                                                                      "ON t.id = k.team_id "
                                                                      "LEFT JOIN users u ON "
                                                                      "u.id = k.user_id "
                                                                      "WHERE "
                                                                      "k.revoked_at IS NULL "
                                                                      "AND ($1::uuid IS "
                                                                      "NULL OR "
                                                                      "k.team_id = "
                                                                      "$1::uuid)",
                    1, (const char *[]){ api_team_param(call) }, &err) < 0) {
                api_reply_error(call, "cannot list API keys", err);
                return;
        }
        if (api_db_text(r, "tokens", &text, &err) < 0) {
                api_reply_error(call, "cannot list API keys", err);
                return;
        }
        api_reply_json_text(call, 200, text);
}

void api_tokens_create(struct api_call *call)
{
        struct api_token_create req;
        cleanup_error ad_error_t err = NULL;
        char key[API_KEY_LEN + 1], id[AD_UUID_LEN + 1], expires[32], shown[256];
        ad_db *db;

        if (!api_content_type_is_json(ad_httpd_header(call->req, "Content-Type"))) {
                ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                                     "send the body as JSON with Content-Type: application/json");
                return;
        }
        if (api_token_create_parse(&req, call->req->body, call->req->body_len, &err) < 0) {
                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s", shown);
                return;
        }
        /* A team admin makes keys of its own team, at most as strong as
         * its own; an operator names the team. */
        if (call->role != API_ROLE_OPERATOR) {
                if (req.team[0] && strcmp(req.team, call->team) != 0) {
                        ad_httpd_reply_error(call->reply, 403, "forbidden",
                                             "a team admin makes keys of its own team (%s) only",
                                             call->team);
                        return;
                }
                snprintf(req.team, sizeof(req.team), "%s", call->team);
                if (req.role > call->role) {
                        ad_httpd_reply_error(call->reply, 403, "forbidden",
                                             "your key is %s: it cannot make a %s key",
                                             api_role_name(call->role), api_role_name(req.role));
                        return;
                }
        } else if (req.team[0] == '\0') {
                ad_httpd_reply_error(call->reply, 400, "invalid_request",
                                     "`team` is required: an operator names the key's team");
                return;
        }
        if ((db = api_db_get(call)) == NULL)
                return;
        if (api_key_create(db, &req, call->principal, key, id, expires, &err) < 0) {
                if (err->kind == AD_ERR_CONFLICT)
                        ad_httpd_reply_error(call->reply, 409, "conflict", "%s",
                                             ad_error_message(err));
                else if (err->kind == AD_ERR_NOT_FOUND)
                        ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s",
                                             ad_error_message(err));
                else
                        api_reply_error(call, "cannot create an API key", err);
                return;
        }
        ad_log(AD_LOG_INFO, "API key created", "key_id", id, "name", req.name, "team", req.team,
               "role", api_role_name(req.role), "principal", call->principal, NULL);
        ad_httpd_reply_json(call->reply, 201,
                            json_pack("{s:s,s:s,s:s,s:s,s:s*,s:o,s:s}", "id", id, "name", req.name,
                                      "team", req.team, "role", api_role_name(req.role), "user",
                                      req.user[0] ? req.user : NULL, "expires_at",
                                      expires[0] ? json_string(expires) : json_null(), "key", key));
        explicit_bzero(key, sizeof(key));
}

void api_tokens_delete(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db = api_db_get(call);
        struct key_row k;

        if (db == NULL)
                return;
        if (ad_db_exec(db, &r,
                       "UPDATE api_keys k SET revoked_at = now() FROM teams t WHERE t.id = "
                       "k.team_id AND k.id = $1::uuid AND k.revoked_at IS NULL AND ($2::uuid IS "
                       "NULL OR k.team_id = $2::uuid) RETURNING k.name, t.name AS team",
                       2, (const char *[]){ call->id, api_team_param(call) }, &err) < 0) {
                api_reply_error(call, "cannot revoke an API key", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no API key %s", call->id);
                return;
        }
        if (ad_db_read_row(r, 0, key_revoked_fields, &k, &err) < 0) {
                api_reply_error(call, "cannot read a revoked API key", err);
                return;
        }
        ad_log(AD_LOG_INFO, "API key revoked", "key_id", call->id, "name", k.name, "team", k.team,
               "principal", call->principal, NULL);
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s,s:s,s:b}", "id", call->id, "name", k.name, "team",
                                      k.team, "revoked", 1));
}

void api_whoami(struct api_call *call)
{
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s*,s:s}", "principal", call->principal, "team",
                                      call->team[0] ? call->team : NULL, "role",
                                      api_role_name(call->role)));
}
