/* The coordinator against the real NATS and PostgreSQL: events published
 * on the bus move a deployment through the saga; duplicates, late events
 * and garbage change nothing; a failure is compensated newest step first;
 * destroy and rollback work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/proc.h"
#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/db.h"
#include "ad/event.h"

#include "../support/proto_literals.h"

static struct test_proc coord;
static ad_bus *bus;
static ad_db *db;
static ad_bus_sub *comp_sub;
static char comp_durable[64];
static const char *const repo = "file:///nonexistent/coordinator-test.git";

/* Short deadlines so the tests can watch them pass; provisioning is the
 * step the deadline tests leave hanging. */
static const char *const coord_env[] = {
        "AD_COORDINATOR_DEADLINE_PROVISION_S=3",
        "AD_COORDINATOR_COMPENSATE_RETRY_S=5",
        "AD_COORDINATOR_SWEEP_INTERVAL_MS=200",
        NULL,
};

static int group_setup(void **state)
{
        char id[AD_UUID_LEN + 1];
        struct ad_consumer_spec spec;
        ad_error_t err = NULL;

        (void)state;
        if (ad_bus_connect(&bus, stack_env("AD_NATS_URL"), "test_coordinator", &err) < 0 ||
            ad_bus_ensure_stream(bus, 1, &err) < 0 ||
            ad_db_connect(&db, stack_env("AD_DATABASE_URL"), &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        /* Watch the compensations the coordinator asks for, from now on. */
        ad_uuid_v4(id);
        snprintf(comp_durable, sizeof(comp_durable), "test-comp-%.8s", id);
        spec = (struct ad_consumer_spec){ comp_durable, "deploy.compensate.>", 0, 0 };
        {
                jsConsumerConfig cc;
                jsConsumerConfig_Init(&cc);
                cc.Durable = comp_durable;
                cc.FilterSubject = spec.filter_subject;
                cc.AckPolicy = js_AckExplicit;
                cc.DeliverPolicy = js_DeliverNew;
                if (js_AddConsumer(NULL, ad_bus_js(bus), AD_STREAM_NAME, &cc, NULL, NULL) !=
                    NATS_OK)
                        return -1;
        }
        if (ad_bus_bind(&comp_sub, bus, comp_durable, spec.filter_subject, &err) < 0)
                return -1;
        if (test_bus_reset() < 0 || test_proc_start(&coord, "adcoordinator", coord_env) < 0) {
                test_proc_dump(&coord);
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        assert_int_equal(test_proc_stop(&coord), 0);
        ad_bus_sub_free(comp_sub);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, comp_durable, NULL, NULL);
        ad_bus_close(bus);
        ad_db_close(db);
        return 0;
}

static void publish_env(ad_envelope *env, const char *subject)
{
        ad_error_t err = NULL;

        if (ad_event_publish(bus, subject, env, NULL, &err) < 0)
                fail_msg("publish %s: %s", subject, ad_error_message(err));
}

static void publish(const char *dep, int pcase, void *payload, const char *subject, char *id_out)
{
        char id[AD_UUID_LEN + 1];
        ad_envelope env;

        ad_event_init(&env, dep, "trace-test", 1, "test", id);
        env.payload_case = (Appdeployer__V1__Envelope__PayloadCase)pcase;
        env.requested = payload; /* oneof: shared storage */
        publish_env(&env, subject);
        if (id_out)
                memcpy(id_out, id, sizeof(id));
}

static char *query1(const char *sql, const char *param)
{
        PGresult *r = NULL;
        ad_error_t err = NULL;
        const char *p[1] = { param };
        char *v = NULL;

        if (ad_db_exec(db, &r, sql, 1, p, &err) < 0)
                fail_msg("%s: %s", sql, ad_error_message(err));
        if (PQntuples(r) > 0)
                v = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        return v;
}

/* Asserts that the query's single value is `want`. */
static void expect_query(const char *sql, const char *param, const char *want)
{
        char *v = query1(sql, param);

        if (v == NULL || strcmp(v, want) != 0)
                fail_msg("%s [%s]: got `%s`, want `%s`", sql, param, v ? v : "(no row)", want);
        free(v);
}

/* Waits until the deployment's status is `want` (15 s at most). */
static void wait_status(const char *dep, const char *want)
{
        char *s = NULL;

        for (int i = 0; i < 150; i++) {
                free(s);
                s = query1("SELECT status FROM deployments WHERE id = $1", dep);
                if (s && strcmp(s, want) == 0) {
                        free(s);
                        return;
                }
                test_sleep_ms(100);
        }
        test_proc_dump(&coord);
        fail_msg("deployment %s: status %s, want %s", dep, s ? s : "(none)", want);
}

/* Expects the next compensation request to be for `step` of `dep`. */
static void expect_compensate(const char *dep, const char *step)
{
        for (;;) {
                struct ad_delivery d;
                ad_envelope *env = NULL;
                ad_error_t err = NULL;
                char subject[64];

                if (ad_bus_fetch(comp_sub, &d, 15000, &err) != 1)
                        fail_msg("no deploy.compensate.%s for %s", step, dep);
                ad_delivery_ack(&d, NULL);
                assert_int_equal(ad_event_unpack(&env, d.data, d.len, &err), 0);
                if (strcmp(env->deployment_id, dep) != 0) {
                        ad_event_free(env);
                        ad_delivery_release(&d);
                        continue;
                }
                snprintf(subject, sizeof(subject), "deploy.compensate.%s", step);
                assert_string_equal(d.subject, subject);
                assert_int_equal(env->payload_case, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE);
                assert_string_equal(env->compensate->step, step);
                ad_event_free(env);
                ad_delivery_release(&d);
                return;
        }
}

static void compensated(const char *dep, const char *step)
{
        Appdeployer__V1__Compensated c = APPDEPLOYER__V1__COMPENSATED__INIT;
        char subject[64];

        c.step = (char *)step;
        snprintf(subject, sizeof(subject), "deploy.compensated.%s", step);
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED, &c, subject, NULL);
}

/* Drives a new deployment of `app` up to (and including) `until`; its
 * image is 127.0.0.1:5000/<app>:<tag>, unique to the test run. */
static void drive(const char *dep, const char *app, const char *tag, const char *until)
{
        char image[128];
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__DeployBuilt bu = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        Appdeployer__V1__DeployProvisioned pr = APPDEPLOYER__V1__DEPLOY_PROVISIONED__INIT;
        Appdeployer__V1__DeployExposed ex = APPDEPLOYER__V1__DEPLOY_EXPOSED__INIT;
        Appdeployer__V1__Resources res = APPDEPLOYER__V1__RESOURCES__INIT;
        Appdeployer__V1__EnvVar ev = APPDEPLOYER__V1__ENV_VAR__INIT;
        Appdeployer__V1__EnvVar *evs[] = { &ev };
        char *ids[] = { "c0ffee" };

        snprintf(image, sizeof(image), "127.0.0.1:5000/%s:%s", app, tag);
        rq.repo_url = (char *)repo;
        rq.app_name = (char *)app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED, &rq, AD_SUBJECT_REQUESTED, NULL);
        wait_status(dep, "ANALYZING");
        if (!strcmp(until, "ANALYZING"))
                return;
        an.language = "node";
        an.git_sha = "0123456789abcdef0123456789abcdef01234567";
        an.app_name = (char *)app;
        an.analysis_json = "{\"language\":\"node\",\"port\":3000}";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED, &an, AD_SUBJECT_ANALYZED, NULL);
        wait_status(dep, "BUILDING");
        if (!strcmp(until, "BUILDING"))
                return;
        bu.image = (char *)image;
        bu.digest = "sha256:abc";
        bu.app_name = (char *)app;
        bu.port = 3000;
        res.cpu = 0.5;
        res.memory_mb = 256;
        bu.resources = &res;
        ev.name = "SECRET";
        ev.value = "sealed:v1:AAAA";
        bu.n_env = 1;
        bu.env = evs;
        bu.git_sha = an.git_sha;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &bu, AD_SUBJECT_BUILT, NULL);
        wait_status(dep, "PROVISIONING");
        if (!strcmp(until, "PROVISIONING"))
                return;
        pr.network = "ad-x";
        pr.host_name = "x.localhost";
        pr.url = "http://x.localhost:8080/";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED, &pr, AD_SUBJECT_PROVISIONED,
                NULL);
        wait_status(dep, "DEPLOYING");
        if (!strcmp(until, "DEPLOYING"))
                return;
        ex.url = pr.url;
        ex.ip = "127.0.0.1";
        ex.replicas = 1;
        ex.n_container_ids = 1;
        ex.container_ids = ids;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED, &ex, AD_SUBJECT_EXPOSED, NULL);
        wait_status(dep, "EXPOSED");
}

