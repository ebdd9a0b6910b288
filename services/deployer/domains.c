/* An app's custom domains on its ingress (POST/DELETE /apps/{name}/domains,
 * issue 15).
 *
 * The API owns the `domains` table; the deployer owns the ingress (the
 * caddy routes of the engine backend, the Ingress objects of the
 * Kubernetes one), so it puts the names there.  The API changes the table
 * inside a transaction holding the app's lock, sends the names the
 * transaction sees as a core NATS request on app.domains.<app> (queue
 * group "deployer": one replica takes it), and commits only when the reply
 * says they are routed: the reply tells the user whether the name is
 * served, and the API never needs caddy's admin API or the cluster's
 * credentials.
 *
 * Engine backend: the names are more hosts on the app's route and on its
 * "-tls" twin on the TLS server (made for the purpose when ingress.tls is
 * off: a custom domain is served over TLS whatever ingress.tls says; the
 * twin goes with the last domain).  The deployer writes only the route's
 * handle when it switches releases, so the hosts survive redeploys,
 * rollbacks, config changes and scaling, and it puts them back on a route
 * it had to make again.
 *
 * Kubernetes backend: the names are more rules (and TLS hosts, when the
 * app's Ingress has TLS) of the app's Ingress, applied again with the
 * deployer's field manager; k8s_deploy.c reads them on every release.
 *
 * An app that is not served yet has nothing to change: the names are put
 * on its ingress by its first release.
 *
 * Request: {"app", "domains": [host, ...]}.  Reply: {"ok": true,
 * "backend"}, or {"error": message, "kind": "invalid"|"unavailable"|...}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/names.h"
#include "deploy.h"

struct domain_row {
        const char *hostname;
};

static const struct ad_db_field domain_fields[] = {
        AD_DB_FIELD(struct domain_row, hostname, AD_DB_TEXT, "hostname"),
        AD_DB_FIELDS_END,
};

int domains_load(struct deployer *dp, const char *app, PGresult **r,
                 const char *out[AD_APP_DOMAINS_MAX], size_t *n, ad_error_t *err)
{
        struct ad_db_rows rows;
        int ret = ad_db_exec(dp->svc->db, r,
                             "SELECT hostname FROM domains WHERE app_name = $1 ORDER BY hostname",
                             1, (const char *[]){ app }, err);

        *n = 0;
        if (ret == 0)
                ret = ad_db_rows_init(&rows, *r, domain_fields, err);
        if (ret < 0)
                return ad_error_wrap(err, "the app's domains");
        for (int i = 0; i < PQntuples(*r) && *n < AD_APP_DOMAINS_MAX; i++) {
                struct domain_row row;

                if ((ret = ad_db_rows_read(&rows, i, &row, err)) < 0)
                        return ad_error_wrap(err, "the app's domains");
                out[(*n)++] = row.hostname;
        }
        return 0;
}

static int engine_apply(struct deployer *dp, const char *app, const json_t *domains,
                        ad_error_t *err)
{
        char route_id[INGRESS_ROUTE_ID_MAX], tls_id[INGRESS_ROUTE_ID_MAX];
        char host[INGRESS_HOST_MAX];
        json_auto_t *hosts = NULL;
        const json_t *d;
        size_t i;
        int ret;

        ingress_host(host, &dp->ingress, app);
        if ((hosts = json_pack("[s]", host)) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        json_array_foreach (domains, i, d)
                if (json_array_append(hosts, (json_t *)d) < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ad_name_route(route_id, sizeof(route_id), app);
        if (json_array_size(domains) > 0 &&
            (ret = ingress_tls_twin_ensure(dp->caddy, &dp->ingress, route_id, err)) < 0)
                return ret;
        ret = ingress_route_hosts(dp->caddy, route_id, hosts, err);
        if (ret < 0 || json_array_size(domains) > 0 || dp->ingress.tls)
                return ret;
        /* The last domain gone: a twin made for domains goes too (the
         * release switch keeps only the twins of ingress.tls up to date). */
        ingress_tls_route_id(tls_id, route_id);
        ret = ad_caddy_delete(dp->caddy, tls_id, err);
        if (ret == -AD_ERR_NOT_FOUND) {
                if (err)
                        ad_error_release(err);
                ret = 0;
        }
        return ret;
}

/* Checks the request: a valid app name and at most AD_APP_DOMAINS_MAX host names,
 * each already in normal form (the API normalizes them). */
static int check_request(const char *app, const json_t *domains, ad_error_t *err)
{
        const json_t *d;
        size_t i;

        if (!ad_app_name_valid(app))
                return ad_error_make(err, AD_ERR_INVALID, 0, "not a valid app name");
        if (!json_is_array(domains) || json_array_size(domains) > AD_APP_DOMAINS_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "`domains` must be an array of at most %d host names",
                                     AD_APP_DOMAINS_MAX);
        json_array_foreach (domains, i, d) {
                const char *s = json_string_value(d);
                char norm[AD_HOSTNAME_MAX + 1];

                if (s == NULL || ad_hostname_normalize(norm, s, strlen(s), NULL) < 0 ||
                    strcmp(norm, s) != 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "domain %zu is not a host name in normal form", i);
        }
        return 0;
}

static const char *kind_name(int kind)
{
        switch (kind) {
        case AD_ERR_INVALID:
                return "invalid";
        case AD_ERR_UNAVAILABLE:
                return "unavailable";
        case AD_ERR_TIMEOUT:
                return "timeout";
        case AD_ERR_UNSUPPORTED:
                return "unsupported";
        default:
                return "internal";
        }
}

void domains_serve(const char *subject, const void *data, size_t len, char **reply,
                   size_t *reply_len, void *ud)
{
        struct deployer *dp = ud;
        cleanup_error ad_error_t err = NULL;
        json_auto_t *req = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
        json_auto_t *out = NULL;
        const char *app = json_string_value(json_object_get(req, "app"));
        const json_t *domains = json_object_get(req, "domains");
        bool k8s = false;
        char shown[64], count[16];
        int ret;

        (void)subject;
        ret = check_request(app, domains, &err);
        if (ret == 0)
                ret = deployer_app_backend(dp, app, &k8s, &err);
        if (ret == 0 && k8s)
                ret = k8s_domains_apply(dp, app, domains, &err);
        else if (ret == 0)
                ret = engine_apply(dp, app, domains, &err);
        snprintf(shown, sizeof(shown), "%s", app && ad_app_name_valid(app) ? app : "?");
        snprintf(count, sizeof(count), "%zu", json_array_size(domains));
        if (ret < 0) {
                ad_log(AD_LOG_WARN, "cannot route an app's domains", "app", shown, "error",
                       ad_error_message(err), NULL);
                out = json_pack("{s:s,s:s}", "error", ad_error_message(err), "kind",
                                kind_name(err ? err->kind : AD_ERR_GENERIC));
        } else {
                ad_log(AD_LOG_INFO, "app domains routed", "app", shown, "domains", count, "backend",
                       k8s ? "kubernetes" : "engine", NULL);
                out = json_pack("{s:b,s:s}", "ok", 1, "backend", k8s ? "kubernetes" : "engine");
        }
        *reply = out ? json_dumps(out, JSON_COMPACT) : NULL;
        *reply_len = *reply ? strlen(*reply) : 0;
}
