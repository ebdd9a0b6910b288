/* /deployments: accept requests (deployment_requests + the outbox, one
 * transaction) and read the coordinator's state back.  The API never
 * writes deployments or their steps: a request the coordinator has not
 * seen yet shows as QUEUED. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/git.h"
#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/outbox.h"
#include "api.h"
#include "api_request.h"

#define API_LIST_DEFAULT 20
#define API_LIST_MAX 100

/* RFC 3339 in UTC with milliseconds: 2026-11-26T22:40:01.123Z */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The fields a deployment shows in a list, from the API's read model (v:
 * the view api_deployment, migrations 009 and 022). */
#define ITEM_FIELDS                                                                                \
        "'id', v.id, 'app', v.app_name, 'repo_url', v.repo_url, 'ref', v.ref, "                    \
        "'status', v.status, 'git_sha', v.git_sha, 'url', v.url, 'error', v.error, "               \
        "'failed_step', v.failed_step, 'created_at', " TS("v.created_at") ", "                     \
                                                                          "'updated_at', " TS(     \
                                                                                  "v.updated_at")

/* One deployment, whichever table knows it.  $1: id. */
static const char sql_get[] =
        "SELECT json_build_object(" ITEM_FIELDS ", "
        "'ip', v.ip, 'requested_by', v.requested_by, "
        "'containers', CASE WHEN v.status = 'EXPOSED' THEN (SELECT to_json(rl.container_ids) "
        "  FROM releases rl WHERE rl.deployment_id = v.id ORDER BY rl.id DESC LIMIT 1) END, "
        "'steps', (SELECT coalesce(json_agg(json_build_object("
        "  'step', s.step, 'status', s.status, 'started_at', " TS(
                "s.started_at") ", "
                                "  'ended_at', " TS(
                                        "s.ended_at") ", "
                                                      "  'duration_ms', (extract(epoch FROM "
                                                      "s.ended_at - s.started_at) * 1000)::bigint)"
                                                      "  ORDER BY s.started_at, s.step), "
                                                      "'[]'::json)"
                                                      "  FROM deployment_steps s WHERE "
                                                      "s.deployment_id = v.id), "
                                                      "'build', (SELECT json_build_object('image', "
                                                      "b.image, 'digest', b.digest, "
                                                      "  'tags', b.tags, 'duration_ms', "
                                                      "b.duration_ms, 'cache_hit', b.cache_hit, "
                                                      "  'created_at', " TS(
                                                              "b.created_at") ") FROM builds b "
                                                                              "WHERE "
                                                                              "b.deployment_id = "
                                                                              "v.id), "
                                                                              "'analysis', "
                                                                              "v.analysis, "
                                                                              "'links', "
                                                                              "json_build_object('"
                                                                              "self', "
                                                                              "'/deployments/' || "
                                                                              "v.id, "
                                                                              "  'logs', "
                                                                              "'/deployments/' || "
                                                                              "v.id || '/logs', "
                                                                              "  'follow', "
                                                                              "'/deployments/' || "
                                                                              "v.id || "
                                                                              "'/"
                                                                              "logs?follow=1'))::"
                                                                              "text AS item "
                                                                              "FROM api_deployment "
                                                                              "v WHERE v.id = "
                                                                              "$1::uuid";

/* Newest first, keyset-paginated on (created_at, id).  The page's ids
 * come from each table's (created_at DESC, id) index: requests, and
 * deployments other systems published (no request row), each its first
 * $3 rows; the rows themselves from the view, by id.  Paging the view
 * itself would sort every deployment (PostgreSQL does not take an ORDER BY
 * ... LIMIT into the branches of a UNION ALL of joins); `id = ANY` of the
 * page is a primary-key lookup in each branch.  $1: cursor created_at in
 * microseconds or NULL, $2: cursor id, $3: limit. */
#define AFTER_CURSOR(t)                                                                            \
        "($1::bigint IS NULL OR (" t ".created_at, " t ".id) < "                                   \
        "('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2::uuid))"

/* $4: the caller's team, NULL for an operator (every team). */
#define PAGE_FILTER(t)                                                                             \
        AFTER_CURSOR(t)                                                                            \
        " AND ($4::uuid IS NULL OR " t ".app_name IN (SELECT app_name FROM "                       \
        "app_owners WHERE team_id = $4::uuid))"

