/* /teams/{team}/members: a team's members and their roles, for its admins
 * (platform operators: every team's).  Another team answers 404 as one
 * that does not exist.
 *
 * A team always keeps an admin: removing or demoting its last admin is
 * refused (409).  The check and the change run in one transaction that
 * holds the team's row locked, so two admins removing each other at once
 * cannot both succeed.  A member removed is refused at once: the keys
 * bound to them are revoked in the same transaction, and a request with
 * one of their keys or a JWT made from one is refused on its next use
 * (api_auth.c reads the key's row and the membership on every request).
 * A member's new role applies to their keys' next request too (a key acts
 * with the weaker of its role and its user's). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* What the handlers read of a team and its memberships. */
struct member_row {
        const char *team_id;
        const char *role;     /* the member's */
        int64_t admins;       /* how many admins the team has */
        int64_t keys_revoked; /* api_members_remove: the member's keys it revoked */
};
static const struct ad_db_field team_fields[] = {
        AD_DB_FIELD(struct member_row, team_id, AD_DB_TEXT, "team_id"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field role_fields[] = {
        AD_DB_FIELD(struct member_row, role, AD_DB_TEXT, "role"),
        AD_DB_FIELD(struct member_row, admins, AD_DB_INT64, "admins"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field removed_fields[] = {
        AD_DB_FIELD(struct member_row, keys_revoked, AD_DB_INT64, "keys_revoked"),
        AD_DB_FIELDS_END,
};

/* The {team}'s id into id, if the caller may manage it: its own team,
 * or any for an operator.  0 found, < 0 replied (404 or an error). */
static int team_of(struct api_call *call, ad_db *db, char id[AD_UUID_LEN + 1])
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct member_row t;

        if (call->role != API_ROLE_OPERATOR && strcmp(call->path_team, call->team) != 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no team %s", call->path_team);
                return -1;
        }
        if (ad_db_exec(db, &r, "SELECT id AS team_id FROM teams WHERE name = $1", 1,
                       (const char *[]){ call->path_team }, &err) < 0) {
                api_reply_error(call, "cannot look up a team", err);
                return -1;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no team %s", call->path_team);
                return -1;
        }
        if (ad_db_read_row(r, 0, team_fields, &t, &err) < 0) {
                api_reply_error(call, "cannot look up a team", err);
                return -1;
        }
        snprintf(id, AD_UUID_LEN + 1, "%s", t.team_id);
        snprintf(call->audit_team_id, sizeof(call->audit_team_id), "%s", id);
        return 0;
}

static bool body_is_json(struct api_call *call)
{
        if (api_content_type_is_json(ad_httpd_header(call->req, "Content-Type")))
                return true;
        ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                             "send the body as JSON with Content-Type: application/json");
        return false;
}

static int parse_body(struct api_call *call, struct api_member *m, bool with_user)
{
        cleanup_error ad_error_t err = NULL;
        char shown[256];

        if (!body_is_json(call))
                return -1;
        if (api_member_parse(m, call->req->body, call->req->body_len, with_user, &err) < 0) {
                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s", shown);
                return -1;
        }
        return 0;
}

void api_members_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char team_id[AD_UUID_LEN + 1];
        ad_db *db = api_db_get(call);
        const char *text;

        if (db == NULL || team_of(call, db, team_id) < 0)
                return;
        if (ad_db_exec(db, &r,
                       "SELECT json_build_object('team', $2::text, 'members', coalesce(json_agg("
                       "json_build_object('user', u.name, 'role', m.role, 'since', " TS(
                               "m.created_at") ", 'keys', (SELECT count(*) FROM api_keys k "
                                               "WHERE k.user_id = u.id AND k.team_id = m.team_id "
                                               "AND k.revoked_at IS NULL)) ORDER BY u.name), "
                                               "'[]'))::text AS members FROM memberships m JOIN "
                                               "users u ON "
                                               "u.id = m.user_id WHERE m.team_id = $1::uuid",
                       2, (const char *[]){ team_id, call->path_team }, &err) < 0) {
                api_reply_error(call, "cannot list a team's members", err);
                return;
        }
        if (api_db_text(r, "members", &text, &err) < 0) {
                api_reply_error(call, "cannot list a team's members", err);
                return;
        }
        api_reply_json_text(call, 200, text);
}

void api_members_add(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char team_id[AD_UUID_LEN + 1], user_id[AD_UUID_LEN + 1];
        struct api_member m;
        ad_db *db;

        if (parse_body(call, &m, true) < 0 || (db = api_db_get(call)) == NULL ||
            team_of(call, db, team_id) < 0)
                return;
        snprintf(call->audit_path, sizeof(call->audit_path), "/teams/%s/members/%s role=%s",
                 call->path_team, m.user, api_role_name(m.role));
        /* A user the platform does not know yet is created: users are
         * names, keys (not users) log in. */
        ad_uuid_v4(user_id);
        if (ad_db_exec(db, &r,
                       "WITH u AS (INSERT INTO users (id, name) VALUES ($1::uuid, $2) ON "
                       "CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id) INSERT "
                       "INTO memberships (user_id, team_id, role) SELECT u.id, $3::uuid, $4 FROM "
                       "u ON CONFLICT (user_id, team_id) DO NOTHING RETURNING role",
                       4, (const char *[]){ user_id, m.user, team_id, api_role_name(m.role) },
                       &err) < 0) {
                api_reply_error(call, "cannot add a member", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 409, "conflict",
                                     "%s is a member of team %s already: change their role with "
                                     "PATCH /teams/%s/members/%s",
                                     m.user, call->path_team, call->path_team, m.user);
                return;
        }
        ad_log(AD_LOG_INFO, "member added", "team", call->path_team, "user", m.user, "role",
               api_role_name(m.role), "principal", call->principal, NULL);
        ad_httpd_reply_json(call->reply, 201,
                            json_pack("{s:s,s:s,s:s}", "team", call->path_team, "user", m.user,
                                      "role", api_role_name(m.role)));
}

/* In the caller's transaction, with the team's row locked: the member's
 * role (0), or a reply made (< 0): not a member (404), or the last admin
 * unless last_admin_ok (409). */
static int member_role(struct api_call *call, ad_db *db, const char *team_id, bool last_admin_ok,
                       enum api_role *role)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct member_row m;

        if (ad_db_exec(db, NULL, "SELECT 1 FROM teams WHERE id = $1::uuid FOR UPDATE", 1,
                       (const char *[]){ team_id }, &err) < 0 ||
            ad_db_exec(db, &r,
                       "SELECT m.role, (SELECT count(*) FROM memberships a WHERE a.team_id = "
                       "$1::uuid AND a.role = 'admin') AS admins FROM memberships m JOIN users u "
                       "ON u.id "
                       "= m.user_id WHERE m.team_id = $1::uuid AND u.name = $2",
                       2, (const char *[]){ team_id, call->path_user }, &err) < 0) {
                api_reply_error(call, "cannot look up a member", err);
                return -1;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "%s is not a member of team %s",
                                     call->path_user, call->path_team);
                return -1;
        }
        if (ad_db_read_row(r, 0, role_fields, &m, &err) < 0) {
                api_reply_error(call, "cannot look up a member", err);
                return -1;
        }
        if (api_role_parse(role, m.role, &err) < 0) {
                api_reply_error(call, "a membership has an unknown role", err);
                return -1;
        }
        if (*role == API_ROLE_ADMIN && !last_admin_ok && m.admins == 1) {
                ad_httpd_reply_error(call->reply, 409, "last_admin",
                                     "%s is the last admin of team %s: make another member "
                                     "admin first (a team always keeps one)",
                                     call->path_user, call->path_team);
                return -1;
        }
        return 0;
}