static void new_app(char *app, size_t n)
{
        char id[AD_UUID_LEN + 1];
        ad_uuid_v4(id);
        snprintf(app, n, "coord-%.8s", id);
}

static void test_happy_path_records_every_step(void **state)
{
        char dep[AD_UUID_LEN + 1], app[32], want[128];
        char *v;

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "EXPOSED");
        expect_query("SELECT string_agg(step || '=' || status, ',' ORDER BY started_at) FROM "
                     "deployment_steps WHERE deployment_id = $1 AND ended_at IS NOT NULL",
                     dep, "analyze=done,build=done,provision=done,deploy=done");
        expect_query("SELECT url || ' ' || ip FROM deployments WHERE id = $1", dep,
                     "http://x.localhost:8080/ 127.0.0.1");
        v = query1("SELECT image FROM releases WHERE deployment_id = $1", dep);
        snprintf(want, sizeof(want), "127.0.0.1:5000/%s:1", app);
        assert_string_equal(v, want);
        free(v);
        expect_query("SELECT analysis->>'language' FROM deployments WHERE id = $1", dep, "node");
        /* Env values stay sealed at rest. */
        expect_query("SELECT env->>'SECRET' FROM builds WHERE deployment_id = $1", dep,
                     "sealed:v1:AAAA");
}

