/* adbuilder on the real stack (NATS, PostgreSQL, podman's Docker API, the
 * registry): deploy.analyzed for the example apps, served by a real git
 * daemon, ends in deploy.built with both tags in the registry; a failing
 * Dockerfile ends in deploy.failed with the build log's tail; a second
 * build reuses what the first made; garbage and duplicates are harmless;
 * deploy.compensate.build deletes what the build pushed.
 *
 * The analysis in each event comes from the real detector (addetect), as
 * the analyzer would send it.  App names carry a random suffix so runs do
 * not collide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/gitserver.h"
#include "../support/proc.h"
#include "../support/stack.h"
#include "ad/analysis.h"
#include "ad/bus.h"
#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/engine.h"
#include "ad/event.h"
#include "ad/http.h"
#include "ad/names.h"
#include "detect.h"

#define WAIT_BUILD_MS (240 * 1000)
#define MAX_EVENTS 256

static struct test_proc builder;
static struct test_gitserver git;
static ad_bus *bus;
static ad_db *db;
static ad_bus_sub *sub;
static char durable[64], suffix[8];
static const char *registry;
static char registry_userpwd[512]; /* "user:password" of the stack's registry */
/* The builder's builder.work_dir, this run's own (test_no_context_file
 * looks into it). */
static char work_dir[64];

/* Every event seen on deploy.> since the test started; a consumed one is
 * not found again. */
static ad_envelope *events[MAX_EVENTS];
static bool consumed[MAX_EVENTS];
static size_t n_events;

struct deployment {
        char id[AD_UUID_LEN + 1];
        char event_id[AD_UUID_LEN + 1];
        char app[64];
        char sha[64];
        int64_t published_ms;
};

/* ---- helpers --------------------------------------------------------- */

static void capture(char *out, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void capture(char *out, size_t size, const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        out[0] = '\0';
        p = popen(cmd, "r");
        if (p == NULL)
                return;
        if (fgets(out, (int)size, p) == NULL)
                out[0] = '\0';
        out[strcspn(out, "\n")] = '\0';
        pclose(p);
}

static void fetch_events(int64_t wait_ms)
{
        struct ad_delivery d;

        while (ad_bus_fetch(sub, &d, wait_ms, NULL) == 1) {
                ad_envelope *env = NULL;

                if (ad_event_unpack(&env, d.data, d.len, NULL) == 0) {
                        if (n_events < MAX_EVENTS)
                                events[n_events++] = env;
                        else
                                ad_event_free(env);
                }
                ad_delivery_ack(&d, NULL);
                ad_delivery_release(&d);
                wait_ms = 10;
        }
}

/* Waits for an event of `payload` about deployment `id`. */
static const ad_envelope *wait_for(const char *id, Appdeployer__V1__Envelope__PayloadCase payload,
                                   int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        for (;;) {
                for (size_t i = 0; i < n_events; i++)
                        if (!consumed[i] && events[i]->payload_case == payload &&
                            strcmp(events[i]->deployment_id, id) == 0)
                                return events[i];
                if (ad_monotonic_ms() > deadline)
                        return NULL;
                fetch_events(500);
        }
}

/* deploy.built, or fails the test with the deploy.failed reason. */
static const Appdeployer__V1__DeployBuilt *wait_built(const struct deployment *dep)
{
        int64_t deadline = ad_monotonic_ms() + WAIT_BUILD_MS;

        while (ad_monotonic_ms() < deadline) {
                const ad_envelope *e =
                        wait_for(dep->id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, 1000);
                const ad_envelope *f =
                        wait_for(dep->id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, 0);
                if (e)
                        return e->built;
                if (f) {
                        test_proc_dump(&builder);
                        fail_msg("%s: deploy.failed: %s", dep->app, f->failed->reason);
                }
                if (kill(builder.pid, 0) != 0)
                        fail_msg("adbuilder died");
        }
        test_proc_dump(&builder);
        fail_msg("%s: no deploy.built in %d s", dep->app, WAIT_BUILD_MS / 1000);
        return NULL;
}

static const Appdeployer__V1__DeployFailed *wait_failed(const struct deployment *dep)
{
        const ad_envelope *e =
                wait_for(dep->id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, WAIT_BUILD_MS);

        if (e == NULL) {
                test_proc_dump(&builder);
                fail_msg("%s: no deploy.failed", dep->app);
        }
        return e->failed;
}

/* Makes repository `name` from examples/<example> (or from nothing). */
static void add_repo(const char *name, const char *example)
{
        char src[512];

        snprintf(src, sizeof(src), "%s/examples/%s", AD_SOURCE_DIR, example);
        assert_int_equal(test_gitserver_add(&git, name, src), 0);
}

static void repo_sha(const char *name, char *sha, size_t size)
{
        capture(sha, size, "git -C %s/%s rev-parse HEAD", git.root, name);
        assert_int_equal(strlen(sha), 40);
}

/* Publishes deploy.analyzed for repository `repo` as app `app`, with the
 * repository URL naming `url_repo`. */
static void publish_analyzed_as(struct deployment *dep, const char *repo, const char *app,
                                const char *url_repo)
{
        Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__Resources res = APPDEPLOYER__V1__RESOURCES__INIT;
        Appdeployer__V1__EnvVar var = APPDEPLOYER__V1__ENV_VAR__INIT, *vars[1] = { &var };
        struct ad_analysis *a = NULL;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *json = NULL;
        char dir[512], url[300], trace[AD_UUID_LEN + 1];
        ad_envelope env;
        json_t *j;

        snprintf(dir, sizeof(dir), "%s/%s", git.root, repo);
        if (analyzer_detect(&a, dir, &err) < 0)
                fail_msg("detect %s: %s", repo, ad_error_message(err));
        j = ad_analysis_to_json(a);
        json = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(json);

        memset(dep, 0, sizeof(*dep));
        ad_uuid_v4(dep->id);
        snprintf(dep->app, sizeof(dep->app), "%s", app);
        repo_sha(repo, dep->sha, sizeof(dep->sha));
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/%s", git.port, url_repo);

        an.language = a->language;
        an.framework = a->framework;
        an.version = a->version;
        an.install_command = a->install_command;
        an.build_command = a->build_command;
        an.start_command = a->start_command;
        an.port = a->port;
        an.has_dockerfile = a->has_dockerfile;
        an.analysis_json = json;
        an.app_name = dep->app;
        an.repo_url = url;
        an.ref = (char *)"main";
        an.git_sha = dep->sha;
        res.cpu = 0.5;
        res.memory_mb = 256;
        an.resources = &res;
        var.name = (char *)"GREETING";
        var.value = (char *)"sealed:opaque";
        an.env = vars;
        an.n_env = 1;

        ad_uuid_v4(trace);
        ad_event_init(&env, dep->id, trace, 1, "test_builder", dep->event_id);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED;
        env.analyzed = &an;
        dep->published_ms = ad_monotonic_ms();
        if (ad_event_publish(bus, AD_SUBJECT_ANALYZED, &env, NULL, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
        ad_analysis_free(a);
}

static void publish_analyzed(struct deployment *dep, const char *repo, const char *app)
{
        publish_analyzed_as(dep, repo, app, repo);
}

/* GET /v2/<app>/tags/list contains `tag`. */
static bool registry_has_tag(const char *app, const char *tag)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response resp;
        char url[512], quoted[128];
        bool found;

        snprintf(url, sizeof(url), "http://%s/v2/%s/tags/list", registry, app);
        snprintf(quoted, sizeof(quoted), "\"%s\"", tag);
        req.url = url;
        req.userpwd = registry_userpwd;
        if (ad_http_do(&req, &resp, NULL) < 0)
                return false;
        found = resp.status == 200 && strstr(resp.body, quoted) != NULL;
        ad_http_response_free(&resp);
        return found;
}

static long db_count(const char *sql, const char *param)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[1] = { param };

        if (ad_db_exec(db, &r, sql, 1, params, NULL) < 0 || PQntuples(r) != 1)
                return -1;
        return strtol(PQgetvalue(r, 0, 0), NULL, 10);
}

/* The builder's JSON log line about a deployment (caller frees). */
static char *builder_log_line(const char *deployment_id, const char *msg)
{
        char line[16384];
        char *found = NULL;
        FILE *f = fopen(builder.log, "r");

        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, deployment_id) && strstr(line, msg)) {
                        free(found);
                        found = strdup(line);
                }
        if (f)
                fclose(f);
        return found;
}

