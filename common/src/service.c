#include "ad/service.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/log.h"
#include "ad/metrics.h"
#include "ad/probe_server.h"
#include "ad/random.h"
#include "ad/redact.h"

/* Set by the signal handler, read from every thread: lock-free atomics
 * are safe in both places. */
static atomic_int stop_requested;

const struct ad_config_key ad_service_common_config[] = {
        { "log.level", AD_CONFIG_STRING, "info", 0, 0, "`debug`, `info`, `warn` or `error`", NULL },
        { "nats.url", AD_CONFIG_URL, "nats://127.0.0.1:4222", 0, 0, "NATS server(s) with JetStream",
          NULL },
        { "nats.replicas", AD_CONFIG_INT, "1", 1, 5, "copies of the DEPLOY stream (3 on a cluster)",
          NULL },
        { "nats.connect_timeout_s", AD_CONFIG_INT, "30", 0, 3600,
          "keep retrying (with backoff) at start-up for this long, then exit 1", NULL },
        { "database.url", AD_CONFIG_URL, "postgresql://127.0.0.1:5432/appdeployer", 0, 0,
          "libpq connection string or URI", NULL },
        { "database.connect_timeout_s", AD_CONFIG_INT, "30", 0, 3600, "as for NATS", NULL },
        { "http.bind", AD_CONFIG_STRING, "127.0.0.1", 0, 0,
          "address of `/healthz`, `/metrics` (and the API)", NULL },
        /* The default is the service's own (ad_service_default_port). */
        { "http.port", AD_CONFIG_INT, NULL, 0, 65535,
          "api 8080, coordinator 9101, analyzer 9102, builder 9103, provisioner 9104, deployer "
          "9105; `0` picks a free port (logged in the `ready` line)",
          "per service" },
        AD_CONFIG_END,
};

/* The keys of the secrets that seal env values and repository URL
 * credentials: listed by the services that seal or open them. */
const struct ad_config_key ad_service_secrets_config[] = {
        { "secrets.key", AD_CONFIG_SECRET, NULL, 0, 0,
          "64 hex characters: the key that seals env values and the credentials of repository "
          "URLs (api; the deployer opens env values, the analyzer and builder URL credentials)",
          NULL },
        { "secrets.old_keys", AD_CONFIG_SECRET, NULL, 0, 0,
          "comma-separated older keys (64 hex characters each, up to 7) that still open what they "
          "sealed while `adapi secrets rotate` moves stored values to `secrets.key` (api, "
          "deployer, analyzer, builder; docs/security.md)",
          "`\"\"`" },
        AD_CONFIG_END,
};

/* The per-deployment limits: checked by the analyzer when a deployment is
 * analyzed, and by the API when it accepts a release made without one. */
const struct ad_config_key ad_service_limits_config[] = {
        { "limits.max_cpu_per_deployment", AD_CONFIG_STRING, "0", 0, 0,
          "cores per container a deployment may ask for (`2`, `500m`): a `deployer.yaml` (or "
          "the analysis' estimate) asking more fails the analyze step, before any build, "
          "naming the limit and its value; the API (set it there too) refuses with 422 a "
          "scale, rollback or config change whose release's image was built asking more. "
          "`0`: no limit",
          NULL },
        { "limits.max_memory_per_deployment", AD_CONFIG_INT, "0", 0, 1 << 24,
          "MiB per container a deployment may ask for; more fails the analyze step, and the "
          "API refuses such a release, as for cpu. `0`: no limit",
          NULL },
        { "limits.max_replicas", AD_CONFIG_INT, "0", 0, 1000,
          "containers a deployment may ask for (`replicas` and `autoscaling.max` in "
          "`deployer.yaml`, or the scale a redeploy keeps); more fails the analyze step as for "
          "cpu; the API refuses with 422 a scale above it, and a redeploy, rollback or config "
          "change keeping a scale above it (`deployer.max_replicas` bounds `adctl scale` too). "
          "`0`: no limit",
          NULL },
        AD_CONFIG_END,
};

void ad_service_log_engine_repair(const char *image_id, const char *error, void *ud)
{
        (void)ud;
        if (error)
                ad_log(AD_LOG_ERROR,
                       "a half-written image in the engine's store could not be removed; "
                       "calls that meet it fail until it is (podman rmi)",
                       "image_id", image_id, "error", error, NULL);
        else
                ad_log(AD_LOG_WARN,
                       "removed a half-written image from the engine's store (an engine "
                       "stopped while writing it); the call that met it was repeated",
                       "image_id", image_id, NULL);
}

