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
#include "ad/ingress.h"
#include "ad/names.h"
#include "ad/outbox.h"
#include "ad/secret.h"
#include "ad/service.h"
#include "api_jwt.h"
#include "api_pool.h"
#include "api_request.h"
#include "api_tokens_request.h"

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
        /* What the caller may do and whose things it sees (api_teams.c):
         * a team key's role and team, or API_ROLE_OPERATOR with no team
         * (api.tokens, the anonymous loopback mode): every team. */
        enum api_role role;
        char team_id[AD_UUID_LEN + 1]; /* "" for an operator */
        char team[API_TEAM_NAME_MAX + 1];
        /* The API key the caller used, directly or through a JWT
         * (via_jwt); "" for an operator. */
        char key_id[AD_UUID_LEN + 1];
        bool via_jwt;
        /* The rate limit's size and what is left of it, for the
         * RateLimit-* headers (0: no limit applied). */
        long rate_limit, rate_remaining;
        ad_db *db; /* borrowed by api_db_get(), given back after the handler */
        /* Set by handlers so the request's log line names it. */
        char deployment_id[AD_UUID_LEN + 1];
        /* The {name} (an app) and {key} (a config variable) path segments;
         * empty when the segment is not a valid name. */
        char name[AD_APP_NAME_MAX + 1];
        char key[AD_ENV_NAME_MAX + 1];
        /* The {host} segment (a custom domain), normalized; empty when it
         * is not a host name. */
        char host[AD_HOSTNAME_MAX + 1];
        /* The {team} and {user} segments (api_members.c); empty when not
         * a valid name. */
        char path_team[API_TEAM_NAME_MAX + 1];
        char path_user[API_USER_NAME_MAX + 1];
        /* Set by a handler for the audit log: the team it changed (an
         * operator has none of its own) and the path to record instead of
         * the request's (the member a POST added, with its role). */
        char audit_team_id[AD_UUID_LEN + 1];
        char audit_path[256];
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
        /* secrets.key (keys[0], seals) and secrets.old_keys (open only). */
        struct ad_secret_keyring keys;
        struct api_pool *pool;
        /* The container engine, to show an app's containers and probe them
         * (engine.socket); NULL: replicas are shown as recorded. */
        ad_engine *engine;
        /* The ingress (ingress.*): the apps' URLs and host names (a
         * deployer puts custom domains on the routes: api_domains.c). */
        struct ingress ingress;
        /* api.config_readers: who may read a config value in clear ("*":
         * every caller; else comma-separated token names). */
        char config_readers[512];
        struct {
                api_hook_fn fn;
                void *ud;
        } hooks[API_MAX_HOOKS];
        size_t n_hooks;
        /* api.tokens (operators) and whether a request without a key is
         * served as an anonymous operator (no api.tokens, loopback bind,
         * api.require_auth off). */
        const struct api_tokens *tokens;
        bool anonymous_ok;
        /* api.jwt_keys (n == 0: POST /auth/token is off), issuer,
         * audience and lifetime (api_jwt.h). */
        struct api_jwt_keys jwt;
        /* api.follower_idle_timeout_s: a log stream with no new line for
         * this long ends (0: never). */
        long follower_idle_s;
        /* limits.max_deployments_per_user: live apps per team, 0 for no
         * limit (operators are not limited). */
        long max_apps_per_team;
        /* limits.max_cpu_per_deployment (millicores),
         * limits.max_memory_per_deployment (MiB), limits.max_replicas: 0
         * for no limit (api_quota.c). */
        long max_cpu_millis, max_memory_mb, max_replicas;
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

/* api_host_check.c: the Host header check against DNS rebinding
 * (api.allowed_hosts), a hook added when the API has no tokens or the
 * key is set; call it before the other hooks. */
int api_host_configure(struct api *api, ad_error_t *err);

/* api_limit.c: token buckets per client address (a hook before
 * authentication) and per API key (after it), 429 with Retry-After; the
 * RateLimit-* headers of every reply; the cap on concurrent log
 * followers per key (acquire fills key, "" when not counted; release
 * takes it back when the stream ends). */
#define API_FOLLOWER_KEY_MAX 80
int api_limit_configure(struct api *api, ad_error_t *err);
int api_limit_address_hook(struct api_call *call, void *ud);
int api_limit_token_hook(struct api_call *call, void *ud);
void api_limit_headers(struct api_call *call);
int api_limit_follower_acquire(struct api_call *call, char key[API_FOLLOWER_KEY_MAX]);
void api_limit_follower_release(const char *key);

/* POST /auth/token: an API key's JWT (api_auth.c). */
void api_auth_token(struct api_call *call);

/* api_teams.c: teams, roles and ownership.  api_authorize() runs after
 * the route is matched: the route's role (GET: viewer, a change:
 * deployer, /tokens: admin), then the team's ownership of the {id}
 * deployment or {name} app (404 as if it did not exist).  Returns 0 to go
 * on, < 0 with the reply made. */
int api_authorize(struct api_call *call, const char *method, const char *pattern,
                  const char *route);