static void test_duplicate_and_late_events_change_nothing(void **state)
{
        Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__DeployFailed fa = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        char dep[AD_UUID_LEN + 1], app[32], id[AD_UUID_LEN + 1];
        ad_envelope env;
        char *v;

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "EXPOSED");
        /* A late analyzed and a late failure for a deployment already
         * exposed: logged, not applied. */
        an.language = "go";
        an.app_name = (char *)app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED, &an, AD_SUBJECT_ANALYZED, id);
        fa.step = "build";
        fa.reason = "late";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &fa, AD_SUBJECT_FAILED, NULL);
        /* The same event twice, past the server's duplicate window: here,
         * the same id through core NATS would be dropped by the stream, so
         * publish it under a new Nats-Msg-Id to reach the coordinator. */
        ad_event_init(&env, dep, "t", 1, "test", id);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED;
        env.analyzed = &an;
        {
                uint8_t *buf = NULL;
                size_t len = 0;
                char other[AD_UUID_LEN + 1];
                ad_error_t err = NULL;

                assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
                assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_ANALYZED, id, buf, len, NULL, &err),
                                 0);
                ad_uuid_v4(other);
                assert_int_equal(
                        ad_bus_publish(bus, AD_SUBJECT_ANALYZED, other, buf, len, NULL, &err), 0);
                free(buf);
        }
        /* Wait until the coordinator has seen the three events. */
        for (int i = 0; i < 150; i++) {
                v = query1("SELECT count(*) FROM event_log WHERE deployment_id = $1", dep);
                int n = atoi(v);
                free(v);
                if (n >= 8)
                        break;
                test_sleep_ms(100);
        }
        v = query1("SELECT count(*) FROM event_log WHERE deployment_id = $1", dep);
        assert_string_equal(v, "8"); /* 5 applied + 3 ignored, the copy not logged twice */
        free(v);
        expect_query("SELECT count(*) FROM event_log WHERE deployment_id = $1 AND NOT applied "
                     "AND note LIKE '%does not fit status EXPOSED%'",
                     dep, "3");
        expect_query("SELECT status || ' ' || coalesce(error, '-') FROM deployments WHERE id = $1",
                     dep, "EXPOSED -");
}

