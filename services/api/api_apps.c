/* /apps: the app as the thing users work with; its deployments are its
 * history.  The API reads the coordinator's apps, releases and
 * deployments; every change (deploy, config, scale, rollback, destroy) is
 * a request row and an event in the outbox, applied by the coordinator,
 * the single writer of deployment state.  A change answers 202 with the
 * deployment it makes, to follow like any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "ad/log.h"
#include "ad/names.h"
#include "ad/outbox.h"
#include "api.h"
#include "api_apps_request.h"

/* RFC 3339 in UTC with milliseconds, as in api_deployments.c. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* How long one replica's health probe may take, and how many replicas
 * one request probes (the others show "unknown"): a reply stays bounded
 * in time. */
#define PROBE_TIMEOUT_MS 2000
#define PROBE_MAX 20

/* The app's current release (its EXPOSED deployment) as `cur`, its newest
 * deployment as `last`; `a` is the apps row. */
#define APP_JOINS                                                                                  \
        "LEFT JOIN LATERAL (SELECT r.version, r.deployment_id, r.image, r.container_ids, "         \
        "  r.created_at, d.url, d.ip, d.git_sha, d.config_version, b.digest, r.processes, "        \
        "  b.processes AS processes_declared "                                                     \
        "  FROM releases r JOIN deployments d ON d.id = r.deployment_id "                          \
        "  LEFT JOIN builds b ON b.deployment_id = r.deployment_id "                               \
        "  WHERE r.app_name = a.name AND d.status = 'EXPOSED' ORDER BY r.id DESC LIMIT 1) cur "    \
        "ON true "                                                                                 \
        "LEFT JOIN LATERAL (SELECT d.id, d.status, d.kind, d.description, d.error, d.created_at "  \
        "  FROM deployments d WHERE d.app_name = a.name ORDER BY d.created_at DESC LIMIT 1) last " \
        "ON true "

#define LAST_FIELDS                                                                                \
        "CASE WHEN last.id IS NULL THEN NULL ELSE json_build_object('id', last.id, 'status', "     \
        "last.status, 'kind', last.kind, 'description', last.description, 'error', last.error, "   \
        "'created_at', " TS("last.created_at") ") END"

static const char sql_list[] =
        "SELECT coalesce(json_agg(json_build_object('name', a.name, 'url', cur.url, "
        "'release', cur.version, 'replicas', coalesce(cardinality(cur.container_ids), 0), "
        "'status', CASE WHEN cur.version IS NOT NULL THEN 'running' ELSE 'stopped' END, "
        "'last_deployment', " LAST_FIELDS ") ORDER BY a.name), '[]')::text AS apps "
        "FROM apps a " APP_JOINS
        "WHERE $1::uuid IS NULL OR a.name IN (SELECT app_name FROM app_owners WHERE team_id = "
        "$1::uuid)";

static const char sql_get[] =
        "SELECT json_build_object('name', a.name, 'repo_url', a.repo_url, 'ref', a.ref, "
        "'url', cur.url, 'ip', cur.ip, 'config_version', a.config_version, "
        "'status', CASE WHEN cur.version IS NOT NULL THEN 'running' ELSE 'stopped' END, "
        "'scale', jsonb_build_object('web', CASE WHEN a.web_replicas > 0 THEN a.web_replicas END) "
        "  || a.process_replicas, "
        "'process_types', jsonb_build_object('web', jsonb_build_object('replicas', "
        "  coalesce(cardinality(cur.container_ids), 0))) || coalesce((SELECT "
        "  jsonb_object_agg(p->>'name', jsonb_build_object('command', p->>'command', 'replicas', "
        "  coalesce((cur.processes->>(p->>'name'))::int, 0))) FROM jsonb_array_elements("
        "  cur.processes_declared) p), '{}'), "
        "'release', CASE WHEN cur.version IS NULL THEN NULL ELSE json_build_object("
        "  'version', cur.version, 'deployment_id', cur.deployment_id, 'image', cur.image, "
        "  'digest', cur.digest, 'git_sha', cur.git_sha, 'config_version', cur.config_version, "
        "  'created_at', " TS(
                "cur.created_at") ") END, "
                                  "'containers', coalesce(to_json(cur.container_ids), '[]'), "
                                  "'domains', (SELECT coalesce(json_agg(dm.hostname ORDER BY "
                                  "dm.hostname), '[]') FROM domains dm WHERE dm.app_name = "
                                  "a.name), "
                                  "'last_deployment', " LAST_FIELDS ", "
                                  "'created_at', " TS("a.created_at") ")::text AS app "
                                                                      "FROM apps a " APP_JOINS
                                                                      "WHERE a.name = $1";

