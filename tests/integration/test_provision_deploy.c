/* adprovisioner + addeployer against the real stack (NATS, PostgreSQL,
 * podman, the registry, caddy), run as subprocesses the way they run in
 * production.  The tests share one app (a unique name) and run in order:
 *
 *   deploy_v1            deploy.built -> provisioned -> exposed; the URL serves
 *                        v1 through caddy (HTTP and HTTPS); the container runs
 *                        as 10001 with no capabilities, no-new-privileges, its
 *                        memory limit, its half cpu (it started with two,
 *                        deployer.startup_cpus, lowered once it answered),
 *                        a sealed env value opened: one sealed
 *                        under an old key, then re-sealed by `adapi secrets
 *                        rotate`, the deployer knowing only the new key
 *   redelivery_reuses    the same deployment provisioned again: same container
 *   garbage_terminated   bytes that are not an event are dropped with a warning
 *   redeploy_no_downtime v2 while two clients poll every 50 ms (keep-alive, and a
 *                        new connection each time): no failed request,
 *                        v2 served at the end, the v1 container gone
 *   unhealthy_keeps_old  an app that never answers: deploy.failed with its log
 *                        and what the health check saw; v2 still serves; no
 *                        container left
 *   missing_image_fails  an image the registry lacks: deploy.failed, not retried
 *   moved_secret_fails   a sealed value copied to another variable does not
 *                        open: deploy.failed, no container
 *   caddy_down_retried   caddy unreachable: NAKed, then deploy.failed
 *                        {retryable} after provisioner.max_attempts
 *   compensate_deploy    removes the container; the route goes back to an older
 *                        release still running, else to the placeholder; a
 *                        second time is a no-op; compensate.provision keeps
 *                        route and network while another release runs
 *   compensate_provision removes route and network; twice
 *   replicas_balanced    three replicas behind the route; more than
 *                        deployer.max_replicas fails the step
 *   release_phase        a release command runs once, before the containers,
 *                        in a container of its own that is then removed;
 *                        redelivered, it is not run again; a container of its
 *                        name an earlier attempt left is reused with its
 *                        result (not run again); one that exits 4
 *                        fails the step with its output, starts no container
 *                        and the previous release keeps serving
 *   local_image_used     an image built and pushed from this engine, named by
 *                        its registry digest: started from the engine's copy,
 *                        not pulled (the engine still does not know it by that
 *                        digest, as a pull would have recorded), with the
 *                        builder's image id and, without it, through the
 *                        registry's manifest
 *   other_local_pulled   another image re-tagged under that name in the
 *                        engine: pulled, and the registry's image serves
 *
 * Everything made (containers, network, routes, images, registry tags, rows)
 * is removed in the group teardown, whatever happened. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/caddy.h"
#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/engine.h"
#include "ad/event.h"
#include "ad/http.h"
#include "ad/names.h"
#include "ad/secret.h"

#define MAX_EVENTS 256
#define MAX_PUBLISHED 64
#define SECRET_PLAIN "s3cr3t-value"

struct service_proc {
        pid_t pid;
        char log[300];
};

static struct {
        char app[AD_APP_NAME_MAX + 1];
        char dir[256];
        char image_v1[256], image_v2[256], image_bad[256];
        char host[256];
        char route_id[80];
        char network[80];
        char key_hex[65], old_key_hex[65];
        struct ad_secret_key key;    /* the current key: the deployer's only one */
        char *secret_sealed;         /* SECRET_X as `adapi secrets rotate` re-sealed it */
        const char *secret_override; /* SECRET_X's value instead, when set */
        const char *release_command; /* deploy.built's, when set */
        ad_bus *bus;
        ad_bus_sub *sub;
        char durable[64];
        ad_db *db;
        ad_engine *engine;
        ad_caddy *caddy;
        struct service_proc prov, depl;
        char d1[AD_UUID_LEN + 1], d2[AD_UUID_LEN + 1], d3[AD_UUID_LEN + 1], d4[AD_UUID_LEN + 1],
                d5[AD_UUID_LEN + 1], d6[AD_UUID_LEN + 1], d7[AD_UUID_LEN + 1], d8[AD_UUID_LEN + 1],
                d9[AD_UUID_LEN + 1], d10[AD_UUID_LEN + 1], d11[AD_UUID_LEN + 1],
                d12[AD_UUID_LEN + 1], d13[AD_UUID_LEN + 1], d14[AD_UUID_LEN + 1],
                d15[AD_UUID_LEN + 1], d16[AD_UUID_LEN + 1];
        char image_local[256], local_digest[AD_ENGINE_DIGEST_LEN + 1];
        char d1_container[AD_ENGINE_ID_MAX + 1], d2_container[AD_ENGINE_ID_MAX + 1];
        ad_envelope *events[MAX_EVENTS];
        char *subjects[MAX_EVENTS];
        size_t n_events;
        char published[MAX_PUBLISHED][AD_UUID_LEN + 1];
        size_t n_published;
} T;

/* --- helpers ------------------------------------------------------------ */

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;
        int rc;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        rc = system(cmd);
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Output of a shell command (first 64 KiB), NUL-terminated; caller frees. */
static char *sh_out(const char *cmd)
{
        FILE *f = popen(cmd, "r");
        char *buf = calloc(1, 65536);
        size_t n = 0, r;

        if (f == NULL || buf == NULL) {
                if (f)
                        pclose(f);
                free(buf);
                return NULL;
        }
        while (n < 65535 && (r = fread(buf + n, 1, 65535 - n, f)) > 0)
                n += r;
        pclose(f);
        return buf;
}

static int write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        if (f == NULL)
                return -1;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -1;
}

static void dump_log(const struct service_proc *p)
{
        char cmd[1024];

        snprintf(cmd, sizeof(cmd), "echo '--- %s'; tail -n 40 '%s' >&2", p->log, p->log);
        sh("%s", cmd);
}

/* Starts bin/ad<name> with env (name, value pairs) and waits for its
 * "ready" line; -1 (its log dumped) when it does not come. */
static int start_service(struct service_proc *p, const char *name, const char *const *env)
{
        char exe[512];

        snprintf(exe, sizeof(exe), "%s/bin/ad%s", AD_BINARY_DIR, name);
        snprintf(p->log, sizeof(p->log), "%.250s/%.20s.log", T.dir, name);
        p->pid = fork();
        if (p->pid < 0)
                return -1;
        if (p->pid == 0) {
                int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

                dup2(fd, 1);
                dup2(fd, 2);
                setenv("AD_HTTP_PORT", "0", 1);
                for (size_t i = 0; env && env[i]; i += 2)
                        setenv(env[i], env[i + 1], 1);
                execl(exe, exe, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 300; i++) {
                cleanup_free char *grep = NULL;
                char cmd[700];

                snprintf(cmd, sizeof(cmd), "grep -c '\"msg\":\"ready\"' '%s' 2>/dev/null", p->log);
                grep = sh_out(cmd);
                if (grep && atoi(grep) > 0)
                        return 0;
                if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
                        p->pid = 0;
                        break;
                }
                sleep_ms(100);
        }
        dump_log(p);
        fprintf(stderr, "ad%s did not start\n", name);
        return -1;
}

static void stop_service(struct service_proc *p)
{
        if (p->pid <= 0)
                return;
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 200; i++) {
                if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
                        p->pid = 0;
                        return;
                }
                sleep_ms(100);
        }
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
}

static void remember_published(const char *event_id)
{
        if (T.n_published < MAX_PUBLISHED)
                snprintf(T.published[T.n_published++], AD_UUID_LEN + 1, "%s", event_id);
}

static void publish(const char *subject, ad_envelope *env)
{
        ad_error_t err = NULL;

        remember_published(env->event_id);
        if (ad_event_publish(T.bus, subject, env, NULL, &err) < 0)
                fail_msg("publish %s: %s", subject, ad_error_message(err));
}

/* deploy.built as the builder would publish it; replicas 0 is one. */
static void publish_built_full(const char *deployment_id, const char *image, const char *digest,
                               const char *image_id, unsigned replicas)
{
        Appdeployer__V1__DeployBuilt b = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        Appdeployer__V1__Resources res = APPDEPLOYER__V1__RESOURCES__INIT;
        Appdeployer__V1__EnvVar greeting = APPDEPLOYER__V1__ENV_VAR__INIT;
        Appdeployer__V1__EnvVar secret = APPDEPLOYER__V1__ENV_VAR__INIT;
        Appdeployer__V1__EnvVar *env[] = { &greeting, &secret };
        char id[AD_UUID_LEN + 1];
        ad_envelope e;

        greeting.name = (char *)"GREETING";
        greeting.value = (char *)"hello";
        secret.name = (char *)"SECRET_X";
        secret.value = (char *)(T.secret_override ? T.secret_override : T.secret_sealed);
        res.cpu = 0.5;
        res.memory_mb = 96;
        res.replicas = replicas;
        b.image = (char *)image;
        if (digest)
                b.digest = (char *)digest;
        if (image_id)
                b.image_id = (char *)image_id;
        b.app_name = T.app;
        b.port = 8080;
        b.resources = &res;
        b.n_env = 2;
        b.env = env;
        b.release_command = (char *)(T.release_command ? T.release_command : "");
        ad_event_init(&e, deployment_id, "trace-pd", 1, "test", id);
        e.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT;
        e.built = &b;
        publish(AD_SUBJECT_BUILT, &e);
}