/* Lines of the coordinator's log holding both needles. */
static int log_lines_with(const char *a, const char *b)
{
        FILE *f = fopen(coord.log, "r");
        char line[8192];
        int n = 0;

        if (f == NULL)
                return 0;
        while (fgets(line, sizeof(line), f))
                n += strstr(line, a) && strstr(line, b);
        fclose(f);
        return n;
}

/* A system on the bus publishes one deploy.requested several times with
 * the same event id: JetStream drops the copy inside its duplicate
 * window; a copy past it (a new Nats-Msg-Id), even one naming another
 * deployment, is dropped by the coordinator.  One deployment results. */
static void test_request_published_twice_is_one_deployment(void **state)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1], other_dep[AD_UUID_LEN + 1], app[32], id[AD_UUID_LEN + 1];
        char msg_id[AD_UUID_LEN + 1];
        uint8_t *buf = NULL;
        size_t len = 0;
        ad_error_t err = NULL;
        ad_envelope env;
        int dups = 0;

        (void)state;
        ad_uuid_v4(dep);
        ad_uuid_v4(other_dep);
        new_app(app, sizeof(app));
        rq.repo_url = (char *)repo;
        rq.app_name = app;
        ad_event_init(&env, dep, "t", 1, "test", id);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
        /* Twice with the event id as the message id, once past the window. */
        for (int i = 0; i < 2; i++)
                assert_int_equal(
                        ad_bus_publish(bus, AD_SUBJECT_REQUESTED, id, buf, len, NULL, &err), 0);
        ad_uuid_v4(msg_id);
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_REQUESTED, msg_id, buf, len, NULL, &err),
                         0);
        free(buf);
        /* The same event id for another deployment. */
        env.deployment_id = other_dep;
        assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
        ad_uuid_v4(msg_id);
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_REQUESTED, msg_id, buf, len, NULL, &err),
                         0);
        free(buf);

        wait_status(dep, "ANALYZING");
        /* Both copies that reached the coordinator were seen as such. */
        for (int i = 0; i < 150 && dups < 2; i++) {
                dups = log_lines_with(id, "\"outcome\":\"duplicate\"");
                if (dups < 2)
                        test_sleep_ms(100);
        }
        if (dups != 2)
                test_proc_dump(&coord);
        assert_int_equal(dups, 2);
        expect_query("SELECT count(*) FROM deployments WHERE id = $1", dep, "1");
        expect_query("SELECT count(*) FROM deployments WHERE id = $1", other_dep, "0");
        expect_query("SELECT count(*) FROM event_log WHERE event_id = $1", id, "1");
        expect_query("SELECT count(*) FROM event_log WHERE deployment_id = $1", dep, "1");
}

static void test_early_event_waits_for_the_one_it_follows(void **state)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__DeployBuilt bu = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        char dep[AD_UUID_LEN + 1], app[32], image[128];

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        snprintf(image, sizeof(image), "127.0.0.1:5000/%s:1", app);
        rq.repo_url = (char *)repo;
        rq.app_name = app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED, &rq, AD_SUBJECT_REQUESTED, NULL);
        wait_status(dep, "ANALYZING");
        /* deploy.built overtakes deploy.analyzed (a redelivery, or another
         * coordinator replica): it must wait, not be dropped. */
        bu.image = image;
        bu.app_name = app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &bu, AD_SUBJECT_BUILT, NULL);
        test_sleep_ms(300);
        an.language = "go";
        an.app_name = app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED, &an, AD_SUBJECT_ANALYZED, NULL);
        wait_status(dep, "PROVISIONING");
}

static void test_failure_is_compensated_newest_first(void **state)
{
        Appdeployer__V1__DeployFailed fa = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        char dep[AD_UUID_LEN + 1], app[32];

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "DEPLOYING");
        fa.step = "deploy";
        fa.reason = "the app never answered on port 3000";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &fa, AD_SUBJECT_FAILED, NULL);
        wait_status(dep, "ROLLING_BACK");
        expect_compensate(dep, "deploy");
        /* Compensations run one at a time: nothing more until this one is done. */
        compensated(dep, "deploy");
        expect_compensate(dep, "provision");
        compensated(dep, "provision");
        expect_compensate(dep, "build");
        /* A duplicate completion of an earlier step changes nothing. */
        compensated(dep, "deploy");
        compensated(dep, "build");
        wait_status(dep, "ROLLED_BACK");
        expect_query("SELECT error || ' / ' || failed_step FROM deployments WHERE id = $1", dep,
                     "the app never answered on port 3000 / deploy");
        expect_query("SELECT string_agg(step, ',' ORDER BY seq) FROM compensations WHERE "
                     "deployment_id = $1 AND status = 'done'",
                     dep, "deploy,provision,build");
}