static const char sql_list[] =
        "WITH page AS ("
        " (SELECT r.id FROM deployment_requests r WHERE " PAGE_FILTER(
                "r") "  ORDER BY r.created_at DESC, r.id DESC LIMIT $3)"
                     " UNION ALL"
                     " (SELECT d.id FROM deployments d WHERE " PAGE_FILTER(
                             "d") "  AND NOT EXISTS (SELECT 1 FROM deployment_requests x WHERE "
                                  "x.id = d.id)"
                                  "  ORDER BY d.created_at DESC, d.id DESC LIMIT $3)) "
                                  "SELECT json_build_object(" ITEM_FIELDS ")::text AS item, "
                                  " (extract(epoch FROM v.created_at) * 1000000)::bigint AS "
                                  "created_us, v.id "
                                  "FROM api_deployment v WHERE v.id = ANY (ARRAY(SELECT id FROM "
                                  "page)) "
                                  "ORDER BY v.created_at DESC, v.id DESC LIMIT $3";

/* Status, app, repo and ref of one deployment, from the API's read model
 * (migration 009).  $1: id. */
static const char sql_lookup[] =
        "SELECT status, app_name, repo_url, ref FROM api_deployment WHERE id = $1::uuid";

/* A row of sql_list, and of sql_get (item only). */
struct item_row {
        const char *item, *id; /* the deployment as JSON */
        int64_t created_us;
};
static const struct ad_db_field list_fields[] = {
        AD_DB_FIELD(struct item_row, item, AD_DB_TEXT, "item"),
        AD_DB_FIELD(struct item_row, created_us, AD_DB_INT64, "created_us"),
        AD_DB_FIELD(struct item_row, id, AD_DB_TEXT, "id"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field get_fields[] = {
        AD_DB_FIELD(struct item_row, item, AD_DB_TEXT, "item"),
        AD_DB_FIELDS_END,
};

/* A row of sql_lookup: its strings point into the result. */
struct deployment_ref {
        const char *status, *app_name, *repo_url, *ref;
};
static const struct ad_db_field deployment_ref_fields[] = {
        AD_DB_FIELD(struct deployment_ref, status, AD_DB_TEXT, "status"),
        AD_DB_FIELD(struct deployment_ref, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELD(struct deployment_ref, repo_url, AD_DB_TEXT, "repo_url"),
        AD_DB_FIELD(struct deployment_ref, ref, AD_DB_TEXT, "ref"),
        AD_DB_FIELDS_END,
};

static json_t *links(const char *id)
{
        char self[64], logs[80], follow[96];

        snprintf(self, sizeof(self), "/deployments/%s", id);
        snprintf(logs, sizeof(logs), "/deployments/%s/logs", id);
        snprintf(follow, sizeof(follow), "/deployments/%s/logs?follow=1", id);
        return json_pack("{s:s,s:s,s:s}", "self", self, "logs", logs, "follow", follow);
}

/* The reply to an accepted (or replayed) request. */
static void reply_accepted(struct api_call *call, int status, const char *id, const char *state,
                           const char *app, const char *repo_url, const char *ref)
{
        json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", id, "status", state, "app", app,
                                 "repo_url", repo_url, "ref", ref, "links", links(id));

        ad_httpd_reply_json(call->reply, status, body);
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", id);
}

/* Finds the deployment of path's {id}: 1 with *out (the result, which
 * *row points into) set, 0 when unknown or on error (the reply is made). */
static int lookup(struct api_call *call, ad_db *db, PGresult **out, struct deployment_ref *row)
{
        cleanup_error ad_error_t err = NULL;
        const char *params[1] = { call->id };
        PGresult *r = NULL;

        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", call->id);
        if (ad_db_exec(db, &r, sql_lookup, 1, params, &err) < 0) {
                api_reply_error(call, "cannot look up a deployment", err);
                return 0;
        }
        if (PQntuples(r) == 0) {
                PQclear(r);
                ad_httpd_reply_error(call->reply, 404, "not_found", "no deployment %s", call->id);
                return 0;
        }
        if (ad_db_read_row(r, 0, deployment_ref_fields, row, &err) < 0) {
                PQclear(r);
                api_reply_error(call, "cannot look up a deployment", err);
                return 0;
        }
        *out = r;
        return 1;
}

/* The env of a request, sealed, as protobuf fields. */
struct sealed_env {
        Appdeployer__V1__EnvVar *vars;
        Appdeployer__V1__EnvVar **ptrs;
        size_t n;
};

static void sealed_env_free(struct sealed_env *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->vars[i].value);
        free(s->vars);
        free(s->ptrs);
}

static int seal_env(struct sealed_env *s, const struct api *api,
                    const struct api_deploy_request *dr, ad_error_t *err)
{
        if (dr->n_env == 0)
                return 0;
        s->vars = calloc(dr->n_env, sizeof(*s->vars));
        s->ptrs = calloc(dr->n_env, sizeof(*s->ptrs));
        if (s->vars == NULL || s->ptrs == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        for (size_t i = 0; i < dr->n_env; i++) {
                appdeployer__v1__env_var__init(&s->vars[i]);
                s->ptrs[i] = &s->vars[i];
                s->vars[i].name = dr->env[i].name;
                if (ad_secret_seal(&s->vars[i].value, &api->keys.keys[0], dr->app, dr->env[i].name,
                                   dr->env[i].value, err) < 0)
                        return ad_error_wrap(err, "env %s", dr->env[i].name);
                s->n = i + 1;
        }
        return 0;
}

struct replay_row {
        const char *id, *app_name, *repo_url, *ref, *status;
        const char *env_digest; /* NULL: recorded before env fingerprints */
};

/* An earlier request with the same Idempotency-Key: replies 200 with it
 * (or 409 when the key was used for a different request) and returns 1;
 * 0 when there is none; -1 when an error was replied. */
static int replay(struct api_call *call, ad_db *db, const char *key,
                  const struct api_deploy_request *dr, const char *env_digest)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        static const struct ad_db_field replay_fields[] = {
                AD_DB_FIELD(struct replay_row, id, AD_DB_TEXT, "id"),
                AD_DB_FIELD(struct replay_row, app_name, AD_DB_TEXT, "app_name"),
                AD_DB_FIELD(struct replay_row, repo_url, AD_DB_TEXT, "repo_url"),
                AD_DB_FIELD(struct replay_row, ref, AD_DB_TEXT, "ref"),
                AD_DB_FIELD(struct replay_row, status, AD_DB_TEXT, "status"),
                AD_DB_FIELD(struct replay_row, env_digest, AD_DB_TEXT_NULL, "env_digest"),
                AD_DB_FIELDS_END,
        };
        const char *params[1] = { key };
        const char *id, *app, *repo, *ref;
        struct replay_row row;
        bool same_env;

        if (ad_db_exec(db, &r,
                       "SELECT r.id, r.app_name, r.repo_url, r.ref, "
                       "coalesce(d.status, 'QUEUED') AS status, r.env_digest "
                       "FROM deployment_requests r "
                       "LEFT JOIN deployments d ON d.id = r.id WHERE r.idempotency_key = $1",
                       1, params, &err) < 0) {
                api_reply_error(call, "cannot look up an idempotency key", err);
                return -1;
        }
        if (PQntuples(r) == 0)
                return 0;
        if (ad_db_read_row(r, 0, replay_fields, &row, &err) < 0) {
                api_reply_error(call, "cannot look up an idempotency key", err);
                return -1;
        }
        id = row.id;
        app = row.app_name;
        repo = row.repo_url;
        ref = row.ref;
        /* Requests recorded before env fingerprints existed: not compared. */
        same_env = row.env_digest == NULL || strcmp(row.env_digest, env_digest) == 0;
        if (!same_env && api_deploy_request_env_same(dr, &call->api->keys, row.env_digest,
                                                     &same_env, &err) < 0) {
                api_reply_error(call, "cannot fingerprint the env", err);
                return -1;
        }
        if (strcmp(app, dr->app) != 0 || !api_repo_url_same(call, app, repo, dr->repo_url) ||
            strcmp(ref, dr->ref) != 0 || !same_env) {
                snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", id);
                ad_httpd_reply_error(call->reply, 409, "idempotency_key_reused",
                                     "this Idempotency-Key was already used for a different "
                                     "request (deployment %s)",
                                     id);
                return 1;
        }
        reply_accepted(call, 200, id, row.status, app, repo, ref);
        return 1;
}

/* Inserts the request and its deploy.requested event in one transaction.
 * Returns 1 when committed, 0 when the Idempotency-Key was taken by a
 * concurrent request meanwhile, 2 when the app name is another team's,
 * 3 when a new app would exceed the team's quota (*live: its live apps;
 * nothing written in these cases), < 0 on error. */
static int insert_request(struct api_call *call, ad_db *db, const struct api_deploy_request *dr,
                          const char *id, const char *key, const char *env_digest,
                          const ad_envelope *env, long *live, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[7] = { id,  dr->app,   dr->repo_url, dr->ref, call->principal,
                                  key, env_digest };
        int ret;

        ret = ad_db_begin(db, err);
        if (ret < 0)
                return ret;
        /* The first team to deploy a name owns it; the team's quota
         * (api_teams.c). */
        ret = api_team_claim_app(call, db, dr->app, live, err);
        if (ret != 1) {
                ad_db_rollback(db);
                return ret < 0 ? ret : ret == 0 ? 2 : 3;
        }
        ret = ad_db_exec(db, &r,
                         "INSERT INTO deployment_requests "
                         "(id, app_name, repo_url, ref, requested_by, idempotency_key, "
                         "env_digest) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                         "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                         7, params, err);
        if (ret == 0 && PQntuples(r) == 0) {
                ad_db_rollback(db);
                return 0;
        }
        if (ret == 0)
                ret = ad_outbox_add(db, AD_SUBJECT_REQUESTED, env, err);
        if (ret == 0)
                ret = ad_db_commit(db, err);
        if (ret < 0) {
                ad_db_rollback(db);
                return ret;
        }
        return 1;
}

/* Checks a POST /deployments: headers, body, and what the server can
 * take.  Returns the parsed request, or NULL with the error replied. */
static struct api_deploy_request *accept_request(struct api_call *call, const char **key)
{
        struct api_deploy_request *dr = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *code = "invalid_json";
        const char *ct = ad_httpd_header(call->req, "Content-Type");
        struct api *api = call->api;
        char shown[512];

        if (!api_content_type_is_json(ct)) {
                api_text_excerpt(shown, 80, ct ? ct : "no Content-Type");
                ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                                     "send the body as JSON with Content-Type: application/json "
                                     "(got %s)",
                                     shown);
                return NULL;
        }
        /* The HTTP server enforces the limit already; this keeps the
         * handler's contract on its own. */
        if (call->req->body_len > api->max_body) {
                ad_httpd_reply_error(call->reply, 413, "body_too_large",
                                     "request body is larger than %zu bytes", api->max_body);
                return NULL;
        }
        *key = ad_httpd_header(call->req, "Idempotency-Key");
        if (*key && api_idempotency_key_check(*key, &err) < 0) {
                ad_httpd_reply_error(call->reply, 400, "invalid_idempotency_key", "%s",
                                     ad_error_message(err));
                return NULL;
        }
        if (api_deploy_request_parse(&dr, call->req->body, call->req->body_len, api->allow_local,
                                     &code, &err) < 0) {
                /* Messages quote the input (the URL, a field name). */
                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                if (err->kind == AD_ERR_INVALID)
                        ad_httpd_reply_error(call->reply, 400, code, "%s", shown);
                else
                        api_reply_error(call, "cannot parse a request", err);
                return NULL;
        }
        /* Known internal hosts get a clear 400 now; names are checked
         * again when the analyzer and builder connect. */
        if (ad_git_url_check_host(dr->repo_url, api->clone_allowlist, &err) < 0) {
                api_deploy_request_free(dr);
                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                ad_httpd_reply_error(call->reply, 400, "repo_host_not_allowed", "%s", shown);
                return NULL;
        }
        if (ad_secret_url_is_sealed(dr->repo_url)) {
                api_deploy_request_free(dr);
                ad_httpd_reply_error(call->reply, 400, "invalid_repo_url",
                                     "a repository URL's password cannot be a sealed value "
                                     "(sealed%%3A...): send the credential itself");
                return NULL;
        }
        if (ad_secret_url_has_password(dr->repo_url) && !api->have_key) {
                api_deploy_request_free(dr);
                ad_httpd_reply_error(call->reply, 500, "secrets_not_configured",
                                     "this server has no secrets.key, so it cannot accept "
                                     "credentials in a repository URL");
                return NULL;
        }
        if (dr->n_env > 0 && !api->have_key) {
                api_deploy_request_free(dr);
                ad_httpd_reply_error(call->reply, 500, "secrets_not_configured",
                                     "this server has no secrets.key, so it cannot accept "
                                     "environment variables");
                return NULL;
        }
        return dr;
}