static void publish_built_replicas(const char *deployment_id, const char *image, unsigned replicas)
{
        publish_built_full(deployment_id, image, NULL, NULL, replicas);
}

static void publish_built(const char *deployment_id, const char *image)
{
        publish_built_replicas(deployment_id, image, 0);
}

static void publish_compensate(const char *deployment_id, const char *step)
{
        Appdeployer__V1__Compensate c = APPDEPLOYER__V1__COMPENSATE__INIT;
        char id[AD_UUID_LEN + 1], subject[64];
        ad_envelope e;

        c.step = (char *)step;
        c.reason = (char *)"test";
        ad_event_init(&e, deployment_id, "trace-pd", 1, "test", id);
        e.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE;
        e.compensate = &c;
        snprintf(subject, sizeof(subject), "%s.%s", AD_SUBJECT_COMPENSATE, step);
        publish(subject, &e);
}

/* Takes events from the test's consumer into T.events. */
static void pump(int64_t timeout_ms)
{
        struct ad_delivery d;
        ad_error_t err = NULL;
        int r = ad_bus_fetch(T.sub, &d, timeout_ms, &err);

        if (r < 0) {
                ad_error_release(&err);
                return;
        }
        if (r == 0)
                return;
        if (T.n_events < MAX_EVENTS) {
                ad_envelope *env = NULL;

                if (ad_event_unpack(&env, d.data, d.len, NULL) == 0) {
                        T.subjects[T.n_events] = strdup(d.subject);
                        T.events[T.n_events++] = env;
                }
        }
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
}

/* Waits for an event on subject about deployment_id; NULL on timeout.  The
 * event is taken out of the list (owned by the caller). */
static ad_envelope *wait_event(const char *subject, const char *deployment_id, int timeout_s)
{
        int64_t deadline = ad_monotonic_ms() + timeout_s * 1000L;

        for (;;) {
                for (size_t i = 0; i < T.n_events; i++) {
                        ad_envelope *e = T.events[i];

                        if (strcmp(T.subjects[i], subject) != 0 ||
                            strcmp(e->deployment_id, deployment_id) != 0)
                                continue;
                        free(T.subjects[i]);
                        memmove(&T.events[i], &T.events[i + 1],
                                (T.n_events - i - 1) * sizeof(T.events[0]));
                        memmove(&T.subjects[i], &T.subjects[i + 1],
                                (T.n_events - i - 1) * sizeof(T.subjects[0]));
                        T.n_events--;
                        return e;
                }
                if (ad_monotonic_ms() > deadline)
                        return NULL;
                pump(500);
        }
}

static ad_envelope *expect_event(const char *subject, const char *deployment_id, int timeout_s)
{
        ad_envelope *e = wait_event(subject, deployment_id, timeout_s);

        if (e == NULL) {
                ad_envelope *failed = wait_event(AD_SUBJECT_FAILED, deployment_id, 0);

                dump_log(&T.prov);
                dump_log(&T.depl);
                fail_msg("no %s for %s within %d s%s%s", subject, deployment_id, timeout_s,
                         failed ? "; deploy.failed: " : "", failed ? failed->failed->reason : "");
        }
        return e;
}

struct http_get {
        long status;
        char body[512];
        size_t len;
        char deployment[64];
};

static size_t get_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct http_get *g = ud;
        size_t n = size * nmemb, room = sizeof(g->body) - 1 - g->len;

        memcpy(g->body + g->len, data, n < room ? n : room);
        g->len += n < room ? n : room;
        g->body[g->len] = '\0';
        return n;
}

static size_t get_header(char *data, size_t size, size_t nmemb, void *ud)
{
        struct http_get *g = ud;
        size_t n = size * nmemb, hl = strlen(AD_CADDY_DEPLOYMENT_HEADER);

        if (n > hl + 2 && strncasecmp(data, AD_CADDY_DEPLOYMENT_HEADER, hl) == 0)
                snprintf(g->deployment, sizeof(g->deployment), "%.*s",
                         (int)strcspn(data + hl + 2, "\r\n"), data + hl + 2);
        return n;
}

/* One GET through the ingress (https: the caddy CA, the name resolved to
 * 127.0.0.1).  Returns the CURLcode; on a reused handle keeps the
 * connection. */
static CURLcode http_get_with(CURL *c, const char *path, bool https, struct http_get *g)
{
        char url[512];

        memset(g, 0, sizeof(*g));
        if (https)
                snprintf(url, sizeof(url), "https://%s:%s%s", T.host,
                         stack_env("AD_INGRESS_HTTPS_PORT"), path);
        else
                snprintf(url, sizeof(url), "http://%s:%s%s", T.host,
                         stack_env("AD_INGRESS_HTTP_PORT"), path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, get_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, get_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
        if (https)
                curl_easy_setopt(c, CURLOPT_CAINFO, stack_env("AD_INGRESS_CA_FILE"));
        char why[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
        /* What curl saw, for a failure's report (a TLS verification
         * failure says which check failed). */
        if (rc != CURLE_OK)
                fprintf(stderr, "GET %s: %s (%s)\n", url, curl_easy_strerror(rc), why);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
        return rc;
}

static struct curl_slist *resolve_list(void)
{
        char entry[400];
        struct curl_slist *l = NULL;

        snprintf(entry, sizeof(entry), "%s:%s:127.0.0.1", T.host,
                 stack_env("AD_INGRESS_HTTP_PORT"));
        l = curl_slist_append(l, entry);
        snprintf(entry, sizeof(entry), "%s:%s:127.0.0.1", T.host,
                 stack_env("AD_INGRESS_HTTPS_PORT"));
        return curl_slist_append(l, entry);
}

static CURLcode http_get(const char *path, bool https, struct http_get *g)
{
        CURL *c = curl_easy_init();
        struct curl_slist *r = resolve_list();
        CURLcode rc;

        curl_easy_setopt(c, CURLOPT_RESOLVE, r);
        rc = http_get_with(c, path, https, g);
        curl_easy_cleanup(c);
        curl_slist_free_all(r);
        return rc;
}

static int count_of(const char *s, const char *needle)
{
        int n = 0;

        for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
                n++;
        return n;
}

/* The engine's raw inspect JSON of a container; NULL when it is gone. */
static json_t *inspect_raw(const char *id)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response resp = { 0 };
        char url[300];
        json_t *j = NULL;

        snprintf(url, sizeof(url), "http://d/v1.41/containers/%s/json", id);
        req.url = url;
        req.unix_socket = stack_env("AD_ENGINE_SOCKET");
        if (ad_http_do(&req, &resp, NULL) == 0 && resp.status == 200)
                j = json_loadb(resp.body, resp.len, 0, NULL);
        ad_http_response_free(&resp);
        return j;
}

static size_t count_app_containers(const char *deployment_id)
{
        char label[128];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        ad_error_t err = NULL;
        size_t n = 0;

        if (deployment_id)
                snprintf(label, sizeof(label), "%s=%s", AD_LABEL_DEPLOYMENT, deployment_id);
        else
                snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, T.app);
        if (ad_engine_container_list(T.engine, filters, true, &list, &n, &err) < 0)
                fail_msg("list: %s", ad_error_message(err));
        ad_container_list_free(list, n);
        return n;
}

/* Stands in for the coordinator, which has the deployment's row (the
 * provisioner's compensation finds the app there). */
static void insert_deployment_row(const char *id)
{
        const char *params[] = { id, T.app };
        ad_error_t err = NULL;

        if (ad_db_exec(T.db, NULL,
                       "INSERT INTO deployments (id, app_name, repo_url, status) "
                       "VALUES ($1, $2, 'test://provision-deploy', 'DEPLOYING') "
                       "ON CONFLICT DO NOTHING",
                       2, params, &err) < 0)
                fail_msg("insert deployment: %s", ad_error_message(err));
}

/* The services' durable consumers start at "now": without this they would
 * first work through every deploy.built other tests left in the stream
 * (and provision those apps). */
static int reset_service_consumers(void)
{
        static const struct {
                const char *durable, *subject;
                int64_t ack_wait_s;
        } c[] = {
                { "provisioner", AD_SUBJECT_BUILT, 30 },
                { "provisioner-compensate", AD_SUBJECT_COMPENSATE ".provision", 30 },
                { "deployer", AD_SUBJECT_PROVISIONED, 60 },
                { "deployer-compensate", AD_SUBJECT_COMPENSATE ".deploy", 60 },
        };

        for (size_t i = 0; i < AD_ARRAY_SIZE(c); i++) {
                jsConsumerConfig cc;
                jsConsumerInfo *ci = NULL;
                jsErrCode jerr = 0;

                js_DeleteConsumer(ad_bus_js(T.bus), AD_STREAM_NAME, c[i].durable, NULL, NULL);
                jsConsumerConfig_Init(&cc);
                cc.Durable = c[i].durable;
                cc.FilterSubject = c[i].subject;
                cc.AckPolicy = js_AckExplicit;
                cc.DeliverPolicy = js_DeliverNew;
                cc.AckWait = c[i].ack_wait_s * 1000000000LL;
                cc.MaxDeliver = -1;
                cc.MaxAckPending = 1000;
                if (js_AddConsumer(&ci, ad_bus_js(T.bus), AD_STREAM_NAME, &cc, NULL, &jerr) !=
                    NATS_OK)
                        return -1;
                jsConsumerInfo_Destroy(ci);
        }
        return 0;
}

