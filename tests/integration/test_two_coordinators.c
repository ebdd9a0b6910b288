/* Two coordinator replicas at once, on the real NATS and PostgreSQL: they
 * share the durable consumer, both do part of the work, every transition
 * is applied exactly once; conflicting events for one deployment published
 * together are decided once; and the compare-and-set every transition is
 * written with refuses a second writer that decided on the same version.
 *
 * The test plays every other service: it publishes each step's event
 * itself once the deployment reached the step, and publishes each event
 * twice (its id once as Nats-Msg-Id, once under another message id) so
 * the two replicas also race on the same event. */
#include <pthread.h>
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
#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/event.h"
#include "saga.h"

#include "../support/proto_literals.h"

#define N_FORWARD 40  /* deployments driven to EXPOSED */
#define N_CONFLICT 30 /* deployments that get two conflicting events */
#define N_RACES 30    /* saga_apply() races on two connections */

static struct test_proc coord[2];
static const char *const tags[2] = { "a", "b" };
static ad_bus *bus;
static ad_db *db;
static const char *const repo = "file:///nonexistent/two-coordinators.git";

/* No compensation is answered here: none must be requested twice. */
static const char *const coord_env[] = {
        "AD_COORDINATOR_COMPENSATE_RETRY_S=3600",
        NULL,
};

