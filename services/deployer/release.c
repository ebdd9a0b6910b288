#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/log.h"
#include "ad/names.h"
#include "ad/uuid.h"
#include "deploy.h"

#define LOG_LINE_MAX 1024

int release_repoint(struct deployer *dp, const char *route_id, const json_t *handler,
                    ad_error_t *err)
{
        char tls_id[INGRESS_ROUTE_ID_MAX];
        const char *ids[] = { route_id, tls_id };
        json_auto_t *handle = json_pack("[O]", (json_t *)handler);

        if (handle == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ingress_tls_route_id(tls_id, route_id);
        for (size_t i = 0; i < AD_ARRAY_SIZE(ids); i++) {
                cleanup_error ad_error_t perr = NULL;
                int ret = ad_caddy_patch(dp->caddy, ids[i], "handle", handle, &perr);

                if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                        if (err)
                                *err = TAKE_PTR(perr);
                        return ret;
                }
        }
        return 0;
}

json_t *release_handler(struct deployer *dp, const unsigned *host_ports, size_t n,
                        const char *deployment_id)
{
        char dial[300];
        json_t *h, *upstreams;

        snprintf(dial, sizeof(dial), "%s:%u", dp->publish_address, host_ports[0]);
        h = ad_caddy_handler_proxy(dial, deployment_id);
        upstreams = json_object_get(h, "upstreams");
        for (size_t i = 1; h && i < n; i++) {
                snprintf(dial, sizeof(dial), "%s:%u", dp->publish_address, host_ports[i]);
                if (json_array_append_new(upstreams, json_pack("{s:s}", "dial", dial)) < 0) {
                        json_decref(h);
                        return NULL;
                }
        }
        /* Every replica in turn (caddy's default picks at random). */
        if (h && n > 1 &&
            json_object_set_new(
                    h, "load_balancing",
                    json_pack("{s:{s:s}}", "selection_policy", "policy", "round_robin")) < 0) {
                json_decref(h);
                return NULL;
        }
        return h;
}

int release_remove(struct deployer *dp, const char *id, ad_error_t *err)
{
        cleanup_error ad_error_t serr = NULL;
        int ret;

        /* A graceful stop first (the app gets SIGTERM), then the removal;
         * a failed stop still ends in a forced removal. */
        ret = ad_engine_container_stop(dp->engine, id, (int)dp->stop_timeout_s, &serr);
        if (ret == -AD_ERR_NOT_FOUND)
                return 0;
        if (ret < 0 && ad_error_is_retryable(serr) && serr->kind != AD_ERR_CONFLICT) {
                if (err)
                        *err = TAKE_PTR(serr);
                return ret;
        }
        ret = ad_engine_container_remove(dp->engine, id, true, err);
        return ret == -AD_ERR_NOT_FOUND ? 0 : ret;
}

void release_sweep(struct deployer *dp)
{
        const char *filters[] = { AD_LABEL_APP, NULL };
        struct ad_container *list = NULL;
        cleanup_error ad_error_t err = NULL;
        char grace[32];
        size_t n = 0;

        if (ad_engine_container_list(dp->engine, filters, true, &list, &n, &err) < 0) {
                ad_log(AD_LOG_WARN, "sweep of retired releases skipped", "error",
                       ad_error_message(err), NULL);
                return;
        }
        /* Another deployer may be retiring a release superseded moments
         * ago (its drain, then its stop): left to it. */
        snprintf(grace, sizeof(grace), "%ld", dp->drain_ms / 1000 + dp->stop_timeout_s + 5);
        for (size_t i = 0; i < n; i++) {
                cleanup_pgresult PGresult *r = NULL;
                const char *params[] = { list[i].deployment, grace };

                if (!ad_uuid_valid(list[i].deployment))
                        continue;
                if (ad_db_exec(dp->svc->db, &r,
                               "SELECT 1 FROM deployments WHERE id = $1::uuid "
                               "AND status = 'SUPERSEDED' "
                               "AND updated_at < now() - make_interval(secs => $2::int)",
                               2, params, &err) < 0) {
                        ad_log(AD_LOG_WARN, "sweep of retired releases stopped", "error",
                               ad_error_message(err), NULL);
                        break;
                }
                if (PQntuples(r) == 0)
                        continue;
                if (release_remove(dp, list[i].id, &err) < 0) {
                        ad_log(AD_LOG_WARN, "cannot remove a superseded release's container",
                               "container", list[i].name, "error", ad_error_message(err), NULL);
                        ad_error_release(&err);
                        continue;
                }
                ad_log(AD_LOG_INFO, "removed a superseded release's container", "container",
                       list[i].name, "deployment_id", list[i].deployment, NULL);
        }
        ad_container_list_free(list, n);
}

/* Appends one line to arr, made valid UTF-8 without control characters
 * (PostgreSQL text and JSON both insist). */
static void add_line(json_t *arr, const char *s, size_t n)
{
        char buf[LOG_LINE_MAX + 4];
        size_t o = 0;

        for (size_t i = 0; i < n && o < LOG_LINE_MAX; i++) {
                unsigned char ch = (unsigned char)s[i];
                size_t len = ch < 0x80             ? 1
                             : (ch & 0xe0) == 0xc0 ? 2
                             : (ch & 0xf0) == 0xe0 ? 3
                             : (ch & 0xf8) == 0xf0 ? 4
                                                   : 0;
                bool ok = len > 0 && i + len <= n;

                for (size_t k = 1; ok && k < len; k++)
                        ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
                if (len == 1) {
                        if (ch >= 0x20 || ch == '\t')
                                buf[o++] = (char)ch;
                        continue;
                }
                if (!ok) {
                        buf[o++] = '?';
                        continue;
                }
                memcpy(buf + o, s + i, len);
                o += len;
                i += len - 1;
        }
        buf[o] = '\0';
        /* json_string still refuses overlong forms and surrogates. */
        if (json_array_append_new(arr, json_string(buf)) < 0)
                json_array_append_new(arr, json_string("(unreadable line)"));
}

int release_store_log(struct deployer *dp, const char *deployment_id, const char *text,
                      long max_lines, ad_error_t *err)
{
        return release_store_lines(dp, deployment_id, "runtime", text, max_lines, false, err);
}

int release_store_lines(struct deployer *dp, const char *deployment_id, const char *source,
                        const char *text, long max_lines, bool once, ad_error_t *err)
{
        json_auto_t *lines = json_array();
        cleanup_free char *param = NULL;
        const char *p = text;
        long n = 0;

        if (lines == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        while (p && *p && n < max_lines) {
                size_t len = strcspn(p, "\n");
                size_t cut = len && p[len - 1] == '\r' ? len - 1 : len;

                add_line(lines, p, cut);
                n++;
                p += len + (p[len] == '\n');
        }
        if (n == 0)
                return 0;
        param = json_dumps(lines, JSON_COMPACT);
        if (param == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        const char *params[] = { deployment_id, param, source, once ? "true" : "false" };
        return ad_db_exec(dp->svc->db, NULL,
                          "INSERT INTO deployment_logs (deployment_id, source, line) "
                          "SELECT $1::uuid, $3, l.line "
                          "FROM json_array_elements_text($2::json) WITH ORDINALITY AS l(line, n) "
                          "WHERE NOT ($4::bool AND EXISTS (SELECT 1 FROM deployment_logs "
                          "WHERE deployment_id = $1::uuid AND source = $3)) "
                          "ORDER BY l.n",
                          4, params, err);
}