/* Releases newest first.  A release can be rolled back to while its image
 * is in the registry: no build compensation removed it since it was last
 * built (the coordinator checks the same). */
static const char sql_releases[] =
        "SELECT coalesce(json_agg(json_build_object('version', r.version, 'deployment_id', "
        "r.deployment_id, 'image', r.image, 'digest', b.digest, 'git_sha', d.git_sha, "
        "'config_version', d.config_version, 'kind', d.kind, 'description', d.description, "
        "'requested_by', coalesce(nullif(d.requested_by, ''), q.requested_by, ''), "
        "'created_at', " TS(
                "r.created_at") ", 'status', d.status, "
                                "'current', d.status = 'EXPOSED', 'replicas', "
                                "cardinality(r.container_ids), "
                                "'image_available', d.status <> 'DESTROYED' AND NOT EXISTS (SELECT "
                                "1 FROM builds b2 "
                                "  JOIN compensations c ON c.deployment_id = b2.deployment_id AND "
                                "c.step = 'build' "
                                "  AND c.status = 'done' WHERE b2.image = r.image AND c.done_at > "
                                "(SELECT "
                                "  max(created_at) FROM builds WHERE image = r.image))) "
                                "ORDER BY r.version DESC), '[]')::text AS releases "
                                "FROM releases r JOIN deployments d ON d.id = r.deployment_id "
                                "LEFT JOIN builds b ON b.deployment_id = r.deployment_id "
                                "LEFT JOIN deployment_requests q ON q.id = r.deployment_id WHERE "
                                "r.app_name = $1";

static json_t *links(const char *id)
{
        char self[64], logs[80];

        snprintf(self, sizeof(self), "/deployments/%s", id);
        snprintf(logs, sizeof(logs), "/deployments/%s/logs", id);
        return json_pack("{s:s,s:s}", "self", self, "logs", logs);
}

/* The apps row of {name}, as app_lookup reads it: its strings point into
 * the result. */
struct app_row {
        const char *repo_url, *ref;
        const char *env;              /* JSON text: name -> sealed value */
        int config_version;           /* */
        bool running;                 /* a release of it runs (an EXPOSED deployment) */
        uint32_t web_replicas;        /* 0: not set */
        const char *process_replicas; /* JSON text: process type -> replicas */
};
static const struct ad_db_field app_fields[] = {
        AD_DB_FIELD(struct app_row, repo_url, AD_DB_TEXT, "repo_url"),
        AD_DB_FIELD(struct app_row, ref, AD_DB_TEXT, "ref"),
        AD_DB_FIELD(struct app_row, env, AD_DB_TEXT, "env"),
        AD_DB_FIELD(struct app_row, config_version, AD_DB_INT, "config_version"),
        AD_DB_FIELD(struct app_row, running, AD_DB_BOOL, "running"),
        AD_DB_FIELD(struct app_row, web_replicas, AD_DB_UINT32, "web_replicas"),
        AD_DB_FIELD(struct app_row, process_replicas, AD_DB_TEXT, "process_replicas"),
        AD_DB_FIELDS_END,
};

/* The apps row of {name} in *app, its result in *out (the caller clears
 * it).  Returns 1, or 0 when replied (404 or an error). */