static int group_setup(void **state)
{
        ad_error_t err = NULL;

        (void)state;
        if (ad_bus_connect(&bus, stack_env("AD_NATS_URL"), "test_two_coordinators", &err) < 0 ||
            ad_bus_ensure_stream(bus, 1, &err) < 0 ||
            ad_db_connect(&db, stack_env("AD_DATABASE_URL"), &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        if (test_bus_reset() < 0)
                return -1;
        for (int i = 0; i < 2; i++)
                if (test_proc_start_tagged(&coord[i], "adcoordinator", tags[i], coord_env) < 0) {
                        test_proc_dump(&coord[i]);
                        return -1;
                }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        for (int i = 0; i < 2; i++)
                assert_int_equal(test_proc_stop(&coord[i]), 0);
        ad_bus_close(bus);
        ad_db_close(db);
        return 0;
}

static char *queryv(const char *sql, int n, const char *const *p)
{
        PGresult *r = NULL;
        ad_error_t err = NULL;
        char *v = NULL;

        if (ad_db_exec(db, &r, sql, n, p, &err) < 0)
                fail_msg("%s: %s", sql, ad_error_message(err));
        if (PQntuples(r) > 0)
                v = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
        PQclear(r);
        return v;
}

static char *query1(const char *sql, const char *param)
{
        return queryv(sql, 1, (const char *[]){ param });
}

static long query_long(const char *sql, const char *param)
{
        char *v = query1(sql, param);
        long n = v ? atol(v) : -1;

        free(v);
        return n;
}

/* Publishes one event; with `copy`, once more under another message id:
 * the stream keeps both, so either replica may take either copy. */
static void publish(const char *dep, int pcase, void *payload, const char *subject, bool copy,
                    char *id_out)
{
        char id[AD_UUID_LEN + 1], other[AD_UUID_LEN + 1];
        ad_error_t err = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        ad_envelope env;

        ad_event_init(&env, dep, "trace-two", 1, "test", id);
        env.payload_case = (Appdeployer__V1__Envelope__PayloadCase)pcase;
        env.requested = payload; /* oneof: shared storage */
        if (ad_event_pack(&env, &buf, &len, &err) < 0 ||
            ad_bus_publish(bus, subject, id, buf, len, NULL, &err) < 0)
                fail_msg("publish %s: %s", subject, ad_error_message(err));
        ad_uuid_v4(other);
        if (copy && ad_bus_publish(bus, subject, other, buf, len, NULL, &err) < 0)
                fail_msg("publish %s: %s", subject, ad_error_message(err));
        free(buf);
        if (id_out)
                memcpy(id_out, id, sizeof(id));
}

/* Payloads of the forward steps; image unique per app. */
struct payloads {
        char app[32];
        char image[128];
        char *ids[1];
        Appdeployer__V1__DeployRequested rq;
        Appdeployer__V1__DeployAnalyzed an;
        Appdeployer__V1__DeployBuilt bu;
        Appdeployer__V1__DeployProvisioned pr;
        Appdeployer__V1__DeployExposed ex;
};

static void new_app(char *app, size_t n)
{
        char id[AD_UUID_LEN + 1];
        ad_uuid_v4(id);
        snprintf(app, n, "two-%.8s", id);
}

/* Payloads for a new app (name and image unique to the run). */
static void payloads_init(struct payloads *p)
{
        const char *app = p->app;

        new_app(p->app, sizeof(p->app));
        snprintf(p->image, sizeof(p->image), "127.0.0.1:5000/%s:1", app);
        p->ids[0] = "c0ffee";
        p->rq = (Appdeployer__V1__DeployRequested)APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        p->rq.repo_url = (char *)repo;
        p->rq.app_name = (char *)app;
        p->an = (Appdeployer__V1__DeployAnalyzed)APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        p->an.language = "node";
        p->an.git_sha = "0123456789abcdef0123456789abcdef01234567";
        p->an.app_name = (char *)app;
        p->an.analysis_json = "{\"language\":\"node\",\"port\":3000}";
        p->bu = (Appdeployer__V1__DeployBuilt)APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        p->bu.image = p->image;
        p->bu.app_name = (char *)app;
        p->bu.port = 3000;
        p->pr = (Appdeployer__V1__DeployProvisioned)APPDEPLOYER__V1__DEPLOY_PROVISIONED__INIT;
        p->pr.network = "ad-x";
        p->pr.host_name = "x.localhost";
        p->pr.url = "http://x.localhost:8080/";
        p->ex = (Appdeployer__V1__DeployExposed)APPDEPLOYER__V1__DEPLOY_EXPOSED__INIT;
        p->ex.url = p->pr.url;
        p->ex.ip = "127.0.0.1";
        p->ex.replicas = 1;
        p->ex.n_container_ids = 1;
        p->ex.container_ids = p->ids;
}

/* Publishes (twice) the event that moves a deployment on from `status`. */
static void step_on(const char *dep, struct payloads *p, const char *status)
{
        if (!strcmp(status, "ANALYZING"))
                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED, &p->an,
                        AD_SUBJECT_ANALYZED, true, NULL);
        else if (!strcmp(status, "BUILDING"))
                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &p->bu, AD_SUBJECT_BUILT,
                        true, NULL);
        else if (!strcmp(status, "PROVISIONING"))
                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED, &p->pr,
                        AD_SUBJECT_PROVISIONED, true, NULL);
        else if (!strcmp(status, "DEPLOYING"))
                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED, &p->ex, AD_SUBJECT_EXPOSED,
                        true, NULL);
        else
                fail_msg("deployment %s in unexpected status %s", dep, status);
}

/* Drives n deployments at once, each to `until`: like the services, the
 * test publishes a step's event as soon as its deployment reached it. */
static void drive_all(char (*deps)[AD_UUID_LEN + 1], struct payloads *p, int n, const char *until)
{
        char sent[N_FORWARD][32];
        int done = 0;

        assert_true(n <= N_FORWARD);
        for (int i = 0; i < n; i++) {
                publish(deps[i], APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED, &p[i].rq,
                        AD_SUBJECT_REQUESTED, true, NULL);
                sent[i][0] = '\0';
        }
        for (int round = 0; done < n && round < 2400; round++) {
                done = 0;
                for (int i = 0; i < n; i++) {
                        char *s = query1("SELECT status FROM deployments WHERE id = $1", deps[i]);

                        if (s && !strcmp(s, until))
                                done++;
                        else if (s && strcmp(s, sent[i]) != 0) {
                                step_on(deps[i], &p[i], s);
                                snprintf(sent[i], sizeof(sent[i]), "%s", s);
                        }
                        free(s);
                }
                test_sleep_ms(50);
        }
        if (done < n) {
                test_proc_dump(&coord[0]);
                test_proc_dump(&coord[1]);
                fail_msg("only %d of %d deployments reached %s", done, n, until);
        }
}