/* --- fixture ---------------------------------------------------------------- */

static const char server_py[] =
        "import http.server, os, socket\n"
        "TEXT = os.environ.get('APP_TEXT', '?')\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        "        if self.path == '/env':\n"
        "            b = (os.environ.get('SECRET_X', '') + '|' + os.environ.get('GREETING', "
        "'')).encode()\n"
        "        elif self.path == '/host':\n"
        "            b = socket.gethostname().encode()\n"
        "        else:\n"
        "            b = TEXT.encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Type', 'text/plain')\n"
        "        self.send_header('Content-Length', str(len(b)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "print('app %s listening on %s' % (TEXT, os.environ['PORT']), flush=True)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), "
        "H).serve_forever()\n";

/* Builds FROM python + server.py + dockerfile_tail as tag_ref and pushes
 * it; the engine keeps its copy only with `keep`. */
static int build_image_as(const char *tag_ref, const char *dockerfile_tail, bool keep)
{
        char path[400], text[1024];
        int ok = 0;

        snprintf(path, sizeof(path), "%s/ctx/Dockerfile", T.dir);
        snprintf(text, sizeof(text),
                 "FROM localhost/app-deployer/python:bookworm\n"
                 "COPY server.py /app/server.py\n%s",
                 dockerfile_tail);
        if (write_file(path, text) < 0)
                return -1;
        /* No layer cache (--layers=false): podman's cache look-up fails
         * when other builds remove images at the same time.  A retry for
         * the same reason. */
        for (int attempt = 0; attempt < 3 && !ok; attempt++)
                ok = sh("podman build --runtime runc --pull=never --layers=false -q -t %s "
                        "%s/ctx >/dev/null",
                        tag_ref, T.dir) == 0 &&
                     sh("podman push -q --tls-verify=false %s", tag_ref) == 0;
        if (!ok) {
                fprintf(stderr, "cannot build and push %s\n", tag_ref);
                return -1;
        }
        if (!keep)
                sh("podman rmi -f %s >/dev/null 2>&1", tag_ref);
        return 0;
}

/* Pushed, and gone from the local store: the deployer must pull it. */
static int build_image(const char *tag_ref, const char *dockerfile_tail)
{
        return build_image_as(tag_ref, dockerfile_tail, false);
}

static int group_teardown(void **state);

/* The app's config as an older key sealed it (the app's row, as the
 * coordinator writes it), re-sealed by `adapi secrets rotate` under the
 * current key: T.secret_sealed is what the rotation stored, and the deployer
 * is given the current key only. */
static int rotate_app_secret(void)
{
        struct ad_secret_key old;
        cleanup_free char *sealed = NULL;
        cleanup_pgresult PGresult *r = NULL;
        ad_error_t err = NULL;
        json_t *env;
        char *text;
        int rc;

        if (ad_secret_key_parse(&old, T.old_key_hex, &err) < 0 ||
            ad_secret_seal(&sealed, &old, T.app, "SECRET_X", SECRET_PLAIN, &err) < 0)
                return -1;
        env = json_pack("{s:s}", "SECRET_X", sealed);
        text = json_dumps(env, JSON_COMPACT);
        json_decref(env);
        {
                const char *p[] = { T.app, text };

                rc = ad_db_exec(T.db, NULL, "INSERT INTO apps (name, env) VALUES ($1, $2::jsonb)",
                                2, p, &err);
        }
        free(text);
        if (rc < 0) {
                fprintf(stderr, "insert app: %s\n", ad_error_message(err));
                return -1;
        }
        rc = sh("env AD_SECRETS_KEY=%s AD_SECRETS_OLD_KEYS=%s AD_DATABASE_URL='%s' "
                "%s/bin/adapi secrets rotate --app %s >&2",
                T.key_hex, T.old_key_hex, stack_env("AD_DATABASE_URL"), AD_BINARY_DIR, T.app);
        if (rc != 0) {
                fprintf(stderr, "adapi secrets rotate exited %d\n", rc);
                return -1;
        }
        {
                const char *p[] = { T.app };

                if (ad_db_exec(T.db, &r, "SELECT env->>'SECRET_X' FROM apps WHERE name = $1", 1, p,
                               &err) < 0 ||
                    PQntuples(r) != 1)
                        return -1;
        }
        T.secret_sealed = strdup(PQgetvalue(r, 0, 0));
        if (!ad_secret_is_current(T.secret_sealed, &T.key) ||
            strcmp(T.secret_sealed, sealed) == 0) {
                fprintf(stderr, "the rotation did not re-seal SECRET_X under the current key\n");
                return -1;
        }
        return 0;
}