static void test_failure_while_analyzing_needs_no_compensation(void **state)
{
        Appdeployer__V1__DeployFailed fa = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        char dep[AD_UUID_LEN + 1], app[32];

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "ANALYZING");
        fa.step = "analyze";
        fa.reason = "clone failed: repository not found";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &fa, AD_SUBJECT_FAILED, NULL);
        wait_status(dep, "ROLLED_BACK");
}

static void test_destroy_removes_everything(void **state)
{
        Appdeployer__V1__DestroyRequested ds = APPDEPLOYER__V1__DESTROY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1], app[32];

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "EXPOSED");
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_DESTROY, &ds, AD_SUBJECT_DESTROY, NULL);
        wait_status(dep, "DESTROYING");
        expect_compensate(dep, "deploy");
        compensated(dep, "deploy");
        expect_compensate(dep, "provision");
        compensated(dep, "provision");
        expect_compensate(dep, "build");
        compensated(dep, "build");
        wait_status(dep, "DESTROYED");
        /* It served at a URL; destroyed, it shows none. */
        expect_query("SELECT coalesce(url, '-') || ' ' || coalesce(ip, '-') FROM deployments "
                     "WHERE id = $1",
                     dep, "- -");
}

static void test_rollback_runs_the_previous_image(void **state)
{
        Appdeployer__V1__RollbackRequested rb = APPDEPLOYER__V1__ROLLBACK_REQUESTED__INIT;
        char v1[AD_UUID_LEN + 1], v2[AD_UUID_LEN + 1], back[AD_UUID_LEN + 1], app[32];
        char want[128], rb_id[AD_UUID_LEN + 1], built_id[AD_UUID_LEN + 1];
        char *v;

        (void)state;
        new_app(app, sizeof(app));
        ad_uuid_v4(v1);
        drive(v1, app, "v1", "EXPOSED");
        /* v1 ran two containers: the rollback asks for two again. */
        {
                const char *p[1] = { v1 };

                assert_int_equal(
                        ad_db_exec(db, NULL,
                                   "UPDATE releases SET container_ids = '{c0ffee,c0ffee2}' "
                                   "WHERE deployment_id = $1",
                                   1, p, NULL),
                        0);
        }
        test_sleep_ms(20); /* created_at must differ */
        ad_uuid_v4(v2);
        drive(v2, app, "v2", "EXPOSED");
        /* v2 serves now: v1 is superseded, one deployment of the app is
         * EXPOSED. */
        expect_query("SELECT status FROM deployments WHERE id = $1", v1, "SUPERSEDED");
        expect_query("SELECT count(*) FROM deployments WHERE app_name = $1 AND status = 'EXPOSED'",
                     app, "1");
        ad_uuid_v4(back);
        rb.target_deployment_id = v2;
        rb.requested_by = "test";
        publish(back, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ROLLBACK, &rb, AD_SUBJECT_ROLLBACK, rb_id);
        /* The coordinator itself publishes deploy.built with v1's image;
         * the new deployment moves on to PROVISIONING. */
        wait_status(back, "PROVISIONING");
        v = query1("SELECT image FROM builds WHERE deployment_id = $1", back);
        snprintf(want, sizeof(want), "127.0.0.1:5000/%s:v1", app);
        assert_string_equal(v, want);
        free(v);
        v = query1("SELECT kind || ' ' || rollback_of FROM deployments WHERE id = $1", back);
        snprintf(want, sizeof(want), "rollback %s", v2);
        assert_string_equal(v, want);
        free(v);
        expect_query("SELECT env->>'SECRET' FROM builds WHERE deployment_id = $1", back,
                     "sealed:v1:AAAA");
        /* The deploy.built the coordinator published for it. */
        ad_uuid_derive(built_id, rb_id, "built");
        v = query1("SELECT encode(payload, 'hex') FROM outbox WHERE event_id = $1", built_id);
        assert_non_null(v);
        {
                size_t n = strlen(v) / 2;
                uint8_t *bin = malloc(n);
                ad_envelope *env = NULL;

                assert_non_null(bin);
                for (size_t i = 0; i < n; i++)
                        sscanf(v + 2 * i, "%2hhx", &bin[i]);
                assert_int_equal(ad_event_unpack(&env, bin, n, NULL), 0);
                assert_int_equal(env->payload_case, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT);
                assert_string_equal(env->deployment_id, back);
                assert_non_null(env->built->resources);
                assert_int_equal(env->built->resources->replicas, 2);
                ad_event_free(env);
                free(bin);
        }
        free(v);
}