/* Records a new deployment and its deploy.requested event (env sealed).
 * Returns 1 when recorded, 0 when a concurrent request took the
 * Idempotency-Key, 2 when the name is another team's, 3 over the team's
 * quota, < 0 on error. */
static int record_request(struct api_call *call, ad_db *db, const struct api_deploy_request *dr,
                          const char *key, const char *env_digest, const char *id,
                          const char *trace, long *live, ad_error_t *err)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        struct sealed_env sealed = { 0 };
        char event_id[AD_UUID_LEN + 1];
        ad_envelope env;
        int ret;

        ad_event_init(&env, id, trace, 1, "api", event_id);
        rq.repo_url = dr->repo_url;
        rq.ref = dr->ref;
        rq.app_name = (char *)dr->app; /* protobuf-c never writes it */
        rq.requested_by = call->principal;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        ret = seal_env(&sealed, call->api, dr, err);
        rq.n_env = sealed.n;
        rq.env = sealed.ptrs;
        if (ret == 0)
                ret = insert_request(call, db, dr, id, key, env_digest, &env, live, err);
        sealed_env_free(&sealed);
        return ret;
}

void api_deployments_create(struct api_call *call)
{
        cleanup_deploy_request struct api_deploy_request *dr = NULL;
        cleanup_error ad_error_t err = NULL;
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1];
        const char *key = NULL;
        char env_digest[API_ENV_DIGEST_LEN + 1];
        char scoped[AD_UUID_LEN + 1 + API_IDEMPOTENCY_KEY_MAX + 1];
        long live = 0;
        ad_db *db;
        int ret;

        dr = accept_request(call, &key);
        if (dr == NULL)
                return;
        /* A team's Idempotency-Keys are its own: another team's same key
         * neither replays nor blocks. */
        if (key && call->team_id[0]) {
                snprintf(scoped, sizeof(scoped), "%s:%s", call->team_id, key);
                key = scoped;
        }
        /* accept_request() refused env without a key. */
        if (api_deploy_request_env_digest(dr, &call->api->keys.keys[0], env_digest, &err) < 0) {
                api_reply_error(call, "cannot fingerprint the env", err);
                return;
        }
        if ((db = api_db_get(call)) == NULL)
                return;
        if (key && replay(call, db, key, dr, env_digest) != 0)
                return;

        /* After the replay check (which opens the recorded URL to compare):
         * only the sealed form is recorded and published. */
        if (api_repo_url_seal(call, dr) < 0)
                return;
        ad_uuid_v4(id);
        ad_uuid_v4(trace);
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", id);
        ret = record_request(call, db, dr, key, env_digest, id, trace, &live, &err);
        if (ret < 0 && err->kind == AD_ERR_TOO_LARGE) {
                ad_httpd_reply_error(call->reply, 413, "too_large",
                                     "the request does not fit in one event: %s",
                                     ad_error_message(err));
                return;
        }
        if (ret < 0) {
                api_reply_error(call, "cannot record a deployment request", err);
                return;
        }
        /* The audit log names the app (api_audit.c); a refused request
         * made no deployment. */
        snprintf(call->name, sizeof(call->name), "%s", dr->app);
        if (ret == 2 || ret == 3)
                call->deployment_id[0] = '\0';
        if (ret == 2) {
                ad_httpd_reply_error(call->reply, 409, "app_name_taken",
                                     "the app name %s belongs to another team: choose another "
                                     "name (\"name\" in the request)",
                                     dr->app);
                return;
        }
        if (ret == 3) {
                ad_httpd_reply_error(call->reply, 403, "quota_exceeded",
                                     "team %s has %ld live apps and "
                                     "limits.max_deployments_per_user is %ld: delete an app "
                                     "(DELETE /apps/{name}) before deploying a new one",
                                     call->team, live, call->api->max_apps_per_team);
                return;
        }
        /* Lost a race on the Idempotency-Key: answer with the winner. */
        if (ret == 0) {
                if (replay(call, db, key, dr, env_digest) == 0)
                        ad_httpd_reply_error(call->reply, 409, "conflict",
                                             "a concurrent request with this Idempotency-Key "
                                             "failed; retry");
                return;
        }
        api_relay_now(call->api, db);
        ad_log(AD_LOG_INFO, "deployment requested", "deployment_id", id, "app", dr->app, "trace_id",
               trace, NULL);
        reply_accepted(call, 202, id, "QUEUED", dr->app, dr->repo_url, dr->ref);
}

