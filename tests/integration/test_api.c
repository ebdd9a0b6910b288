/* adapi against the real stack: the binary runs as a subprocess on a free
 * port, and the tests check what the API owns: validation, the
 * deployment_requests rows, the events it publishes through the outbox
 * (read back with durable consumers of our own), the reads, the log
 * stream, the metrics.  The coordinator is not running: where a test
 * needs its state, it writes the rows the coordinator would, and removes
 * them at the end. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/http.h"
#include "ad/secret.h"

#include "../support/proto_literals.h"

#define MAX_BODY 65536

struct consumer {
        char durable[64];
        const char *subject;
        ad_bus_sub *sub;
};

static struct {
        pid_t pid;
        char log_path[64];
        char base[64];
        char key_hex[65];
        struct ad_secret_key key;
        ad_bus *bus;
        ad_db *db;
        struct consumer requested, destroy, rollback;
        /* Rows written in the coordinator's place, removed at the end. */
        char fake[16][AD_UUID_LEN + 1];
        int n_fake;
} fx;

/* ---- the server ---- */

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "r");
        char *buf;
        long n;

        if (f == NULL)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = calloc(1, (size_t)n + 1);
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* Starts adapi with AD_HTTP_PORT=0 and reads the port from its "ready"
 * line; waits for "serving the REST API" (the routes are up). */
static int start_api(void)
{
        int fd;

        snprintf(fx.log_path, sizeof(fx.log_path), "/tmp/test_api.XXXXXX");
        fd = mkstemp(fx.log_path);
        if (fd < 0)
                return -1;
        fx.pid = fork();
        if (fx.pid == 0) {
                dup2(fd, STDERR_FILENO);
                setenv("AD_HTTP_PORT", "0", 1);
                setenv("AD_API_ALLOW_LOCAL_SOURCES", "true", 1);
                setenv("AD_API_CLONE_ALLOWLIST", "127.0.0.1:9418", 1);
                setenv("AD_SECRETS_KEY", fx.key_hex, 1);
                unsetenv("AD_API_MAX_BODY_BYTES");
                execl(AD_BINARY_DIR "/bin/adapi", "adapi", (char *)NULL);
                _exit(127);
        }
        close(fd);
        for (int i = 0; i < 300; i++) {
                char *log = read_file(fx.log_path);
                const char *ready = log ? strstr(log, "\"msg\":\"ready\"") : NULL;
                const char *port = ready ? strstr(ready, "\"http_port\":") : NULL;

                if (port && strstr(log, "serving the REST API")) {
                        snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d",
                                 atoi(port + strlen("\"http_port\":")));
                        free(log);
                        return 0;
                }
                free(log);
                if (waitpid(fx.pid, NULL, WNOHANG) == fx.pid)
                        break;
                sleep_ms(100);
        }
        {
                char *log = read_file(fx.log_path);
                fprintf(stderr, "adapi did not start:\n%s\n", log ? log : "");
                free(log);
        }
        return -1;
}

/* A consumer that sees only what is published from now on. */
static int make_consumer(struct consumer *c, const char *subject, const char *tag)
{
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        char id[AD_UUID_LEN + 1];
        ad_error_t err = NULL;

        ad_uuid_v4(id);
        snprintf(c->durable, sizeof(c->durable), "test-api-%s-%.8s", tag, id);
        c->subject = subject;
        jsConsumerConfig_Init(&cc);
        cc.Durable = c->durable;
        cc.FilterSubject = subject;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverNew;
        if (js_AddConsumer(&ci, ad_bus_js(fx.bus), AD_STREAM_NAME, &cc, NULL, &jerr) != NATS_OK) {
                fprintf(stderr, "cannot create consumer %s (%d)\n", c->durable, (int)jerr);
                return -1;
        }
        jsConsumerInfo_Destroy(ci);
        if (ad_bus_bind(&c->sub, fx.bus, c->durable, subject, &err) < 0) {
                fprintf(stderr, "bind: %s\n", ad_error_message(err));
                ad_error_release(&err);
                return -1;
        }
        return 0;
}

