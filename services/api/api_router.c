/* The REST surface: which handler answers which method and path, the
 * pre-handler hooks, and the bookkeeping every request gets (a metric and
 * one JSON log line). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/metrics.h"
#include "api.h"

/* How long a request waits for a pooled database connection. */
#define API_DB_WAIT_MS 5000

typedef void (*api_handler_fn)(struct api_call *call);

struct api_route_def {
        const char *method;
        const char *pattern; /* segments; "{id}" matches one */
        const char *name;    /* metric label */
        api_handler_fn fn;
};

static const struct api_route_def routes[] = {
        { "GET", "/deployments", "deployments_list", api_deployments_list },
        { "POST", "/deployments", "deployments_create", api_deployments_create },
        { "GET", "/deployments/{id}", "deployments_get", api_deployments_get },
        { "DELETE", "/deployments/{id}", "deployments_delete", api_deployments_delete },
        { "GET", "/deployments/{id}/logs", "deployments_logs", api_logs_get },
        { "POST", "/deployments/{id}/rollback", "deployments_rollback", api_deployments_rollback },
        { "GET", "/apps", "apps_list", api_apps_list },
        { "GET", "/apps/{name}", "apps_get", api_apps_get },
        { "DELETE", "/apps/{name}", "apps_delete", api_apps_delete },
        { "POST", "/apps/{name}/deployments", "apps_deploy", api_apps_deploy },
        { "GET", "/apps/{name}/releases", "apps_releases", api_apps_releases },
        { "POST", "/apps/{name}/rollback", "apps_rollback", api_apps_rollback },
        { "GET", "/apps/{name}/config", "apps_config_get", api_apps_config_get },
        { "PATCH", "/apps/{name}/config", "apps_config_patch", api_apps_config_patch },
        { "GET", "/apps/{name}/config/{key}", "apps_config_value", api_apps_config_value },
        { "POST", "/apps/{name}/scale", "apps_scale", api_apps_scale },
        { "GET", "/apps/{name}/logs", "apps_logs", api_apps_logs },
        { "GET", "/tokens", "tokens_list", api_tokens_list },
        { "POST", "/tokens", "tokens_create", api_tokens_create },
        { "DELETE", "/tokens/{id}", "tokens_delete", api_tokens_delete },
        { "GET", "/whoami", "whoami", api_whoami },
        { "GET", "/audit", "audit", api_audit_list },
        { "GET", "/apps/{name}/domains", "apps_domains_list", api_domains_list },
        { "POST", "/apps/{name}/domains", "apps_domains_add", api_domains_add },
        { "DELETE", "/apps/{name}/domains/{host}", "apps_domains_remove", api_domains_remove },
        { "POST", "/apps/{name}/run", "apps_run", api_apps_run },
        { "GET", "/domains/allowed", "domains_allowed", api_domains_allowed },
        { "POST", "/auth/token", "auth_token", api_auth_token },
        { "GET", "/teams/{team}/members", "members_list", api_members_list },
        { "POST", "/teams/{team}/members", "members_add", api_members_add },
        { "PATCH", "/teams/{team}/members/{user}", "members_update", api_members_update },
        { "DELETE", "/teams/{team}/members/{user}", "members_remove", api_members_remove },
};

/* The Allow header of each pattern, for 405 replies. */
static const char *allowed_methods(const char *pattern)
{
        if (strcmp(pattern, "/deployments") == 0)
                return "GET, POST";
        if (strcmp(pattern, "/deployments/{id}") == 0)
                return "GET, DELETE";
        if (strcmp(pattern, "/tokens") == 0)
                return "GET, POST";
        if (strcmp(pattern, "/tokens/{id}") == 0)
                return "DELETE";
        if (strcmp(pattern, "/whoami") == 0 || strcmp(pattern, "/audit") == 0)
                return "GET";
        if (strcmp(pattern, "/deployments/{id}/logs") == 0 || strcmp(pattern, "/apps") == 0 ||
            strcmp(pattern, "/apps/{name}/releases") == 0 ||
            strcmp(pattern, "/apps/{name}/logs") == 0 ||
            strcmp(pattern, "/apps/{name}/config/{key}") == 0)
                return "GET";
        if (strcmp(pattern, "/apps/{name}") == 0)
                return "GET, DELETE";
        if (strcmp(pattern, "/apps/{name}/config") == 0)
                return "GET, PATCH";
        if (strcmp(pattern, "/apps/{name}/domains") == 0)
                return "GET, POST";
        if (strcmp(pattern, "/apps/{name}/domains/{host}") == 0)
                return "DELETE";
        if (strcmp(pattern, "/domains/allowed") == 0)
                return "GET";
        if (strcmp(pattern, "/teams/{team}/members") == 0)
                return "GET, POST";
        if (strcmp(pattern, "/teams/{team}/members/{user}") == 0)
                return "PATCH, DELETE";
        return "POST";
}

