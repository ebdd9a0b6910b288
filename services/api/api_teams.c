/* Teams, roles and ownership (docs/security.md): what a caller may do
 * (its role, per route) and what it may see (its team's apps and their
 * deployments).  Another team's deployment or app answers 404 exactly as
 * one that does not exist, so ids and names of other teams are not
 * revealed; only a deployment under a taken name says "another team". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "api.h"

/* The role a route needs.  Reads are for every member, except config
 * values in clear; a change needs a deployer; keys and the audit need an
 * admin.  Routes added later get these rules by their method. */
static enum api_role route_role(const char *method, const char *pattern, const char *route)
{
        if (strncmp(pattern, "/tokens", 7) == 0 || strcmp(pattern, "/audit") == 0 ||
            strncmp(pattern, "/teams/", 7) == 0)
                return API_ROLE_ADMIN;
        if (strcmp(route, "domains_allowed") == 0)
                return API_ROLE_NONE; /* public: caddy's on-demand TLS check */
        if (strcmp(route, "auth_token") == 0)
                return API_ROLE_VIEWER;
        if (strcmp(route, "apps_config_value") == 0)
                return API_ROLE_DEPLOYER;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
                return API_ROLE_VIEWER;
        return API_ROLE_DEPLOYER;
}

/* Whether a team owns an app (or a deployment's app). */
struct owns_row {
        bool owns;
};
static const struct ad_db_field owns_fields[] = {
        AD_DB_FIELD(struct owns_row, owns, AD_DB_BOOL, "owns"),
        AD_DB_FIELDS_END,
};

/* A team's live apps (live_apps). */
struct live_row {
        int64_t count;
        bool is_live; /* the app asked about is one of them */
};
static const struct ad_db_field live_fields[] = {
        AD_DB_FIELD(struct live_row, count, AD_DB_INT64, "count"),
        AD_DB_FIELD(struct live_row, is_live, AD_DB_BOOL, "is_live"),
        AD_DB_FIELDS_END,
};

const char *api_team_param(const struct api_call *call)
{
        return call->team_id[0] ? call->team_id : NULL;
}

/* Whether the caller's team owns the deployment {id} (through its app)
 * or the app {name}: 1 yes, 0 no, < 0 with an error replied. */
static int owns(struct api_call *call, bool deployment)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *params[2] = { deployment ? call->id : call->name, call->team_id };
        ad_db *db = api_db_get(call);
        struct owns_row o;

        if (db == NULL)
                return -1;
        if (ad_db_exec(db, &r,
                       deployment ? "SELECT EXISTS (SELECT 1 FROM app_owners o WHERE o.team_id = "
                                    "$2::uuid AND o.app_name = coalesce((SELECT app_name FROM "
                                    "deployment_requests WHERE id = $1::uuid), (SELECT app_name "
                                    "FROM deployments WHERE id = $1::uuid))) AS owns"
                                  : "SELECT EXISTS (SELECT 1 FROM app_owners WHERE app_name = $1 "
                                    "AND team_id = $2::uuid) AS owns",
                       2, params, &err) < 0 ||
            ad_db_read_row(r, 0, owns_fields, &o, &err) < 0) {
                api_reply_error(call, "cannot check who owns an app", err);
                return -1;
        }
        return o.owns;
}

int api_authorize(struct api_call *call, const char *method, const char *pattern, const char *route)
{
        enum api_role need = route_role(method, pattern, route);
        bool deployment = strncmp(pattern, "/deployments/{id}", 17) == 0;
        bool app = strncmp(pattern, "/apps/{name}", 12) == 0;
        int ret;

        if (call->role < need) {
                ad_httpd_reply_error(call->reply, 403, "forbidden",
                                     "%s %s needs the %s role; your key (%s) has %s", method,
                                     pattern, api_role_name(need), call->principal,
                                     api_role_name(call->role));
                return -1;
        }
        if (call->role == API_ROLE_OPERATOR || (!deployment && !app))
                return 0;
        ret = owns(call, deployment);
        if (ret < 0)
                return -1;
        if (ret == 0) {
                if (deployment)
                        ad_httpd_reply_error(call->reply, 404, "not_found", "no deployment %s",
                                             call->id);
                else
                        ad_httpd_reply_error(call->reply, 404, "not_found", "no app %s",
                                             call->name);
                return -1;
        }
        return 0;
}

/* The team's live apps: its names with an app the coordinator keeps, or
 * a request the coordinator has not seen yet; 1 when app is one of them. */
static int live_apps(ad_db *db, const char *team_id, const char *app, long *count, bool *is_live,
                     ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        struct live_row row;
        int ret;

        ret = ad_db_exec(db, &r,
                         "SELECT count(*) AS count, coalesce(bool_or(o.app_name = $2), false) AS "
                         "is_live FROM "
                         "app_owners o WHERE o.team_id = $1::uuid AND (EXISTS (SELECT 1 FROM apps "
                         "a WHERE a.name = o.app_name) OR EXISTS (SELECT 1 FROM "
                         "deployment_requests q WHERE q.app_name = o.app_name AND NOT EXISTS "
                         "(SELECT 1 FROM deployments d WHERE d.id = q.id)))",
                         2, (const char *[]){ team_id, app }, err);
        if (ret == 0)
                ret = ad_db_read_row(r, 0, live_fields, &row, err);
        if (ret < 0)
                return ret;
        *count = (long)row.count;
        *is_live = row.is_live;
        return 0;
}

int api_team_claim_app(struct api_call *call, ad_db *db, const char *app, long *live,
                       ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[2] = { app, call->team_id };
        long limit = call->api->max_apps_per_team;
        bool is_live = false;
        struct owns_row o;
        int ret;

        if (call->role == API_ROLE_OPERATOR)
                return 1;
        /* Requests of one team for new apps take turns, so two at once
         * cannot both fit under the quota's last place. */
        ret = limit > 0
                      ? ad_db_exec(db, NULL,
                                   "SELECT pg_advisory_xact_lock(hashtext('ad-team-quota:' || $1))",
                                   1, (const char *[]){ call->team_id }, err)
                      : 0;
        /* A name nobody has used is the team's; one used before teams (or
         * by an operator) stays the platform's.  Two teams racing for a
         * new name: the primary key makes the second wait, then see the
         * first's row. */
        if (ret == 0)
                ret = ad_db_exec(db, NULL,
                                 "INSERT INTO app_owners (app_name, team_id) SELECT $1, $2::uuid "
                                 "WHERE NOT EXISTS (SELECT 1 FROM apps WHERE name = $1) "
                                 "AND NOT EXISTS (SELECT 1 FROM deployment_requests WHERE "
                                 "app_name = $1) AND NOT EXISTS (SELECT 1 FROM deployments WHERE "
                                 "app_name = $1) ON CONFLICT (app_name) DO NOTHING",
                                 2, params, err);
        if (ret == 0)
                ret = ad_db_exec(db, &r,
                                 "SELECT EXISTS (SELECT 1 FROM app_owners WHERE app_name = $1 "
                                 "AND team_id = $2::uuid) AS owns",
                                 2, params, err);
        if (ret == 0)
                ret = ad_db_read_row(r, 0, owns_fields, &o, err);
        if (ret < 0)
                return ret;
        if (!o.owns)
                return 0;
        if (limit <= 0)
                return 1;
        ret = live_apps(db, call->team_id, app, live, &is_live, err);
        if (ret < 0)
                return ret;
        /* A deployment of a live app adds none. */
        return is_live || *live < limit ? 1 : 3;
}