static int group_setup(void **state)
{
        unsigned char raw[32];
        ad_error_t err = NULL;
        FILE *r = fopen("/dev/urandom", "r");

        (void)state;
        if (r == NULL || fread(raw, 1, sizeof(raw), r) != sizeof(raw))
                return -1;
        fclose(r);
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(fx.key_hex + 2 * i, 3, "%02x", raw[i]);
        if (ad_secret_key_parse(&fx.key, fx.key_hex, &err) < 0)
                return -1;
        if (ad_bus_connect(&fx.bus, stack_env("AD_NATS_URL"), "test_api", &err) < 0 ||
            ad_bus_ensure_stream(fx.bus, 1, &err) < 0 ||
            ad_db_connect(&fx.db, stack_env("AD_DATABASE_URL"), &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        if (make_consumer(&fx.requested, AD_SUBJECT_REQUESTED, "req") < 0 ||
            make_consumer(&fx.destroy, AD_SUBJECT_DESTROY, "destroy") < 0 ||
            make_consumer(&fx.rollback, AD_SUBJECT_ROLLBACK, "rollback") < 0)
                return -1;
        return start_api();
}

static int group_teardown(void **state)
{
        struct consumer *cs[] = { &fx.requested, &fx.destroy, &fx.rollback };

        (void)state;
        if (fx.pid > 0) {
                int status = 0;

                kill(fx.pid, SIGTERM);
                waitpid(fx.pid, &status, 0);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        fprintf(stderr, "adapi exited with status %d\n", status);
        }
        for (int i = 0; i < fx.n_fake; i++) {
                const char *p[1] = { fx.fake[i] };

                ad_db_exec(fx.db, NULL, "DELETE FROM deployments WHERE id = $1", 1, p, NULL);
                ad_db_exec(fx.db, NULL, "DELETE FROM deployment_logs WHERE deployment_id = $1", 1,
                           p, NULL);
        }
        for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
                ad_bus_sub_free(cs[i]->sub);
                if (cs[i]->durable[0])
                        js_DeleteConsumer(ad_bus_js(fx.bus), AD_STREAM_NAME, cs[i]->durable, NULL,
                                          NULL);
        }
        ad_bus_close(fx.bus);
        ad_db_close(fx.db);
        unlink(fx.log_path);
        return 0;
}

/* ---- helpers ---- */

struct resp {
        long status;
        char *body;
        json_t *doc;
};

static struct resp request(const char *method, const char *path, const char *body,
                           const char *content_type, const char *const *headers)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response r = { 0 };
        struct resp out = { 0 };
        ad_error_t err = NULL;
        char url[512];

        snprintf(url, sizeof(url), "%s%s", fx.base, path);
        req.method = method;
        req.url = url;
        req.body = body;
        req.body_len = body ? strlen(body) : 0;
        req.content_type = content_type;
        req.headers = headers;
        if (ad_http_do(&req, &r, &err) < 0)
                fail_msg("%s %s: %s", method, path, ad_error_message(err));
        out.status = r.status;
        out.body = r.body;
        out.doc = json_loads(r.body ? r.body : "", 0, NULL);
        return out;
}

static struct resp post_json(const char *path, const char *body)
{
        return request("POST", path, body, "application/json", NULL);
}

static void resp_free(struct resp *r)
{
        free(r->body);
        json_decref(r->doc);
}

static const char *str(json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));

        return s ? s : "";
}

static const char *error_code(const struct resp *r)
{
        return str(json_object_get(r->doc, "error"), "code");
}

static const char *error_message(const struct resp *r)
{
        return str(json_object_get(r->doc, "error"), "message");
}

/* POSTs a deployment that must be accepted; copies its id. */
static void deploy(const char *body, char id[AD_UUID_LEN + 1])
{
        struct resp r = post_json("/deployments", body);

        if (r.status != 202)
                fail_msg("POST %s: %ld %s", body, r.status, r.body);
        assert_true(ad_uuid_valid(str(r.doc, "id")));
        snprintf(id, AD_UUID_LEN + 1, "%s", str(r.doc, "id"));
        resp_free(&r);
}