static int setup_all(void)
{
        const char *reg = stack_env("AD_REGISTRY_ADDRESS");
        char id[AD_UUID_LEN + 1], path[400];
        ad_error_t err = NULL;
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        unsigned char raw[32];
        FILE *ur;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        ad_uuid_v4(id);
        snprintf(T.app, sizeof(T.app), "pdtest-%.8s", id);
        ad_name_route(T.route_id, sizeof(T.route_id), T.app);
        ad_name_network(T.network, sizeof(T.network), T.app);
        snprintf(T.host, sizeof(T.host), "%s.localhost", T.app);
        ad_uuid_v4(T.d1);
        ad_uuid_v4(T.d2);
        ad_uuid_v4(T.d3);
        ad_uuid_v4(T.d4);
        ad_uuid_v4(T.d5);
        ad_uuid_v4(T.d6);
        ad_uuid_v4(T.d7);
        ad_uuid_v4(T.d8);
        ad_uuid_v4(T.d9);
        ad_uuid_v4(T.d10);
        ad_uuid_v4(T.d11);
        ad_uuid_v4(T.d12);
        ad_uuid_v4(T.d13);
        ad_uuid_v4(T.d14);
        ad_uuid_v4(T.d15);
        ad_uuid_v4(T.d16);
        snprintf(T.dir, sizeof(T.dir), "/tmp/ad-pd-%.8s", id);
        snprintf(path, sizeof(path), "%s/ctx", T.dir);
        if (mkdir(T.dir, 0755) < 0 || mkdir(path, 0755) < 0)
                return -1;
        snprintf(path, sizeof(path), "%s/ctx/server.py", T.dir);
        if (write_file(path, server_py) < 0)
                return -1;

        ur = fopen("/dev/urandom", "r");
        if (ur == NULL || fread(raw, 1, sizeof(raw), ur) != sizeof(raw))
                return -1;
        fclose(ur);
        for (int i = 0; i < 32; i++)
                snprintf(T.key_hex + 2 * i, 3, "%02x", raw[i]);
        if (ad_secret_key_parse(&T.key, T.key_hex, &err) < 0)
                return -1;
        ur = fopen("/dev/urandom", "r");
        if (ur == NULL || fread(raw, 1, sizeof(raw), ur) != sizeof(raw))
                return -1;
        fclose(ur);
        for (int i = 0; i < 32; i++)
                snprintf(T.old_key_hex + 2 * i, 3, "%02x", raw[i]);

        if (ad_bus_connect(&T.bus, stack_env("AD_NATS_URL"), "test_provision_deploy", &err) < 0 ||
            ad_bus_ensure_stream(T.bus, 1, &err) < 0 ||
            ad_db_connect(&T.db, stack_env("AD_DATABASE_URL"), &err) < 0 ||
            ad_db_migrate(T.db, ad_migrations, ad_migrations_count, NULL, &err) < 0 ||
            ad_engine_open(&T.engine, stack_env("AD_ENGINE_SOCKET"), &err) < 0 ||
            ad_caddy_open(&T.caddy, stack_env("AD_CADDY_ADMIN_URL"), &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        /* Only what is published from now on. */
        snprintf(T.durable, sizeof(T.durable), "test-pd-%.8s", id);
        jsConsumerConfig_Init(&cc);
        cc.Durable = T.durable;
        cc.FilterSubject = "deploy.>";
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverNew;
        if (js_AddConsumer(&ci, ad_bus_js(T.bus), AD_STREAM_NAME, &cc, NULL, &jerr) != NATS_OK)
                return -1;
        if (rotate_app_secret() < 0)
                return -1;
        jsConsumerInfo_Destroy(ci);
        if (ad_bus_bind(&T.sub, T.bus, T.durable, "deploy.>", &err) < 0)
                return -1;

        snprintf(T.image_v1, sizeof(T.image_v1), "%s/%s:v1", reg, T.app);
        snprintf(T.image_v2, sizeof(T.image_v2), "%s/%s:v2", reg, T.app);
        snprintf(T.image_bad, sizeof(T.image_bad), "%s/%s:bad", reg, T.app);
        if (build_image(T.image_v1, "ENV APP_TEXT=v1\nUSER 10001\nCMD [\"python3\", "
                                    "\"/app/server.py\"]\n") < 0 ||
            build_image(T.image_v2, "ENV APP_TEXT=v2\nUSER 10001\nCMD [\"python3\", "
                                    "\"/app/server.py\"]\n") < 0 ||
            build_image(T.image_bad,
                        "USER 10001\nCMD [\"python3\", \"-c\", \"import time; print('bad app: "
                        "not listening', flush=True); time.sleep(3600)\"]\n") < 0)
                return -1;

        const char *prov_env[] = { "AD_INGRESS_TLS", "true", NULL };
        const char *depl_env[] = { "AD_INGRESS_TLS",
                                   "true",
                                   "AD_SECRETS_KEY",
                                   T.key_hex,
                                   "AD_DEPLOYER_HEALTH_TIMEOUT_S",
                                   "8",
                                   "AD_DEPLOYER_HEALTH_INTERVAL_MS",
                                   "200",
                                   "AD_DEPLOYER_STOP_TIMEOUT_S",
                                   "5",
                                   "AD_DEPLOYER_IMAGES_KEPT",
                                   "2",
                                   NULL };
        if (reset_service_consumers() < 0 || start_service(&T.prov, "provisioner", prov_env) < 0 ||
            start_service(&T.depl, "deployer", depl_env) < 0)
                return -1;
        return 0;
}

static int group_setup(void **state)
{
        if (setup_all() == 0)
                return 0;
        /* cmocka runs no teardown after a failed setup: clean up here. */
        group_teardown(state);
        return -1;
}

/* On a shared stack other tests may publish deploy.built while this one
 * runs, and the services started here then provision and deploy those
 * apps too: whatever they made for another app (named in their log lines)
 * is removed as well. */
static void sweep_foreign(const char *log)
{
        FILE *f = fopen(log, "r");
        char line[8192];

        while (f && fgets(line, sizeof(line), f)) {
                json_t *j = json_loads(line, 0, NULL);
                const char *msg = json_string_value(json_object_get(j, "msg"));
                const char *app = json_string_value(json_object_get(j, "app"));
                const char *container = json_string_value(json_object_get(j, "container"));
                const char *net = json_string_value(json_object_get(j, "network_created"));
                const char *route = json_string_value(json_object_get(j, "route_created"));

                if (msg && strcmp(msg, "event handled") == 0 && app && ad_app_name_valid(app) &&
                    strcmp(app, T.app) != 0) {
                        char name[128], tls[140];

                        if (container)
                                ad_engine_container_remove(T.engine, container, true, NULL);
                        if (route && strcmp(route, "true") == 0) {
                                ad_name_route(name, sizeof(name), app);
                                snprintf(tls, sizeof(tls), "%s-tls", name);
                                ad_caddy_delete(T.caddy, name, NULL);
                                ad_caddy_delete(T.caddy, tls, NULL);
                        }
                        if (net && strcmp(net, "true") == 0) {
                                ad_name_network(name, sizeof(name), app);
                                ad_engine_network_remove(T.engine, name, NULL);
                        }
                }
                json_decref(j);
        }
        if (f)
                fclose(f);
}

static int group_teardown(void **state)
{
        const char *reg = stack_env("AD_REGISTRY_ADDRESS");
        const char *ids[] = { T.d1, T.d2,  T.d3,  T.d4,  T.d5,  T.d6,  T.d7, T.d8,
                              T.d9, T.d10, T.d11, T.d12, T.d13, T.d14, T.d15 };
        char label[128];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        size_t n = 0;

        (void)state;
        stop_service(&T.prov);
        stop_service(&T.depl);
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, T.app);
        if (T.engine && ad_engine_container_list(T.engine, filters, true, &list, &n, NULL) == 0)
                for (size_t i = 0; i < n; i++)
                        ad_engine_container_remove(T.engine, list[i].id, true, NULL);
        ad_container_list_free(list, n);
        list = NULL;
        n = 0;
        snprintf(label, sizeof(label), "app-deployer.release=%s", T.app);
        if (T.engine && ad_engine_container_list(T.engine, filters, true, &list, &n, NULL) == 0)
                for (size_t i = 0; i < n; i++)
                        ad_engine_container_remove(T.engine, list[i].id, true, NULL);
        ad_container_list_free(list, n);
        if (T.engine)
                ad_engine_network_remove(T.engine, T.network, NULL);
        if (T.engine && T.caddy) {
                sweep_foreign(T.depl.log);
                sweep_foreign(T.prov.log);
        }
        if (T.caddy) {
                char tls[100];

                snprintf(tls, sizeof(tls), "%s-tls", T.route_id);
                ad_caddy_delete(T.caddy, T.route_id, NULL);
                ad_caddy_delete(T.caddy, tls, NULL);
        }
        /* Registry tags (deletion is enabled in the stack's registry), then
         * the local copies the deployer pulled. */
        for (int i = 0; i < 8; i++) {
                static const char *const tags[] = { "v1", "v2", "bad", "local",
                                                    "p1", "p2", "p3",  "p4" };

                sh("d=$(curl -sfI --netrc-file \"$AD_REGISTRY_NETRC\" -H 'Accept: "
                   "application/vnd.oci.image.manifest.v1+json' "
                   "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                   "http://%s/v2/%s/manifests/%s | tr -d '\\r' | "
                   "awk 'tolower($1)==\"docker-content-digest:\"{print $2}'); "
                   "[ -n \"$d\" ] && curl -sf --netrc-file \"$AD_REGISTRY_NETRC\" -X DELETE "
                   "http://%s/v2/%s/manifests/$d >/dev/null; "
                   "podman rmi -f %s/%s:%s >/dev/null 2>&1; true",
                   reg, T.app, tags[i], reg, T.app, reg, T.app, tags[i]);
        }
        if (T.db) {
                for (size_t i = 0; i < AD_ARRAY_SIZE(ids); i++) {
                        const char *p[] = { ids[i] };

                        ad_db_exec(T.db, NULL,
                                   "DELETE FROM deployment_logs WHERE deployment_id = $1", 1, p,
                                   NULL);
                        ad_db_exec(T.db, NULL, "DELETE FROM deployments WHERE id = $1", 1, p, NULL);
                }
                {
                        const char *p[] = { T.app };

                        ad_db_exec(T.db, NULL, "DELETE FROM apps WHERE name = $1", 1, p, NULL);
                }
                for (size_t i = 0; i < T.n_published; i++) {
                        const char *p[] = { T.published[i] };

                        ad_db_exec(T.db, NULL, "DELETE FROM processed_events WHERE event_id = $1",
                                   1, p, NULL);
                }
        }
        for (size_t i = 0; i < T.n_events; i++) {
                ad_event_free(T.events[i]);
                free(T.subjects[i]);
        }
        ad_bus_sub_free(T.sub);
        if (T.bus)
                js_DeleteConsumer(ad_bus_js(T.bus), AD_STREAM_NAME, T.durable, NULL, NULL);
        ad_bus_close(T.bus);
        ad_db_close(T.db);
        ad_engine_close(T.engine);
        ad_caddy_close(T.caddy);
        if (getenv("AD_TEST_KEEP_LOGS"))
                fprintf(stderr, "service logs kept in %s\n", T.dir);
        else
                sh("rm -rf %s", T.dir);
        free(T.secret_sealed);
        curl_global_cleanup();
        return 0;
}

/* --- tests ------------------------------------------------------------------ */

static void assert_serves(const char *text)
{
        struct http_get g;
        CURLcode rc = http_get("/", false, &g);

        if (rc != CURLE_OK || g.status != 200 || strcmp(g.body, text) != 0)
                fail_msg("GET http://%s/: curl %d, status %ld, body `%s`, want 200 `%s`", T.host,
                         rc, g.status, g.body, text);
}

static json_t *deploy_log_line(const char *deployment_id);

static void deploy_v1(void **state)
{
        ad_envelope *prov, *exp;
        struct http_get g;
        json_t *j;
        char cmd[2048];
        cleanup_free char *status = NULL;
        cleanup_free char *mem = NULL;
        char url[300];
        json_t *hc;

        (void)state;
        publish_built(T.d1, T.image_v1);
        prov = expect_event(AD_SUBJECT_PROVISIONED, T.d1, 60);
        snprintf(url, sizeof(url), "https://%s:%s/", T.host, stack_env("AD_INGRESS_HTTPS_PORT"));
        assert_string_equal(prov->provisioned->network, T.network);
        assert_string_equal(prov->provisioned->host_name, T.host);
        assert_string_equal(prov->provisioned->url, url);
        assert_true(prov->provisioned->tls);
        assert_string_equal(prov->provisioned->route_id, T.route_id);
        assert_string_equal(prov->provisioned->image, T.image_v1);
        assert_int_equal(prov->provisioned->port, 8080);
        assert_int_equal(prov->provisioned->resources->memory_mb, 96);
        assert_int_equal(prov->provisioned->n_env, 2);
        assert_string_equal(prov->trace_id, "trace-pd");
        ad_event_free(prov);

        exp = expect_event(AD_SUBJECT_EXPOSED, T.d1, 90);
        assert_string_equal(exp->exposed->url, url);
        assert_string_equal(exp->exposed->ip, "127.0.0.1");
        assert_int_equal(exp->exposed->replicas, 1);
        assert_int_equal(exp->exposed->n_container_ids, 1);
        assert_string_equal(exp->exposed->app_name, T.app);
        snprintf(T.d1_container, sizeof(T.d1_container), "%s", exp->exposed->container_ids[0]);
        ad_event_free(exp);

        assert_serves("v1");
        assert_int_equal(http_get("/", true, &g), CURLE_OK); /* HTTPS, caddy's CA */
        assert_int_equal(g.status, 200);
        assert_string_equal(g.body, "v1");
        assert_string_equal(g.deployment, T.d1);
        /* The sealed value reached the app opened. */
        assert_int_equal(http_get("/env", false, &g), CURLE_OK);
        assert_string_equal(g.body, SECRET_PLAIN "|hello");

        /* What the engine was told... */
        j = inspect_raw(T.d1_container);
        assert_non_null(j);
        hc = json_object_get(j, "HostConfig");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "Config"), "User")),
                "10001:10001");
        assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), 96 * 1024 * 1024);
        assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 500000000);
        assert_true(json_integer_value(json_object_get(hc, "PidsLimit")) > 0);
        assert_string_equal(
                json_string_value(json_array_get(json_object_get(hc, "SecurityOpt"), 0)),
                "no-new-privileges");
        assert_int_equal(json_array_size(json_object_get(hc, "CapAdd")), 0);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")),
                "unless-stopped");
        assert_non_null(json_object_get(
                json_object_get(json_object_get(j, "NetworkSettings"), "Networks"), T.network));
        assert_true(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
        assert_non_null(json_object_get(json_object_get(hc, "Tmpfs"), "/tmp"));
        json_decref(j);
        /* The root filesystem is read-only, /tmp is writable; the host's
         * platform ports on loopback (caddy's admin API, NATS, PostgreSQL,
         * the registry) are not the app's loopback. */
        {
                const char *caddy = stack_env("AD_CADDY_ADMIN_URL");
                /* caddy's admin API on a unix socket (the stack's): the
                 * socket must not be in the container either. */
                bool caddy_unix = strncmp(caddy, "unix://", 7) == 0;
                const char *urls[] = { stack_env("AD_NATS_URL"),
                                       strrchr(stack_env("AD_DATABASE_URL"), '@'),
                                       stack_env("AD_REGISTRY_ADDRESS"), caddy };
                char ports[128] = "";
                cleanup_free char *out = NULL;

                for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
                        const char *c = strrchr(urls[i], ':');
                        size_t n = strlen(ports);

                        if (urls[i] == caddy && caddy_unix)
                                continue;
                        snprintf(ports + n, sizeof(ports) - n, "%s%.*s", n ? "," : "",
                                 (int)strspn(c + 1, "0123456789"), c + 1);
                }
                snprintf(
                        cmd, sizeof(cmd),
                        "podman --remote --url unix://%s exec %s python3 -c \""
                        "import os, socket\n"
                        "for p in [%s]:\n"
                        "  s = socket.socket(); s.settimeout(3)\n"
                        "  print('LEAK' if s.connect_ex(('127.0.0.1', p)) == 0 else 'blocked', p)\n"
                        "for f in [%s%s%s]:\n"
                        "  print('LEAK' if os.path.exists(f) else 'blocked', f)\n"
                        "for f in ['/app/x', '/etc/x', '/tmp/x']:\n"
                        "  try:\n"
                        "    open(f, 'w').close(); print('wrote', f)\n"
                        "  except OSError as e:\n"
                        "    print('readonly', f)\n"
                        "\"",
                        stack_env("AD_ENGINE_SOCKET"), T.d1_container, ports, caddy_unix ? "'" : "",
                        caddy_unix ? caddy + 7 : "", caddy_unix ? "'" : "");
                out = sh_out(cmd);
                assert_non_null(out);
                printf("%s", out);
                if (strstr(out, "LEAK") || !strstr(out, "readonly /app/x") ||
                    !strstr(out, "readonly /etc/x") || !strstr(out, "wrote /tmp/x") ||
                    count_of(out, "blocked") != 4)
                        fail_msg("the app reached the platform or wrote its root fs:\n%s", out);
        }
        /* ...and what the process really has. */
        snprintf(cmd, sizeof(cmd),
                 "podman --remote --url unix://%s exec %s grep -E '^(Uid|CapEff|NoNewPrivs):' "
                 "/proc/1/status",
                 stack_env("AD_ENGINE_SOCKET"), T.d1_container);
        status = sh_out(cmd);
        assert_non_null(status);
        if (!strstr(status, "Uid:\t10001\t10001\t10001\t10001") ||
            !strstr(status, "CapEff:\t0000000000000000") || !strstr(status, "NoNewPrivs:\t1"))
                fail_msg("process status of the app:\n%s", status);
        snprintf(cmd, sizeof(cmd),
                 "podman --remote --url unix://%s exec %s sh -c 'cat "
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat "
                 "/sys/fs/cgroup/memory.max'",
                 stack_env("AD_ENGINE_SOCKET"), T.d1_container);
        mem = sh_out(cmd);
        assert_non_null(mem);
        assert_int_equal(strtoll(mem, NULL, 10), 96LL * 1024 * 1024);
        /* It started with 2 cpus (deployer.startup_cpus) and runs with its
         * own half cpu since it answered: the cgroup's quota, not only the
         * engine's record of the container (which keeps the app's). */
        {
                json_t *line = deploy_log_line(T.d1);
                cleanup_free char *quota = NULL;

                assert_non_null(line);
                assert_int_equal(json_integer_value(json_object_get(line, "startup_cpu_millis")),
                                 2000);
                json_decref(line);
                snprintf(cmd, sizeof(cmd),
                         "podman --remote --url unix://%s exec %s sh -c 'cat "
                         "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat "
                         "/sys/fs/cgroup/cpu.max'",
                         stack_env("AD_ENGINE_SOCKET"), T.d1_container);
                quota = sh_out(cmd);
                assert_non_null(quota);
                assert_int_equal(strtoll(quota, NULL, 10), 50000);
        }

        /* The first lines of the app's log were kept. */
        {
                PGresult *r = NULL;
                const char *p[] = { T.d1 };

                assert_int_equal(ad_db_exec(T.db, &r,
                                            "SELECT line FROM deployment_logs WHERE "
                                            "deployment_id = $1 AND source = 'runtime'",
                                            1, p, NULL),
                                 0);
                assert_true(PQntuples(r) >= 1);
                assert_non_null(strstr(PQgetvalue(r, 0, 0), "app v1 listening on 8080"));
                PQclear(r);
        }
}

