/* The ingress as the provisioner and the deployer see it: where caddy
 * listens, what host and URL an app gets, and its routes (one per app on
 * the `apps` server, a second one with @id "<route id>-tls" on the TLS
 * server when TLS is on: caddy @ids are unique across its config).
 * Part of the `adingress` library (common/), next to the caddy client it
 * drives; the provisioner and the deployer link it. */
#ifndef AD_INGRESS_H
#define AD_INGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/caddy.h"
#include "ad/config.h"
#include "ad/error.h"

/* Config keys read by ingress_load(), for ad_service_options.known_keys. */
#define INGRESS_CONFIG_KEYS                                                                        \
        "engine.socket", "caddy.admin_url", "caddy.server", "caddy.tls_server",                    \
                "ingress.base_domain", "ingress.tls", "ingress.http_port", "ingress.https_port",   \
                "ingress.address"

#define INGRESS_HOST_MAX 256
#define INGRESS_ROUTE_ID_MAX 80

struct ingress {
        const char *engine_socket;
        const char *caddy_admin_url;
        const char *server;     /* caddy HTTP server for plain HTTP, "apps" */
        const char *tls_server; /* for HTTPS, "apps_tls" */
        const char *base_domain;
        const char *address; /* what clients connect to, 127.0.0.1 */
        bool tls;
        long http_port;
        long https_port;
};

/* Reads the keys above (strings borrowed from cfg). */
int ingress_load(struct ingress *in, const ad_config *cfg, ad_error_t *err);

/* "<app>.<base domain>" */
void ingress_host(char out[INGRESS_HOST_MAX], const struct ingress *in, const char *app);

/* "http://<host>:<port>/" (https and the TLS port when tls); the default
 * port is left out. */
char *ingress_url(const struct ingress *in, const char *host, bool tls);

/* The TLS twin of a route id: "<route id>-tls". */
void ingress_tls_route_id(char out[INGRESS_ROUTE_ID_MAX], const char *route_id);

/* Creates the app's route(s) with `handler` where missing; routes present
 * are left alone.  *created (optional): whether the plain one was made. */
int ingress_route_ensure(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                         const char *host, bool tls, const json_t *handler, bool *created,
                         ad_error_t *err);

/* Points the app's route(s) at handler, creating them when missing. */
int ingress_route_set(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                      const char *host, bool tls, const json_t *handler, ad_error_t *err);

/* Deletes the app's route(s); routes already gone are fine. */
int ingress_route_remove(ad_caddy *caddy, const char *route_id, ad_error_t *err);

/* The placeholder a route shows until a release is healthy: 503. */
json_t *ingress_placeholder(void);

#endif