/* Lines of a coordinator's log holding every needle given (NULL-ended). */
static int log_count(const struct test_proc *p, ...)
{
        char line[8192];
        int n = 0;
        FILE *f = fopen(p->log, "r");

        if (f == NULL)
                fail_msg("cannot read %s", p->log);
        while (fgets(line, sizeof(line), f)) {
                const char *needle;
                bool all = true;
                va_list ap;

                va_start(ap, p);
                while ((needle = va_arg(ap, const char *)) != NULL)
                        all = all && strstr(line, needle) != NULL;
                va_end(ap);
                n += all;
        }
        fclose(f);
        return n;
}

static int applied_in_log(const struct test_proc *p)
{
        return log_count(p, "\"msg\":\"event handled\"", "\"outcome\":\"applied\"", NULL);
}

/* "{id,id,...}": a uuid[] parameter. */
static char *id_array(char (*deps)[AD_UUID_LEN + 1], int n)
{
        char *s = malloc((size_t)n * (AD_UUID_LEN + 1) + 3);
        size_t off = 0;

        s[off++] = '{';
        for (int i = 0; i < n; i++)
                off += (size_t)sprintf(s + off, "%s%s", i ? "," : "", deps[i]);
        s[off++] = '}';
        s[off] = '\0';
        return s;
}

/* (a) Forty deployments at once through every step, each event published
 * twice: both replicas work, every transition happens exactly once. */
static void test_forward_work_is_shared_and_applied_once(void **state)
{
        static char deps[N_FORWARD][AD_UUID_LEN + 1];
        static struct payloads p[N_FORWARD];
        int before[2], applied[2], dups[2];
        char *ids;

        (void)state;
        for (int i = 0; i < 2; i++)
                before[i] = applied_in_log(&coord[i]);
        for (int i = 0; i < N_FORWARD; i++) {
                ad_uuid_v4(deps[i]);
                payloads_init(&p[i]);
        }
        drive_all(deps, p, N_FORWARD, "EXPOSED");
        ids = id_array(deps, N_FORWARD);

        assert_int_equal(query_long("SELECT count(*) FROM deployments WHERE id = ANY($1::uuid[]) "
                                    "AND status = 'EXPOSED'",
                                    ids),
                         N_FORWARD);
        /* Five subjects, each applied exactly once per deployment; the
         * copies are not logged twice. */
        assert_int_equal(query_long("SELECT count(*) FROM (SELECT deployment_id, subject FROM "
                                    "event_log WHERE deployment_id = ANY($1::uuid[]) AND applied "
                                    "GROUP BY 1, 2 HAVING count(*) = 1) x",
                                    ids),
                         5 * N_FORWARD);
        assert_int_equal(query_long("SELECT count(*) FROM event_log WHERE deployment_id = "
                                    "ANY($1::uuid[])",
                                    ids),
                         5 * N_FORWARD);
        assert_int_equal(query_long("SELECT count(*) FROM event_log WHERE deployment_id = "
                                    "ANY($1::uuid[]) AND NOT applied",
                                    ids),
                         0);
        /* Four status changes after the insert, one release each. */
        assert_int_equal(query_long("SELECT count(*) FROM deployments WHERE id = ANY($1::uuid[]) "
                                    "AND version = 4",
                                    ids),
                         N_FORWARD);
        assert_int_equal(query_long("SELECT count(*) FROM releases WHERE deployment_id = "
                                    "ANY($1::uuid[])",
                                    ids),
                         N_FORWARD);
        free(ids);

        /* Every applied event is logged once, by the replica that applied
         * it (just after its commit); each replica took its share, and
         * dropped some copies. */
        for (int t = 0; t < 50; t++) {
                for (int i = 0; i < 2; i++)
                        applied[i] = applied_in_log(&coord[i]) - before[i];
                if (applied[0] + applied[1] >= 5 * N_FORWARD)
                        break;
                test_sleep_ms(100);
        }
        for (int i = 0; i < 2; i++)
                dups[i] = log_count(&coord[i], "\"msg\":\"event handled\"",
                                    "\"outcome\":\"duplicate\"", NULL);
        printf("# forward: %d deployments; applied by a: %d, by b: %d; duplicate copies "
               "dropped by a: %d, by b: %d\n",
               N_FORWARD, applied[0], applied[1], dups[0], dups[1]);
        assert_int_equal(applied[0] + applied[1], 5 * N_FORWARD);
        assert_true(applied[0] > 0);
        assert_true(applied[1] > 0);
}