static void test_overdue_step_is_failed_and_compensated(void **state)
{
        char dep[AD_UUID_LEN + 1], app[32];
        char *v;

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        /* The provisioner never answers: after its 3 s deadline the
         * coordinator fails the step and compensates. */
        drive(dep, app, "1", "PROVISIONING");
        wait_status(dep, "ROLLING_BACK");
        v = query1("SELECT failed_step || ': ' || error FROM deployments WHERE id = $1", dep);
        assert_non_null(strstr(v, "provision: step provision produced no event within its "
                                  "deadline (3 s)"));
        free(v);
        expect_compensate(dep, "provision");
        /* Unanswered, the request is repeated (compensations are
         * idempotent, so asking again is safe). */
        expect_compensate(dep, "provision");
        compensated(dep, "provision");
        expect_compensate(dep, "build");
        compensated(dep, "build");
        wait_status(dep, "ROLLED_BACK");
        /* The late success of the step being compensated changes nothing. */
        {
                Appdeployer__V1__DeployProvisioned pr = APPDEPLOYER__V1__DEPLOY_PROVISIONED__INIT;
                pr.url = "http://late/";
                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED, &pr,
                        AD_SUBJECT_PROVISIONED, NULL);
                test_sleep_ms(1000);
                wait_status(dep, "ROLLED_BACK");
        }
}

static void test_restart_recovers_deployments_in_flight(void **state)
{
        char dep[AD_UUID_LEN + 1], app[32];

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "PROVISIONING");
        /* The coordinator is down while the step's deadline passes. */
        assert_int_equal(test_proc_stop(&coord), 0);
        test_sleep_ms(3500);
        assert_int_equal(test_proc_start(&coord, "adcoordinator", coord_env), 0);
        wait_status(dep, "ROLLING_BACK");
        expect_compensate(dep, "provision");
        compensated(dep, "provision");
        expect_compensate(dep, "build");
        compensated(dep, "build");
        wait_status(dep, "ROLLED_BACK");
}

static void test_garbage_is_dropped(void **state)
{
        static const char junk[] = "\xff\xfe not protobuf";
        char id[AD_UUID_LEN + 1], url[64];
        ad_error_t err = NULL;

        (void)state;
        ad_uuid_v4(id);
        assert_int_equal(
                ad_bus_publish(bus, AD_SUBJECT_REQUESTED, id, junk, sizeof(junk), NULL, &err), 0);
        test_sleep_ms(1000);
        /* Still alive and healthy. */
        assert_int_equal(kill(coord.pid, 0), 0);
        snprintf(url, sizeof(url), "curl -fs http://127.0.0.1:%d/healthz >/dev/null",
                 coord.http_port);
        assert_int_equal(system(url), 0);
}

/* Issue 12: an event that contradicts the recorded deployment (another
 * app's name, a step the saga does not have) is logged and dropped, and the
 * deployment goes on as if it never came. */
