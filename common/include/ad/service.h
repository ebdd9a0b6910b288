/* What every service does around its own work: read the configuration,
 * log as JSON, connect to NATS and PostgreSQL (retrying with backoff while
 * they come up), apply migrations, answer /healthz and /metrics on its own
 * port (the probe server, or the API's libmicrohttpd server), and stop
 * cleanly on SIGTERM.
 *
 * Exit codes: 0 clean stop, 1 a dependency stayed unreachable or a
 * runtime failure, 2 bad command line or configuration.
 */
#ifndef AD_SERVICE_H
#define AD_SERVICE_H

#include <stdbool.h>

#include "ad/bus.h"
#include "ad/config.h"
#include "ad/db.h"
#include "ad/error.h"
#include "ad/httpd.h"

#define AD_EXIT_OK 0
#define AD_EXIT_FAILURE 1
#define AD_EXIT_CONFIG 2

struct ad_service;

/* Extra /healthz detail and routes a service may add to its own port. */
typedef void (*ad_service_route_fn)(struct ad_service *svc, const struct ad_httpd_request *req,
                                    struct ad_httpd_reply *reply);

struct ad_service_options {
        bool needs_bus;
        bool needs_db;
        int default_http_port;
        /* The service's configuration tables (NULL-terminated), on top of
         * the common one (ad_service_common_config): declared keys, with
         * defaults, bounds and docs (ad/config.h). */
        const struct ad_config_key *const *config;
        /* Keys of a service not yet declared in a table (NULL-terminated);
         * an unknown key in config.yaml is an error. */
        const char *const *known_keys;
        /* Called for paths other than /healthz and /metrics (the API's
         * whole REST surface); NULL: 404.  Needs http_server =
         * &ad_httpd_server: the probe server's requests carry no headers,
         * query or body (req->conn is NULL). */
        ad_service_route_fn route;
        size_t max_body;
        /* Serve HTTPS from these PEM files (the API's api.tls_cert_file
         * and api.tls_key_file); NULL or "": plain HTTP. */
        const char *tls_cert_file;
        const char *tls_key_file;
        /* The server of the service's port: NULL, the probe server
         * (ad/probe_server.h: GET and HEAD of /healthz and /metrics, no
         * libmicrohttpd linked); &ad_httpd_server for the API, whose
         * routes need bodies, streams, upgrades and TLS. */
        const struct ad_http_server *http_server;
        /* Concurrent connections one client address may hold (the API's
         * api.max_connections_per_address); 0: no cap. */
        unsigned max_conns_per_ip;
        /* The service has more to set up after ad_service_start (the
         * API's pool and relay): "ready" is logged by its own
         * ad_service_ready() call, so nobody sends it requests too soon. */
        bool ready_later;
};

struct ad_service {
        const char *name;
        char instance_id[40];
        const char *config_path;
        ad_config *cfg;
        ad_bus *bus;
        ad_db *db;
        const struct ad_http_server *http_server; /* opts.http_server or the probe server */
        void *http;                               /* its handle */
        struct ad_service_options opts;
        /* The common table, then opts.config's: what ad_config_get_*
         * reads through (ad_service_start fills it). */
        const struct ad_config_key *tables[8];
        void *userdata;
        long migrations_applied; /* by ad_service_start, for the ready line */
};

/* The keys every service reads (log, nats, database, http). */
extern const struct ad_config_key ad_service_common_config[];
/* secrets.key and secrets.old_keys, for the services that use them. */
extern const struct ad_config_key ad_service_secrets_config[];
/* limits.max_cpu_per_deployment, _memory_, max_replicas (analyzer, api). */
extern const struct ad_config_key ad_service_limits_config[];

/* Parses argv (--config PATH, --check-config, --print-config, --config-doc,
 * --help, --version), loads the
 * configuration and connects.  On failure logs the reason and returns the
 * exit code to use (> 0); 0 when started; -1 when the process should exit
 * 0 at once (--help, --version, --check-config succeeded). */
int ad_service_start(struct ad_service *svc, const char *name, int argc, char **argv,
                     const struct ad_service_options *opts);

/* Logs the one "ready" line (instance, port, NATS and database URLs
 * redacted, migrations applied) that scripts and operators wait for:
 * called by ad_service_start unless opts.ready_later, else by the service
 * once it accepts work. */
void ad_service_ready(struct ad_service *svc);

/* Disconnects and frees; safe on a partly started service. */
void ad_service_stop(struct ad_service *svc);

/* An ad_engine_repair_fn that logs: a warning for each half-written image
 * removed from the engine's store, an error when the removal failed. */
void ad_service_log_engine_repair(const char *image_id, const char *error, void *ud);

/* The default /healthz port of each service (api 8080, coordinator 9101,
 * analyzer 9102, builder 9103, provisioner 9104, deployer 9105). */
int ad_service_default_port(const char *name);

bool ad_service_stopping(void);
void ad_service_request_stop(void);

/* Runs consumers until SIGTERM; returns an exit code. */
int ad_service_run_consumers(struct ad_service *svc, struct ad_consumer *consumers, size_t n);

/* Blocks until SIGTERM/SIGINT (services whose work runs on other threads). */
void ad_service_wait(void);

/* A placeholder main for services whose event handling is not yet
 * written: starts (config, NATS, PostgreSQL, /healthz), waits for SIGTERM. */
int ad_service_main_idle(const char *name, int argc, char **argv);

/* Reads an integer config key, logging and returning AD_EXIT_CONFIG-ready
 * errors through err. */
int ad_service_config_int(struct ad_service *svc, const char *key, long def, long min, long max,
                          long *out, ad_error_t *err);

#endif