void api_members_update(struct api_call *call)
{
        cleanup_error ad_error_t err = NULL;
        char team_id[AD_UUID_LEN + 1];
        struct api_member m;
        enum api_role was;
        ad_db *db;

        if (parse_body(call, &m, false) < 0 || (db = api_db_get(call)) == NULL ||
            team_of(call, db, team_id) < 0)
                return;
        snprintf(call->audit_path, sizeof(call->audit_path), "/teams/%s/members/%s role=%s",
                 call->path_team, call->path_user, api_role_name(m.role));
        if (ad_db_begin(db, &err) < 0) {
                api_reply_error(call, "cannot change a member's role", err);
                return;
        }
        if (member_role(call, db, team_id, m.role == API_ROLE_ADMIN, &was) < 0) {
                ad_db_rollback(db);
                return;
        }
        if (ad_db_exec(db, NULL,
                       "UPDATE memberships SET role = $3 WHERE team_id = $1::uuid AND user_id = "
                       "(SELECT id FROM users WHERE name = $2)",
                       3, (const char *[]){ team_id, call->path_user, api_role_name(m.role) },
                       &err) < 0 ||
            ad_db_commit(db, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot change a member's role", err);
                return;
        }
        ad_log(AD_LOG_INFO, "member role changed", "team", call->path_team, "user", call->path_user,
               "from", api_role_name(was), "to", api_role_name(m.role), "principal",
               call->principal, NULL);
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s,s:s,s:s}", "team", call->path_team, "user",
                                      call->path_user, "role", api_role_name(m.role), "was",
                                      api_role_name(was)));
}

void api_members_remove(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char team_id[AD_UUID_LEN + 1], revoked[24];
        struct member_row removed;
        enum api_role was;
        ad_db *db;

        if ((db = api_db_get(call)) == NULL || team_of(call, db, team_id) < 0)
                return;
        if (ad_db_begin(db, &err) < 0) {
                api_reply_error(call, "cannot remove a member", err);
                return;
        }
        if (member_role(call, db, team_id, false, &was) < 0) {
                ad_db_rollback(db);
                return;
        }
        /* The member's keys of this team go with the membership, so
         * adding the user again later does not bring them back. */
        if (ad_db_exec(db, &r,
                       "WITH u AS (SELECT id FROM users WHERE name = $2), k AS (UPDATE api_keys "
                       "SET revoked_at = now() WHERE team_id = $1::uuid AND user_id = (SELECT id "
                       "FROM u) AND revoked_at IS NULL RETURNING 1), d AS (DELETE FROM "
                       "memberships WHERE team_id = $1::uuid AND user_id = (SELECT id FROM u) "
                       "RETURNING 1) SELECT (SELECT count(*) FROM k) AS keys_revoked, (SELECT "
                       "count(*) FROM d) AS memberships_removed",
                       2, (const char *[]){ team_id, call->path_user }, &err) < 0 ||
            ad_db_read_row(r, 0, removed_fields, &removed, &err) < 0 ||
            ad_db_commit(db, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot remove a member", err);
                return;
        }
        snprintf(revoked, sizeof(revoked), "%" PRId64, removed.keys_revoked);
        ad_log(AD_LOG_INFO, "member removed", "team", call->path_team, "user", call->path_user,
               "role", api_role_name(was), "keys_revoked", revoked, "principal", call->principal,
               NULL);
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s,s:s,s:I}", "team", call->path_team, "user",
                                      call->path_user, "was", api_role_name(was), "keys_revoked",
                                      (json_int_t)removed.keys_revoked));
}