static void redelivery_reuses(void **state)
{
        ad_envelope *exp;

        (void)state;
        /* deploy.built again for the same deployment (a coordinator retry):
         * the route and network exist, the running container is reused. */
        publish_built(T.d1, T.image_v1);
        ad_event_free(expect_event(AD_SUBJECT_PROVISIONED, T.d1, 60));
        exp = expect_event(AD_SUBJECT_EXPOSED, T.d1, 60);
        assert_string_equal(exp->exposed->container_ids[0], T.d1_container);
        ad_event_free(exp);
        assert_int_equal(count_app_containers(NULL), 1);
        assert_serves("v1");
}

static void garbage_terminated(void **state)
{
        char cmd[700];
        cleanup_free char *out = NULL;
        ad_error_t err = NULL;

        (void)state;
        char id[AD_UUID_LEN + 1];

        ad_uuid_v4(id);
        if (ad_bus_publish(T.bus, AD_SUBJECT_BUILT, id, "\xff\x01not protobuf", 14, NULL, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
        snprintf(cmd, sizeof(cmd), "grep -c 'discarding a message that is not an event' '%s'",
                 T.prov.log);
        for (int i = 0; i < 50; i++) {
                free(out);
                out = sh_out(cmd);
                if (out && atoi(out) > 0)
                        return;
                sleep_ms(100);
        }
        dump_log(&T.prov);
        fail_msg("the provisioner did not report the garbage");
}

struct poller {
        pthread_t thread;
        volatile int stop;
        bool fresh; /* a new connection per request (else keep-alive) */
        long total, failed;
        long retried; /* a kept-alive connection closed under the request */
        long v1, v2;
        char last[64];
        char first_failure[256];
};

static void *poll_loop(void *arg)
{
        struct poller *p = arg;
        CURL *c = curl_easy_init();
        struct curl_slist *r = resolve_list();

        curl_easy_setopt(c, CURLOPT_RESOLVE, r);
        if (p->fresh)
                curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        while (!p->stop) {
                struct http_get g;
                CURLcode rc = http_get_with(c, "/", false, &g);
                long connects = -1;
                bool ok;

                /* Every caddy config change closes the idle keep-alive
                 * connections of its previous instance; a request racing
                 * that close fails before any byte of an answer, and HTTP
                 * clients retry it once on a new connection (RFC 9112
                 * 9.3.1; browsers do).  So does this client, counting it. */
                curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
                if ((rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR) &&
                    connects == 0 && g.status == 0) {
                        p->retried++;
                        rc = http_get_with(c, "/", false, &g);
                }
                ok = rc == CURLE_OK && g.status == 200 &&
                     (strcmp(g.body, "v1") == 0 || strcmp(g.body, "v2") == 0);

                p->total++;
                if (!ok) {
                        if (p->failed++ == 0)
                                snprintf(p->first_failure, sizeof(p->first_failure),
                                         "curl %d (%s), status %ld, body `%.60s`", rc,
                                         curl_easy_strerror(rc), g.status, g.body);
                } else {
                        p->v1 += g.body[1] == '1';
                        p->v2 += g.body[1] == '2';
                        snprintf(p->last, sizeof(p->last), "%.60s", g.body);
                }
                sleep_ms(50);
        }
        curl_easy_cleanup(c);
        curl_slist_free_all(r);
        return NULL;
}

static void redeploy_no_downtime(void **state)
{
        struct poller p[2] = { { .fresh = false }, { .fresh = true } };
        ad_envelope *exp;
        json_t *old;

        (void)state;
        for (int i = 0; i < 2; i++)
                pthread_create(&p[i].thread, NULL, poll_loop, &p[i]);
        sleep_ms(500);
        publish_built(T.d2, T.image_v2);
        exp = expect_event(AD_SUBJECT_EXPOSED, T.d2, 90);
        snprintf(T.d2_container, sizeof(T.d2_container), "%s", exp->exposed->container_ids[0]);
        ad_event_free(exp);
        sleep_ms(1000);
        for (int i = 0; i < 2; i++) {
                p[i].stop = 1;
                pthread_join(p[i].thread, NULL);
                fprintf(stderr,
                        "switch v1 -> v2 (%s): %ld requests polled (%ld v1, %ld v2), %ld "
                        "failed, %ld retried on a closed keep-alive connection%s%s\n",
                        p[i].fresh ? "new connection each" : "keep-alive", p[i].total, p[i].v1,
                        p[i].v2, p[i].failed, p[i].retried, p[i].failed ? "; first: " : "",
                        p[i].first_failure);
        }
        assert_int_equal(p[1].retried, 0); /* new connections: nothing to retry */
        for (int i = 0; i < 2; i++) {
                assert_int_equal(p[i].failed, 0);
                assert_true(p[i].v1 > 0 && p[i].v2 > 0);
                assert_string_equal(p[i].last, "v2");
        }
        assert_serves("v2");
        /* The v1 container goes after EXPOSED is reported (its drain,
         * then its stop): gone within the stop timeout. */
        for (int i = 0; i < 300 && (old = inspect_raw(T.d1_container)) != NULL; i++) {
                json_decref(old);
                sleep_ms(100);
        }
        assert_null(old); /* the v1 container is gone */
        assert_int_equal(count_app_containers(NULL), 1);
}

static void unhealthy_keeps_old(void **state)
{
        ad_envelope *f;

        (void)state;
        publish_built(T.d3, T.image_bad);
        f = expect_event(AD_SUBJECT_FAILED, T.d3, 90);
        fprintf(stderr, "deploy.failed reason: %s\n", f->failed->reason);
        assert_string_equal(f->failed->step, "deploy");
        assert_false(f->failed->retryable);
        assert_non_null(strstr(f->failed->reason, "did not answer HTTP"));
        assert_non_null(strstr(f->failed->reason, "bad app: not listening"));
        ad_event_free(f);
        assert_int_equal(count_app_containers(T.d3), 0);
        assert_serves("v2");
        assert_null(wait_event(AD_SUBJECT_EXPOSED, T.d3, 0));
}

static void missing_image_fails(void **state)
{
        char image[300];
        ad_envelope *f;

        (void)state;
        snprintf(image, sizeof(image), "%s/%s:no-such-tag", stack_env("AD_REGISTRY_ADDRESS"),
                 T.app);
        publish_built(T.d4, image);
        f = expect_event(AD_SUBJECT_FAILED, T.d4, 60);
        assert_string_equal(f->failed->step, "deploy");
        assert_false(f->failed->retryable);
        assert_non_null(strstr(f->failed->reason, "manifest unknown"));
        ad_event_free(f);
        assert_int_equal(count_app_containers(T.d4), 0);
        assert_serves("v2");
}

/* The attack: a value sealed for another variable of the same app, put in
 * SECRET_X's place (a row edited, an event forged), does not open. */
static void moved_secret_fails(void **state)
{
        cleanup_free char *moved = NULL;
        ad_error_t err = NULL;
        ad_envelope *f;

        (void)state;
        if (ad_secret_seal(&moved, &T.key, T.app, "OTHER_SECRET", "not-for-SECRET_X", &err) < 0)
                fail_msg("seal: %s", ad_error_message(err));
        T.secret_override = moved;
        publish_built(T.d8, T.image_v2);
        T.secret_override = NULL;
        f = expect_event(AD_SUBJECT_FAILED, T.d8, 60);
        fprintf(stderr, "deploy.failed reason: %s\n", f->failed->reason);
        assert_string_equal(f->failed->step, "deploy");
        assert_false(f->failed->retryable);
        assert_non_null(strstr(f->failed->reason, "SECRET_X"));
        assert_non_null(strstr(f->failed->reason, "another app or variable"));
        assert_null(strstr(f->failed->reason, "not-for-SECRET_X"));
        ad_event_free(f);
        assert_int_equal(count_app_containers(T.d8), 0);
        assert_serves("v2");
}

static void caddy_down_retried(void **state)
{
        const char *bad_env[] = { "AD_CADDY_ADMIN_URL", "http://127.0.0.1:1",
                                  "AD_PROVISIONER_MAX_ATTEMPTS", "2", NULL };
        struct service_proc bad = { 0 };
        ad_envelope *f;

        (void)state;
        /* This provisioner alone consumes: caddy looks down to it. */
        stop_service(&T.prov);
        if (start_service(&bad, "provisioner", bad_env) < 0)
                fail_msg("the provisioner did not start");
        publish_built(T.d5, T.image_v2);
        f = wait_event(AD_SUBJECT_FAILED, T.d5, 30);
        stop_service(&bad);
        if (f == NULL) {
                dump_log(&bad);
                fail_msg("no deploy.failed after caddy stayed unreachable");
        }
        assert_string_equal(f->failed->step, "provision");
        assert_true(f->failed->retryable);
        assert_non_null(strstr(f->failed->reason, "gave up after 2 attempts"));
        ad_event_free(f);
        assert_null(wait_event(AD_SUBJECT_PROVISIONED, T.d5, 0));
        if (start_service(&T.prov, "provisioner",
                          (const char *const[]){ "AD_INGRESS_TLS", "true", NULL }) < 0)
                fail_msg("the provisioner did not restart");
}

/* A release of d1 running again beside d2, as after a retirement that
 * did not happen: what compensate.deploy of d2 must fall back to. */
static void start_older_release(void)
{
        char name[128], label_app[128], label_dep[128];
        const char *labels[] = { label_app, label_dep, NULL };
        const char *env[] = { "PORT=8080", NULL };
        struct ad_container_spec spec = {
                .name = name,
                .image = T.image_v1,
                .env = env,
                .labels = labels,
                .network = T.network,
                .container_port = 8080,
                .user = "10001:10001",
                .cap_drop_all = true,
                .no_new_privileges = true,
        };
        struct ad_container c = { 0 };
        ad_error_t err = NULL;
        char *id = NULL;
        char url[128];

        ad_name_container(name, sizeof(name), T.app, T.d1);
        snprintf(label_app, sizeof(label_app), "%s=%s", AD_LABEL_APP, T.app);
        snprintf(label_dep, sizeof(label_dep), "%s=%s", AD_LABEL_DEPLOYMENT, T.d1);
        if (ad_engine_container_create(T.engine, &spec, &id, &err) < 0 ||
            ad_engine_container_start(T.engine, id, &err) < 0 ||
            ad_engine_container_inspect(T.engine, id, &c, &err) < 0)
                fail_msg("older release: %s", ad_error_message(err));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", c.host_port);
        for (int i = 0; i < 100 && sh("curl -sf -o /dev/null %s", url) != 0; i++)
                sleep_ms(100);
        ad_container_clear(&c);
        free(id);
}

static void compensate_deploy(void **state)
{
        struct http_get g;
        json_t *route = NULL;

        (void)state;
        /* The coordinator compensates newest first; d3 (failed) left nothing. */
        publish_compensate(T.d3, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d3, 30));
        assert_serves("v2");
        /* d2 still runs: d3's provisioning (shared route and network) stays. */
        insert_deployment_row(T.d3);
        publish_compensate(T.d3, "provision");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".provision", T.d3, 30));
        assert_int_equal(ad_engine_network_inspect(T.engine, T.network, NULL, NULL), 0);
        assert_serves("v2");

        /* The route serves d2; d1 runs too: the route goes back to d1. */
        start_older_release();
        publish_compensate(T.d2, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d2, 30));
        assert_null(inspect_raw(T.d2_container));
        assert_int_equal(count_app_containers(T.d2), 0);
        assert_serves("v1");
        assert_int_equal(http_get("/", false, &g), CURLE_OK);
        assert_string_equal(g.deployment, T.d1);

        /* d1 goes too: no release left, the route shows the placeholder. */
        publish_compensate(T.d1, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d1, 30));
        assert_int_equal(count_app_containers(NULL), 0);
        assert_int_equal(ad_caddy_get(T.caddy, T.route_id, NULL, &route, NULL), 0);
        assert_null(ad_caddy_route_upstreams(route));
        json_decref(route);
        assert_int_equal(http_get("/", false, &g), CURLE_OK);
        assert_int_equal(g.status, 503);

        /* Again: nothing left to do, still compensated. */
        publish_compensate(T.d2, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d2, 30));
}