/* Which replica logged the handling of event `id` (0, 1; -1: none yet). */
static int handled_by(const char *id)
{
        char needle[sizeof("\"event_id\":\"\"") + AD_UUID_LEN];

        snprintf(needle, sizeof(needle), "\"event_id\":\"%.*s\"", AD_UUID_LEN, id);
        for (int i = 0; i < 2; i++)
                if (log_count(&coord[i], "\"msg\":\"event handled\"", needle, NULL) > 0)
                        return i;
        return -1;
}

/* (b) Two conflicting events for a deployment at DEPLOYING, published
 * together with both replicas idle: deploy.exposed against deploy.failed,
 * or two different failures.  One wins; the state is the winner's,
 * nothing of the loser is applied, compensations are requested once. */
static void test_conflicting_events_one_transition_wins(void **state)
{
        static const char inputs_logged[] = "SELECT count(*) FROM event_log WHERE deployment_id "
                                            "= $1 AND subject <> 'deploy.compensate'";
        static char deps[N_CONFLICT][AD_UUID_LEN + 1];
        static struct payloads p[N_CONFLICT];
        int exposed_won = 0, failed_won = 0, split = 0;

        (void)state;
        for (int i = 0; i < N_CONFLICT; i++) {
                ad_uuid_v4(deps[i]);
                payloads_init(&p[i]);
        }
        drive_all(deps, p, N_CONFLICT, "DEPLOYING");

        for (int i = 0; i < N_CONFLICT; i++) {
                Appdeployer__V1__DeployFailed f1 = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
                Appdeployer__V1__DeployFailed f2 = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
                char id[2][AD_UUID_LEN + 1], reason[2][64], comp[AD_UUID_LEN + 1];
                const char *dep = deps[i];
                bool with_exposed = i % 2 == 0, swap = (i / 2) % 2 == 1;
                int winner = -1, by[2];
                char *status;

                snprintf(reason[0], sizeof(reason[0]), "health check failed (%d)", i);
                snprintf(reason[1], sizeof(reason[1]), "container exited (%d)", i);
                f1.step = "deploy";
                f1.reason = reason[0];
                f2.step = "deploy";
                f2.reason = reason[1];
                /* id[0] is always the failure with reason[0]; id[1] the
                 * deploy.exposed or the other failure. */
                for (int k = 0; k < 2; k++) {
                        int which = swap ? 1 - k : k;

                        if (which == 0)
                                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &f1,
                                        AD_SUBJECT_FAILED, false, id[0]);
                        else if (with_exposed)
                                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED, &p[i].ex,
                                        AD_SUBJECT_EXPOSED, false, id[1]);
                        else
                                publish(dep, APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &f2,
                                        AD_SUBJECT_FAILED, false, id[1]);
                }
                /* Both handled: 4 forward events + the pair, in the log
                 * (besides the coordinator's own deploy.compensate). */
                for (int t = 0; t < 300; t++) {
                        if (query_long(inputs_logged, dep) == 6)
                                break;
                        test_sleep_ms(50);
                }
                assert_int_equal(query_long(inputs_logged, dep), 6);
                for (int k = 0; k < 2; k++) {
                        char *a = queryv("SELECT applied FROM event_log WHERE event_id = $1", 1,
                                         (const char *[]){ id[k] });
                        assert_non_null(a);
                        if (!strcmp(a, "t")) {
                                assert_int_equal(winner, -1); /* never both */
                                winner = k;
                        }
                        free(a);
                }
                assert_int_not_equal(winner, -1);
                status = query1("SELECT status || ' ' || version || ' ' || coalesce(error, '-') "
                                "FROM deployments WHERE id = $1",
                                dep);
                ad_uuid_derive(comp, dep, "compensate/deploy/1");
                if (winner == 1 && with_exposed) {
                        exposed_won++;
                        assert_string_equal(status, "EXPOSED 4 -");
                        assert_int_equal(query_long("SELECT count(*) FROM releases WHERE "
                                                    "deployment_id = $1",
                                                    dep),
                                         1);
                        assert_int_equal(query_long("SELECT count(*) FROM compensations WHERE "
                                                    "deployment_id = $1",
                                                    dep),
                                         0);
                        assert_int_equal(query_long("SELECT count(*) FROM outbox WHERE "
                                                    "event_id = $1",
                                                    comp),
                                         0);
                } else {
                        char want[128];

                        failed_won++;
                        /* FAILED and ROLLING_BACK: two status changes. */
                        snprintf(want, sizeof(want), "ROLLING_BACK 5 %s", reason[winner]);
                        assert_string_equal(status, want);
                        assert_int_equal(query_long("SELECT count(*) FROM releases WHERE "
                                                    "deployment_id = $1",
                                                    dep),
                                         0);
                        /* Planned once (deploy, provision, build), the
                         * newest requested once: one outbox event. */
                        free(status);
                        status = query1("SELECT string_agg(step || ':' || status || ':' || "
                                        "attempts, ',' ORDER BY seq) FROM compensations WHERE "
                                        "deployment_id = $1",
                                        dep);
                        assert_string_equal(status, "deploy:requested:1,provision:pending:0,"
                                                    "build:pending:0");
                        assert_int_equal(query_long("SELECT count(*) FROM outbox WHERE "
                                                    "event_id = $1",
                                                    comp),
                                         1);
                        ad_uuid_derive(comp, dep, "compensate/deploy/2");
                        assert_int_equal(query_long("SELECT count(*) FROM outbox WHERE "
                                                    "event_id = $1",
                                                    comp),
                                         0);
                }
                free(status);
                /* The loser is logged, not applied, with the reason. */
                {
                        char *note = queryv("SELECT note FROM event_log WHERE event_id = $1", 1,
                                            (const char *[]){ id[1 - winner] });
                        assert_non_null(strstr(note, "does not fit status"));
                        free(note);
                }
                for (int k = 0; k < 2; k++) {
                        by[k] = -1;
                        for (int t = 0; t < 50 && by[k] < 0; t++) {
                                by[k] = handled_by(id[k]);
                                if (by[k] < 0)
                                        test_sleep_ms(100);
                        }
                        assert_int_not_equal(by[k], -1);
                }
                split += by[0] != by[1];
        }
        printf("# conflicts: %d deployments; deploy.exposed won %d, a deploy.failed won %d; "
               "the two events handled by different replicas in %d\n",
               N_CONFLICT, exposed_won, failed_won, split);
        assert_int_equal(exposed_won + failed_won, N_CONFLICT);
        /* Otherwise the replicas never raced on a deployment. */
        assert_true(split > 0);
}