static int app_lookup(struct api_call *call, ad_db *db, PGresult **out, struct app_row *app)
{
        cleanup_error ad_error_t err = NULL;
        PGresult *r = NULL;

        if (ad_db_exec(db, &r,
                       "SELECT a.repo_url, a.ref, a.env::text AS env, a.config_version, EXISTS ("
                       "SELECT 1 FROM releases r JOIN deployments d ON d.id = r.deployment_id "
                       "WHERE r.app_name = a.name AND d.status = 'EXPOSED') AS running, "
                       "a.web_replicas, a.process_replicas::text AS process_replicas FROM apps a "
                       "WHERE a.name = $1",
                       1, (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot read an app", err);
                return 0;
        }
        if (PQntuples(r) == 0) {
                PQclear(r);
                ad_httpd_reply_error(call->reply, 404, "not_found", "no app %s", call->name);
                return 0;
        }
        if (ad_db_read_row(r, 0, app_fields, app, &err) < 0) {
                PQclear(r);
                api_reply_error(call, "cannot read an app", err);
                return 0;
        }
        *out = r;
        return 1;
}

/* Whether the request's body is JSON (or absent, when empty_ok): replies
 * 415 otherwise. */
static bool json_body(struct api_call *call, bool empty_ok)
{
        const char *ct = ad_httpd_header(call->req, "Content-Type");
        char shown[80];

        if (empty_ok && call->req->body_len == 0)
                return true;
        if (api_content_type_is_json(ct))
                return true;
        api_text_excerpt(shown, sizeof(shown), ct ? ct : "no Content-Type");
        ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                             "send the body as JSON with Content-Type: application/json (got %s)",
                             shown);
        return false;
}

static void reply_parse_error(struct api_call *call, ad_error_t err)
{
        char shown[512];

        api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
        if (err->kind == AD_ERR_INVALID)
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s", shown);
        else if (err->kind == AD_ERR_TOO_LARGE)
                ad_httpd_reply_error(call->reply, 413, "too_large", "%s", shown);
        else
                api_reply_error(call, "cannot parse a request", err);
}

/* Records a new deployment of the app (a request row, so it shows QUEUED
 * until the coordinator has it) and the event that makes it, in one
 * transaction, then replies 202. */
static void record_and_reply(struct api_call *call, ad_db *db, const struct app_row *app,
                             const char *ref, const char *id, const char *subject,
                             const ad_envelope *env, const char *what)
{
        cleanup_error ad_error_t err = NULL;
        const char *p[5] = { id, call->name, app->repo_url, ref, call->principal };
        int ret;

        ret = ad_db_begin(db, &err);
        if (ret == 0)
                ret = ad_db_exec(db, NULL,
                                 "INSERT INTO deployment_requests (id, app_name, repo_url, ref, "
                                 "requested_by) VALUES ($1, $2, $3, $4, $5)",
                                 5, p, &err);
        if (ret == 0)
                ret = ad_outbox_add(db, subject, env, &err);
        if (ret == 0)
                ret = ad_db_commit(db, &err);
        if (ret < 0) {
                ad_db_rollback(db);
                if (err && err->kind == AD_ERR_TOO_LARGE)
                        ad_httpd_reply_error(call->reply, 413, "too_large",
                                             "the request does not fit in one event: %s",
                                             ad_error_message(err));
                else
                        api_reply_error(call, "cannot record a request", err);
                return;
        }
        api_relay_now(call->api, db);
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", id);
        ad_log(AD_LOG_INFO, what, "deployment_id", id, "app", call->name, "trace_id", env->trace_id,
               NULL);
        ad_httpd_reply_json(call->reply, 202,
                            json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "app", call->name,
                                      "status", "QUEUED", "requested", what, "links", links(id)));
}

void api_apps_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db = api_db_get(call);
        const char *text;
        json_t *apps;

        if (db == NULL)
                return;
        /* Only the caller's team's apps (all of them for an operator). */
        if (ad_db_exec(db, &r, sql_list, 1, (const char *[]){ api_team_param(call) }, &err) < 0) {
                api_reply_error(call, "cannot list apps", err);
                return;
        }
        if (api_db_text(r, "apps", &text, &err) < 0 || (apps = json_loads(text, 0, NULL)) == NULL) {
                api_reply_error(call, "cannot read the apps", err);
                return;
        }
        ad_httpd_reply_json(call->reply, 200, json_pack("{s:o}", "apps", apps));
}

/* Whether one replica answers HTTP on its published port the way the
 * deployer's health gate wants (a status below 500). */
static const char *probe(unsigned host_port)
{
        struct ad_http_response resp = { 0 };
        cleanup_error ad_error_t err = NULL;
        struct ad_http_request req = { 0 };
        char url[64];
        const char *health;

        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", host_port);
        req.url = url;
        req.timeout_ms = PROBE_TIMEOUT_MS;
        req.connect_timeout_ms = PROBE_TIMEOUT_MS;
        req.max_body = 64 * 1024;
        if (ad_http_do(&req, &resp, &err) < 0)
                health = "unhealthy";
        else
                health = resp.status > 0 && resp.status < 500 ? "healthy" : "unhealthy";
        ad_http_response_free(&resp);
        return health;
}

/* The app's containers as the engine has them, each probed: process type,
 * release (deployment), state and health.  NULL when there is no engine
 * or it does not answer. */