static void compensate_provision(void **state)
{
        json_t *route = NULL;
        char tls[100];
        int ret;

        (void)state;
        insert_deployment_row(T.d2);
        publish_compensate(T.d2, "provision");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".provision", T.d2, 30));
        ret = ad_caddy_get(T.caddy, T.route_id, NULL, &route, NULL);
        assert_int_equal(ret, -AD_ERR_NOT_FOUND);
        snprintf(tls, sizeof(tls), "%s-tls", T.route_id);
        assert_int_equal(ad_caddy_get(T.caddy, tls, NULL, &route, NULL), -AD_ERR_NOT_FOUND);
        assert_int_equal(ad_engine_network_inspect(T.engine, T.network, NULL, NULL),
                         -AD_ERR_NOT_FOUND);

        publish_compensate(T.d2, "provision");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".provision", T.d2, 30));
        assert_int_equal(ad_engine_network_inspect(T.engine, T.network, NULL, NULL),
                         -AD_ERR_NOT_FOUND);
}

/* replicas: 3 runs three containers behind the one route, each serving
 * in turn; more than deployer.max_replicas fails the step and starts
 * nothing; compensation removes them all. */
static void replicas_balanced(void **state)
{
        char seen[3][80] = { "", "", "" };
        size_t n_seen = 0;
        json_t *route = NULL;
        struct http_get g;
        ad_envelope *exp, *f;

        (void)state;
        publish_built_replicas(T.d6, T.image_v1, 3);
        exp = expect_event(AD_SUBJECT_EXPOSED, T.d6, 120);
        assert_int_equal(exp->exposed->replicas, 3);
        assert_int_equal(exp->exposed->n_container_ids, 3);
        ad_event_free(exp);
        assert_int_equal(count_app_containers(T.d6), 3);
        assert_int_equal(count_app_containers(NULL), 3);
        assert_int_equal(ad_caddy_get(T.caddy, T.route_id, NULL, &route, NULL), 0);
        assert_int_equal(json_array_size(ad_caddy_route_upstreams(route)), 3);
        json_decref(route);
        assert_serves("v1");
        /* Round robin: nine requests reach all three containers. */
        for (int i = 0; i < 9; i++) {
                size_t k;

                assert_int_equal(http_get("/host", false, &g), CURLE_OK);
                assert_int_equal(g.status, 200);
                assert_string_equal(g.deployment, T.d6);
                for (k = 0; k < n_seen && strcmp(seen[k], g.body) != 0; k++)
                        ;
                if (k == n_seen) {
                        assert_true(n_seen < 3);
                        snprintf(seen[n_seen++], sizeof(seen[0]), "%.79s", g.body);
                }
        }
        fprintf(stderr, "replicas answering: %zu (%s %s %s)\n", n_seen, seen[0], seen[1], seen[2]);
        assert_int_equal(n_seen, 3);

        /* Beyond deployer.max_replicas (10 by default). */
        publish_built_replicas(T.d7, T.image_v1, 11);
        f = expect_event(AD_SUBJECT_FAILED, T.d7, 60);
        assert_string_equal(f->failed->step, "deploy");
        assert_false(f->failed->retryable);
        assert_non_null(strstr(f->failed->reason, "asks for 11 replicas"));
        assert_non_null(strstr(f->failed->reason, "deployer.max_replicas"));
        ad_event_free(f);
        assert_int_equal(count_app_containers(T.d7), 0);
        assert_serves("v1");

        publish_compensate(T.d6, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d6, 60));
        assert_int_equal(count_app_containers(NULL), 0);
}

