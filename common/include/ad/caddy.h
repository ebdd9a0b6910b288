/* A client for caddy's admin API: the ingress routes of the apps.
 *
 * Routes are addressed by their "@id" (caddy's /id/<id> paths), and added
 * by POSTing to /config/apps/http/servers/<server>/routes.  Values are
 * jansson objects; functions borrow them (never steal a reference) and
 * hand out new references the caller json_decref()s.
 *
 * Caddy facts this client deals with (caddy 2.6):
 *  - caddy accepts two objects with the same @id, and /id/<id> then
 *    reaches only one of them: ad_caddy_route_ensure() never creates a
 *    second one (it appends under If-Match on the routes array, so
 *    concurrent ensures cannot both append), and ad_caddy_delete()
 *    removes every copy.
 *  - caddy's ETag is "<path> <FNV-1a 32 of the body>", sent as a trailer:
 *    it is computed here from the body read.
 *  - every change reloads the whole configuration gracefully: listeners
 *    are kept and requests in flight finish, so a route switch loses no
 *    request.
 *
 * Errors: caddy unreachable AD_ERR_UNAVAILABLE/AD_ERR_TIMEOUT, unknown id or
 * path AD_ERR_NOT_FOUND, If-Match mismatch AD_ERR_CONFLICT, a rejected
 * value AD_ERR_INVALID, with caddy's own message.
 */
#ifndef AD_CADDY_H
#define AD_CADDY_H

#include <jansson.h>
#include <stdbool.h>

#include "ad/error.h"

/* Response header naming the deployment a route proxies to (set by the
 * handler ad_caddy_handler_proxy() builds). */
#define AD_CADDY_DEPLOYMENT_HEADER "X-Ad-Deployment"

typedef struct ad_caddy ad_caddy;

/* admin_url: "http://127.0.0.1:2019", or "unix:///PATH" for an admin API on
 * a unix socket (caddy's admin "listen": "unix//PATH", with "origins":
 * ["localhost"]: requests carry Host: localhost); no request is made. */
int ad_caddy_open(ad_caddy **out, const char *admin_url, ad_error_t *err);
void ad_caddy_close(ad_caddy *c);

/* GET /id/<id>[/<subpath>]. */
int ad_caddy_get(ad_caddy *c, const char *id, const char *subpath, json_t **out, ad_error_t *err);

/* PUT /id/<id>/<subpath>: inserts into an array or creates a key (caddy
 * refuses to overwrite with PUT). */
int ad_caddy_put(ad_caddy *c, const char *id, const char *subpath, const json_t *value,
                 ad_error_t *err);

/* PATCH /id/<id>[/<subpath>]: replaces what is there. */
int ad_caddy_patch(ad_caddy *c, const char *id, const char *subpath, const json_t *value,
                   ad_error_t *err);

/* Deletes every object with @id; AD_ERR_NOT_FOUND when there was none. */
int ad_caddy_delete(ad_caddy *c, const char *id, ad_error_t *err);

/* The routes array of an HTTP server (an empty array when it has none)
 * and, optionally, its ETag for ad_caddy_route_append(). */
int ad_caddy_routes(ad_caddy *c, const char *server, json_t **routes, char **etag, ad_error_t *err);

/* POST a route to the server's routes; if_match (optional) makes caddy
 * refuse (AD_ERR_CONFLICT) when the routes changed since that ETag. */
int ad_caddy_route_append(ad_caddy *c, const char *server, const json_t *route,
                          const char *if_match, ad_error_t *err);

/* Adds route (which carries an "@id") to server unless a route with that
 * @id exists anywhere; *created (optional) tells which.  Safe against
 * concurrent callers. */
int ad_caddy_route_ensure(ad_caddy *c, const char *server, const json_t *route, bool *created,
                          ad_error_t *err);

/* {"@id": id, "match": [{"host": [host]}], "handle": [handler], "terminal": true} */
json_t *ad_caddy_route_new(const char *id, const char *host, const json_t *handler);

/* A static_response handler; headers: "Name: value" strings, may be NULL. */
json_t *ad_caddy_handler_static(int status, const char *body, const char *const *headers);

/* A reverse_proxy handler to dial ("127.0.0.1:32768") that tags its
 * responses with AD_CADDY_DEPLOYMENT_HEADER: deployment_id (when given). */
json_t *ad_caddy_handler_proxy(const char *dial, const char *deployment_id);

/* Reads what a route (or its handle array) proxies to: the
 * reverse_proxy's upstreams (an array of {"dial": "host:port"}) and the
 * deployment tag; NULL when it does not proxy.  Both belong to the JSON
 * value. */
const json_t *ad_caddy_route_upstreams(const json_t *route_or_handle);
const char *ad_caddy_route_deployment(const json_t *route_or_handle);

/* Caddy's ETag of a body read from path (exposed for tests). */
char *ad_caddy_etag(const char *path, const char *body, size_t len);

#endif