static json_t *live_containers(struct api_call *call)
{
        char label[128];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        cleanup_error ad_error_t err = NULL;
        json_t *out;
        size_t n = 0;

        if (call->api->engine == NULL)
                return NULL;
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, call->name);
        if (ad_engine_container_list(call->api->engine, filters, true, &list, &n, &err) < 0) {
                ad_log(AD_LOG_WARN, "cannot list an app's containers", "app", call->name, "error",
                       ad_error_message(err), NULL);
                return NULL;
        }
        out = json_array();
        for (size_t i = 0, probed = 0; i < n; i++) {
                const char *health = "stopped";
                char type[AD_PROCESS_NAME_MAX + 1];

                ad_name_process_type(type, list[i].name, call->name);
                /* Other process types have no port: running is healthy. */
                if (ad_container_live(&list[i]))
                        health = strcmp(type, "web") != 0 ? "running"
                                 : list[i].host_port && probed++ < PROBE_MAX
                                         ? probe(list[i].host_port)
                                         : "unknown";
                json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type,
                                                     "name", list[i].name, "id", list[i].id,
                                                     "deployment_id", list[i].deployment, "state",
                                                     list[i].state, "health", health));
        }
        ad_container_list_free(list, n);
        return out;
}

void api_apps_get(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db = api_db_get(call);
        const char *text;
        json_t *doc, *live;

        if (db == NULL)
                return;
        if (ad_db_exec(db, &r, sql_get, 1, (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot read an app", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no app %s", call->name);
                return;
        }
        if (api_db_text(r, "app", &text, &err) < 0 || (doc = json_loads(text, 0, NULL)) == NULL) {
                api_reply_error(call, "cannot read an app", err);
                return;
        }
        /* Replicas as they run now; without an engine, as recorded. */
        live = live_containers(call);
        json_object_set_new(doc, "processes", live ? live : json_null());
        ad_httpd_reply_json(call->reply, 200, doc);
}

void api_apps_releases(struct api_call *call)
{
        cleanup_pgresult PGresult *res = NULL, *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db = api_db_get(call);
        struct app_row app;
        const char *text;
        json_t *list;

        if (db == NULL || !app_lookup(call, db, &res, &app))
                return;
        if (ad_db_exec(db, &r, sql_releases, 1, (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot list releases", err);
                return;
        }
        if (api_db_text(r, "releases", &text, &err) < 0 ||
            (list = json_loads(text, 0, NULL)) == NULL) {
                api_reply_error(call, "cannot read releases", err);
                return;
        }
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:o}", "app", call->name, "releases", list));
}

void api_apps_delete(struct api_call *call)
{
        Appdeployer__V1__AppDestroyRequested d = APPDEPLOYER__V1__APP_DESTROY_REQUESTED__INIT;
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1], event_id[AD_UUID_LEN + 1];
        ad_db *db = api_db_get(call);
        struct app_row app;
        ad_envelope env;

        if (db == NULL || !app_lookup(call, db, &res, &app))
                return;
        /* The envelope's deployment_id names this request only. */
        ad_uuid_v4(id);
        ad_uuid_v4(trace);
        ad_event_init(&env, id, trace, 1, "api", event_id);
        d.app_name = call->name;
        d.requested_by = call->principal;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_APP_DESTROY;
        env.app_destroy = &d;
        if (ad_outbox_add(db, AD_SUBJECT_APP_DESTROY, &env, &err) < 0) {
                api_reply_error(call, "cannot request an app's destroy", err);
                return;
        }
        api_relay_now(call->api, db);
        ad_log(AD_LOG_INFO, "app destroy requested", "app", call->name, "trace_id", trace, NULL);
        ad_httpd_reply_json(call->reply, 202,
                            json_pack("{s:s,s:s,s:s}", "app", call->name, "status", "DESTROYING",
                                      "requested", "destroy"));
}

/* The app's stored config (sealed values, as the coordinator keeps them)
 * as protobuf env vars.  The strings stay owned by `cfg`. */
static int config_vars(json_t *cfg, Appdeployer__V1__EnvVar **ptrs, Appdeployer__V1__EnvVar *vars,
                       size_t max, size_t *n)
{
        const char *k;
        json_t *v;

        *n = 0;
        json_object_foreach (cfg, k, v) {
                if (*n == max || !json_is_string(v))
                        return -1;
                appdeployer__v1__env_var__init(&vars[*n]);
                vars[*n].name = (char *)k;
                vars[*n].value = (char *)json_string_value(v);
                ptrs[*n] = &vars[*n];
                (*n)++;
        }
        return 0;
}

void api_apps_deploy(struct api_call *call)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        Appdeployer__V1__EnvVar vars[AD_ENV_MAX_VARS], *ptrs[AD_ENV_MAX_VARS];
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *ref = NULL;
        struct app_row app;
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1], event_id[AD_UUID_LEN + 1];
        json_auto_t *cfg = NULL;
        json_auto_t *scale = NULL;
        Appdeployer__V1__Process scalev[API_SCALE_TYPES], *scalep[API_SCALE_TYPES];
        size_t n_scale = 0;
        const char *pname;
        json_t *pv;
        ad_envelope env;
        size_t n = 0;
        ad_db *db;

        if (!json_body(call, true))
                return;
        if (api_app_deploy_parse(&ref, call->req->body, call->req->body_len, &err) < 0) {
                reply_parse_error(call, err);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app))
                return;
        cfg = json_loads(app.env, 0, NULL);
        if (cfg == NULL || config_vars(cfg, ptrs, vars, AD_ENV_MAX_VARS, &n) < 0) {
                api_reply_error(call, "cannot read an app's config", NULL);
                return;
        }
        ad_uuid_v4(id);
        ad_uuid_v4(trace);
        ad_event_init(&env, id, trace, 1, "api", event_id);
        rq.repo_url = (char *)app.repo_url;
        rq.ref = ref ? ref : (char *)app.ref;
        rq.app_name = call->name;
        rq.requested_by = call->principal;
        /* Its config as it is: sealed already, kept as the app's. */
        rq.env = ptrs;
        rq.n_env = n;
        rq.keep_config = true;
        rq.replicas = app.web_replicas;
        /* Its scale of other process types (a type not listed runs 1). */
        scale = json_loads(app.process_replicas, 0, NULL);
        json_object_foreach (scale, pname, pv) {
                if (n_scale == AD_ARRAY_SIZE(scalev) || !json_is_integer(pv))
                        continue;
                appdeployer__v1__process__init(&scalev[n_scale]);
                scalev[n_scale].name = (char *)pname;
                scalev[n_scale].replicas = (uint32_t)json_integer_value(pv);
                scalep[n_scale] = &scalev[n_scale];
                n_scale++;
        }
        rq.scale = scalep;
        rq.n_scale = n_scale;
        if (api_quota_check_replicas(call, rq.replicas,
                                     "the app's scale, which a redeploy keeps, asks for") < 0)
                return;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        record_and_reply(call, db, &app, rq.ref, id, AD_SUBJECT_REQUESTED, &env, "deploy");
}

