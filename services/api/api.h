/* adapi: the REST gateway.  Accepts deployment requests (deployment_requests
 * + the outbox, one transaction), and reads the coordinator's state back.
 *
 * Threads: libmicrohttpd serves each connection on its own thread; the
 * outbox relay runs on one more.  libpq connections are not thread-safe,
 * so request handlers borrow a connection from a small mutex-protected pool
 * (api_pool.h) for the length of one handler (or one poll of a log
 * stream), and the relay thread (ad_relay) owns a connection of its own.  The
 * NATS connection (cnats) is thread-safe and shared. */
#ifndef AD_API_H
#define AD_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/engine.h"
#include "ad/event.h"
#include "ad/httpd.h"
#include "ad/outbox.h"
#include "ad/secret.h"
#include "ad/service.h"
#include "api_pool.h"
#include "api_request.h"

#define API_DEFAULT_MAX_BODY (64 * 1024)
#define API_MAX_HOOKS 8
#define API_PRINCIPAL_MAX 128

struct api;

/* One request on its way through the router. */
struct api_call {
        struct api *api;
        const struct ad_httpd_request *req;
        struct ad_httpd_reply *reply;
        const char *route;        /* the metric label: "deployments_create", "unmatched" */
        char id[AD_UUID_LEN + 1]; /* the {id} path segment, lower-cased */
        bool id_valid;            /* false: the segment is not a UUID */
        /* Who asks: "anonymous" until an authentication hook sets it.  It
         * becomes requested_by in the events. */
        char principal[API_PRINCIPAL_MAX];
        ad_db *db; /* borrowed by api_db_get(), given back after the handler */
        /* Set by handlers so the request's log line names it. */
        char deployment_id[AD_UUID_LEN + 1];
        /* The {name} (an app) and {key} (a config variable) path segments;
         * empty when the segment is not a valid name. */
        char name[AD_APP_NAME_MAX + 1];
        char key[AD_ENV_NAME_MAX + 1];
};

/* A pre-handler (authentication, rate limiting), run in registration order
 * before every request's handler.  Return 0 to go on; to reject, fill the
 * reply (ad_httpd_reply_error(call->reply, 401, ...)) and return < 0. */
typedef int (*api_hook_fn)(struct api_call *call, void *ud);

struct api {
        struct ad_service svc;       /* the route callback gets &svc: see api_from_service() */
        atomic_bool ready;           /* false until start-up is done: requests get 503 */
        bool allow_local;            /* api.allow_local_sources */
        const char *clone_allowlist; /* api.clone_allowlist (ad/netguard.h) */
        size_t max_body;             /* api.max_body_bytes */
        bool have_key;               /* secrets.key is set */
        struct ad_secret_key key;
        struct api_pool *pool;
        /* The container engine, to show an app's containers and probe them
         * (engine.socket); NULL: replicas are shown as recorded. */
        ad_engine *engine;
        /* api.config_readers: who may read a config value in clear ("*":
         * every caller; else comma-separated token names). */
        char config_readers[512];
        struct {
                api_hook_fn fn;
                void *ud;
        } hooks[API_MAX_HOOKS];
        size_t n_hooks;
        /* The outbox relay thread (api_relay.c). */
        ad_relay *relay;
};

static inline struct api *api_from_service(struct ad_service *svc)
{
        return (struct api *)((char *)svc - offsetof(struct api, svc));
}

/* api_auth.c: the api.tokens hook (ud: the struct api_tokens), and
 * whether an http.bind address is loopback-only. */
int api_auth_hook(struct api_call *call, void *ud);
bool api_bind_is_loopback(const char *bind);

/* Registers a pre-handler; only before the API is ready. */
int api_hook_add(struct api *api, api_hook_fn fn, void *ud, ad_error_t *err);

/* The ad_service route: every path but /healthz and /metrics. */
void api_route(struct ad_service *svc, const struct ad_httpd_request *req,
               struct ad_httpd_reply *reply);

/* Replies with an error, mapping its kind to a status; internal errors are
 * logged and answered without their details. */
void api_reply_error(struct api_call *call, const char *what, ad_error_t err);

/* Replies with a JSON document in text form (built by PostgreSQL). */
void api_reply_json_text(struct api_call *call, int status, const char *text);

/* Borrows a pooled connection for the rest of the handler; NULL (and a
 * 503 reply) when none comes in time. */
ad_db *api_db_get(struct api_call *call);

/* The handlers (api_deployments.c, api_logs.c). */
void api_deployments_create(struct api_call *call);
void api_deployments_list(struct api_call *call);
void api_deployments_get(struct api_call *call);
void api_deployments_delete(struct api_call *call);
void api_deployments_rollback(struct api_call *call);
void api_logs_get(struct api_call *call);

/* api_apps.c: /apps and what hangs under it. */
void api_apps_list(struct api_call *call);
void api_apps_get(struct api_call *call);
void api_apps_delete(struct api_call *call);
void api_apps_deploy(struct api_call *call);
void api_apps_releases(struct api_call *call);
void api_apps_rollback(struct api_call *call);
void api_apps_config_get(struct api_call *call);
void api_apps_config_patch(struct api_call *call);
void api_apps_config_value(struct api_call *call);
void api_apps_scale(struct api_call *call);
void api_apps_logs(struct api_call *call);

/* api_timeline.c: adds a deployment's "timeline", "hops" and
 * "hops_total_ms" (docs/api.md) to doc, from its request and the events
 * the coordinator applied. */
int api_timeline(ad_db *db, const char *id, json_t *doc, ad_error_t *err);

/* The outbox relay (api_relay.c): a thread that publishes pending rows
 * every second, and an immediate pass after a request commits. */
int api_relay_start(struct api *api, ad_error_t *err);
void api_relay_stop(struct api *api);
void api_relay_now(struct api *api, ad_db *db);

#endif