/* The builder logs "event handled" after it published the event the test
 * waited for: on a loaded machine the line may not be written yet. */
static char *builder_log_line_wait(const char *deployment_id, const char *msg)
{
        char *line = NULL;

        for (int i = 0; i < 300 && line == NULL; i++) {
                line = builder_log_line(deployment_id, msg);
                if (line == NULL)
                        test_sleep_ms(100);
        }
        return line;
}

/* ---- fixtures ---------------------------------------------------------- */

static int group_setup(void **state)
{
        static char work_dir_env[128];
        /* A context bound of 1 MiB: test_context_too_large_aborts reaches
         * it, the other tests' contexts are far below it. */
        static const char *const env[] = { "AD_BUILDER_ALLOW_LOCAL_SOURCES=true",
                                           "AD_BUILDER_BUILD_MEMORY_MB=768",
                                           "AD_BUILDER_BUILD_PIDS_LIMIT=256",
                                           "AD_BUILDER_MAX_CONTEXT_MB=1",
                                           work_dir_env,
                                           NULL };
        jsConsumerConfig cc;
        char id[AD_UUID_LEN + 1];

        (void)state;
        snprintf(work_dir, sizeof(work_dir), "/tmp/adtest-work-XXXXXX");
        if (mkdtemp(work_dir) == NULL)
                return -1;
        snprintf(work_dir_env, sizeof(work_dir_env), "AD_BUILDER_WORK_DIR=%s", work_dir);
        registry = stack_env("AD_REGISTRY_ADDRESS");
        snprintf(registry_userpwd, sizeof(registry_userpwd), "%s:%s",
                 stack_env("AD_REGISTRY_USERNAME"), stack_env("AD_REGISTRY_PASSWORD"));
        stack_env("AD_ENGINE_SOCKET");
        ad_uuid_v4(id);
        snprintf(suffix, sizeof(suffix), "%.6s", id);
        if (ad_bus_connect(&bus, stack_env("AD_NATS_URL"), "test_builder", NULL) < 0 ||
            ad_bus_ensure_stream(bus, 1, NULL) < 0 ||
            ad_db_connect(&db, stack_env("AD_DATABASE_URL"), NULL) < 0)
                return -1;
        /* Our own consumer of everything from now on; the builder's
         * consumers are its own. */
        snprintf(durable, sizeof(durable), "test-builder-%s", suffix);
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.FilterSubject = "deploy.>";
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverNew;
        if (js_AddConsumer(NULL, ad_bus_js(bus), AD_STREAM_NAME, &cc, NULL, NULL) != NATS_OK ||
            ad_bus_bind(&sub, bus, durable, "deploy.>", NULL) < 0)
                return -1;
        if (test_gitserver_start(&git) < 0 || test_bus_reset() < 0)
                return -1;
        if (test_proc_start(&builder, "adbuilder", env) < 0) {
                test_proc_dump(&builder);
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        int rc;

        (void)state;
        rc = test_proc_stop(&builder);
        if (rc != 0)
                test_proc_dump(&builder);
        test_gitserver_stop(&git);
        test_sh("rm -rf %s", work_dir);
        /* Best effort: this run's images leave the registry and the store
         * (an image a container still uses stays). */
        test_sh("reg=%s; for r in $(curl -s --netrc-file \"$AD_REGISTRY_NETRC\" "
                "\"http://$reg/v2/_catalog?n=1000\" | grep -o "
                "'\"bt-%s-[a-z0-9-]*\"' | tr -d '\"'); do for t in $(curl -s "
                "--netrc-file \"$AD_REGISTRY_NETRC\" http://$reg/v2/$r/tags/list | grep -o "
                "'\"tags\":\\[[^]]*' | cut -d[ -f2 | "
                "tr ',' '\\n' | tr -d '\"'); do d=$(curl -sI --netrc-file \"$AD_REGISTRY_NETRC\" "
                "-H 'Accept: "
                "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json' http://$reg/v2/$r/manifests/$t | tr "
                "-d '\\r' | sed -n 's/^docker-content-digest: //Ip'); [ -z \"$d\" ] || curl -s "
                "--netrc-file \"$AD_REGISTRY_NETRC\" -o /dev/null -X DELETE "
                "http://$reg/v2/$r/manifests/$d; done; done; podman images "
                "--format '{{.Repository}}:{{.Tag}}' | grep '/bt-%s-' | xargs -r podman rmi "
                ">/dev/null 2>&1; true",
                registry, suffix, suffix);
        ad_bus_sub_free(sub);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable, NULL, NULL);
        ad_bus_close(bus);
        ad_db_close(db);
        for (size_t i = 0; i < n_events; i++)
                ad_event_free(events[i]);
        return rc == 0 ? 0 : -1;
}