/* In the transaction recording a deployment request under app: claims
 * the name for the caller's team when nobody has it, and checks the
 * team's quota of live apps.  1: go on (the team's, or the caller is an
 * operator), 0: another team's or the platform's, 3: a new app over
 * limits.max_deployments_per_user (*live gets the team's count). */
int api_team_claim_app(struct api_call *call, ad_db *db, const char *app, long *live,
                       ad_error_t *err);
/* "$N::uuid IS NULL OR <col> IN (the team's apps)" as a parameter value:
 * the caller's team id, NULL for an operator. */
const char *api_team_param(const struct api_call *call);

/* api_members.c: GET/POST /teams/{team}/members, PATCH/DELETE
 * /teams/{team}/members/{user} (team admins, operators). */
void api_members_list(struct api_call *call);
void api_members_add(struct api_call *call);
void api_members_update(struct api_call *call);
void api_members_remove(struct api_call *call);

/* api_quota.c: the platform's resource quotas at accept time.
 * api_quota_check_release(): a release of app call->name (scale, rollback,
 * config change) running release `version`'s image (0: the running
 * one's) with `web` containers (0: the app's scale): its build's cpu and
 * memory and the replicas against limits.*.  api_quota_check_replicas():
 * a scale alone (what: who asks, for the message).  0 within; < 0 with a
 * 422 reply naming the limit and its value. */
int api_quota_configure(struct api *api, ad_error_t *err);
int api_quota_check_release(struct api_call *call, ad_db *db, unsigned version, unsigned web);
int api_quota_check_replicas(struct api_call *call, long replicas, const char *what);

/* api_repo_url.c: credentials in repository URLs.  seal: dr->repo_url's
 * password sealed in place (0; < 0 replied).  same: whether two URLs of
 * app are the same once opened.  redact_reply: a JSON reply holding a
 * sealed password has every such "repo_url" shown with "***" (api_route
 * runs it after every handler). */
int api_repo_url_seal(struct api_call *call, struct api_deploy_request *dr);
bool api_repo_url_same(struct api_call *call, const char *app, const char *a, const char *b);
void api_repo_url_redact_reply(struct ad_httpd_reply *reply);

/* api_tokens.c: GET/POST /tokens, DELETE /tokens/{id}, GET /whoami. */
void api_tokens_list(struct api_call *call);
void api_tokens_create(struct api_call *call);
void api_tokens_delete(struct api_call *call);
void api_whoami(struct api_call *call);

/* Creates an API key of team (a name) for the API and `adapi admin`:
 * user "" for none (else a member, whose role caps the key's), ttl_s 0
 * for no expiry.  Fills key (shown once, never stored), id and expires
 * ("" for never).  AD_ERR_NOT_FOUND: no such team or member;
 * AD_ERR_CONFLICT: the team has a key of that name; AD_ERR_INVALID: the
 * role is above the user's. */
int api_key_create(ad_db *db, const struct api_token_create *req, const char *created_by,
                   char key[API_KEY_LEN + 1], char id[AD_UUID_LEN + 1], char expires[32],
                   ad_error_t *err);

/* api_audit.c: the audit log.  api_audit_record() runs after every
 * request's handler (it records changes only); api_audit_admin() records
 * an `adapi admin` command; GET /audit lists a team's entries. */
void api_audit_record(struct api_call *call);
int api_audit_admin(ad_db *db, const char *action, const char *team, const char *target,
                    ad_error_t *err);
void api_audit_list(struct api_call *call);

/* api_admin.c: `adapi admin ...` (argv[0] is "admin"); the exit code. */
int api_admin_main(int argc, char **argv);

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

/* The text in column `column` of row 0 of r, by name (a document built by
 * PostgreSQL, `... AS column`): points into r.  AD_ERR_GENERIC when r has
 * no such column or no row. */
int api_db_text(const PGresult *r, const char *column, const char **text, ad_error_t *err);

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

/* api_domains.c: /apps/{name}/domains. */
void api_domains_list(struct api_call *call);
void api_domains_add(struct api_call *call);
void api_domains_remove(struct api_call *call);
void api_domains_allowed(struct api_call *call);

/* api_run.c: POST /apps/{name}/run. */
void api_apps_run(struct api_call *call);

/* api_timeline.c: adds a deployment's "timeline", "hops" and
 * "hops_total_ms" (docs/api.md) to doc, from its request and the events
 * the coordinator applied. */
int api_timeline(ad_db *db, const char *id, json_t *doc, ad_error_t *err);

/* The outbox relay (api_relay.c): a thread that publishes pending rows
 * every second, and an immediate pass after a request commits. */
int api_relay_start(struct api *api, ad_error_t *err);
void api_relay_stop(struct api *api);
void api_relay_now(struct api *api, ad_db *db);

/* `adapi secrets ...` (api_secrets.c): argv[1] is "secrets".  Returns the
 * process's exit status. */
int api_secrets_main(int argc, char **argv);

/* api_app_logs.c: follows the app call->name's stored runtime log (its
 * row checked), the last `tail` lines first: SSE, or a WebSocket when the
 * request asks for the upgrade. */
void api_app_logs_follow(struct api_call *call, long tail);

#endif