int api_hook_add(struct api *api, api_hook_fn fn, void *ud, ad_error_t *err)
{
        if (atomic_load(&api->ready))
                return ad_error_make(err, AD_ERR_CONFLICT, 0,
                                     "hooks must be added before the API serves requests");
        if (api->n_hooks >= API_MAX_HOOKS)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "at most %d hooks", API_MAX_HOOKS);
        api->hooks[api->n_hooks].fn = fn;
        api->hooks[api->n_hooks].ud = ud;
        api->n_hooks++;
        return 0;
}

/* Matches path against a pattern; the {id} segment is copied into call.
 * A trailing '/' is ignored. */
static bool path_match(const char *pattern, const char *path, struct api_call *call)
{
        const char *p = pattern, *s = path;

        while (*p) {
                if (strncmp(p, "{id}", 4) == 0) {
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        call->id_valid = false;
                        if (n == AD_UUID_LEN) {
                                for (size_t i = 0; i < n; i++)
                                        call->id[i] = (char)tolower((unsigned char)s[i]);
                                call->id[n] = '\0';
                                call->id_valid = ad_uuid_valid(call->id);
                        }
                        if (!call->id_valid)
                                call->id[0] = '\0';
                        p += 4;
                        s += n;
                        continue;
                }
                if (strncmp(p, "{host}", 6) == 0) {
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        if (ad_hostname_normalize(call->host, s, n, NULL) < 0)
                                call->host[0] = '\0';
                        p += 6;
                        s += n;
                        continue;
                }
                if (strncmp(p, "{team}", 6) == 0 || strncmp(p, "{user}", 6) == 0) {
                        bool team = p[1] == 't';
                        char *out = team ? call->path_team : call->path_user;
                        size_t max = team ? API_TEAM_NAME_MAX : API_USER_NAME_MAX;
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        out[0] = '\0';
                        if (n <= max) {
                                memcpy(out, s, n);
                                out[n] = '\0';
                                if (team ? !api_team_name_valid(out) : !api_user_name_valid(out))
                                        out[0] = '\0';
                        }
                        p += 6;
                        s += n;
                        continue;
                }
                if (strncmp(p, "{name}", 6) == 0 || strncmp(p, "{key}", 5) == 0) {
                        bool is_name = p[1] == 'n';
                        char *out = is_name ? call->name : call->key;
                        size_t max = is_name ? AD_APP_NAME_MAX : AD_ENV_NAME_MAX;
                        size_t n = strcspn(s, "/");

                        if (n == 0)
                                return false;
                        out[0] = '\0';
                        if (n <= max) {
                                memcpy(out, s, n);
                                out[n] = '\0';
                                if (is_name ? !ad_app_name_valid(out) : !api_env_name_valid(out))
                                        out[0] = '\0';
                        }
                        p += is_name ? 6 : 5;
                        s += n;
                        continue;
                }
                if (*p != *s)
                        return false;
                p++;
                s++;
        }
        return *s == '\0' || strcmp(s, "/") == 0;
}

ad_db *api_db_get(struct api_call *call)
{
        cleanup_error ad_error_t err = NULL;

        if (call->db)
                return call->db;
        if (api_pool_get(call->api->pool, &call->db, API_DB_WAIT_MS, &err) < 0) {
                ad_log(AD_LOG_WARN, "no database connection for a request", "error",
                       ad_error_message(err), NULL);
                ad_httpd_reply_error(call->reply, 503, "unavailable",
                                     "the database is unavailable; retry later");
                return NULL;
        }
        return call->db;
}