/* Waits for the event about deployment id on c; acks (and skips) other
 * tests' events.  NULL when none came in timeout_ms. */
static ad_envelope *event_for(struct consumer *c, const char *id, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        while (ad_monotonic_ms() < deadline) {
                struct ad_delivery d;
                ad_envelope *env = NULL;
                ad_error_t err = NULL;
                int r = ad_bus_fetch(c->sub, &d, 500, &err);

                if (r < 0)
                        fail_msg("fetch: %s", ad_error_message(err));
                if (r == 0)
                        continue;
                ad_delivery_ack(&d, NULL);
                if (ad_event_unpack(&env, d.data, d.len, &err) == 0 &&
                    strcmp(env->deployment_id, id) == 0) {
                        ad_delivery_release(&d);
                        return env;
                }
                ad_error_release(&err);
                ad_event_free(env);
                ad_delivery_release(&d);
        }
        return NULL;
}

static void sql(const char *q, int n, const char *const *params)
{
        ad_error_t err = NULL;

        if (ad_db_exec(fx.db, NULL, q, n, params, &err) < 0)
                fail_msg("%s", ad_error_message(err));
}

/* Writes a deployments row the way the coordinator would. */
static void fake_deployment(const char *id, const char *app, const char *status)
{
        const char *p[3] = { id, app, status };

        sql("INSERT INTO deployments (id, app_name, repo_url, status) "
            "VALUES ($1, $2, 'https://example.com/acme/fake.git', $3) "
            "ON CONFLICT (id) DO UPDATE SET status = $3, updated_at = now()",
            3, p);
        snprintf(fx.fake[fx.n_fake++], AD_UUID_LEN + 1, "%s", id);
}

/* ---- tests ---- */

static void test_post_publishes_sealed_event(void **state)
{
        char id[AD_UUID_LEN + 1], event_id[AD_UUID_LEN + 1];
        ad_envelope *env;
        const char *p[1] = { id };
        PGresult *r = NULL;
        bool found = false;

        (void)state;
        deploy("{\"repo_url\": \"https://example.com/acme/Sealed_Shop.git\", \"ref\": \"main\","
               " \"env\": {\"API_TOKEN\": \"hunter2-plain-text\", \"PORT\": 8081}}",
               id);
        env = event_for(&fx.requested, id, 10000);
        assert_non_null(env);
        assert_string_equal(ad_event_kind(env), AD_SUBJECT_REQUESTED);
        assert_string_equal(env->producer, "api");
        assert_true(ad_uuid_valid(env->event_id));
        assert_true(ad_uuid_valid(env->trace_id));
        assert_string_equal(env->requested->repo_url, "https://example.com/acme/Sealed_Shop.git");
        assert_string_equal(env->requested->ref, "main");
        assert_string_equal(env->requested->app_name, "sealed-shop");
        assert_string_equal(env->requested->requested_by, "anonymous");
        assert_int_equal(env->requested->n_env, 2);
        for (size_t i = 0; i < env->requested->n_env; i++) {
                Appdeployer__V1__EnvVar *v = env->requested->env[i];
                struct ad_secret_keyring ring;
                char *plain = NULL;
                ad_error_t err = NULL;

                /* Sealed on the bus: never the plain text. */
                assert_true(ad_secret_is_sealed(v->value));
                assert_null(strstr(v->value, "hunter2"));
                ad_secret_keyring_of(&ring, &fx.key);
                /* Bound to its app and variable: not openable as another. */
                assert_true(ad_secret_open(&plain, &ring, "other-shop", v->name, v->value, &err) <
                            0);
                ad_error_release(&err);
                assert_true(ad_secret_open(&plain, &ring, "sealed-shop", "OTHER", v->value, &err) <
                            0);
                ad_error_release(&err);
                assert_int_equal(
                        ad_secret_open(&plain, &ring, "sealed-shop", v->name, v->value, &err), 0);
                if (strcmp(v->name, "API_TOKEN") == 0) {
                        assert_string_equal(plain, "hunter2-plain-text");
                        found = true;
                } else {
                        assert_string_equal(v->name, "PORT");
                        assert_string_equal(plain, "8081");
                }
                free(plain);
        }
        assert_true(found);
        snprintf(event_id, sizeof(event_id), "%s", env->event_id);
        ad_event_free(env);

        /* The request is recorded; its outbox row is published. */
        assert_int_equal(ad_db_exec(fx.db, &r,
                                    "SELECT app_name, ref, requested_by FROM deployment_requests "
                                    "WHERE id = $1",
                                    1, p, NULL),
                         0);
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "sealed-shop");
        assert_string_equal(PQgetvalue(r, 0, 1), "main");
        PQclear(r);
        /* Published by the relay right after the commit; the plain text
         * is nowhere in the outbox. */
        p[0] = event_id;
        assert_int_equal(ad_db_exec(fx.db, &r,
                                    "SELECT published_at IS NOT NULL, "
                                    "position('hunter2'::bytea in payload) FROM outbox "
                                    "WHERE event_id = $1",
                                    1, p, NULL),
                         0);
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "t");
        assert_string_equal(PQgetvalue(r, 0, 1), "0");
        PQclear(r);
}

