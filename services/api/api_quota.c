/* The platform's resource quotas (limits.max_cpu_per_deployment,
 * limits.max_memory_per_deployment, limits.max_replicas) checked when the
 * API accepts a request, before anything is recorded: a release made
 * without analysis (scale, rollback, config change) runs an image whose
 * resources its build recorded, with a scale the request or the app
 * gives, so the API knows all of it up front.  A redeploy carries the
 * app's scale.  The analyze step checks a deployment's deployer.yaml
 * again, as before (services/analyzer); the same limits, the same words.
 * Operators are held to them too: they are the platform's, not a team's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/analysis.h"
#include "ad/cleanup.h"
#include "api.h"

int api_quota_configure(struct api *api, ad_error_t *err)
{
        const char *cpu = ad_config_string(api->svc.cfg, "limits.max_cpu_per_deployment", "0");
        int ret = ad_config_int(api->svc.cfg, "limits.max_memory_per_deployment", 0, 0, 1 << 24,
                                &api->max_memory_mb, err);

        if (ret == 0)
                ret = ad_config_int(api->svc.cfg, "limits.max_replicas", 0, 0, 1000,
                                    &api->max_replicas, err);
        if (ret < 0)
                return ret;
        api->max_cpu_millis = ad_analysis_parse_cpu(cpu);
        if (api->max_cpu_millis < 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "limits.max_cpu_per_deployment: `%.40s` is not a number of "
                                     "cores (`2`) or millicores (`500m`)",
                                     cpu);
        return 0;
}

static const char *cores(char buf[32], long millis)
{
        if (millis % 1000 == 0)
                snprintf(buf, 32, "%ld core%s", millis / 1000, millis == 1000 ? "" : "s");
        else
                snprintf(buf, 32, "%ldm cores", millis);
        return buf;
}

enum quota { QUOTA_CPU, QUOTA_MEMORY, QUOTA_REPLICAS };

/* The 422 naming the limit and its value; returns -1. */
static int refuse(struct api_call *call, enum quota q, const char *what, long asked, long limit)
{
        char a[32], l[32];

        if (q == QUOTA_CPU)
                ad_httpd_reply_error(call->reply, 422, "quota_exceeded",
                                     "%s %s per container; this platform allows %s "
                                     "(limits.max_cpu_per_deployment)",
                                     what, cores(a, asked), cores(l, limit));
        else if (q == QUOTA_MEMORY)
                ad_httpd_reply_error(call->reply, 422, "quota_exceeded",
                                     "%s %ld MiB of memory per container; this platform allows "
                                     "%ld MiB (limits.max_memory_per_deployment)",
                                     what, asked, limit);
        else
                ad_httpd_reply_error(call->reply, 422, "quota_exceeded",
                                     "%s %ld replicas; this platform allows %ld "
                                     "(limits.max_replicas)",
                                     what, asked, limit);
        return -1;
}

int api_quota_check_replicas(struct api_call *call, long replicas, const char *what)
{
        if (call->api->max_replicas > 0 && replicas > call->api->max_replicas)
                return refuse(call, QUOTA_REPLICAS, what, replicas, call->api->max_replicas);
        return 0;
}

/* $1: the app, $2: the release (0: the running one), $3: the web scale asked
 * for (0: none). */
static const char sql_release[] =
        "SELECT coalesce(round(b.cpu * 1000), 0)::bigint AS cpu_millis, coalesce(b.memory_mb, 0) "
        "AS memory_mb, CASE WHEN $3::int > 0 THEN $3::int WHEN a.web_replicas > 0 THEN "
        "a.web_replicas ELSE coalesce((SELECT cardinality(c.container_ids) FROM releases c JOIN "
        "deployments cd ON cd.id = c.deployment_id WHERE c.app_name = a.name AND cd.status = "
        "'EXPOSED' ORDER BY c.version DESC LIMIT 1), 0) END AS replicas, coalesce(r.version, 0) "
        "AS version FROM apps a LEFT JOIN LATERAL (SELECT x.image, x.version FROM releases x JOIN "
        "deployments xd ON xd.id = x.deployment_id WHERE x.app_name = a.name AND CASE WHEN "
        "$2::int > 0 THEN x.version = $2::int ELSE xd.status = 'EXPOSED' END ORDER BY x.version "
        "DESC LIMIT 1) r ON true LEFT JOIN LATERAL (SELECT cpu, memory_mb FROM builds WHERE image "
        "= r.image ORDER BY created_at DESC LIMIT 1) b ON true WHERE a.name = $1";

/* What a release asks for, as its build recorded it, and its scale. */
struct quota_row {
        int64_t cpu_millis, memory_mb; /* per container, 0 when not recorded */
        int64_t replicas;              /* of web */
        int64_t version;               /* the release's, 0 when there is none */
};
static const struct ad_db_field quota_fields[] = {
        AD_DB_FIELD(struct quota_row, cpu_millis, AD_DB_INT64, "cpu_millis"),
        AD_DB_FIELD(struct quota_row, memory_mb, AD_DB_INT64, "memory_mb"),
        AD_DB_FIELD(struct quota_row, replicas, AD_DB_INT64, "replicas"),
        AD_DB_FIELD(struct quota_row, version, AD_DB_INT64, "version"),
        AD_DB_FIELDS_END,
};

int api_quota_check_release(struct api_call *call, ad_db *db, unsigned version, unsigned web)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const struct api *api = call->api;
        char ver[16], w[16], what[96];
        struct quota_row q;

        if (api->max_cpu_millis <= 0 && api->max_memory_mb <= 0 && api->max_replicas <= 0)
                return 0;
        snprintf(ver, sizeof(ver), "%u", version);
        snprintf(w, sizeof(w), "%u", web);
        /* The release's image (version, or the running one) and what its
         * build recorded; the scale as the coordinator will choose it:
         * the request's, else the app's, else the running release's. */
        if (ad_db_exec(db, &r, sql_release, 3, (const char *[]){ call->name, ver, w }, &err) < 0) {
                api_reply_error(call, "cannot check the quotas", err);
                return -1;
        }
        if (PQntuples(r) == 0)
                return 0;
        if (ad_db_read_row(r, 0, quota_fields, &q, &err) < 0) {
                api_reply_error(call, "cannot check the quotas", err);
                return -1;
        }
        snprintf(what, sizeof(what), "release v%" PRId64 " of %s asks for", q.version, call->name);
        if (api->max_cpu_millis > 0 && q.cpu_millis > api->max_cpu_millis)
                return refuse(call, QUOTA_CPU, what, (long)q.cpu_millis, api->max_cpu_millis);
        if (api->max_memory_mb > 0 && q.memory_mb > api->max_memory_mb)
                return refuse(call, QUOTA_MEMORY, what, (long)q.memory_mb, api->max_memory_mb);
        snprintf(what, sizeof(what), "%s asks for",
                 web ? "the scale" : "the app's scale, which a new release keeps,");
        return api_quota_check_replicas(call, (long)q.replicas, what);
}