int ad_service_default_port(const char *name)
{
        static const struct {
                const char *name;
                int port;
        } ports[] = {
                { "api", 8080 },     { "coordinator", 9101 }, { "analyzer", 9102 },
                { "builder", 9103 }, { "provisioner", 9104 }, { "deployer", 9105 },
        };

        for (size_t i = 0; i < AD_ARRAY_SIZE(ports); i++)
                if (strcmp(ports[i].name, name) == 0)
                        return ports[i].port;
        return 0;
}

bool ad_service_stopping(void)
{
        return atomic_load(&stop_requested) != 0;
}

void ad_service_request_stop(void)
{
        atomic_store(&stop_requested, 1);
}

static void on_signal(int sig)
{
        (void)sig;
        atomic_store(&stop_requested, 1);
}

static void install_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        /* Interrupted by a signal: return early, the caller checks. */
        nanosleep(&ts, NULL);
}

static void usage(FILE *f, const char *name)
{
        fprintf(f,
                "Usage: ad%s [--config PATH] [--check-config]\n"
                "\n"
                "The app-deployer %s service.\n"
                "\n"
                "  -c, --config PATH   configuration file (default: $AD_CONFIG; none: environment "
                "only)\n"
                "      --check-config  validate the configuration and exit\n"
                "      --print-config  print every key, its value and where it came from\n"
                "      --config-doc    print the keys as docs/configuration.md's table rows\n"
                "  -h, --help          show this help\n"
                "  -V, --version       show the version\n"
                "\n"
                "Every configuration key can be set by an environment variable:\n"
                "nats.url -> AD_NATS_URL, database.url -> AD_DATABASE_URL, http.port -> "
                "AD_HTTP_PORT.\n",
                name, name);
}

/* GnuTLS initialises itself in a library constructor: about 0.8 MiB of
 * every process that loads it, and every service does (libpq and libcurl
 * pull it in through libldap and librtmp, which call gnutls_global_init()
 * themselves if they ever use it; the services do not).  Only the
 * environment at exec time can skip that, so a worker runs itself again
 * once with GNUTLS_NO_IMPLICIT_INIT=1, then drops the variable so that
 * the programs it starts do not inherit it.  Left alone when the variable
 * is already set, or without /proc (the exec fails: nothing changes). */
#define REEXEC_MARK "AD_GNUTLS_REEXEC"

static void skip_gnutls_init(char **argv)
{
        if (getenv(REEXEC_MARK)) {
                unsetenv(REEXEC_MARK);
                unsetenv("GNUTLS_NO_IMPLICIT_INIT");
                return;
        }
        if (getenv("GNUTLS_NO_IMPLICIT_INIT") || argv == NULL || argv[0] == NULL)
                return;
        if (setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) == 0 && setenv(REEXEC_MARK, "1", 1) == 0)
                execv("/proc/self/exe", argv);
        unsetenv(REEXEC_MARK);
        unsetenv("GNUTLS_NO_IMPLICIT_INIT");
}

static void init_tables(struct ad_service *svc)
{
        size_t n = 0;

        svc->tables[n++] = ad_service_common_config;
        for (size_t i = 0;
             svc->opts.config && svc->opts.config[i] && n + 1 < AD_ARRAY_SIZE(svc->tables); i++)
                svc->tables[n++] = svc->opts.config[i];
        svc->tables[n] = NULL;
}

static int check_keys(struct ad_service *svc, ad_error_t *err)
{
        return ad_config_check_tables(svc->cfg, svc->tables, svc->opts.known_keys, err);
}

int ad_service_config_int(struct ad_service *svc, const char *key, long def, long min, long max,
                          long *out, ad_error_t *err)
{
        return ad_config_int(svc->cfg, key, def, min, max, out, err);
}