/* Applies an event through the saga on `conn`, as a coordinator would. */
static int apply(ad_db *conn, const char *dep, int pcase, void *payload, struct saga_result *res,
                 ad_error_t *err)
{
        char id[AD_UUID_LEN + 1];
        uint8_t *buf = NULL;
        size_t len = 0;
        ad_envelope env;
        int ret;

        ad_event_init(&env, dep, "trace-race", 1, "test", id);
        env.payload_case = (Appdeployer__V1__Envelope__PayloadCase)pcase;
        env.requested = payload;
        ret = ad_event_pack(&env, &buf, &len, err);
        if (ret == 0)
                ret = saga_apply(conn, &env, buf, len, res, err);
        free(buf);
        return ret;
}

struct racer {
        ad_db *conn;
        pthread_barrier_t *start;
        const char *dep;
        int pcase;
        void *payload;
        /* out */
        int ret, kind;
        struct saga_result res;
};

static void *race(void *arg)
{
        struct racer *r = arg;
        ad_error_t err = NULL;

        pthread_barrier_wait(r->start);
        r->ret = apply(r->conn, r->dep, r->pcase, r->payload, &r->res, &err);
        r->kind = err ? err->kind : 0;
        ad_error_release(&err);
        return NULL;
}

static ad_db *connect_db(void)
{
        ad_error_t err = NULL;
        ad_db *conn = NULL;

        if (ad_db_connect(&conn, stack_env("AD_DATABASE_URL"), &err) < 0)
                fail_msg("connect: %s", ad_error_message(err));
        return conn;
}