/* Lines of deployment id's log from source `release` equal to line. */
static long release_lines(const char *id, const char *line)
{
        cleanup_pgresult PGresult *r = NULL;
        ad_error_t err = NULL;

        if (ad_db_exec(T.db, &r,
                       "SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 AND "
                       "source = 'release' AND line = $2",
                       2, (const char *[]){ id, line }, &err) < 0)
                fail_msg("release log: %s", ad_error_message(err));
        return atol(PQgetvalue(r, 0, 0));
}

static void release_phase(void **state)
{
        char name[128];
        struct ad_container c = { 0 };
        ad_envelope *exp, *f;

        (void)state;
        T.release_command = "echo rp-marker; echo rp-stderr >&2";
        publish_built(T.d9, T.image_v1);
        exp = expect_event(AD_SUBJECT_EXPOSED, T.d9, 120);
        ad_event_free(exp);
        assert_serves("v1");
        assert_int_equal(release_lines(T.d9, "rp-marker"), 1);
        assert_int_equal(release_lines(T.d9, "rp-stderr"), 1);
        assert_int_equal(release_lines(T.d9, "==> release command exited 0"), 1);
        /* Its container is gone; only the web container is left. */
        ad_name_container(name, sizeof(name), T.app, T.d9);
        strcat(name, "-release");
        assert_int_equal(ad_engine_container_inspect(T.engine, name, &c, NULL), -AD_ERR_NOT_FOUND);
        assert_int_equal(count_app_containers(T.d9), 1);

        /* deploy.built again (a coordinator retry): the release command
         * that exited 0 does not run again. */
        publish_built(T.d9, T.image_v1);
        ad_event_free(expect_event(AD_SUBJECT_PROVISIONED, T.d9, 60));
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d9, 60));
        assert_int_equal(release_lines(T.d9, "rp-marker"), 1);
        assert_int_equal(count_app_containers(T.d9), 1);

        /* An earlier attempt's container of d11's release phase, exited 0
         * (as when the deployer died after it ended): its result is used,
         * the command is not run again. */
        {
                char label_rel[128], label_dep[128];
                const char *labels[] = { label_rel, label_dep, NULL };
                const char *cmd[] = { "/bin/sh", "-c", "echo earlier-attempt", NULL };
                struct ad_container_spec spec = { .name = name,
                                                  .image = T.image_v1,
                                                  .cmd = cmd,
                                                  .labels = labels,
                                                  .restart_policy = "no" };
                cleanup_free char *id = NULL;
                ad_error_t err = NULL;
                int i;

                ad_name_container(name, sizeof(name), T.app, T.d11);
                strcat(name, "-release");
                snprintf(label_rel, sizeof(label_rel), "app-deployer.release=%s", T.app);
                snprintf(label_dep, sizeof(label_dep), "%s=%s", AD_LABEL_DEPLOYMENT, T.d11);
                if (ad_engine_container_create(T.engine, &spec, &id, &err) < 0 ||
                    ad_engine_container_start(T.engine, id, &err) < 0)
                        fail_msg("earlier attempt: %s", ad_error_message(err));
                for (i = 0; i < 100; i++) {
                        bool running;

                        assert_int_equal(ad_engine_container_inspect(T.engine, id, &c, NULL), 0);
                        running = c.running || strcmp(c.state, "created") == 0;
                        ad_container_clear(&c);
                        if (!running)
                                break;
                        sleep_ms(100);
                }
                assert_true(i < 100);
        }
        T.release_command = "echo should-not-run";
        publish_built(T.d11, T.image_v1);
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d11, 120));
        assert_int_equal(release_lines(T.d11, "earlier-attempt"), 1);
        assert_int_equal(release_lines(T.d11, "should-not-run"), 0);
        assert_int_equal(ad_engine_container_inspect(T.engine, name, &c, NULL), -AD_ERR_NOT_FOUND);
        assert_serves("v1");

        /* A failing one: the step fails with its output, no container of
         * the release starts, v1 keeps serving. */
        T.release_command = "echo bad-release; exit 4";
        publish_built(T.d10, T.image_v2);
        f = expect_event(AD_SUBJECT_FAILED, T.d10, 120);
        T.release_command = NULL;
        assert_string_equal(f->failed->step, "deploy");
        assert_false(f->failed->retryable);
        if (strncmp(f->failed->reason, "release command failed (exit 4): bad-release",
                    strlen("release command failed (exit 4): bad-release")) != 0)
                fail_msg("reason: %s", f->failed->reason);
        ad_event_free(f);
        assert_int_equal(release_lines(T.d10, "==> release command exited 4"), 1);
        assert_int_equal(count_app_containers(T.d10), 0);
        assert_serves("v1");

        publish_compensate(T.d11, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d11, 60));
        publish_compensate(T.d9, "deploy");
        ad_event_free(expect_event(AD_SUBJECT_COMPENSATED ".deploy", T.d9, 60));
        assert_int_equal(count_app_containers(NULL), 0);
}

/* The deployer's "event handled" line for the deploy step of
 * deployment_id (waits up to 10 s for it); NULL if none. */
static json_t *deploy_log_line(const char *deployment_id)
{
        char line[16384];

        for (int tries = 0; tries < 100; tries++) {
                FILE *f = fopen(T.depl.log, "r");

                while (f && fgets(line, sizeof(line), f)) {
                        json_t *j = json_loads(line, 0, NULL);

                        const char *dep = json_string_value(json_object_get(j, "deployment_id"));

                        if (json_is_string(json_object_get(j, "image_pulled")) && dep &&
                            strcmp(dep, deployment_id) == 0) {
                                fclose(f);
                                return j;
                        }
                        json_decref(j);
                }
                if (f)
                        fclose(f);
                sleep_ms(100);
        }
        return NULL;
}

/* Does the engine know its image `ref` by `name@digest`, and what is its
 * id? */