static void health_route(const struct ad_httpd_request *req, struct ad_httpd_reply *reply, void *ud)
{
        struct ad_service *svc = ud;

        if (strcmp(req->path, "/healthz") == 0) {
                bool nats_ok = !svc->opts.needs_bus || ad_bus_connected(svc->bus);
                /* The db handle is not thread-safe: report the state
                 * libpq last saw instead of querying from this thread. */
                bool db_ok = !svc->opts.needs_db ||
                             (svc->db && PQstatus(ad_db_conn(svc->db)) == CONNECTION_OK);
                bool ok = nats_ok && db_ok && !ad_service_stopping();
                json_t *body = json_pack("{s:s,s:s,s:s}", "status", ok ? "ok" : "unavailable",
                                         "service", svc->name, "instance", svc->instance_id);

                if (svc->opts.needs_bus)
                        json_object_set_new(body, "nats",
                                            json_string(nats_ok ? "connected" : "disconnected"));
                if (svc->opts.needs_db)
                        json_object_set_new(body, "database",
                                            json_string(db_ok ? "connected" : "disconnected"));
                ad_httpd_reply_json(reply, ok ? 200 : 503, body);
                return;
        }
        if (strcmp(req->path, "/metrics") == 0) {
                char *text = ad_metrics_render();
                ad_httpd_reply_text(reply, 200, "text/plain; version=0.0.4", text ? text : "");
                free(text);
                return;
        }
        if (svc->opts.route) {
                svc->opts.route(svc, req, reply);
                return;
        }
        ad_httpd_reply_error(reply, 404, "not_found", "no such path: %s", req->path);
}

/* Retries `connect` with exponential backoff until it succeeds, the
 * deadline passes, or a stop is requested. */
static int connect_with_retry(struct ad_service *svc, const char *what, const char *timeout_key,
                              int (*connect)(struct ad_service *, ad_error_t *), ad_error_t *err)
{
        long timeout_s, delay = 250;
        int64_t deadline;
        int ret;

        ret = ad_config_get_int(svc->cfg, svc->tables, timeout_key, &timeout_s, err);
        if (ret < 0)
                return ret;
        deadline = ad_monotonic_ms() + timeout_s * 1000;
        for (int attempt = 1;; attempt++) {
                cleanup_error ad_error_t cerr = NULL;
                char n[16];

                ret = connect(svc, &cerr);
                if (ret == 0)
                        return 0;
                if (ad_monotonic_ms() + delay > deadline || ad_service_stopping()) {
                        ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                            "%s unreachable after %d attempts in %lds: %s", what,
                                            attempt, timeout_s, ad_error_message(cerr));
                        return ret;
                }
                snprintf(n, sizeof(n), "%d", attempt);
                ad_log(AD_LOG_WARN, "dependency unreachable, retrying with backoff", "dependency",
                       what, "attempt", n, "error", ad_error_message(cerr), NULL);
                sleep_ms(delay);
                delay = delay * 2 > 5000 ? 5000 : delay * 2;
        }
}

/* Creates (or finds) the DEPLOY stream.  A cluster electing a leader
 * answers with a retryable error for a few seconds: wait for it, within
 * nats.connect_timeout_s; any other error is reported at once. */
static int ensure_stream(struct ad_service *svc, int replicas, ad_error_t *err)
{
        long timeout_s, delay = 250;
        int64_t deadline;
        int ret;

        ret = ad_config_get_int(svc->cfg, svc->tables, "nats.connect_timeout_s", &timeout_s, err);
        if (ret < 0)
                return ret;
        deadline = ad_monotonic_ms() + timeout_s * 1000;
        for (;;) {
                ret = ad_bus_ensure_stream(svc->bus, replicas, err);
                if (ret == 0 || !ad_error_is_retryable(*err) ||
                    ad_monotonic_ms() + delay > deadline || ad_service_stopping())
                        return ret;
                ad_log(AD_LOG_WARN, "the DEPLOY stream is not available yet, retrying", "error",
                       ad_error_message(*err), NULL);
                ad_error_release(err);
                sleep_ms(delay);
                delay = delay * 2 > 5000 ? 5000 : delay * 2;
        }
}

static int connect_bus(struct ad_service *svc, ad_error_t *err)
{
        char client[96];

        snprintf(client, sizeof(client), "ad%s-%s", svc->name, svc->instance_id);
        return ad_bus_connect(&svc->bus, ad_config_get_string(svc->cfg, svc->tables, "nats.url"),
                              client, err);
}

static int connect_db(struct ad_service *svc, ad_error_t *err)
{
        return ad_db_connect(&svc->db, ad_config_get_string(svc->cfg, svc->tables, "database.url"),
                             err);
}

/* The migrations; a role that may not apply them (the analyzer's in the
 * stack) waits, within database.connect_timeout_s, until another service
 * has. */
