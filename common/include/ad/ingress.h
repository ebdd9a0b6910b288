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

/* The keys ingress_load() reads, for ad_service_options.config. */
extern const struct ad_config_key ingress_config[];

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

/* Custom domains (issue 15) are more hosts on the app's own route: the
 * match of the route and of its "-tls" twin becomes [{"host": hosts}]
 * (the platform host first).  Only the match is written, so a release
 * switch (which writes the handle) keeps them, and removing the route
 * removes them.  Routes that do not exist are left so. */
int ingress_route_hosts(ad_caddy *caddy, const char *route_id, const json_t *hosts,
                        ad_error_t *err);

/* Makes the "-tls" twin of route_id on the TLS server, a copy of the route
 * (an app with a custom domain is served over TLS even when ingress.tls is
 * off); nothing when the route does not exist or the twin does. */
int ingress_tls_twin_ensure(ad_caddy *caddy, const struct ingress *in, const char *route_id,
                            ad_error_t *err);

/* The placeholder a route shows until a release is healthy: 503. */
json_t *ingress_placeholder(void);

#endif