void api_deployments_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        json_auto_t *items = NULL;
        struct api_cursor cursor = { 0 };
        char us[24], limit_text[24];
        const char *params[4] = { NULL, NULL, limit_text, api_team_param(call) };
        const char *cursor_text = ad_httpd_query(call->req, "cursor");
        json_t *next = json_null();
        struct ad_db_rows list;
        struct item_row row;
        long limit;
        int rows;
        ad_db *db;

        if (api_limit_parse(ad_httpd_query(call->req, "limit"), API_LIST_DEFAULT, API_LIST_MAX,
                            &limit, &err) < 0) {
                ad_httpd_reply_error(call->reply, 400, "invalid_limit", "%s",
                                     ad_error_message(err));
                return;
        }
        if (cursor_text && *cursor_text) {
                if (api_cursor_decode(&cursor, cursor_text, &err) < 0) {
                        ad_httpd_reply_error(call->reply, 400, "invalid_cursor", "%s",
                                             ad_error_message(err));
                        return;
                }
                snprintf(us, sizeof(us), "%" PRId64, cursor.created_us);
                params[0] = us;
                params[1] = cursor.id;
        }
        /* One more row than asked tells whether there is a next page. */
        snprintf(limit_text, sizeof(limit_text), "%ld", limit + 1);
        db = api_db_get(call);
        if (db == NULL)
                return;
        if (ad_db_exec(db, &r, sql_list, 4, params, &err) < 0 ||
            ad_db_rows_init(&list, r, list_fields, &err) < 0) {
                api_reply_error(call, "cannot list deployments", err);
                return;
        }

        items = json_array();
        rows = PQntuples(r);
        for (int i = 0; i < rows && i < limit; i++) {
                json_t *item = NULL;

                if (ad_db_rows_read(&list, i, &row, &err) == 0)
                        item = json_loads(row.item, 0, NULL);
                if (item == NULL) {
                        api_reply_error(call, "cannot read a deployment row", err);
                        return;
                }
                json_array_append_new(items, item);
        }
        if (rows > limit) {
                cleanup_free char *text = NULL;

                if (ad_db_rows_read(&list, (int)limit - 1, &row, &err) < 0) {
                        api_reply_error(call, "cannot read a deployment row", err);
                        return;
                }
                cursor.created_us = row.created_us;
                snprintf(cursor.id, sizeof(cursor.id), "%s", row.id);
                text = api_cursor_encode(&cursor);
                next = text ? json_string(text) : json_null();
        }
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:O,s:o}", "deployments", items, "next_cursor", next));
}