static int migrate_with_wait(struct ad_service *svc, int *applied, ad_error_t *err)
{
        long timeout_s, delay = 250;
        int64_t deadline;
        int ret;

        ret = ad_config_get_int(svc->cfg, svc->tables, "database.connect_timeout_s", &timeout_s,
                                err);
        if (ret < 0)
                return ret;
        deadline = ad_monotonic_ms() + timeout_s * 1000;
        for (;;) {
                cleanup_error ad_error_t cerr = NULL;

                ret = ad_db_migrate(svc->db, ad_migrations, ad_migrations_count, applied, &cerr);
                if (ret == 0)
                        return 0;
                if (cerr->kind != AD_ERR_UNAVAILABLE || ad_monotonic_ms() + delay > deadline ||
                    ad_service_stopping()) {
                        if (err)
                                *err = TAKE_PTR(cerr);
                        return ret;
                }
                ad_log(AD_LOG_WARN, "waiting for the database migrations", "error",
                       ad_error_message(cerr), NULL);
                sleep_ms(delay);
                delay = delay * 2 > 5000 ? 5000 : delay * 2;
        }
}

static int fail(struct ad_service *svc, int code, const char *what, ad_error_t *err)
{
        ad_log(AD_LOG_ERROR, what, "error", ad_error_message(*err), NULL);
        ad_error_release(err);
        ad_service_stop(svc);
        return code;
}

int ad_service_start(struct ad_service *svc, const char *name, int argc, char **argv,
                     const struct ad_service_options *opts)
{
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 'k' },
                { "print-config", no_argument, NULL, 'p' },
                { "config-doc", no_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        cleanup_error ad_error_t err = NULL;
        struct ad_httpd_options hopts = { 0 };
        enum ad_log_level level = AD_LOG_INFO;
        bool check_only = false, print_config = false;
        long port, replicas;
        int c, applied = 0;
        char uuid[AD_UUID_LEN + 1];

        /* The API's libmicrohttpd initialises GnuTLS anyway (MHD_init). */
        if (opts->http_server == NULL)
                skip_gnutls_init(argv);
        /* Before any thread: glibc gives each thread that allocates an
         * arena of its own (up to 8 per core), each keeping its free
         * memory; a service's threads mostly wait on the network, and two
         * arenas hold what they allocate with less idle and peak RSS
         * (docs/benchmarks.md).  MALLOC_ARENA_MAX in the environment still
         * decides. */
        if (getenv("MALLOC_ARENA_MAX") == NULL)
                mallopt(M_ARENA_MAX, 2);
        memset(svc, 0, sizeof(*svc));
        svc->name = name;
        svc->opts = *opts;
        init_tables(svc);
        ad_uuid_v4(uuid);
        /* A short id is enough to tell replicas apart in logs. */
        snprintf(svc->instance_id, sizeof(svc->instance_id), "%.8s", uuid);
        ad_log_init(name, AD_LOG_INFO);
        /* Before the bus connects: cnats seeds its NUIDs with RAND_bytes
         * (ad/random.h). */
        if (ad_random_use_kernel_for_openssl() < 0)
                ad_log(AD_LOG_WARN,
                       "OpenSSL refused the kernel's random generator; keeping its own", NULL);
        svc->config_path = getenv("AD_CONFIG");

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        svc->config_path = optarg;
                        break;
                case 'k':
                        check_only = true;
                        break;
                case 'p':
                        print_config = true;
                        break;
                case 'd':
                        ad_config_print_doc(stdout, svc->tables);
                        return -1;
                case 'h':
                        usage(stdout, name);
                        return -1;
                case 'V':
                        printf("ad%s %s\n", name, "0.1.0");
                        return -1;
                default:
                        usage(stderr, name);
                        return AD_EXIT_CONFIG;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ad%s: unexpected argument `%s`\n", name, argv[optind]);
                usage(stderr, name);
                return AD_EXIT_CONFIG;
        }

        if (ad_config_load(&svc->cfg, svc->config_path, &err) < 0 || check_keys(svc, &err) < 0)
                return fail(svc, AD_EXIT_CONFIG, "invalid configuration", &err);
        if (ad_log_level_parse(ad_config_get_string(svc->cfg, svc->tables, "log.level"), &level) <
            0) {
                ad_error_make(&err, AD_ERR_INVALID, 0,
                              "key `log.level`: expected debug, info, warn or error, got `%s`",
                              ad_config_string(svc->cfg, "log.level", ""));
                return fail(svc, AD_EXIT_CONFIG, "invalid configuration", &err);
        }
        ad_log_init(name, level);
        if (ad_config_int(svc->cfg, "http.port", opts->default_http_port, 0, 65535, &port, &err) <
                    0 ||
            ad_config_get_int(svc->cfg, svc->tables, "nats.replicas", &replicas, &err) < 0)
                return fail(svc, AD_EXIT_CONFIG, "invalid configuration", &err);
        if (print_config) {
                ad_config_print(stdout, svc->cfg, svc->tables);
                ad_service_stop(svc);
                return -1;
        }
        if (check_only) {
                printf("configuration OK\n");
                ad_service_stop(svc);
                return -1;
        }

        install_signals();
        hopts.bind = ad_config_get_string(svc->cfg, svc->tables, "http.bind");
        hopts.port = (int)port;
        hopts.max_body = opts->max_body;
        hopts.tls_cert_file = opts->tls_cert_file;
        hopts.tls_key_file = opts->tls_key_file;
        hopts.max_conns_per_ip = opts->max_conns_per_ip;
        /* Through the pointer only: a worker's binary links no
         * libmicrohttpd (and so no GnuTLS initialised at load). */
        svc->http_server = opts->http_server ? opts->http_server : &ad_probe_http_server;
        if (svc->http_server->start(&svc->http, &hopts, health_route, svc, &err) < 0)
                return fail(svc, AD_EXIT_FAILURE, "cannot start the HTTP server", &err);

        if (opts->needs_bus) {
                if (connect_with_retry(svc, "NATS", "nats.connect_timeout_s", connect_bus, &err) <
                    0)
                        return fail(svc, AD_EXIT_FAILURE, "cannot connect to NATS", &err);
                if (ensure_stream(svc, (int)replicas, &err) < 0)
                        return fail(svc, AD_EXIT_FAILURE, "cannot set up the DEPLOY stream", &err);
        }
        if (opts->needs_db) {
                if (connect_with_retry(svc, "PostgreSQL", "database.connect_timeout_s", connect_db,
                                       &err) < 0)
                        return fail(svc, AD_EXIT_FAILURE, "cannot connect to PostgreSQL", &err);
                if (migrate_with_wait(svc, &applied, &err) < 0)
                        return fail(svc, AD_EXIT_FAILURE, "cannot apply database migrations", &err);
        }

        svc->migrations_applied = applied;
        if (!opts->ready_later)
                ad_service_ready(svc);
        return 0;
}