static void test_new_deployment_shows_queued(void **state)
{
        char id[AD_UUID_LEN + 1], path[128];
        struct resp r;

        (void)state;
        deploy("{\"repo_url\": \"https://example.com/acme/queued.git\", \"name\": \"queued-app\"}",
               id);
        snprintf(path, sizeof(path), "/deployments/%s", id);
        r = request("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(str(r.doc, "id"), id);
        assert_string_equal(str(r.doc, "status"), "QUEUED");
        assert_string_equal(str(r.doc, "app"), "queued-app");
        assert_string_equal(str(r.doc, "repo_url"), "https://example.com/acme/queued.git");
        assert_true(json_is_array(json_object_get(r.doc, "steps")));
        assert_true(json_is_null(json_object_get(r.doc, "build")));
        assert_true(json_is_null(json_object_get(r.doc, "url")));
        assert_int_equal(strlen(str(r.doc, "created_at")), strlen("2026-11-26T22:27:55.959Z"));
        resp_free(&r);

        /* Once the coordinator has the row, its state shows. */
        fake_deployment(id, "queued-app", "BUILDING");
        r = request("GET", path, NULL, NULL, NULL);
        assert_string_equal(str(r.doc, "status"), "BUILDING");
        resp_free(&r);
}

static void test_validation_errors(void **state)
{
        static const struct {
                const char *body;
                long status;
                const char *code, *needle;
        } cases[] = {
                { "{\"repo_url\": \"https://x/y\",\n \"ref\": }", 400, "invalid_json",
                  "line 2, column" },
                { "{\"ref\": \"main\"}", 400, "invalid_repo_url", "required" },
                { "{\"repo_url\": \"ftp://example.com/x.git\"}", 400, "invalid_repo_url", "ftp" },
                { "{\"repo_url\": \"https://x/y\", \"name\": \"No_Caps\"}", 400, "invalid_name",
                  "a-z" },
                { "{\"repo_url\": \"https://x/y\", \"env\": {\"BAD-NAME\": \"v\"}}", 400,
                  "invalid_env", "BAD-NAME" },
                { "[]", 400, "invalid_body", "object" },
                /* Internal hosts, in any spelling, off the allowlist. */
                { "{\"repo_url\": \"http://127.0.0.1:2019/config.git\"}", 400,
                  "repo_host_not_allowed", "loopback" },
                { "{\"repo_url\": \"http://2130706433:4222/x.git\"}", 400, "repo_host_not_allowed",
                  "loopback" },
                { "{\"repo_url\": \"http://[::1]:5432/x.git\"}", 400, "repo_host_not_allowed",
                  "loopback" },
                { "{\"repo_url\": \"http://169.254.169.254/latest/x.git\"}", 400,
                  "repo_host_not_allowed", "link-local" },
                { "{\"repo_url\": \"https://10.1.2.3/x.git\"}", 400, "repo_host_not_allowed",
                  "private" },
                { "{\"repo_url\": \"git://127.0.0.1:9419/x.git\"}", 400, "repo_host_not_allowed",
                  "allowlist" },
        };
        struct resp r;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                r = post_json("/deployments", cases[i].body);
                if (r.status != cases[i].status || strcmp(error_code(&r), cases[i].code) != 0 ||
                    strstr(error_message(&r), cases[i].needle) == NULL)
                        fail_msg("%s -> %ld %s", cases[i].body, r.status, r.body);
                resp_free(&r);
        }
        /* Local sources are on for this server (AD_API_ALLOW_LOCAL_SOURCES). */
        r = post_json("/deployments", "{\"repo_url\": \"file:///srv/git/local-app\"}");
        assert_int_equal(r.status, 202);
        assert_string_equal(str(r.doc, "app"), "local-app");
        resp_free(&r);
        /* The allowlisted git server (AD_API_CLONE_ALLOWLIST), exactly. */
        r = post_json("/deployments", "{\"repo_url\": \"git://127.0.0.1:9418/allowed-app\"}");
        assert_int_equal(r.status, 202);
        resp_free(&r);
}