/* ---- tests --------------------------------------------------------------- */

static struct deployment node_first;

static void test_examples_build(void **state)
{
        static const char *const examples[] = { "node-express", "python-stdlib", "go-stdlib",
                                                "static-site", "dockerfile-app" };
        struct deployment deps[5];

        (void)state;
        /* All published at once: the builder takes them one by one. */
        for (size_t i = 0; i < 5; i++) {
                char app[64];

                add_repo(examples[i], examples[i]);
                snprintf(app, sizeof(app), "bt-%s-%s", suffix, examples[i]);
                publish_analyzed(&deps[i], examples[i], app);
        }
        for (size_t i = 0; i < 5; i++) {
                const Appdeployer__V1__DeployBuilt *b = wait_built(&deps[i]);
                char want[256];

                printf("    %-15s built in %6llu ms (build step), %s\n", examples[i],
                       (unsigned long long)b->build_duration_ms, b->digest);
                snprintf(want, sizeof(want), "%s/%s:%s", registry, deps[i].app, deps[i].sha);
                assert_string_equal(b->image, want);
                assert_int_equal(b->n_tags, 2);
                assert_string_equal(b->tags[0], want);
                assert_non_null(strstr(b->tags[1], ":latest"));
                assert_true(strncmp(b->digest, "sha256:", 7) == 0);
                assert_string_equal(b->app_name, deps[i].app);
                assert_string_equal(b->git_sha, deps[i].sha);
                /* Carried forward from deploy.analyzed. */
                assert_int_equal(b->n_env, 1);
                assert_string_equal(b->env[0]->name, "GREETING");
                assert_string_equal(b->env[0]->value, "sealed:opaque");
                assert_non_null(b->resources);
                assert_int_equal(b->resources->memory_mb, 256);
                assert_true(b->port > 0);
                assert_true(registry_has_tag(deps[i].app, deps[i].sha));
                assert_true(registry_has_tag(deps[i].app, "latest"));
                /* The build log is kept (bounded) for the API. */
                assert_true(db_count("SELECT count(*) FROM deployment_logs WHERE "
                                     "deployment_id = $1 AND source = 'build'",
                                     deps[i].id) > 0);
        }
        node_first = deps[0];
}