static bool engine_knows_digest(const char *ref, const char *digest, char *id, size_t id_size)
{
        char **rd = NULL;
        cleanup_free char *img_id = NULL;
        char want[400];
        bool found = false;
        ad_error_t err = NULL;

        snprintf(want, sizeof(want), "%.*s@%s", (int)(strrchr(ref, ':') - ref), ref, digest);
        if (ad_engine_image_identity(T.engine, ref, &img_id, &rd, &err) < 0)
                fail_msg("inspect %s: %s", ref, ad_error_message(err));
        for (size_t i = 0; rd[i]; i++)
                found = found || strcmp(rd[i], want) == 0;
        ad_engine_strv_free(rd);
        snprintf(id, id_size, "%s", img_id);
        return found;
}

static void local_image_used(void **state)
{
        char path[400], id_before[128], id_after[128];
        ad_envelope *exp;
        json_t *line;
        FILE *f;

        (void)state;
        snprintf(T.image_local, sizeof(T.image_local), "%s/%s:local",
                 stack_env("AD_REGISTRY_ADDRESS"), T.app);
        snprintf(path, sizeof(path), "%s/ctx/Dockerfile", T.dir);
        assert_int_equal(write_file(path, "FROM localhost/app-deployer/python:bookworm\n"
                                          "COPY server.py /app/server.py\n"
                                          "ENV APP_TEXT=local\nUSER 10001\n"
                                          "CMD [\"python3\", \"/app/server.py\"]\n"),
                         0);
        /* Built and pushed as the builder does it, and kept in the engine. */
        assert_int_equal(sh("podman build --runtime runc --pull=never --layers=false -q -t %s "
                            "%s/ctx >/dev/null && podman push -q --tls-verify=false "
                            "--digestfile %s/local.digest %s",
                            T.image_local, T.dir, T.dir, T.image_local),
                         0);
        snprintf(path, sizeof(path), "%s/local.digest", T.dir);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(T.local_digest, sizeof(T.local_digest), f));
        fclose(f);
        assert_int_equal(strlen(T.local_digest), AD_ENGINE_DIGEST_LEN);
        /* What makes the case: the engine knows its build by another
         * manifest than the one the push made. */
        assert_false(
                engine_knows_digest(T.image_local, T.local_digest, id_before, sizeof(id_before)));

        /* As the builder says it: the id it built. */
        publish_built_full(T.d12, T.image_local, T.local_digest, id_before, 0);
        exp = expect_event(AD_SUBJECT_EXPOSED, T.d12, 120);
        ad_event_free(exp);
        assert_serves("local");
        line = deploy_log_line(T.d12);
        assert_non_null(line);
        assert_string_equal(json_string_value(json_object_get(line, "image_pulled")), "false");
        assert_string_equal(json_string_value(json_object_get(line, "image_check")), "image id");
        json_decref(line);
        /* Without the id (an image the builder reused from the registry):
         * the registry's manifest names the local image's config. */
        publish_built_full(T.d13, T.image_local, T.local_digest, NULL, 0);
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d13, 120));
        assert_serves("local");
        line = deploy_log_line(T.d13);
        assert_non_null(line);
        assert_string_equal(json_string_value(json_object_get(line, "image_pulled")), "false");
        assert_string_equal(json_string_value(json_object_get(line, "image_check")),
                            "config digest");
        json_decref(line);
        /* Not pulled: a pull records the registry's digest in the engine. */
        assert_false(
                engine_knows_digest(T.image_local, T.local_digest, id_after, sizeof(id_after)));
        assert_string_equal(id_after, id_before);
}

static void other_local_pulled(void **state)
{
        char path[400], id_impostor[128], id_after[128], id_pushed[128];
        json_t *line;

        (void)state;
        assert_int_equal(strlen(T.local_digest), AD_ENGINE_DIGEST_LEN);
        engine_knows_digest(T.image_local, T.local_digest, id_pushed, sizeof(id_pushed));
        /* Another image under the same name in the engine only. */
        snprintf(path, sizeof(path), "%s/ctx/Dockerfile", T.dir);
        assert_int_equal(write_file(path, "FROM localhost/app-deployer/python:bookworm\n"
                                          "COPY server.py /app/server.py\n"
                                          "ENV APP_TEXT=impostor\nUSER 10001\n"
                                          "CMD [\"python3\", \"/app/server.py\"]\n"),
                         0);
        assert_int_equal(sh("podman build --runtime runc --pull=never --layers=false -q -t %s "
                            "%s/ctx >/dev/null",
                            T.image_local, T.dir),
                         0);
        engine_knows_digest(T.image_local, T.local_digest, id_impostor, sizeof(id_impostor));
        assert_string_not_equal(id_impostor, id_pushed);

        publish_built_full(T.d14, T.image_local, T.local_digest, id_pushed, 0);
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d14, 120));
        assert_serves("local");
        line = deploy_log_line(T.d14);
        assert_non_null(line);
        assert_string_equal(json_string_value(json_object_get(line, "image_pulled")), "true");
        assert_string_equal(json_string_value(json_object_get(line, "image_check")),
                            "another image under this tag");
        json_decref(line);
        /* The tag is the registry's image again, known by its digest. */
        assert_true(engine_knows_digest(T.image_local, T.local_digest, id_after, sizeof(id_after)));
        assert_string_equal(id_after, id_pushed);
        sh("podman rmi -f %s >/dev/null 2>&1", id_impostor);
}

/* deployer.images_kept (2 here): after a deploy, the app's images past the
 * two newest leave the engine; unlabelled images (v1, v2, ...) stay, and
 * so do the registry's copies. */
/* The engine killed while it creates a container can leave the name in
 * its store without a container the engine knows: creating it again says
 * "name already in use", inspecting it "no such container".  buildah's
 * containers are exactly such records (the store's, not podman's), so one
 * named as the deployment's container takes the name here.  The deploy
 * step must free the name and run the release. */
static void name_left_by_a_dead_create(void **state)
{
        char name[256];

        (void)state;
        ad_name_container(name, sizeof(name), T.app, T.d16);
        assert_int_equal(sh("buildah from --pull=never --name %s %s >/dev/null", name, T.image_v1),
                         0);
        assert_int_not_equal(sh("podman container exists %s", name), 0);
        publish_built(T.d16, T.image_v1);
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d16, 120));
        assert_serves("v1");
        assert_int_equal(sh("podman container exists %s", name), 0);
}

static void old_images_pruned(void **state)
{
        const char *reg = stack_env("AD_REGISTRY_ADDRESS");
        char refs[4][256], tail[512], url[512];
        bool exists = false;
        json_t *line;

        (void)state;
        for (int i = 0; i < 4; i++) {
                snprintf(refs[i], sizeof(refs[i]), "%s/%s:p%d", reg, T.app, i + 1);
                snprintf(tail, sizeof(tail),
                         "LABEL %s=%s\nENV APP_TEXT=p%d\nUSER 10001\n"
                         "CMD [\"python3\", \"/app/server.py\"]\n",
                         AD_LABEL_APP, T.app, i + 1);
                /* Built and pushed as the builder does it, and kept in the
                 * engine. */
                assert_int_equal(build_image_as(refs[i], tail, true), 0);
                /* The engine dates images to the second. */
                sleep_ms(1100);
        }
        publish_built(T.d15, refs[3]);
        ad_event_free(expect_event(AD_SUBJECT_EXPOSED, T.d15, 120));
        assert_serves("p4");
        line = deploy_log_line(T.d15);
        assert_non_null(line);
        if (json_integer_value(json_object_get(line, "images_found")) != 4 ||
            json_integer_value(json_object_get(line, "images_removed")) != 2) {
                char *dump = json_dumps(line, JSON_COMPACT);

                fail_msg("not 4 images found and 2 removed: %s", dump ? dump : "?");
        }
        json_decref(line);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(ad_engine_image_exists(T.engine, refs[i], &exists, NULL), 0);
                if (exists != (i >= 2))
                        fail_msg("%s: %s in the engine", refs[i], exists ? "still" : "not");
        }
        /* Not the app's (no label): kept. */
        assert_int_equal(ad_engine_image_exists(T.engine, T.image_local, &exists, NULL), 0);
        assert_true(exists);
        /* The registry still has the oldest. */
        snprintf(url, sizeof(url), "http://%s/v2/%s/manifests/p1", reg, T.app);
        assert_int_equal(sh("curl -sfI --netrc-file \"$AD_REGISTRY_NETRC\" -H 'Accept: "
                            "application/vnd.oci.image.manifest.v1+json' -H 'Accept: "
                            "application/vnd.docker.distribution.manifest.v2+json' %s "
                            ">/dev/null",
                            url),
                         0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(deploy_v1),           cmocka_unit_test(redelivery_reuses),
                cmocka_unit_test(garbage_terminated),  cmocka_unit_test(redeploy_no_downtime),
                cmocka_unit_test(unhealthy_keeps_old), cmocka_unit_test(missing_image_fails),
                cmocka_unit_test(moved_secret_fails),  cmocka_unit_test(caddy_down_retried),
                cmocka_unit_test(compensate_deploy),   cmocka_unit_test(compensate_provision),
                cmocka_unit_test(replicas_balanced),   cmocka_unit_test(release_phase),
                cmocka_unit_test(local_image_used),    cmocka_unit_test(other_local_pulled),
                cmocka_unit_test(old_images_pruned),   cmocka_unit_test(name_left_by_a_dead_create),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