/* Publishes a deploy.release for the app (config, scale or rollback). */
static void request_release(struct api_call *call, ad_db *db, const struct app_row *app,
                            Appdeployer__V1__ReleaseRequested *rr, const char *what)
{
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1], event_id[AD_UUID_LEN + 1];
        ad_envelope env;

        ad_uuid_v4(id);
        ad_uuid_v4(trace);
        ad_event_init(&env, id, trace, 1, "api", event_id);
        rr->app_name = call->name;
        rr->requested_by = call->principal;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_RELEASE;
        env.release = rr;
        record_and_reply(call, db, app, app->ref, id, AD_SUBJECT_RELEASE, &env, what);
}

static bool require_running(struct api_call *call, const struct app_row *app)
{
        if (app->running)
                return true;
        ad_httpd_reply_error(call->reply, 409, "not_running",
                             "app %s has no running release to change: deploy it first "
                             "(POST /apps/%s/deployments)",
                             call->name, call->name);
        return false;
}

/* The release a rollback goes to. */
struct rollback_row {
        uint32_t version;
        bool image_available; /* its image is still in the registry */
};
static const struct ad_db_field rollback_fields[] = {
        AD_DB_FIELD(struct rollback_row, version, AD_DB_UINT32, "version"),
        AD_DB_FIELD(struct rollback_row, image_available, AD_DB_BOOL, "image_available"),
        AD_DB_FIELDS_END,
};