void api_deployments_get(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        json_auto_t *doc = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *params[1] = { call->id };
        struct item_row row;
        ad_db *db = api_db_get(call);

        if (db == NULL)
                return;
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", call->id);
        if (ad_db_exec(db, &r, sql_get, 1, params, &err) < 0) {
                api_reply_error(call, "cannot read a deployment", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no deployment %s", call->id);
                return;
        }
        if (ad_db_read_row(r, 0, get_fields, &row, &err) < 0) {
                api_reply_error(call, "cannot read a deployment", err);
                return;
        }
        doc = json_loads(row.item, 0, NULL);
        if (doc == NULL) {
                api_reply_error(call, "cannot encode a reply", NULL);
                return;
        }
        if (api_timeline(db, call->id, doc, &err) < 0) {
                api_reply_error(call, "cannot read a deployment's timeline", err);
                return;
        }
        ad_httpd_reply_json(call->reply, 200, TAKE_PTR(doc));
}

void api_deployments_delete(struct api_call *call)
{
        Appdeployer__V1__DestroyRequested destroy = APPDEPLOYER__V1__DESTROY_REQUESTED__INIT;
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char trace[AD_UUID_LEN + 1], event_id[AD_UUID_LEN + 1];
        struct deployment_ref dep;
        const char *status;
        ad_envelope env;
        ad_db *db = api_db_get(call);

        if (db == NULL || !lookup(call, db, &r, &dep))
                return;
        status = dep.status;
        /* DELETE is idempotent: a destroy under way is not asked twice. */
        if (strcmp(status, "DESTROYING") != 0 && strcmp(status, "DESTROYED") != 0) {
                ad_uuid_v4(trace);
                ad_event_init(&env, call->id, trace, 1, "api", event_id);
                destroy.requested_by = call->principal;
                env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_DESTROY;
                env.destroy = &destroy;
                if (ad_outbox_add(db, AD_SUBJECT_DESTROY, &env, &err) < 0) {
                        api_reply_error(call, "cannot request a destroy", err);
                        return;
                }
                api_relay_now(call->api, db);
                ad_log(AD_LOG_INFO, "destroy requested", "deployment_id", call->id, "trace_id",
                       trace, NULL);
        }
        ad_httpd_reply_json(call->reply, 202,
                            json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", call->id, "app", dep.app_name,
                                      "status", status, "requested", "destroy", "links",
                                      links(call->id)));
}

