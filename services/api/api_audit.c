/* The audit log (audit_log, migration 013): one row per request that asks
 * for a change, written after its handler answered (refusals too), and
 * one per `adapi admin` command; GET /audit for team admins.  A row holds
 * who, when, from where, the route and its target, and the status; never
 * a body or a header value.  Writing it is best effort: a failure is
 * logged and the request's answer stands. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"

#define AUDIT_DEFAULT 50
#define AUDIT_MAX 500
#define AUDIT_DB_WAIT_MS 2000

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1 team (NULL: find it from the app), $2 principal, $3 remote, $4
 * action, $5 path, $6 app or NULL, $7 deployment id or NULL, $8 status. */
static const char sql_insert[] =
        "INSERT INTO audit_log (team_id, principal, remote, action, path, app, deployment_id, "
        "status) SELECT coalesce($1::uuid, (SELECT team_id FROM app_owners WHERE app_name = "
        "x.app)), $2, $3, $4, $5, x.app, $7::uuid, $8::int FROM (SELECT coalesce($6, (SELECT "
        "app_name FROM deployment_requests WHERE id = $7::uuid), (SELECT app_name FROM "
        "deployments WHERE id = $7::uuid)) AS app) x";

static bool is_change(const char *method)
{
        return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

void api_audit_record(struct api_call *call)
{
        cleanup_error ad_error_t err = NULL;
        int status = call->reply->status ? call->reply->status : 200;
        char path[256], code[8];
        const char *params[8];
        ad_db *db = call->db;
        size_t n = 0;

        /* Only routes that exist, asked by someone the API knows. */
        /* 503: the database is away (or the API starting): not waited
         * for again here. */
        if (!is_change(call->req->method) || status == 401 || status == 503 ||
            strcmp(call->route, "unmatched") == 0 || strcmp(call->route, "starting") == 0 ||
            strcmp(call->route, "method_not_allowed") == 0 ||
            strcmp(call->route, "auth_token") == 0)
                return;
        if (db == NULL && api_pool_get(call->api->pool, &call->db, AUDIT_DB_WAIT_MS, &err) < 0) {
                ad_log(AD_LOG_WARN, "cannot write the audit log", "route", call->route, "error",
                       ad_error_message(err), NULL);
                return;
        }
        db = call->db;
        for (const char *p = call->audit_path[0] ? call->audit_path : call->req->path;
             *p && n + 1 < sizeof(path); p++)
                path[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
        path[n] = '\0';
        snprintf(code, sizeof(code), "%d", status);
        params[0] = call->audit_team_id[0] ? call->audit_team_id : api_team_param(call);
        params[1] = call->principal;
        params[2] = call->req->remote_ip ? call->req->remote_ip : "";
        params[3] = call->route;
        params[4] = path;
        params[5] = call->name[0] ? call->name : NULL;
        params[6] = call->deployment_id[0] ? call->deployment_id
                    : call->id_valid && strncmp(call->req->path, "/deployments/", 13) == 0
                            ? call->id
                            : NULL;
        params[7] = code;
        if (ad_db_exec(db, NULL, sql_insert, 8, params, &err) < 0)
                ad_log(AD_LOG_WARN, "cannot write the audit log", "route", call->route, "error",
                       ad_error_message(err), NULL);
}

int api_audit_admin(ad_db *db, const char *action, const char *team, const char *target,
                    ad_error_t *err)
{
        const char *user = getenv("USER");
        char who[96];

        snprintf(who, sizeof(who), "adapi admin (%s)", user && *user ? user : "unknown user");
        return ad_db_exec(db, NULL,
                          "INSERT INTO audit_log (team_id, principal, remote, action, path, "
                          "status) VALUES ((SELECT id FROM teams WHERE name = $1), $2, 'local', "
                          "$3, $4, 0)",
                          4, (const char *[]){ team, who, action, target }, err);
}

void api_audit_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *before = ad_httpd_query(call->req, "before");
        char limit_text[24];
        const char *text;
        long limit;
        ad_db *db;

        if (api_limit_parse(ad_httpd_query(call->req, "limit"), AUDIT_DEFAULT, AUDIT_MAX, &limit,
                            &err) < 0) {
                ad_httpd_reply_error(call->reply, 400, "invalid_limit", "%s",
                                     ad_error_message(err));
                return;
        }
        if (before && *before) {
                char *end = NULL;
                long long v = strtoll(before, &end, 10);

                if (*end || v <= 0 || strlen(before) > 19) {
                        ad_httpd_reply_error(call->reply, 400, "invalid_cursor",
                                             "`before` is the id of an entry (next_before of "
                                             "the previous page)");
                        return;
                }
        } else {
                before = NULL;
        }
        snprintf(limit_text, sizeof(limit_text), "%ld", limit);
        if ((db = api_db_get(call)) == NULL)
                return;
        if (ad_db_exec(db, &r,
                       "WITH page AS (SELECT l.*, t.name AS team FROM audit_log l LEFT JOIN teams "
                       "t ON t.id = l.team_id WHERE ($1::uuid IS NULL OR l.team_id = $1::uuid) AND "
                       "($2::bigint IS NULL OR l.id < $2::bigint) ORDER BY l.id DESC LIMIT "
                       "$3::int) SELECT json_build_object('entries', coalesce(json_agg("
                       "json_build_object('id', id, 'at', " TS(
                               "at") ", 'team', team, "
                                     "'principal', principal, 'remote', remote, 'action', action, "
                                     "'path', path, 'app', app, 'deployment_id', deployment_id, "
                                     "'status', status) ORDER BY id DESC), '[]'), 'next_before', "
                                     "CASE WHEN count(*) = $3::int THEN min(id) END)::text AS "
                                     "page FROM page",
                       3, (const char *[]){ api_team_param(call), before, limit_text }, &err) < 0) {
                api_reply_error(call, "cannot read the audit log", err);
                return;
        }
        if (api_db_text(r, "page", &text, &err) < 0) {
                api_reply_error(call, "cannot read the audit log", err);
                return;
        }
        api_reply_json_text(call, 200, text);
}