void api_reply_error(struct api_call *call, const char *what, ad_error_t err)
{
        switch (err ? err->kind : AD_ERR_GENERIC) {
        case AD_ERR_INVALID:
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s",
                                     ad_error_message(err));
                return;
        case AD_ERR_NOT_FOUND:
                ad_httpd_reply_error(call->reply, 404, "not_found", "%s", ad_error_message(err));
                return;
        case AD_ERR_TOO_LARGE:
                ad_httpd_reply_error(call->reply, 413, "too_large", "%s", ad_error_message(err));
                return;
        case AD_ERR_UNAVAILABLE:
        case AD_ERR_TIMEOUT:
                ad_log(AD_LOG_WARN, what, "error", ad_error_message(err), NULL);
                ad_httpd_reply_error(call->reply, 503, "unavailable",
                                     "a dependency is unavailable; retry later");
                return;
        default:
                /* SQL and library details stay in the log, not the reply. */
                ad_log(AD_LOG_ERROR, what, "error", ad_error_message(err), NULL);
                ad_httpd_reply_error(call->reply, 500, "internal", "internal error: %s", what);
                return;
        }
}

void api_reply_json_text(struct api_call *call, int status, const char *text)
{
        /* Re-encoded so every reply has the same compact form. */
        json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);

        if (doc == NULL) {
                api_reply_error(call, "cannot encode a reply", NULL);
                return;
        }
        ad_httpd_reply_json(call->reply, status, doc);
}

int api_db_text(const PGresult *r, const char *column, const char **text, ad_error_t *err)
{
        struct text_row {
                const char *text;
        } row;
        const struct ad_db_field fields[] = {
                AD_DB_FIELD(struct text_row, text, AD_DB_TEXT, column),
                AD_DB_FIELDS_END,
        };

        if (ad_db_read_row(r, 0, fields, &row, err) < 0)
                return -1;
        *text = row.text;
        return 0;
}

static ad_metric *requests, *duration;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
        requests = ad_metric_get(AD_METRIC_COUNTER, "ad_api_requests_total",
                                 "REST API requests by route and status code");
        duration = ad_metric_get(AD_METRIC_HISTOGRAM, "ad_api_request_duration_seconds",
                                 "REST API request handling time by route");
}

static void count(const struct api_call *call, double seconds)
{
        char labels[128];

        pthread_once(&metrics_once, metrics_init);
        snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"", call->route,
                 call->reply->status ? call->reply->status : 200);
        ad_metric_add(requests, labels, 1);
        snprintf(labels, sizeof(labels), "route=\"%s\"", call->route);
        ad_metric_observe(duration, labels, seconds);
}

/* The path for a message or a log line: printable ASCII (a path can hold
 * any bytes once percent-decoded, and JSON needs valid UTF-8), bounded. */
static void printable_path(char *out, size_t size, const char *path)
{
        size_t n = 0;

        for (; *path && n + 4 < size; path++)
                out[n++] = (*path >= 0x20 && *path < 0x7f) ? *path : '?';
        if (*path) {
                memcpy(out + n, "...", 3);
                n += 3;
        }
        out[n] = '\0';
}

/* One line per request: never the body, never a header value. */
static void log_request(const struct api_call *call, int64_t ms)
{
        int status = call->reply->status ? call->reply->status : 200;
        char path[256];
        json_t *f;

        printable_path(path, sizeof(path), call->req->path);
        f = json_pack("{s:s,s:s,s:s,s:i,s:I,s:s}", "method", call->req->method, "path", path,
                      "route", call->route, "status", status, "duration_ms", (json_int_t)ms,
                      "remote", call->req->remote_ip);

        if (f && call->deployment_id[0])
                json_object_set_new(f, "deployment_id", json_string(call->deployment_id));
        if (f && strcmp(call->principal, "anonymous") != 0)
                json_object_set_new(f, "principal", json_string(call->principal));
        if (f && call->via_jwt)
                json_object_set_new(f, "auth", json_string("jwt"));
        ad_log_json(status >= 500 ? AD_LOG_WARN : AD_LOG_INFO, "request", f);
}

