/* /apps/{name}/domains: custom host names routed to an app (issue 15).
 *
 * The API owns the `domains` table and claims a name in the same request
 * that has a deployer put it on the app's ingress (services/deployer/
 * domains.c: caddy's routes, or the app's Ingress on Kubernetes), so the
 * reply says whether it is served, and the API itself needs neither
 * caddy's admin API nor the cluster's credentials.  The names survive
 * redeploys, rollbacks, config changes and scaling: every release puts
 * them back on what it makes.
 *
 * Changes of one app's domains are serialized by a transaction-scoped
 * advisory lock, so two of them at once cannot leave the route with only
 * one of the names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/ingress.h"
#include "ad/log.h"
#include "ad/names.h"
#include "api.h"
#include "api_apps_request.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A row of the domains table, its strings pointing into the result. */
struct domain_row {
        const char *hostname, *app_name, *created_by, *created_at;
        bool inserted; /* api_domains_add: the row was made by this request */
};
static const struct ad_db_field hostname_fields[] = {
        AD_DB_FIELD(struct domain_row, hostname, AD_DB_TEXT, "hostname"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field listed_fields[] = {
        AD_DB_FIELD(struct domain_row, hostname, AD_DB_TEXT, "hostname"),
        AD_DB_FIELD(struct domain_row, created_by, AD_DB_TEXT, "created_by"),
        AD_DB_FIELD(struct domain_row, created_at, AD_DB_TEXT, "created_at"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field claim_fields[] = {
        AD_DB_FIELD(struct domain_row, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELD(struct domain_row, inserted, AD_DB_BOOL, "inserted"),
        AD_DB_FIELDS_END,
};
struct count_row {
        int64_t n;
};
static const struct ad_db_field count_fields[] = {
        AD_DB_FIELD(struct count_row, n, AD_DB_INT64, "n"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field owner_fields[] = {
        AD_DB_FIELD(struct domain_row, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELDS_END,
};

static bool app_exists(struct api_call *call, ad_db *db)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;

        if (ad_db_exec(db, &r, "SELECT 1 FROM apps WHERE name = $1", 1,
                       (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot read an app", err);
                return false;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no app %s", call->name);
                return false;
        }
        return true;
}

/* How long the API waits for a deployer to route the names. */
#define DOMAINS_REPLY_MS 15000

/* Routes the app's domains as the transaction sees them: a request on
 * app.domains.<app> to a deployer, which owns the ingress (caddy's routes
 * or the app's Ingress).  Inside the transaction that changed the
 * domains, under the app's lock: a refusal rolls the change back.  On
 * failure, replies to the client (503 when no deployer answered). */
static bool route_hosts(struct api_call *call, ad_db *db, const char *what)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *payload = NULL;
        cleanup_free char *answer = NULL;
        json_auto_t *req = NULL;
        json_auto_t *doc = NULL;
        struct ad_db_rows rows;
        struct domain_row d;
        json_t *hosts;
        size_t answer_len = 0;
        char subject[128];
        const char *msg, *kind;

        if (ad_db_exec(db, &r, "SELECT hostname FROM domains WHERE app_name = $1 ORDER BY hostname",
                       1, (const char *[]){ call->name }, &err) < 0 ||
            ad_db_rows_init(&rows, r, hostname_fields, &err) < 0) {
                api_reply_error(call, what, err);
                return false;
        }
        hosts = json_array();
        for (int i = 0; hosts && i < PQntuples(r); i++) {
                if (ad_db_rows_read(&rows, i, &d, &err) < 0) {
                        json_decref(hosts);
                        api_reply_error(call, what, err);
                        return false;
                }
                json_array_append_new(hosts, json_string(d.hostname));
        }
        req = json_pack("{s:s,s:o}", "app", call->name, "domains", hosts);
        if (req == NULL || (payload = json_dumps(req, JSON_COMPACT)) == NULL) {
                api_reply_error(call, what, NULL);
                return false;
        }
        snprintf(subject, sizeof(subject), "%s%s", AD_SUBJECT_DOMAINS_PREFIX, call->name);
        if (ad_bus_request(call->api->svc.bus, subject, payload, strlen(payload), DOMAINS_REPLY_MS,
                           &answer, &answer_len, &err) < 0) {
                ad_log(AD_LOG_WARN, "no deployer routed an app's domains", "app", call->name,
                       "error", ad_error_message(err), NULL);
                ad_httpd_reply_error(call->reply, 503, "unavailable",
                                     "%s: no deployer answered; nothing was changed, retry", what);
                return false;
        }
        doc = json_loadb(answer, answer_len, 0, NULL);
        if (json_is_true(json_object_get(doc, "ok")))
                return true;
        msg = json_string_value(json_object_get(doc, "error"));
        kind = json_string_value(json_object_get(doc, "kind"));
        ad_log(AD_LOG_WARN, "a deployer could not route an app's domains", "app", call->name,
               "error", msg ? msg : "(no reply)", NULL);
        if (kind && (strcmp(kind, "unavailable") == 0 || strcmp(kind, "timeout") == 0))
                ad_httpd_reply_error(call->reply, 503, "unavailable",
                                     "%s: the ingress is unavailable; nothing was changed, retry",
                                     what);
        else if (kind && strcmp(kind, "unsupported") == 0)
                ad_httpd_reply_error(call->reply, 501, "unsupported", "%s: %s", what,
                                     msg ? msg : "not supported");
        else
                ad_httpd_reply_error(call->reply, 500, "internal",
                                     "%s: the deployer could not route it", what);
        return false;
}

/* Begins the transaction that changes the app's domains, holding the
 * app's lock until it ends. */
static int begin_locked(ad_db *db, const char *app, ad_error_t *err)
{
        int ret = ad_db_begin(db, err);

        if (ret == 0)
                ret = ad_db_exec(db, NULL,
                                 "SELECT pg_advisory_xact_lock(hashtext('domains:' || $1))", 1,
                                 (const char *[]){ app }, err);
        return ret;
}

/* 409 when host is the platform's own name of an app: "<label>.<base
 * domain>" is <label>'s (an app of that name may come later), and the
 * base domain itself is the platform's. */
static bool platform_host(struct api_call *call, ad_db *db, const char *host)
{
        const char *base = call->api->ingress.base_domain;
        size_t hl = strlen(host), bl = strlen(base);
        char label[INGRESS_HOST_MAX];
        cleanup_pgresult PGresult *r = NULL;

        if (strcmp(host, base) == 0) {
                ad_httpd_reply_error(call->reply, 409, "domain_taken",
                                     "%s is the platform's base domain (ingress.base_domain)",
                                     host);
                return true;
        }
        if (hl <= bl + 1 || host[hl - bl - 1] != '.' || strcmp(host + hl - bl, base) != 0)
                return false;
        snprintf(label, sizeof(label), "%.*s", (int)(hl - bl - 1), host);
        if (strchr(label, '.'))
                return false;
        if (strcmp(label, call->name) == 0)
                ad_httpd_reply_error(call->reply, 409, "domain_taken",
                                     "%s is already the platform's host of app %s", host,
                                     call->name);
        else if (ad_db_exec(db, &r, "SELECT 1 FROM apps WHERE name = $1", 1,
                            (const char *[]){ label }, NULL) == 0 &&
                 PQntuples(r) > 0)
                ad_httpd_reply_error(call->reply, 409, "domain_taken", "%s is the host of app %s",
                                     host, label);
        else
                ad_httpd_reply_error(call->reply, 409, "domain_taken",
                                     "%s is reserved: the platform gives <app>.%s to the app of "
                                     "that name",
                                     host, base);
        return true;
}

static json_t *domain_json(struct api *api, const char *app, const char *host)
{
        cleanup_free char *url = ingress_url(&api->ingress, host, true);

        return json_pack("{s:s,s:s,s:s?}", "app", app, "hostname", host, "url", url);
}

/* After an insert, inside its transaction: more than AD_APP_DOMAINS_MAX
 * domains rolls it back with 422. */
static bool too_many_domains(struct api_call *call, ad_db *db)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct count_row row = { 0 };

        if (ad_db_exec(db, &r, "SELECT count(*) AS n FROM domains WHERE app_name = $1", 1,
                       (const char *[]){ call->name }, &err) < 0 ||
            ad_db_read_row(r, 0, count_fields, &row, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot count an app's domains", err);
                return true;
        }
        if (row.n <= AD_APP_DOMAINS_MAX)
                return false;
        ad_db_rollback(db);
        ad_httpd_reply_error(call->reply, 422, "too_many_domains",
                             "app %s has %d custom domains, the most an app may have: remove one "
                             "first",
                             call->name, AD_APP_DOMAINS_MAX);
        return true;
}

void api_domains_add(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char host[AD_HOSTNAME_MAX + 1];
        const char *ct = ad_httpd_header(call->req, "Content-Type");
        struct domain_row claim;
        ad_db *db;

        if (!api_content_type_is_json(ct)) {
                ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                                     "send the body as JSON with Content-Type: application/json");
                return;
        }
        if (api_domain_parse(host, call->req->body, call->req->body_len, &err) < 0) {
                char shown[512];

                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s", shown);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_exists(call, db) ||
            platform_host(call, db, host))
                return;
        if (begin_locked(db, call->name, &err) < 0 ||
            ad_db_exec(db, &r,
                       "WITH ins AS (INSERT INTO domains (hostname, app_name, created_by) "
                       "VALUES ($1, $2, $3) ON CONFLICT (hostname) DO NOTHING RETURNING app_name) "
                       "SELECT app_name, true AS inserted FROM ins UNION ALL "
                       "SELECT app_name, false FROM domains WHERE hostname = $1",
                       3, (const char *[]){ host, call->name, call->principal }, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot record a domain", err);
                return;
        }
        if (PQntuples(r) == 0) { /* claimed and released meanwhile */
                ad_db_rollback(db);
                ad_httpd_reply_error(call->reply, 409, "conflict",
                                     "%s changed hands while it was asked for: retry", host);
                return;
        }
        if (ad_db_read_row(r, 0, claim_fields, &claim, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot record a domain", err);
                return;
        }
        if (strcmp(claim.app_name, call->name) != 0) {
                ad_db_rollback(db);
                ad_httpd_reply_error(call->reply, 409, "domain_taken",
                                     "%s is already a domain of app %s", host, claim.app_name);
                return;
        }
        if (claim.inserted && too_many_domains(call, db))
                return;
        if (!route_hosts(call, db, "cannot route a domain")) {
                ad_db_rollback(db);
                return;
        }
        if (ad_db_commit(db, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot record a domain", err);
                return;
        }
        ad_log(AD_LOG_INFO, claim.inserted ? "domain added" : "domain already there", "app",
               call->name, "hostname", host, "principal", call->principal, NULL);
        ad_httpd_reply_json(call->reply, claim.inserted ? 201 : 200,
                            domain_json(call->api, call->name, host));
}

void api_domains_remove(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        ad_db *db;

        if (call->host[0] == '\0') {
                ad_httpd_reply_error(call->reply, 404, "not_found",
                                     "app %s has no such domain (not a host name)", call->name);
                return;
        }
        if ((db = api_db_get(call)) == NULL || !app_exists(call, db))
                return;
        if (begin_locked(db, call->name, &err) < 0 ||
            ad_db_exec(db, &r,
                       "DELETE FROM domains WHERE hostname = $1 AND app_name = $2 RETURNING 1", 2,
                       (const char *[]){ call->host, call->name }, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot remove a domain", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_db_rollback(db);
                ad_httpd_reply_error(call->reply, 404, "not_found", "app %s has no domain %s",
                                     call->name, call->host);
                return;
        }
        if (!route_hosts(call, db, "cannot unroute a domain")) {
                ad_db_rollback(db);
                return;
        }
        if (ad_db_commit(db, &err) < 0) {
                ad_db_rollback(db);
                api_reply_error(call, "cannot remove a domain", err);
                return;
        }
        ad_log(AD_LOG_INFO, "domain removed", "app", call->name, "hostname", call->host,
               "principal", call->principal, NULL);
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s,s:b}", "app", call->name, "hostname", call->host,
                                      "removed", 1));
}

void api_domains_list(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        struct ad_db_rows rows;
        struct domain_row row;
        json_t *list;
        ad_db *db;

        if ((db = api_db_get(call)) == NULL || !app_exists(call, db))
                return;
        if (ad_db_exec(db, &r,
                       "SELECT hostname, created_by, " TS(
                               "created_at") " AS created_at FROM domains "
                                             "WHERE app_name = $1 ORDER BY hostname",
                       1, (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot list domains", err);
                return;
        }
        if (ad_db_rows_init(&rows, r, listed_fields, &err) < 0) {
                api_reply_error(call, "cannot list domains", err);
                return;
        }
        list = json_array();
        for (int i = 0; i < PQntuples(r); i++) {
                json_t *d;

                if (ad_db_rows_read(&rows, i, &row, &err) < 0) {
                        json_decref(list);
                        api_reply_error(call, "cannot list domains", err);
                        return;
                }
                d = domain_json(call->api, call->name, row.hostname);
                json_object_del(d, "app");
                json_object_set_new(d, "created_by", json_string(row.created_by));
                json_object_set_new(d, "created_at", json_string(row.created_at));
                json_array_append_new(list, d);
        }
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:o}", "app", call->name, "domains", list));
}

/* GET /domains/allowed?domain=NAME: 200 when NAME is served by the
 * platform (an app's custom domain, or <app>.<base domain> of an app that
 * exists), else 404.  It is the `ask` endpoint of caddy's on-demand TLS
 * (caddy asks it before getting a certificate for a name a client sent),
 * so a public ACME issuer is asked only for names of apps.  It answers
 * without a token (caddy sends none) and says no more than DNS does. */
void api_domains_allowed(struct api_call *call)
{
        const char *q = ad_httpd_query(call->req, "domain");
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *base = call->api->ingress.base_domain;
        char host[AD_HOSTNAME_MAX + 1], label[AD_HOSTNAME_MAX + 1] = "";
        size_t hl, bl = strlen(base);
        struct domain_row owner;
        ad_db *db;

        if (q == NULL || ad_hostname_normalize(host, q, strlen(q), &err) < 0) {
                ad_httpd_reply_error(call->reply, 400, "invalid_request",
                                     "give ?domain=<host name>%s%s", err ? ": " : "",
                                     err ? ad_error_message(err) : "");
                return;
        }
        hl = strlen(host);
        if (hl > bl + 1 && host[hl - bl - 1] == '.' && strcmp(host + hl - bl, base) == 0)
                snprintf(label, sizeof(label), "%.*s", (int)(hl - bl - 1), host);
        if ((db = api_db_get(call)) == NULL)
                return;
        if (ad_db_exec(db, &r,
                       "SELECT app_name FROM domains WHERE hostname = $1 UNION ALL "
                       "SELECT name FROM apps WHERE name = $2 LIMIT 1",
                       2, (const char *[]){ host, label }, &err) < 0) {
                api_reply_error(call, "cannot read domains", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "%s is not an app's host name",
                                     host);
                return;
        }
        if (ad_db_read_row(r, 0, owner_fields, &owner, &err) < 0) {
                api_reply_error(call, "cannot read domains", err);
                return;
        }
        ad_httpd_reply_json(call->reply, 200,
                            json_pack("{s:s,s:s}", "domain", host, "app", owner.app_name));
}