struct earlier_row {
        bool earlier;
};

/* Whether the app has a healthy release older than the deployment's own
 * (any release other than it when it never became one). */
static int has_earlier_release(ad_db *db, const char *app, const char *id, bool *yes,
                               ad_error_t *err)
{
        static const struct ad_db_field earlier_fields[] = {
                AD_DB_FIELD(struct earlier_row, earlier, AD_DB_BOOL, "earlier"),
                AD_DB_FIELDS_END,
        };
        struct earlier_row row;
        cleanup_pgresult PGresult *r = NULL;
        const char *params[2] = { app, id };
        int ret;

        ret = ad_db_exec(db, &r,
                         "SELECT EXISTS (SELECT 1 FROM releases WHERE app_name = $1 "
                         "AND deployment_id <> $2::uuid AND id < coalesce("
                         "(SELECT min(id) FROM releases WHERE deployment_id = $2::uuid), "
                         "9223372036854775807)) AS earlier",
                         2, params, err);
        if (ret == 0)
                ret = ad_db_read_row(r, 0, earlier_fields, &row, err);
        if (ret < 0)
                return ret;
        *yes = row.earlier;
        return 0;
}

/* The rollback is a new deployment of the app: it gets its own id (the
 * envelope's deployment_id) and request row, so it can be followed like
 * any other; the coordinator picks the image. */