static void dispatch(struct api_call *call)
{
        const struct api_route_def *matched = NULL;
        const char *pattern = NULL;
        char path[256];

        for (size_t i = 0; i < AD_ARRAY_SIZE(routes); i++) {
                if (!path_match(routes[i].pattern, call->req->path, call))
                        continue;
                pattern = routes[i].pattern;
                if (strcmp(routes[i].method, call->req->method) == 0) {
                        matched = &routes[i];
                        break;
                }
        }
        call->route = matched ? matched->name : pattern ? "method_not_allowed" : "unmatched";

        for (size_t i = 0; i < call->api->n_hooks; i++)
                if (call->api->hooks[i].fn(call, call->api->hooks[i].ud) < 0) {
                        if (call->reply->status == 0)
                                ad_httpd_reply_error(call->reply, 403, "forbidden",
                                                     "request refused");
                        return;
                }

        if (matched) {
                if (strstr(matched->pattern, "{id}") && !call->id_valid) {
                        ad_httpd_reply_error(call->reply, 400, "invalid_id",
                                             "the %s id must be a UUID such as "
                                             "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11",
                                             strncmp(matched->pattern, "/tokens", 7) == 0
                                                     ? "key"
                                                     : "deployment");
                        return;
                }
                if (strstr(matched->pattern, "{name}") && call->name[0] == '\0') {
                        ad_httpd_reply_error(call->reply, 404, "not_found",
                                             "no such app: an app name is 1 to %d of a-z, 0-9 "
                                             "and -",
                                             AD_APP_NAME_MAX);
                        return;
                }
                if ((strstr(matched->pattern, "{team}") && call->path_team[0] == '\0') ||
                    (strstr(matched->pattern, "{user}") && call->path_user[0] == '\0')) {
                        ad_httpd_reply_error(call->reply, 404, "not_found",
                                             "no such team or user: a team name is 1 to 63 of "
                                             "a-z 0-9 -, a user name 1 to 63 of A-Z a-z 0-9 . _ "
                                             "@ -");
                        return;
                }
                if (strstr(matched->pattern, "{key}") && call->key[0] == '\0') {
                        ad_httpd_reply_error(call->reply, 400, "invalid_name",
                                             "a variable name is letters, digits and _, not "
                                             "starting with a digit");
                        return;
                }
                if (api_authorize(call, matched->method, matched->pattern, matched->name) < 0)
                        return;
                matched->fn(call);
                return;
        }
        printable_path(path, sizeof(path), call->req->path);
        if (pattern) {
                call->reply->headers[0][0] = "Allow";
                call->reply->headers[0][1] = allowed_methods(pattern);
                ad_httpd_reply_error(call->reply, 405, "method_not_allowed",
                                     "%s is not allowed on %s (allowed: %s)", call->req->method,
                                     path, allowed_methods(pattern));
                return;
        }
        ad_httpd_reply_error(call->reply, 404, "not_found", "no such path: %s", path);
}

void api_route(struct ad_service *svc, const struct ad_httpd_request *req,
               struct ad_httpd_reply *reply)
{
        struct api *api = api_from_service(svc);
        struct api_call call = {
                .api = api,
                .req = req,
                .reply = reply,
                .route = "unmatched",
        };
        int64_t start = ad_monotonic_ms();

        snprintf(call.principal, sizeof(call.principal), "anonymous");
        if (!atomic_load(&api->ready)) {
                call.route = "starting";
                ad_httpd_reply_error(reply, 503, "starting",
                                     "the API is starting; retry in a moment");
        } else {
                dispatch(&call);
                api_repo_url_redact_reply(reply);
                api_limit_headers(&call);
                api_audit_record(&call);
        }
        api_pool_put(api->pool, call.db);
        count(&call, (double)(ad_monotonic_ms() - start) / 1000.0);
        log_request(&call, ad_monotonic_ms() - start);
}