void api_apps_rollback(struct api_call *call)
{
        Appdeployer__V1__ReleaseRequested rr = APPDEPLOYER__V1__RELEASE_REQUESTED__INIT;
        cleanup_pgresult PGresult *res = NULL, *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct rollback_row target;
        uint32_t release = 0;
        struct app_row app;
        char ver[16];
        ad_db *db;

        if (!json_body(call, true))
                return;
        if (api_rollback_parse(&release, call->req->body, call->req->body_len, &err) < 0) {
                reply_parse_error(call, err);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app))
                return;
        snprintf(ver, sizeof(ver), "%u", release);
        /* The release asked for, or the newest before the current one;
         * with whether its image is still there. */
        if (ad_db_exec(db, &r,
                       "SELECT r.version, d.status <> 'DESTROYED' AND NOT EXISTS (SELECT 1 FROM "
                       "builds b2 JOIN compensations c ON c.deployment_id = b2.deployment_id AND "
                       "c.step = 'build' AND c.status = 'done' WHERE b2.image = r.image AND "
                       "c.done_at > (SELECT max(created_at) FROM builds WHERE image = r.image)) "
                       "AS image_available FROM releases r JOIN deployments d ON d.id = "
                       "r.deployment_id "
                       "WHERE r.app_name = $1 AND CASE WHEN $2::int > 0 THEN r.version = $2::int "
                       "ELSE r.version < coalesce((SELECT max(r2.version) FROM releases r2 JOIN "
                       "deployments d2 ON d2.id = r2.deployment_id WHERE r2.app_name = $1 AND "
                       "d2.status = 'EXPOSED'), 2147483647) END ORDER BY r.version DESC LIMIT 1",
                       2, (const char *[]){ call->name, ver }, &err) < 0) {
                api_reply_error(call, "cannot read releases", err);
                return;
        }
        if (PQntuples(r) == 0) {
                if (release)
                        ad_httpd_reply_error(call->reply, 404, "no_such_release",
                                             "app %s has no release v%u (adctl releases %s)",
                                             call->name, release, call->name);
                else
                        ad_httpd_reply_error(call->reply, 409, "no_earlier_release",
                                             "app %s has no release before the current one",
                                             call->name);
                return;
        }
        if (ad_db_read_row(r, 0, rollback_fields, &target, &err) < 0) {
                api_reply_error(call, "cannot read releases", err);
                return;
        }
        if (!target.image_available) {
                ad_httpd_reply_error(call->reply, 409, "image_removed",
                                     "the image of release v%u of %s was removed: it cannot run "
                                     "again",
                                     target.version, call->name);
                return;
        }
        rr.rollback_to = target.version;
        if (api_quota_check_release(call, db, rr.rollback_to, 0) < 0)
                return;
        request_release(call, db, &app, &rr, "rollback");
}

struct exists_row {
        bool found;
};
static const struct ad_db_field exists_fields[] = {
        AD_DB_FIELD(struct exists_row, found, AD_DB_BOOL, "found"),
        AD_DB_FIELDS_END,
};

/* Whether the app's current release has process type `name` (a Procfile
 * entry other than web); replies 422 (or an error) when not. */
static bool has_process(struct api_call *call, ad_db *db, const char *name)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        json_auto_t *wanted = json_pack("[{s:s}]", "name", name);
        cleanup_free char *text = wanted ? json_dumps(wanted, JSON_COMPACT) : NULL;
        struct exists_row found;

        if (text == NULL ||
            ad_db_exec(db, &r,
                       "SELECT EXISTS (SELECT 1 FROM releases r JOIN deployments d ON d.id = "
                       "r.deployment_id JOIN builds b ON b.deployment_id = r.deployment_id "
                       "WHERE r.app_name = $1 AND d.status = 'EXPOSED' AND b.processes @> "
                       "$2::jsonb) AS found",
                       2, (const char *[]){ call->name, text }, &err) < 0 ||
            ad_db_read_row(r, 0, exists_fields, &found, &err) < 0) {
                api_reply_error(call, "cannot read an app's process types", err);
                return false;
        }
        if (found.found)
                return true;
        ad_httpd_reply_error(call->reply, 422, "no_such_process",
                             "app %s has no process type %s (its Procfile declares the types "
                             "besides web)",
                             call->name, name);
        return false;
}

void api_apps_scale(struct api_call *call)
{
        Appdeployer__V1__ReleaseRequested rr = APPDEPLOYER__V1__RELEASE_REQUESTED__INIT;
        Appdeployer__V1__Process scalev[API_SCALE_TYPES], *scalep[API_SCALE_TYPES];
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        struct api_scale sc;
        struct app_row app;
        ad_db *db;

        if (!json_body(call, false))
                return;
        if (api_scale_parse(&sc, call->req->body, call->req->body_len, &err) < 0) {
                reply_parse_error(call, err);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app) ||
            !require_running(call, &app))
                return;
        for (size_t i = 0; i < sc.n_other; i++) {
                if (!has_process(call, db, sc.other[i].name))
                        return;
                appdeployer__v1__process__init(&scalev[i]);
                scalev[i].name = sc.other[i].name;
                scalev[i].replicas = sc.other[i].replicas;
                scalep[i] = &scalev[i];
        }
        rr.web_replicas = sc.web;
        rr.scale = scalep;
        rr.n_scale = sc.n_other;
        if (api_quota_check_release(call, db, 0, sc.web) < 0)
                return;
        request_release(call, db, &app, &rr, "scale");
}