static void test_content_type_and_size(void **state)
{
        char *big = malloc(MAX_BODY + 4096);
        struct resp r;
        size_t off;

        (void)state;
        r = request("POST", "/deployments", "{\"repo_url\": \"https://x/y\"}", "text/plain", NULL);
        assert_int_equal(r.status, 415);
        assert_string_equal(error_code(&r), "unsupported_media_type");
        resp_free(&r);

        off = (size_t)sprintf(big, "{\"repo_url\": \"https://x/y\", \"env\": {\"A\": \"");
        memset(big + off, 'a', MAX_BODY);
        strcpy(big + off + MAX_BODY, "\"}}");
        r = post_json("/deployments", big);
        assert_int_equal(r.status, 413);
        assert_non_null(strstr(error_message(&r), "65536"));
        resp_free(&r);
        free(big);
}

static void test_get_errors(void **state)
{
        struct resp r;

        (void)state;
        r = request("GET", "/deployments/00000000-0000-4000-8000-000000000000", NULL, NULL, NULL);
        assert_int_equal(r.status, 404);
        assert_string_equal(error_code(&r), "not_found");
        resp_free(&r);
        r = request("GET", "/deployments/not-a-uuid", NULL, NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_string_equal(error_code(&r), "invalid_id");
        resp_free(&r);
        r = request("GET", "/nothing/here", NULL, NULL, NULL);
        assert_int_equal(r.status, 404);
        assert_non_null(r.doc);
        resp_free(&r);
        r = request("PUT", "/deployments", "{}", "application/json", NULL);
        assert_int_equal(r.status, 405);
        assert_string_equal(error_code(&r), "method_not_allowed");
        resp_free(&r);
        r = request("GET", "/deployments?limit=zero", NULL, NULL, NULL);
        assert_int_equal(r.status, 400);
        resp_free(&r);
        r = request("GET", "/deployments?cursor=garbage", NULL, NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_string_equal(error_code(&r), "invalid_cursor");
        resp_free(&r);
}

static void test_list_newest_first_paginated(void **state)
{
        char ids[3][AD_UUID_LEN + 1], path[512], last_created[64] = "";
        char *cursor = NULL;
        int pos[3] = { -1, -1, -1 }, seen = 0;

        (void)state;
        for (int i = 0; i < 3; i++)
                deploy("{\"repo_url\": \"https://example.com/acme/listed.git\"}", ids[i]);
        /* Pages of two until ours are all seen (other tests add rows). */
        for (int page = 0; page < 50 && (pos[0] < 0 || pos[1] < 0 || pos[2] < 0); page++) {
                struct resp r;
                json_t *items, *d;
                size_t i;

                snprintf(path, sizeof(path), "/deployments?limit=2%s%s", cursor ? "&cursor=" : "",
                         cursor ? cursor : "");
                r = request("GET", path, NULL, NULL, NULL);
                assert_int_equal(r.status, 200);
                items = json_object_get(r.doc, "deployments");
                assert_true(json_array_size(items) <= 2);
                json_array_foreach (items, i, d) {
                        const char *created = str(d, "created_at");

                        /* Newest first, across pages too. */
                        if (last_created[0] && strcmp(created, last_created) > 0)
                                fail_msg("%s after %s", created, last_created);
                        snprintf(last_created, sizeof(last_created), "%s", created);
                        for (int k = 0; k < 3; k++)
                                if (strcmp(str(d, "id"), ids[k]) == 0) {
                                        assert_int_equal(pos[k], -1); /* no repeats */
                                        pos[k] = seen;
                                }
                        seen++;
                }
                free(cursor);
                cursor = json_is_string(json_object_get(r.doc, "next_cursor"))
                                 ? strdup(str(r.doc, "next_cursor"))
                                 : NULL;
                resp_free(&r);
                if (cursor == NULL)
                        break;
        }
        free(cursor);
        assert_true(pos[0] >= 0 && pos[1] >= 0 && pos[2] >= 0);
        assert_true(pos[2] < pos[1]);
        assert_true(pos[1] < pos[0]);
}

static void test_idempotency_key(void **state)
{
        char key_header[96], id[AD_UUID_LEN + 1], key[AD_UUID_LEN + 1];
        const char *headers[] = { key_header, NULL };
        const char *body = "{\"repo_url\": \"https://example.com/acme/once.git\"}";
        const char *p[1] = { key };
        PGresult *res = NULL;
        ad_envelope *env;
        struct resp r;

        (void)state;
        ad_uuid_v4(key);
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", key);
        r = request("POST", "/deployments", body, "application/json", headers);
        assert_int_equal(r.status, 202);
        snprintf(id, sizeof(id), "%s", str(r.doc, "id"));
        resp_free(&r);
        r = request("POST", "/deployments", body, "application/json", headers);
        assert_int_equal(r.status, 200);
        assert_string_equal(str(r.doc, "id"), id);
        resp_free(&r);

        assert_int_equal(ad_db_exec(fx.db, &res,
                                    "SELECT count(*) FROM deployment_requests "
                                    "WHERE idempotency_key = $1",
                                    1, p, NULL),
                         0);
        assert_string_equal(PQgetvalue(res, 0, 0), "1");
        PQclear(res);
        /* One event, not two. */
        env = event_for(&fx.requested, id, 10000);
        assert_non_null(env);
        ad_event_free(env);
        assert_null(event_for(&fx.requested, id, 1500));

        /* The same key for another request is a conflict. */
        r = request("POST", "/deployments",
                    "{\"repo_url\": \"https://example.com/acme/other.git\"}", "application/json",
                    headers);
        assert_int_equal(r.status, 409);
        assert_string_equal(error_code(&r), "idempotency_key_reused");
        resp_free(&r);

        /* Env counts too: the same values (in any order) replay, others
         * conflict. */
        ad_uuid_v4(key);
        snprintf(key_header, sizeof(key_header), "Idempotency-Key: %s", key);
        r = request("POST", "/deployments",
                    "{\"repo_url\": \"https://example.com/acme/env.git\", "
                    "\"env\": {\"A\": \"1\", \"B\": \"2\"}}",
                    "application/json", headers);
        assert_int_equal(r.status, 202);
        snprintf(id, sizeof(id), "%s", str(r.doc, "id"));
        resp_free(&r);
        r = request("POST", "/deployments",
                    "{\"repo_url\": \"https://example.com/acme/env.git\", "
                    "\"env\": {\"B\": \"2\", \"A\": \"1\"}}",
                    "application/json", headers);
        assert_int_equal(r.status, 200);
        assert_string_equal(str(r.doc, "id"), id);
        resp_free(&r);
        r = request("POST", "/deployments",
                    "{\"repo_url\": \"https://example.com/acme/env.git\", "
                    "\"env\": {\"A\": \"1\", \"B\": \"3\"}}",
                    "application/json", headers);
        assert_int_equal(r.status, 409);
        assert_string_equal(error_code(&r), "idempotency_key_reused");
        resp_free(&r);
        /* The fingerprint at rest is not the value. */
        assert_int_equal(ad_db_exec(fx.db, &res,
                                    "SELECT env_digest FROM deployment_requests "
                                    "WHERE idempotency_key = $1",
                                    1, p, NULL),
                         0);
        assert_int_equal(strlen(PQgetvalue(res, 0, 0)), 64);
        PQclear(res);
}

static void test_delete_publishes_destroy(void **state)
{
        char id[AD_UUID_LEN + 1], path[128];
        ad_envelope *env;
        struct resp r;

        (void)state;
        deploy("{\"repo_url\": \"https://example.com/acme/doomed.git\"}", id);
        snprintf(path, sizeof(path), "/deployments/%s", id);
        r = request("DELETE", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 202);
        assert_string_equal(str(r.doc, "id"), id);
        resp_free(&r);
        env = event_for(&fx.destroy, id, 10000);
        assert_non_null(env);
        assert_string_equal(ad_event_kind(env), AD_SUBJECT_DESTROY);
        assert_string_equal(env->destroy->requested_by, "anonymous");
        ad_event_free(env);

        r = request("DELETE", "/deployments/00000000-0000-4000-8000-000000000000", NULL, NULL,
                    NULL);
        assert_int_equal(r.status, 404);
        resp_free(&r);
}

static void test_rollback(void **state)
{
        char first[AD_UUID_LEN + 1], second[AD_UUID_LEN + 1], path[128], app[48];
        const char *p[3] = { app, first, second };
        ad_envelope *env;
        struct resp r;

        (void)state;
        ad_uuid_v4(first);
        ad_uuid_v4(second);
        snprintf(app, sizeof(app), "rb-%.8s", first);
        fake_deployment(first, app, "EXPOSED");
        fake_deployment(second, app, "EXPOSED");

        /* No release yet: nothing to go back to. */
        snprintf(path, sizeof(path), "/deployments/%s/rollback", second);
        r = request("POST", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 409);
        assert_string_equal(error_code(&r), "no_earlier_release");
        resp_free(&r);

        sql("INSERT INTO releases (app_name, deployment_id, image) VALUES "
            "($1, $2, 'reg/x:1'), ($1, $3, 'reg/x:2')",
            3, p);
        r = request("POST", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 202);
        assert_string_equal(str(r.doc, "rollback_of"), second);
        assert_string_equal(str(r.doc, "app"), app);
        env = event_for(&fx.rollback, str(r.doc, "id"), 10000);
        assert_non_null(env);
        assert_string_equal(env->rollback->target_deployment_id, second);
        ad_event_free(env);
        /* The new deployment can be followed at once. */
        snprintf(path, sizeof(path), "/deployments/%s", str(r.doc, "id"));
        resp_free(&r);
        r = request("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(str(r.doc, "status"), "QUEUED");
        assert_string_equal(str(r.doc, "app"), app);
        resp_free(&r);

        /* The first release has nothing before it. */
        snprintf(path, sizeof(path), "/deployments/%s/rollback", first);
        r = request("POST", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 409);
        resp_free(&r);
        r = request("POST", "/deployments/00000000-0000-4000-8000-000000000000/rollback", NULL,
                    NULL, NULL);
        assert_int_equal(r.status, 404);
        resp_free(&r);
}

struct stream_buf {
        char data[16384];
        size_t len;
};

static int on_chunk(const char *data, size_t len, void *ud)
{
        struct stream_buf *b = ud;

        if (b->len + len >= sizeof(b->data))
                return -1;
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

/* Plays the builder and the coordinator while a client follows. */
static void *writer(void *ud)
{
        const char *id = ud;
        const char *p[1] = { id };
        ad_db *db = NULL;

        if (ad_db_connect(&db, stack_env("AD_DATABASE_URL"), NULL) < 0)
                return NULL;
        sleep_ms(700);
        ad_db_exec(db, NULL,
                   "INSERT INTO deployment_logs (deployment_id, source, line) "
                   "VALUES ($1, 'build', 'written while following')",
                   1, p, NULL);
        sleep_ms(700);
        ad_db_exec(db, NULL, "UPDATE deployments SET status = 'FAILED' WHERE id = $1", 1, p, NULL);
        ad_db_close(db);
        return NULL;
}

static void test_logs_and_follow(void **state)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response resp = { 0 };
        struct stream_buf *b = calloc(1, sizeof(*b));
        char id[AD_UUID_LEN + 1], path[160], url[256];
        const char *p[1] = { id };
        ad_error_t err = NULL;
        pthread_t t;
        struct resp r;

        (void)state;
        deploy("{\"repo_url\": \"https://example.com/acme/logged.git\"}", id);
        fake_deployment(id, "logged", "BUILDING");
        sql("INSERT INTO deployment_logs (deployment_id, source, line) VALUES "
            "($1, 'build', 'step 1/2'), ($1, 'build', 'step 2/2')",
            1, p);

        snprintf(path, sizeof(path), "/deployments/%s/logs", id);
        r = request("GET", path, NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "step 1/2\nstep 2/2\n");
        resp_free(&r);
        snprintf(path, sizeof(path), "/deployments/%s/logs?format=json", id);
        r = request("GET", path, NULL, NULL, NULL);
        assert_int_equal(json_array_size(json_object_get(r.doc, "lines")), 2);
        resp_free(&r);

        /* Follow: stored lines, a line written meanwhile, then the end
         * once the deployment is final. */
        pthread_create(&t, NULL, writer, id);
        snprintf(url, sizeof(url), "%s/deployments/%s/logs?follow=1", fx.base, id);
        req.url = url;
        req.timeout_ms = 20000;
        req.on_chunk = on_chunk;
        req.chunk_ud = b;
        if (ad_http_do(&req, &resp, &err) < 0)
                fail_msg("follow: %s", ad_error_message(err));
        pthread_join(t, NULL);
        assert_int_equal(resp.status, 200);
        assert_non_null(strstr(b->data, "data: step 1/2\n\n"));
        assert_non_null(strstr(b->data, "data: step 2/2\n\n"));
        assert_non_null(strstr(b->data, "data: written while following\n\n"));
        assert_true(strstr(b->data, "step 2/2") < strstr(b->data, "written while following"));
        assert_non_null(strstr(b->data, "event: end\ndata: FAILED\n\n"));
        ad_http_response_free(&resp);
        free(b);

        r = request("GET", "/deployments/00000000-0000-4000-8000-000000000000/logs", NULL, NULL,
                    NULL);
        assert_int_equal(r.status, 404);
        resp_free(&r);
}

static void test_metrics_count_requests(void **state)
{
        struct resp r;

        (void)state;
        r = request("GET", "/metrics", NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "ad_api_requests_total{route=\"deployments_create\","
                                       "code=\"202\"}"));
        assert_non_null(strstr(r.body, "ad_api_requests_total{route=\"deployments_get\","
                                       "code=\"404\"}"));
        resp_free(&r);
}

static void test_request_log_has_no_secrets(void **state)
{
        char *log = read_file(fx.log_path);

        (void)state;
        assert_non_null(log);
        assert_non_null(strstr(log, "\"msg\":\"request\""));
        assert_non_null(strstr(log, "\"duration_ms\":"));
        assert_null(strstr(log, "hunter2"));
        free(log);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_post_publishes_sealed_event),
                cmocka_unit_test(test_new_deployment_shows_queued),
                cmocka_unit_test(test_validation_errors),
                cmocka_unit_test(test_content_type_and_size),
                cmocka_unit_test(test_get_errors),
                cmocka_unit_test(test_list_newest_first_paginated),
                cmocka_unit_test(test_idempotency_key),
                cmocka_unit_test(test_delete_publishes_destroy),
                cmocka_unit_test(test_rollback),
                cmocka_unit_test(test_logs_and_follow),
                cmocka_unit_test(test_metrics_count_requests),
                cmocka_unit_test(test_request_log_has_no_secrets),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