static void test_failing_build(void **state)
{
        const Appdeployer__V1__DeployFailed *f;
        struct deployment dep;
        char app[64];

        (void)state;
        assert_int_equal(test_sh("set -e; d=%s/broken; mkdir -p $d; cd $d; printf 'FROM "
                                 "localhost/app-deployer/base:bookworm\\nRUN echo step-one && "
                                 "echo marker-%s-before-failure && false\\n' > Dockerfile; git "
                                 "init -q -b main; git add -A; git -c user.name=t -c "
                                 "user.email=t@l commit -qm broken",
                                 git.root, suffix),
                         0);
        snprintf(app, sizeof(app), "bt-%s-broken", suffix);
        publish_analyzed(&dep, "broken", app);
        f = wait_failed(&dep);
        printf("    deploy.failed reason:\n%s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_false(f->retryable);
        assert_true(strncmp(f->reason, "build failed: ", 14) == 0);
        /* The log tail, with what the failing step printed. */
        assert_non_null(strstr(f->reason, "marker-"));
        assert_non_null(strstr(f->reason, suffix));
        assert_false(registry_has_tag(app, "latest"));
        /* The reason is in the build log too, once. */
        assert_int_equal(db_count("SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 "
                                  "AND source = 'build' AND line LIKE 'build failed: %'",
                                  dep.id),
                         1);
}

static const char *port_of(const char *url)
{
        const char *c = strrchr(url, ':');
        return c ? c + 1 : "0";
}

/* Makes <git root>/<name> a repository whose Dockerfile is `text`. */
static void dockerfile_repo(const char *name, const char *text)
{
        char path[512];
        FILE *f;

        assert_int_equal(test_sh("rm -rf %s/%s && mkdir -p %s/%s", git.root, name, git.root, name),
                         0);
        snprintf(path, sizeof(path), "%s/%s/Dockerfile", git.root, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(test_sh("set -e; cd %s/%s; git init -q -b main; git add -A; git -c "
                                 "user.name=t -c user.email=t@l commit -qm %s",
                                 git.root, name, name),
                         0);
}

static long build_lines(const char *id, const char *like)
{
        char sql[256];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 AND "
                 "source = 'build' AND line LIKE '%s'",
                 like);
        return db_count(sql, id);
}

/* The image `ref` is in the engine's store. */
static bool engine_has_image(const char *ref)
{
        ad_engine *e = NULL;
        bool exists = true;

        assert_int_equal(ad_engine_open(&e, stack_env("AD_ENGINE_SOCKET"), NULL), 0);
        assert_int_equal(ad_engine_image_exists(e, ref, &exists, NULL), 0);
        ad_engine_close(e);
        return exists;
}

/* A context past builder.max_context_mb (1 MiB here), where the entry
 * that passes the bound comes only after a whole MiB was streamed to the
 * engine: the Dockerfile (a 512-byte header and one block) and `f1` (a
 * header and 1047040 bytes) are exactly 1 MiB, 16 full writes of the tar
 * writer's buffer, so the engine has received them, cut at an entry's
 * end, when `f2`'s header is refused.  Had the upload ended cleanly there
 * (an end of file instead of an abort), the engine would read a valid
 * archive of the first two entries and build and tag the image; aborted,
 * it builds nothing.  The step fails with the writer's message, as when
 * the context was written to disk before the build. */
static void test_context_too_large_aborts(void **state)
{
        const Appdeployer__V1__DeployFailed *f;
        cleanup_free char *line = NULL;
        struct deployment dep;
        char app[64], ref[256];
        json_t *j;

        (void)state;
        assert_int_equal(test_sh("set -e; d=%s/huge; rm -rf $d; mkdir -p $d; cd $d; printf 'FROM "
                                 "localhost/app-deployer/base:bookworm\nCOPY . /ctx\nRUN echo "
                                 "huge-%s\n' > Dockerfile; head -c 1047040 /dev/urandom > f1; "
                                 "echo after-the-bound > f2; git init -q -b main; git add -A; "
                                 "git -c user.name=t -c user.email=t@l commit -qm huge",
                                 git.root, suffix),
                         0);
        snprintf(app, sizeof(app), "bt-%s-huge", suffix);
        publish_analyzed(&dep, "huge", app);
        /* Built (from a cut context) would be the regression: fail fast. */
        while (ad_monotonic_ms() - dep.published_ms < WAIT_BUILD_MS) {
                if (wait_for(dep.id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, 0))
                        fail_msg("deploy.built from a context past the bound");
                if (wait_for(dep.id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, 0))
                        break;
        }
        f = wait_failed(&dep);
        printf("    deploy.failed reason: %s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_false(f->retryable);
        assert_string_equal(f->reason, "the build context is larger than 1 MiB");
        /* The whole MiB went to the engine before the refusal. */
        line = builder_log_line_wait(dep.id, "\"msg\":\"event handled\"");
        assert_non_null(line);
        j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "context_bytes")), 1048576);
        json_decref(j);
        /* Nothing was built from the cut context, nor pushed. */
        ad_name_image(ref, sizeof(ref), registry, app, dep.sha);
        assert_false(engine_has_image(ref));
        ad_name_image(ref, sizeof(ref), registry, app, "latest");
        assert_false(engine_has_image(ref));
        assert_false(registry_has_tag(app, dep.sha));
        /* The reason is in the build log. */
        assert_int_equal(db_count("SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 "
                                  "AND source = 'build' AND line = 'the build context is larger "
                                  "than 1 MiB'",
                                  dep.id),
                         1);
}

/* The context goes to the engine without a copy on disk: while the
 * engine builds (a RUN step of 3 s), the build's work directory holds the
 * clone (src) and nothing else, where it held context.tar beside it until
 * the build's end. */