void ad_service_ready(struct ad_service *svc)
{
        json_t *f = json_pack("{s:s,s:i}", "instance", svc->instance_id, "http_port",
                              svc->http ? svc->http_server->port(svc->http) : 0);
        char *nats = ad_redact_url(ad_config_get_string(svc->cfg, svc->tables, "nats.url"));
        char *db = ad_redact_url(ad_config_get_string(svc->cfg, svc->tables, "database.url"));

        if (svc->opts.needs_bus)
                json_object_set_new(f, "nats", json_string(nats ? nats : ""));
        if (svc->opts.needs_db) {
                json_object_set_new(f, "database", json_string(db ? db : ""));
                json_object_set_new(f, "migrations_applied", json_integer(svc->migrations_applied));
        }
        free(nats);
        free(db);
        ad_log_json(AD_LOG_INFO, "ready", f);
}

void ad_service_stop(struct ad_service *svc)
{
        if (svc->http)
                svc->http_server->stop(svc->http);
        svc->http = NULL;
        ad_bus_close(svc->bus);
        svc->bus = NULL;
        ad_db_close(svc->db);
        svc->db = NULL;
        ad_config_free(svc->cfg);
        svc->cfg = NULL;
}

int ad_service_run_consumers(struct ad_service *svc, struct ad_consumer *consumers, size_t n)
{
        cleanup_error ad_error_t err = NULL;

        if (ad_bus_run(svc->bus, consumers, n, ad_service_stopping, &err) < 0) {
                ad_log(AD_LOG_ERROR, "consumer loop failed", "error", ad_error_message(err), NULL);
                return AD_EXIT_FAILURE;
        }
        return AD_EXIT_OK;
}

void ad_service_wait(void)
{
        while (!ad_service_stopping())
                sleep_ms(200);
}

int ad_service_main_idle(const char *name, int argc, char **argv)
{
        struct ad_service svc;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port(name),
        };
        int ret = ad_service_start(&svc, name, argc, argv, &opts);

        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        ad_service_wait();
        ad_log(AD_LOG_INFO, "stopping", "reason", "signal", NULL);
        ad_service_stop(&svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return AD_EXIT_OK;
}