/* A deployment at DEPLOYING, made through the saga on `conn` (not on the
 * bus: the replicas do not see it). */
static void make_deploying(ad_db *conn, char *dep, struct payloads *p)
{
        static const int cases[] = { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED,
                                     APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED,
                                     APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT,
                                     APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED };
        void *payloads[] = { &p->rq, &p->an, &p->bu, &p->pr };

        ad_uuid_v4(dep);
        payloads_init(p);
        for (size_t k = 0; k < AD_ARRAY_SIZE(cases); k++) {
                struct saga_result res;
                ad_error_t err = NULL;

                if (apply(conn, dep, cases[k], payloads[k], &res, &err) < 0)
                        fail_msg("apply: %s", ad_error_message(err));
                assert_int_equal(res.outcome, SAGA_APPLIED);
        }
}

/* (c) saga_apply() from two connections at once on one deployment:
 * deploy.exposed against deploy.failed.  One applies; the other either
 * failed with a conflict (and, applied again, is late) or waited for the
 * row and found it moved (late).  Never both. */
static void test_two_connections_race_one_transition(void **state)
{
        ad_db *conn[2] = { connect_db(), connect_db() };
        int late = 0, conflicts = 0, exposed_won = 0;

        (void)state;
        for (int i = 0; i < N_RACES; i++) {
                Appdeployer__V1__DeployFailed f = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
                char dep[AD_UUID_LEN + 1], *v;
                struct payloads p;
                pthread_barrier_t start;
                pthread_t th[2];
                struct racer r[2];
                int winner = -1;

                make_deploying(db, dep, &p);
                f.step = "deploy";
                f.reason = "raced";
                pthread_barrier_init(&start, NULL, 2);
                for (int k = 0; k < 2; k++) {
                        /* Alternate which connection gets which event. */
                        bool exposed = (k + i) % 2 == 0;

                        r[k] = (struct racer){
                                .conn = conn[k],
                                .start = &start,
                                .dep = dep,
                                .pcase = exposed ? APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED
                                                 : APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED,
                                .payload = exposed ? (void *)&p.ex : (void *)&f,
                        };
                        assert_int_equal(pthread_create(&th[k], NULL, race, &r[k]), 0);
                }
                for (int k = 0; k < 2; k++)
                        pthread_join(th[k], NULL);
                pthread_barrier_destroy(&start);
                for (int k = 0; k < 2; k++) {
                        if (r[k].ret == 0 && r[k].res.outcome == SAGA_APPLIED) {
                                assert_int_equal(winner, -1);
                                winner = k;
                        }
                }
                assert_int_not_equal(winner, -1);
                {
                        struct racer *l = &r[1 - winner];

                        if (l->ret < 0) {
                                struct saga_result res;
                                ad_error_t err = NULL;

                                assert_int_equal(l->kind, AD_ERR_CONFLICT);
                                conflicts++;
                                /* Its redelivery finds the new state. */
                                assert_int_equal(
                                        apply(l->conn, dep, l->pcase, l->payload, &res, &err), 0);
                                assert_int_equal(res.outcome, SAGA_IGNORED);
                        } else {
                                assert_int_equal(l->res.outcome, SAGA_IGNORED);
                                assert_non_null(strstr(l->res.note, "does not fit status"));
                                late++;
                        }
                }
                v = query1("SELECT status || ' ' || version FROM deployments WHERE id = $1", dep);
                if (r[winner].pcase == APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED) {
                        exposed_won++;
                        assert_string_equal(v, "EXPOSED 4");
                } else {
                        assert_string_equal(v, "ROLLING_BACK 5");
                }
                free(v);
                assert_int_equal(query_long("SELECT count(*) FROM event_log WHERE deployment_id "
                                            "= $1 AND applied",
                                            dep),
                                 5);
        }
        printf("# saga_apply races: %d; the loser found the state moved (late) %d times, "
               "failed with a conflict %d times; deploy.exposed won %d\n",
               N_RACES, late, conflicts, exposed_won);
        ad_db_close(conn[0]);
        ad_db_close(conn[1]);
}