static void test_no_context_file(void **state)
{
        int64_t deadline = ad_monotonic_ms() + WAIT_BUILD_MS;
        int looks = 0, others = 0;
        struct deployment dep;
        char text[256], app[64];
        bool done = false;

        (void)state;
        snprintf(text, sizeof(text),
                 "FROM localhost/app-deployer/base:bookworm\nCOPY . /ctx\nRUN echo slow-%s && "
                 "sleep 3\n",
                 suffix);
        dockerfile_repo("slow", text);
        snprintf(app, sizeof(app), "bt-%s-slow", suffix);
        publish_analyzed(&dep, "slow", app);
        while (!done && ad_monotonic_ms() < deadline) {
                char out[256];

                /* Each build directory's entries other than src, and
                 * whether the clone is there (the build has started). */
                capture(out, sizeof(out),
                        "cd %s && n=0; m=0; for d in adbuilder-*/; do [ -d \"$d/src\" ] && "
                        "n=$((n+1)); m=$((m + $(ls -A \"$d\" 2>/dev/null | grep -vcx src))); done; "
                        "echo "
                        "$n $m",
                        work_dir);
                {
                        int n = 0, m = 0;

                        if (sscanf(out, "%d %d", &n, &m) == 2) {
                                looks += n > 0;
                                others += m;
                                if (m > 0)
                                        test_sh("ls -la %s/adbuilder-*/", work_dir);
                        }
                }
                done = wait_for(dep.id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, 0) != NULL;
        }
        assert_true(done);
        printf("    looked into the build directory %d times during the build\n", looks);
        /* Looked during the build (its RUN step alone lasts 3 s)... */
        assert_true(looks >= 3);
        /* ...and saw no context file. */
        assert_int_equal(others, 0);
        assert_int_equal(build_lines(dep.id, "slow-%"), 1);
}

/* Build steps run in a network namespace of their own: the platform's
 * loopback services are not there, nor is the engine's socket.  (In the
 * engine's default, the host's namespace, each of these connections
 * succeeded: docs/security.md.)  The build itself succeeds, so the build
 * log shows each probe's outcome. */
static void test_build_cannot_reach_platform(void **state)
{
        /* caddy's admin API: a unix socket (the stack's), probed as one, or
         * a TCP port. */
        const char *caddy = stack_env("AD_CADDY_ADMIN_URL");
        bool caddy_unix = strncmp(caddy, "unix://", 7) == 0;
        const struct {
                const char *name, *port;
        } probes[] = {
                { "caddy", caddy_unix ? NULL : port_of(caddy) },
                { "natsmon", port_of(stack_env("AD_NATS_MONITOR_URL")) },
                { "nats", port_of(stack_env("AD_NATS_URL")) },
                { "postgres", port_of(strrchr(stack_env("AD_DATABASE_URL"), '@')) },
                { "registry", port_of(registry) },
        };
        char text[4096], app[64];
        struct deployment dep;
        size_t off;

        (void)state;
        off = (size_t)snprintf(text, sizeof(text),
                               "FROM localhost/app-deployer/base:bookworm\nRUN echo probes-%s\n",
                               suffix);
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
                char port[16];
                if (probes[i].port == NULL)
                        continue;
                snprintf(port, sizeof(port), "%.*s", (int)strspn(probes[i].port, "0123456789"),
                         probes[i].port);
                off += (size_t)snprintf(text + off, sizeof(text) - off,
                                        "RUN bash -c '(exec 3<>/dev/tcp/127.0.0.1/%s) "
                                        "2>/dev/null && echo LEAK-%s || echo blocked-%s'\n",
                                        port, probes[i].name, probes[i].name);
        }
        snprintf(text + off, sizeof(text) - off,
                 "RUN for s in %s /run/podman/podman.sock /var/run/docker.sock %s; do test -S $s "
                 "&& echo LEAK-socket || echo blocked-socket; done\n",
                 stack_env("AD_ENGINE_SOCKET"), caddy_unix ? caddy + 7 : "");
        printf("%s", text);
        dockerfile_repo("attack", text);
        snprintf(app, sizeof(app), "bt-%s-attack", suffix);
        publish_analyzed(&dep, "attack", app);
        assert_non_null(wait_built(&dep));
        /* The probes ran... */
        assert_int_equal(build_lines(dep.id, "probes-%"), 1);
        assert_int_equal(build_lines(dep.id, "blocked-%"), 8);
        /* ...and none got through. */
        assert_int_equal(build_lines(dep.id, "LEAK-%"), 0);
}

/* Past the memory limit (AD_BUILDER_BUILD_MEMORY_MB in group_setup): the
 * build fails saying so, and the builder goes on serving others (the
 * following tests build). */