void api_apps_config_get(struct api_call *call)
{
        cleanup_pgresult PGresult *res = NULL;
        json_auto_t *cfg = NULL;
        ad_db *db = api_db_get(call);
        struct app_row app;
        const char *k;
        json_t *v, *names;

        if (db == NULL || !app_lookup(call, db, &res, &app))
                return;
        cfg = json_loads(app.env, 0, NULL);
        if (cfg == NULL) {
                api_reply_error(call, "cannot read an app's config", NULL);
                return;
        }
        /* Names only: a value is read one at a time (GET .../config/NAME). */
        names = json_array();
        json_object_foreach (cfg, k, v)
                json_array_append_new(names, json_string(k));
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:i,s:o}", "app", call->name, "config_version",
                                      app.config_version, "names", names));
}

/* Whether the caller may read config values in clear (api.config_readers). */
static bool may_read_values(const struct api_call *call)
{
        const char *list = call->api->config_readers;
        size_t n = strlen(call->principal);

        if (strcmp(list, "*") == 0)
                return true;
        for (const char *p = list; *p;) {
                size_t len = strcspn(p, ",");

                if (len == n && strncmp(p, call->principal, n) == 0)
                        return true;
                p += len;
                if (*p == ',')
                        p++;
        }
        return false;
}

void api_apps_config_value(struct api_call *call)
{
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *plain = NULL;
        json_auto_t *cfg = NULL;
        struct app_row app;
        ad_db *db;
        json_t *v;

        if (!may_read_values(call)) {
                ad_httpd_reply_error(call->reply, 403, "forbidden",
                                     "%s may not read config values (api.config_readers)",
                                     call->principal);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app))
                return;
        cfg = json_loads(app.env, 0, NULL);
        v = cfg ? json_object_get(cfg, call->key) : NULL;
        if (!json_is_string(v)) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "app %s has no variable %s",
                                     call->name, call->key);
                return;
        }
        if (!call->api->have_key || ad_secret_open(&plain, &call->api->keys, call->name, call->key,
                                                   json_string_value(v), &err) < 0) {
                ad_httpd_reply_error(call->reply, 500, "cannot_open",
                                     "the value of %s cannot be opened with this server's "
                                     "secrets.key",
                                     call->key);
                return;
        }
        ad_log(AD_LOG_INFO, "config value read", "app", call->name, "name", call->key, "principal",
               call->principal, NULL);
        ad_httpd_reply_json(
                call->reply, 200,
                json_pack("{s:s,s:s,s:s}", "app", call->name, "name", call->key, "value", plain));
        explicit_bzero(plain, strlen(plain));
}

void api_apps_config_patch(struct api_call *call)
{
        Appdeployer__V1__ReleaseRequested rr = APPDEPLOYER__V1__RELEASE_REQUESTED__INIT;
        Appdeployer__V1__EnvVar vars[AD_ENV_MAX_VARS], *ptrs[AD_ENV_MAX_VARS];
        struct api_config_patch *patch = NULL;
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        struct app_row app;
        size_t sealed = 0;
        ad_db *db;

        if (!json_body(call, false))
                return;
        if (api_config_patch_parse(&patch, call->req->body, call->req->body_len, &err) < 0) {
                reply_parse_error(call, err);
                return;
        }
        if (patch->n_set > 0 && !call->api->have_key) {
                ad_httpd_reply_error(call->reply, 500, "secrets_not_configured",
                                     "this server has no secrets.key, so it cannot accept "
                                     "config values");
                goto out;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app) ||
            !require_running(call, &app) || api_quota_check_release(call, db, 0, 0) < 0)
                goto out;
        for (; sealed < patch->n_set; sealed++) {
                appdeployer__v1__env_var__init(&vars[sealed]);
                vars[sealed].name = patch->set[sealed].name;
                if (ad_secret_seal(&vars[sealed].value, &call->api->keys.keys[0], call->name,
                                   patch->set[sealed].name, patch->set[sealed].value, &err) < 0) {
                        api_reply_error(call, "cannot seal a value", err);
                        goto out;
                }
                ptrs[sealed] = &vars[sealed];
        }
        rr.set_env = ptrs;
        rr.n_set_env = patch->n_set;
        rr.unset_env = patch->unset;
        rr.n_unset_env = patch->n_unset;
        request_release(call, db, &app, &rr, "config");
out:
        for (size_t i = 0; i < sealed; i++)
                free(vars[i].value);
        api_config_patch_free(patch);
}

/* Log lines kept per container for GET /apps/{name}/logs. */
#define APP_LOGS_DEFAULT 100
#define APP_LOGS_MAX 1000
#define APP_LOGS_MAX_BYTES (256 * 1024)
/* The whole reply's bound: containers past it are left out. */
#define APP_LOGS_MAX_TOTAL (4 * 1024 * 1024)