struct cas {
        ad_db *conn;
        const char *dep;
        long version;
        const char *status;
        int ret, kind;
};

static void *cas_run(void *arg)
{
        struct cas *c = arg;
        ad_error_t err = NULL;

        c->ret = ad_db_begin(c->conn, &err);
        if (c->ret == 0)
                c->ret = saga_transition(c->conn, c->dep, c->version, c->status, &err);
        c->kind = err ? err->kind : 0;
        ad_db_rollback(c->conn);
        ad_error_release(&err);
        return NULL;
}

/* (c) The compare-and-set itself: two writers that both read version v.
 * The first writes and holds its transaction open; the second's UPDATE
 * waits for it, and once it commits finds the row at v + 1: conflict,
 * nothing written.  A transition from the current version still works. */
static void test_compare_and_set_refuses_a_stale_version(void **state)
{
        ad_db *first = connect_db(), *second = connect_db();
        char dep[AD_UUID_LEN + 1], *v;
        struct payloads p;
        ad_error_t err = NULL;
        pthread_t th;
        struct cas c;
        long version;

        (void)state;
        make_deploying(db, dep, &p);
        version = query_long("SELECT version FROM deployments WHERE id = $1", dep);
        assert_int_equal(version, 3);

        assert_int_equal(ad_db_begin(first, &err), 0);
        assert_int_equal(saga_transition(first, dep, version, "EXPOSED", &err), 0);
        c = (struct cas){ .conn = second, .dep = dep, .version = version, .status = "FAILED" };
        assert_int_equal(pthread_create(&th, NULL, cas_run, &c), 0);
        test_sleep_ms(300); /* lets the second writer block on the row, usually */
        assert_int_equal(ad_db_commit(first, &err), 0);
        pthread_join(th, NULL);
        assert_int_equal(c.ret, -AD_ERR_CONFLICT);
        assert_int_equal(c.kind, AD_ERR_CONFLICT);
        v = query1("SELECT status || ' ' || version FROM deployments WHERE id = $1", dep);
        assert_string_equal(v, "EXPOSED 4");
        free(v);

        /* A stale version again, without a race: refused; the current
         * one: applied. */
        c.version = version;
        cas_run(&c);
        assert_int_equal(c.ret, -AD_ERR_CONFLICT);
        assert_int_equal(ad_db_begin(second, &err), 0);
        assert_int_equal(saga_transition(second, dep, version + 1, "DESTROYING", &err), 0);
        assert_int_equal(ad_db_commit(second, &err), 0);
        v = query1("SELECT status || ' ' || version FROM deployments WHERE id = $1", dep);
        assert_string_equal(v, "DESTROYING 5");
        free(v);
        ad_db_close(first);
        ad_db_close(second);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_forward_work_is_shared_and_applied_once),
                cmocka_unit_test(test_conflicting_events_one_transition_wins),
                cmocka_unit_test(test_two_connections_race_one_transition),
                cmocka_unit_test(test_compare_and_set_refuses_a_stale_version),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