static void test_forged_event_changes_nothing(void **state)
{
        Appdeployer__V1__DeployBuilt bu = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        Appdeployer__V1__DeployFailed fa = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        Appdeployer__V1__Compensated co = APPDEPLOYER__V1__COMPENSATED__INIT;
        char dep[AD_UUID_LEN + 1], app[32], image[128];
        char *v = NULL, *before;

        (void)state;
        ad_uuid_v4(dep);
        new_app(app, sizeof(app));
        drive(dep, app, "1", "BUILDING");
        before = query1("SELECT status || ' ' || version || ' ' || coalesce(failed_step, '-') || "
                        "' ' || (SELECT count(*) FROM builds WHERE deployment_id = $1) || ' ' || "
                        "(SELECT count(*) FROM compensations WHERE deployment_id = $1) FROM "
                        "deployments WHERE id = $1",
                        dep);
        assert_int_equal(strncmp(before, "BUILDING ", 9), 0);
        assert_string_equal(before + strlen(before) - 6, " - 0 0");
        /* deploy.built in the very state it fits, but for another app. */
        snprintf(image, sizeof(image), "127.0.0.1:5000/%s:1", app);
        bu.image = image;
        bu.app_name = "someone-else";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &bu, AD_SUBJECT_BUILT, NULL);
        /* A failure and a completion of steps that do not exist. */
        fa.step = "everything";
        fa.reason = "forged";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &fa, AD_SUBJECT_FAILED, NULL);
        co.step = "analyze";
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED, &co,
                "deploy.compensated.analyze", NULL);
        for (int i = 0; i < 100; i++) {
                free(v);
                v = query1("SELECT count(*) FROM event_log WHERE deployment_id = $1 AND NOT "
                           "applied",
                           dep);
                if (atoi(v) >= 3)
                        break;
                test_sleep_ms(100);
        }
        assert_string_equal(v, "3");
        free(v);
        {
                char want[160];

                snprintf(want, sizeof(want),
                         "%%deploy.built names app someone-else, the deployment is of %s%%", app);
                {
                        PGresult *r = NULL;
                        ad_error_t err = NULL;

                        assert_int_equal(
                                ad_db_exec(db, &r,
                                           "SELECT count(*) FILTER (WHERE note LIKE $2), "
                                           "count(*) FILTER (WHERE note LIKE 'deploy.failed names "
                                           "no step of the saga (everything)'), count(*) FILTER "
                                           "(WHERE note LIKE 'deploy.compensated names no step "
                                           "that is compensated (analyze)') FROM event_log WHERE "
                                           "deployment_id = $1 AND NOT applied",
                                           2, (const char *[]){ dep, want }, &err),
                                0);
                        assert_string_equal(PQgetvalue(r, 0, 0), "1");
                        assert_string_equal(PQgetvalue(r, 0, 1), "1");
                        assert_string_equal(PQgetvalue(r, 0, 2), "1");
                        PQclear(r);
                }
        }
        /* Nothing of them was applied: no build, no failure, no
         * compensation, the status and its version as they were. */
        expect_query("SELECT status || ' ' || version || ' ' || coalesce(failed_step, '-') || ' ' "
                     "|| (SELECT count(*) FROM builds WHERE deployment_id = $1) || ' ' || "
                     "(SELECT count(*) FROM compensations WHERE deployment_id = $1) FROM "
                     "deployments WHERE id = $1",
                     dep, before);
        free(before);
        /* The real deploy.built still moves it on. */
        bu.app_name = app;
        publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &bu, AD_SUBJECT_BUILT, NULL);
        wait_status(dep, "PROVISIONING");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_happy_path_records_every_step),
                cmocka_unit_test(test_duplicate_and_late_events_change_nothing),
                cmocka_unit_test(test_request_published_twice_is_one_deployment),
                cmocka_unit_test(test_early_event_waits_for_the_one_it_follows),
                cmocka_unit_test(test_failure_is_compensated_newest_first),
                cmocka_unit_test(test_failure_while_analyzing_needs_no_compensation),
                cmocka_unit_test(test_destroy_removes_everything),
                cmocka_unit_test(test_rollback_runs_the_previous_image),
                cmocka_unit_test(test_overdue_step_is_failed_and_compensated),
                cmocka_unit_test(test_restart_recovers_deployments_in_flight),
                cmocka_unit_test(test_garbage_is_dropped),
                cmocka_unit_test(test_forged_event_changes_nothing),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