static int record_rollback(struct api_call *call, ad_db *db, const struct deployment_ref *target,
                           const char *id, const char *trace, ad_error_t *err)
{
        Appdeployer__V1__RollbackRequested rb = APPDEPLOYER__V1__ROLLBACK_REQUESTED__INIT;
        const char *params[5] = { id, target->app_name, target->repo_url, target->ref,
                                  call->principal };
        char event_id[AD_UUID_LEN + 1];
        ad_envelope env;
        int ret;

        ad_event_init(&env, id, trace, 1, "api", event_id);
        rb.requested_by = call->principal;
        rb.target_deployment_id = call->id;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ROLLBACK;
        env.rollback = &rb;
        ret = ad_db_begin(db, err);
        if (ret == 0)
                ret = ad_db_exec(db, NULL,
                                 "INSERT INTO deployment_requests "
                                 "(id, app_name, repo_url, ref, requested_by) "
                                 "VALUES ($1, $2, $3, $4, $5)",
                                 5, params, err);
        if (ret == 0)
                ret = ad_outbox_add(db, AD_SUBJECT_ROLLBACK, &env, err);
        if (ret == 0)
                ret = ad_db_commit(db, err);
        if (ret < 0)
                ad_db_rollback(db);
        return ret;
}

void api_deployments_rollback(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1];
        ad_db *db = api_db_get(call);
        struct deployment_ref dep;
        bool earlier = false;
        const char *app;

        if (db == NULL || !lookup(call, db, &r, &dep))
                return;
        app = dep.app_name;
        if (has_earlier_release(db, app, call->id, &earlier, &err) < 0) {
                api_reply_error(call, "cannot read releases", err);
                return;
        }
        if (!earlier) {
                ad_httpd_reply_error(call->reply, 409, "no_earlier_release",
                                     "app %s has no healthy release before deployment %s to roll "
                                     "back to",
                                     app, call->id);
                return;
        }
        ad_uuid_v4(id);
        ad_uuid_v4(trace);
        if (record_rollback(call, db, &dep, id, trace, &err) < 0) {
                api_reply_error(call, "cannot request a rollback", err);
                return;
        }
        api_relay_now(call->api, db);
        ad_log(AD_LOG_INFO, "rollback requested", "deployment_id", id, "rollback_of", call->id,
               "app", app, "trace_id", trace, NULL);
        ad_httpd_reply_json(call->reply, 202,
                            json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "rollback_of", call->id,
                                      "status", "QUEUED", "app", app, "links", links(id)));
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", id);
}