static void test_build_memory_limit(void **state)
{
        const Appdeployer__V1__DeployFailed *f;
        struct deployment dep;
        char text[512], app[64];

        (void)state;
        snprintf(text, sizeof(text),
                 "FROM localhost/app-deployer/base:bookworm\nRUN echo hog-%s && bash -c "
                 "'x=$(head -c 1500000000 /dev/zero | base64 -w0); echo ${#x}'\n",
                 suffix);
        dockerfile_repo("hog", text);
        snprintf(app, sizeof(app), "bt-%s-hog", suffix);
        publish_analyzed(&dep, "hog", app);
        f = wait_failed(&dep);
        printf("    deploy.failed reason: %s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_false(f->retryable);
        assert_non_null(strstr(f->reason, "memory limit of 768 MiB"));
}

/* A fork bomb in a RUN step: the build's pids limit (256 in group_setup)
 * stops it, the build fails saying so, and the builder goes on serving
 * others (the following tests build).  The bomb's processes are gone with
 * its step: the build's cgroup is removed. */
static void test_build_pids_limit(void **state)
{
        const Appdeployer__V1__DeployFailed *f;
        struct deployment dep;
        char text[512], app[64], path[256];

        (void)state;
        snprintf(text, sizeof(text),
                 "FROM localhost/app-deployer/base:bookworm\nRUN echo bomb-%s; "
                 "bomb() { bomb | bomb & }; bomb; sleep 3; echo survived\n",
                 suffix);
        dockerfile_repo("bomb", text);
        snprintf(app, sizeof(app), "bt-%s-bomb", suffix);
        publish_analyzed(&dep, "bomb", app);
        f = wait_failed(&dep);
        printf("    deploy.failed reason: %s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_false(f->retryable);
        assert_non_null(strstr(f->reason, "build pids limit of 256 processes"));
        snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/app-deployer-builds/%s", dep.id);
        assert_int_not_equal(test_sh("test -d %s", path), 0);
}

/* The registry asks for credentials: the builder pushed with them (the
 * first example's tags are there), an anonymous push, manifest read or
 * engine pull is refused with 401 (and so is a pull whose credentials name
 * another registry), and the engine pulls with them. */
static void test_registry_needs_credentials(void **state)
{
        struct ad_http_request req = { 0 };
        struct ad_http_response resp;
        cleanup_error ad_error_t err = NULL;
        ad_engine *e = NULL;
        char url[512], ref[512];

        (void)state;
        assert_true(registry_has_tag(node_first.app, node_first.sha));
        /* Anonymous: the start of a blob upload (a push) and a manifest. */
        snprintf(url, sizeof(url), "http://%s/v2/%s/blobs/uploads/", registry, node_first.app);
        req.method = "POST";
        req.url = url;
        assert_int_equal(ad_http_do(&req, &resp, NULL), 0);
        assert_int_equal(resp.status, 401);
        ad_http_response_free(&resp);
        snprintf(url, sizeof(url), "http://%s/v2/%s/manifests/%s", registry, node_first.app,
                 node_first.sha);
        req.method = "GET";
        assert_int_equal(ad_http_do(&req, &resp, NULL), 0);
        assert_int_equal(resp.status, 401);
        ad_http_response_free(&resp);
        /* A wrong password is no better. */
        req.userpwd = "app-deployer:wrong";
        assert_int_equal(ad_http_do(&req, &resp, NULL), 0);
        assert_int_equal(resp.status, 401);
        ad_http_response_free(&resp);
        /* The engine without credentials, then with them (the local copy
         * goes first so the pull is a real one). */
        snprintf(ref, sizeof(ref), "%s/%s:%s", registry, node_first.app, node_first.sha);
        test_sh("podman rmi -f %s >/dev/null 2>&1; true", ref);
        assert_int_equal(ad_engine_open(&e, stack_env("AD_ENGINE_SOCKET"), NULL), 0);
        assert_int_not_equal(ad_engine_image_pull(e, ref, true, &err), 0);
        printf("    anonymous pull: %s\n", ad_error_message(err));
        assert_non_null(strstr(ad_error_message(err), "unauthorized"));
        ad_error_release(&err);
        /* Credentials are given to the registry they name only: the same
         * account named for another address is not sent to this one. */
        assert_int_equal(ad_engine_set_registry_auth(e, "127.0.0.2:1",
                                                     stack_env("AD_REGISTRY_USERNAME"),
                                                     stack_env("AD_REGISTRY_PASSWORD"), &err),
                         0);
        assert_int_not_equal(ad_engine_image_pull(e, ref, true, &err), 0);
        assert_non_null(strstr(ad_error_message(err), "unauthorized"));
        ad_error_release(&err);
        assert_int_equal(ad_engine_set_registry_auth(e, "", "u", "p", &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(ad_engine_set_registry_auth(e, registry, stack_env("AD_REGISTRY_USERNAME"),
                                                     stack_env("AD_REGISTRY_PASSWORD"), &err),
                         0);
        if (ad_engine_image_pull(e, ref, true, &err) != 0)
                fail_msg("pull with credentials: %s", ad_error_message(err));
        ad_engine_close(e);
}

/* Blob uploads the registry completed into repository `app` (each ends
 * with a PUT .../blobs/uploads/...), from the stack's registry log. */
static int registry_uploads(const char *app)
{
        char path[512], needle[200], line[8192];
        FILE *f;
        int n = 0;

        snprintf(path, sizeof(path), "%s/logs/registry.log", stack_env("AD_STATE_DIR"));
        snprintf(needle, sizeof(needle), "\"PUT /v2/%s/blobs/uploads/", app);
        f = fopen(path, "r");
        if (f == NULL)
                fail_msg("cannot read %s", path);
        while (fgets(line, sizeof(line), f))
                n += strstr(line, needle) != NULL;
        fclose(f);
        return n;
}

static void test_second_build_reuses(void **state)
{
        const Appdeployer__V1__DeployBuilt *cold, *warm, *reused, *changed;
        struct deployment first, other, again, edit;
        cleanup_free char *line = NULL;
        char app[64];

        (void)state;
        /* A node app no earlier run has built (its package.json is unique
         * to this run), so the first build installs its dependencies. */
        add_repo("node-cold", "node-express");
        assert_int_equal(test_sh("set -e; cd %s/node-cold; sed -i 's/\"description\": \"/"
                                 "\"description\": \"run %s: /' package.json; git -c user.name=t "
                                 "-c user.email=t@l commit -qam unique",
                                 git.root, suffix),
                         0);
        snprintf(app, sizeof(app), "bt-%s-cold", suffix);
        publish_analyzed(&first, "node-cold", app);
        cold = wait_built(&first);
        assert_false(cold->cache_hit);

        /* The same unchanged repository as another app: a real build,
         * every layer from the engine's cache. */
        snprintf(app, sizeof(app), "bt-%s-warm", suffix);
        publish_analyzed(&other, "node-cold", app);
        warm = wait_built(&other);
        assert_false(warm->cache_hit);
        assert_true(db_count("SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 AND "
                             "line LIKE '--> Using cache%'",
                             other.id) >= 5);
        /* Its layers are in the registry already (the first app's): the
         * pushes upload none of them (podman finds or mounts each), only
         * the image's config, unique to the build (its labels name the
         * deployment). */
        assert_int_equal(registry_uploads(other.app), 1);

        /* The same app and commit again: the registry has it already. */
        publish_analyzed(&again, "node-cold", first.app);
        reused = wait_built(&again);
        assert_true(reused->cache_hit);
        assert_string_equal(reused->image, cold->image);
        assert_string_equal(reused->digest, cold->digest);

        /* A source change: the dependency layer is still reused. */
        assert_int_equal(test_sh("set -e; cd %s/node-cold; echo '// changed' >> server.js; git "
                                 "-c user.name=t -c user.email=t@l commit -qam change",
                                 git.root),
                         0);
        publish_analyzed(&edit, "node-cold", first.app);
        changed = wait_built(&edit);
        assert_false(changed->cache_hit);
        line = builder_log_line_wait(edit.id, "\"msg\":\"event handled\"");
        assert_non_null(line);
        {
                json_t *j = json_loads(line, 0, NULL);

                assert_non_null(j);
                assert_string_equal(json_string_value(json_object_get(j, "outcome")), "done");
                assert_false(json_is_true(json_object_get(j, "cache_hit")));
                assert_true(json_integer_value(json_object_get(j, "layers_cached")) > 0);
                json_decref(j);
        }

        printf("    node build step: first %llu ms, unchanged repo again %llu ms (layer cache), "
               "same commit again %llu ms (registry reuse), after a source change %llu ms\n",
               (unsigned long long)cold->build_duration_ms,
               (unsigned long long)warm->build_duration_ms,
               (unsigned long long)reused->build_duration_ms,
               (unsigned long long)changed->build_duration_ms);
}

static void test_clone_failure(void **state)
{
        const Appdeployer__V1__DeployFailed *f;
        struct deployment dep;
        char app[64];

        (void)state;
        /* The repository vanished between analysis and build. */
        snprintf(app, sizeof(app), "bt-%s-vanished", suffix);
        publish_analyzed_as(&dep, "static-site", app, "no-such-repository");
        f = wait_failed(&dep);
        printf("    clone failure: %s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_false(f->retryable);
        assert_non_null(strstr(f->reason, "clone"));
        assert_non_null(strstr(f->reason, "not found"));
}

static void test_garbage_and_duplicates(void **state)
{
        const ad_envelope *built;
        cleanup_free char *line = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        char msg_id[AD_UUID_LEN + 1];
        const char garbage[] = "\x08\x96\x01 this is not an envelope";

        (void)state;
        ad_uuid_v4(msg_id);
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_ANALYZED, msg_id, garbage,
                                        sizeof(garbage) - 1, NULL, NULL),
                         0);

        /* The first node event again, as a new message (new Nats-Msg-Id):
         * the builder has done it already. */
        assert_true(node_first.id[0] != '\0');
        built = wait_for(node_first.id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, 0);
        assert_non_null(built);
        {
                /* Rebuild the same envelope bytes from our records. */
                struct deployment dep = node_first;
                Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
                ad_envelope env;
                char id[AD_UUID_LEN + 1];

                an.app_name = dep.app;
                an.git_sha = dep.sha;
                an.repo_url = (char *)"git://127.0.0.1:1/unused";
                an.language = (char *)"node";
                an.start_command = (char *)"node server.js";
                an.port = 3000;
                ad_event_init(&env, dep.id, "", 1, "test_builder", id);
                env.event_id = dep.event_id;
                env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED;
                env.analyzed = &an;
                assert_int_equal(ad_event_pack(&env, &buf, &len, NULL), 0);
                ad_uuid_v4(msg_id);
                assert_int_equal(
                        ad_bus_publish(bus, AD_SUBJECT_ANALYZED, msg_id, buf, len, NULL, NULL), 0);
                free(buf);
        }
        for (int i = 0; i < 100 && line == NULL; i++) {
                test_sleep_ms(100);
                line = builder_log_line(node_first.event_id, "\"outcome\":\"duplicate\"");
        }
        assert_non_null(line);
        line = (free(line), builder_log_line("not an event", "\"subject\":\"deploy.analyzed\""));
        assert_non_null(line);
        assert_int_equal(kill(builder.pid, 0), 0);
}

static void test_compensate(void **state)
{
        Appdeployer__V1__Compensate c = APPDEPLOYER__V1__COMPENSATE__INIT;
        char id[AD_UUID_LEN + 1], trace[AD_UUID_LEN + 1];
        struct deployment dep;
        char app[64];
        ad_envelope env;

        (void)state;
        snprintf(app, sizeof(app), "bt-%s-undo", suffix);
        publish_analyzed(&dep, "static-site", app);
        wait_built(&dep);
        assert_true(registry_has_tag(app, dep.sha));

        /* Twice: the second finds nothing left and is done as well. */
        for (int round = 0; round < 2; round++) {
                const ad_envelope *done;

                ad_uuid_v4(trace);
                ad_event_init(&env, dep.id, trace, 1, "test_builder", id);
                c.step = (char *)"build";
                c.reason = (char *)"test";
                env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE;
                env.compensate = &c;
                assert_int_equal(
                        ad_event_publish(bus, AD_SUBJECT_COMPENSATE ".build", &env, NULL, NULL), 0);
                done = wait_for(dep.id, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED, 60000);
                if (done == NULL) {
                        test_proc_dump(&builder);
                        fail_msg("no deploy.compensated.build (round %d)", round + 1);
                }
                assert_string_equal(done->compensated->step, "build");
                if (round == 0) {
                        assert_false(registry_has_tag(app, dep.sha));
                        assert_false(registry_has_tag(app, "latest"));
                }
                /* Consumed: the next round waits for its own. */
                for (size_t i = 0; i < n_events; i++)
                        if (events[i] == done)
                                consumed[i] = true;
        }
        assert_false(registry_has_tag(app, dep.sha));
        assert_false(registry_has_tag(app, "latest"));
}

/* SIGTERM during a build: the builder abandons it at once (NAK), exits 0,
 * and the next builder builds it. */
static void test_sigterm_mid_build(void **state)
{
        static const char *const env[] = { "AD_BUILDER_ALLOW_LOCAL_SOURCES=true", NULL };
        cleanup_free char *line = NULL;
        struct deployment dep;
        char app[64];
        int64_t t0;
        int i;

        (void)state;
        assert_int_equal(test_sh("set -e; d=%s/slow; mkdir -p $d; cd $d; printf 'FROM "
                                 "localhost/app-deployer/base:bookworm\nRUN echo slow-%s && "
                                 "sleep 6\n' > Dockerfile; git init -q -b main; git add -A; git "
                                 "-c user.name=t -c user.email=t@l commit -qm slow",
                                 git.root, suffix),
                         0);
        snprintf(app, sizeof(app), "bt-%s-slow", suffix);
        publish_analyzed(&dep, "slow", app);
        for (i = 0; i < 300; i++) {
                if (db_count("SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 AND "
                             "line LIKE 'slow-%'",
                             dep.id) > 0)
                        break;
                test_sleep_ms(100);
        }
        assert_true(i < 300);
        t0 = ad_monotonic_ms();
        assert_int_equal(test_proc_stop(&builder), 0);
        printf("    stopped %lld ms after SIGTERM, mid-build\n",
               (long long)(ad_monotonic_ms() - t0));
        assert_true(ad_monotonic_ms() - t0 < 5000);
        line = builder_log_line(dep.id, "\"outcome\":\"interrupted\"");
        assert_non_null(line);

        if (test_proc_start(&builder, "adbuilder", env) < 0) {
                test_proc_dump(&builder);
                fail_msg("adbuilder did not restart");
        }
        wait_built(&dep);
}

/* Last: it restarts the builder with an engine socket that does not exist. */
static void test_engine_unreachable(void **state)
{
        static const char *const env[] = { "AD_BUILDER_ALLOW_LOCAL_SOURCES=true",
                                           "AD_ENGINE_SOCKET=/nonexistent/podman.sock",
                                           "AD_BUILDER_MAX_ATTEMPTS=2", NULL };
        const Appdeployer__V1__DeployFailed *f;
        struct deployment dep;
        char app[64];

        (void)state;
        assert_int_equal(test_proc_stop(&builder), 0);
        if (test_proc_start(&builder, "adbuilder", env) < 0) {
                test_proc_dump(&builder);
                fail_msg("adbuilder did not start");
        }
        snprintf(app, sizeof(app), "bt-%s-noengine", suffix);
        publish_analyzed(&dep, "static-site", app);
        /* Redelivered with backoff (NAK), then given up as retryable. */
        f = wait_failed(&dep);
        printf("    engine unreachable: %s\n", f->reason);
        assert_string_equal(f->step, "build");
        assert_true(f->retryable);
        assert_non_null(strstr(f->reason, "after 2 attempts"));
        assert_non_null(strstr(f->reason, "/nonexistent/podman.sock"));
        /* Given up by the runner after the work returned: logged as well. */
        assert_int_equal(db_count("SELECT count(*) FROM deployment_logs WHERE deployment_id = $1 "
                                  "AND source = 'build' AND line LIKE 'gave up after 2 attempts%'",
                                  dep.id),
                         1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_examples_build),
                cmocka_unit_test(test_failing_build),
                cmocka_unit_test(test_context_too_large_aborts),
                cmocka_unit_test(test_no_context_file),
                cmocka_unit_test(test_build_memory_limit),
                cmocka_unit_test(test_build_pids_limit),
                cmocka_unit_test(test_registry_needs_credentials),
                cmocka_unit_test(test_build_cannot_reach_platform),
                cmocka_unit_test(test_second_build_reuses),
                cmocka_unit_test(test_clone_failure),
                cmocka_unit_test(test_garbage_and_duplicates),
                cmocka_unit_test(test_compensate),
                cmocka_unit_test(test_sigterm_mid_build),
                cmocka_unit_test(test_engine_unreachable),
        };

        setvbuf(stdout, NULL, _IONBF, 0);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