/* The replica number of a container named ad-<app>-<12 hex>[-<n>]. */
static int replica_of(const char *name)
{
        const char *dash = strrchr(name, '-');
        char *end;
        long n;

        if (dash == NULL)
                return 1;
        n = strtol(dash + 1, &end, 10);
        return *end == '\0' && n > 1 && strlen(dash + 1) < 4 ? (int)n : 1;
}

static bool follow_asked(const char *v)
{
        return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

/* GET /apps/{name}/logs?tail=N: the last N lines (stdout and stderr) of
 * each running container of the app, read from the engine now, each
 * with its process type and replica: "web.2 | line" as text, or objects
 * with ?format=json.  Lines are grouped per container (the engine keeps
 * no order across containers). */
void api_apps_logs(struct api_call *call)
{
        cleanup_pgresult PGresult *res = NULL;
        cleanup_error ad_error_t err = NULL;
        struct app_row app;
        const char *format = ad_httpd_query(call->req, "format");
        bool json = format && strcmp(format, "json") == 0;
        char label[128];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        json_t *lines = json_array();
        size_t n = 0, text_len = 0;
        char *text = NULL;
        long tail;
        ad_db *db;

        if (api_limit_parse(ad_httpd_query(call->req, "tail"), APP_LOGS_DEFAULT, APP_LOGS_MAX,
                            &tail, &err) < 0) {
                ad_httpd_reply_error(call->reply, 400, "invalid_tail", "%s", ad_error_message(err));
                goto out;
        }
        if ((db = api_db_get(call)) == NULL || !app_lookup(call, db, &res, &app))
                goto out;
        if (ad_httpd_header(call->req, "Upgrade") ||
            follow_asked(ad_httpd_query(call->req, "follow"))) {
                api_app_logs_follow(call, tail);
                goto out;
        }
        if (call->api->engine == NULL) {
                ad_httpd_reply_error(call->reply, 503, "unavailable",
                                     "this API has no container engine (engine.socket)");
                goto out;
        }
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, call->name);
        if (ad_engine_container_list(call->api->engine, filters, false, &list, &n, &err) < 0) {
                api_reply_error(call, "cannot list an app's containers", err);
                goto out;
        }
        /* Oldest container first, replicas in order. */
        for (size_t k = n; k-- > 0 && text_len < APP_LOGS_MAX_TOTAL &&
                           json_array_size(lines) < APP_LOGS_MAX * 20;) {
                cleanup_free char *logs = NULL;
                cleanup_error ad_error_t lerr = NULL;
                char *save = NULL, prefix[AD_PROCESS_NAME_MAX + 16];
                char type[AD_PROCESS_NAME_MAX + 1];

                if (ad_engine_container_logs(call->api->engine, list[k].id, (int)tail,
                                             APP_LOGS_MAX_BYTES, &logs, &lerr) < 0) {
                        /* Gone meanwhile, or the engine failed: the others
                         * are still shown. */
                        ad_log(AD_LOG_WARN, "cannot read a container's log", "app", call->name,
                               "container", list[k].name, "error", ad_error_message(lerr), NULL);
                        continue;
                }
                ad_name_process_type(type, list[k].name, call->name);
                snprintf(prefix, sizeof(prefix), "%s.%d", type, replica_of(list[k].name));
                for (char *l = strtok_r(logs, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        size_t ll = strlen(l);

                        if (ll && l[ll - 1] == '\r')
                                l[--ll] = '\0';
                        if (json) {
                                json_array_append_new(
                                        lines, json_pack("{s:s,s:i,s:s,s:s,s:s%}", "process", type,
                                                         "replica", replica_of(list[k].name),
                                                         "container", list[k].name, "deployment_id",
                                                         list[k].deployment, "line", l, ll));
                                continue;
                        }
                        {
                                char *grown = realloc(text, text_len + strlen(prefix) + ll + 5);

                                if (grown == NULL)
                                        break;
                                text = grown;
                                text_len +=
                                        (size_t)sprintf(text + text_len, "%s | %s\n", prefix, l);
                        }
                }
        }
        if (json)
                ad_httpd_reply_json(call->reply, 200,
                                    json_pack("{s:s,s:O}", "app", call->name, "lines", lines));
        else
                ad_httpd_reply_text(call->reply, 200, "text/plain; charset=utf-8",
                                    text ? text : "");
out:
        ad_container_list_free(list, n);
        json_decref(lines);
        free(text);
}
