/* Infrastructure faults against private stacks that test_infra_faults.sh
 * starts (never the shared stack: these tests kill its servers):
 *
 *   test_infra_faults cluster   a 3-node NATS cluster (DEPLOY stream R3)
 *                               and PostgreSQL:
 *     - losing one NATS node (twice: the client's own node, then the
 *       stream's leader) while publishing and consuming loses nothing and
 *       stores nothing twice; every message is handled and acked;
 *     - a PostgreSQL restart: the coordinator (a child process) goes on
 *       applying events.
 *   test_infra_faults single    one NATS node:
 *     - nats-server killed (SIGKILL) and started again on the same port
 *       and store dir: ad_bus_run goes on consuming by itself; a publish
 *       during the outage fails with a retryable error.
 *
 * Servers are killed and started with scripts/stack.sh kill/up/restart on
 * $AD_STATE_DIR.  The waits are bounded; nothing asserts a duration.  The
 * figures printed (messages, retries, time to recover) go to
 * docs/operations.md. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define MAX_MSGS 400

/* --- the stack ------------------------------------------------------------ */

/* Runs scripts/stack.sh ARGS on the test's own state dir; its log lines go
 * to stderr, its env listing nowhere. */
static void stack(const char *args)
{
        char cmd[1024];

        snprintf(cmd, sizeof(cmd), "bash %s/scripts/stack.sh %s >/dev/null", AD_SOURCE_DIR, args);
        stack_env("AD_STATE_DIR");
        if (system(cmd) != 0)
                fail_msg("`stack.sh %s` failed", args);
}

/* The port of the i-th (0-based) URL of AD_NATS_URL, 0 if none. */
static int nats_port(int i)
{
        const char *p = stack_env("AD_NATS_URL");

        for (; i > 0 && p; i--) {
                p = strchr(p, ',');
                if (p)
                        p++;
        }
        if (p == NULL)
                return 0;
        p = strstr(p, "127.0.0.1:");
        return p ? atoi(p + strlen("127.0.0.1:")) : 0;
}

/* The cluster node (1-based, as natsN in stack.sh) the bus is connected
 * to, 0 if unknown. */
static int connected_node(ad_bus *bus)
{
        char url[256] = "";
        const char *p;
        int port;

        if (natsConnection_GetConnectedUrl(ad_bus_nats(bus), url, sizeof(url)) != NATS_OK)
                return 0;
        p = strrchr(url, ':');
        port = p ? atoi(p + 1) : 0;
        for (int i = 0; i < 9; i++)
                if (port && nats_port(i) == port)
                        return i + 1;
        return 0;
}

/* The node leading the DEPLOY stream ("app-deployer-natsN"), 0 if none. */
static int stream_leader(ad_bus *bus)
{
        jsStreamInfo *si = NULL;
        int node = 0;

        if (js_GetStreamInfo(&si, ad_bus_js(bus), AD_STREAM_NAME, NULL, NULL) != NATS_OK)
                return 0;
        if (si->Cluster && si->Cluster->Leader) {
                const char *p = strstr(si->Cluster->Leader, "nats");
                node = p ? atoi(p + 4) : 0;
        }
        jsStreamInfo_Destroy(si);
        return node;
}

/* --- publishing and consuming -------------------------------------------- */

struct stats {
        int publish_failures; /* attempts that failed (all retryable) */
        int duplicates;       /* re-publishes the server dropped */
        int64_t longest_ms;   /* the longest a publish took, retries included */
};

/* Publishes "<i>" with msg id "<run>-<i>" until the server acks it (60 s
 * at most).  Every failure must be retryable: that is what lets the
 * callers NAK and try again. */
static void publish_retry(ad_bus *bus, const char *subject, const char *run, int i,
                          struct stats *st)
{
        int64_t t0 = ad_monotonic_ms();
        char id[96], text[16];

        snprintf(id, sizeof(id), "%s-%d", run, i);
        snprintf(text, sizeof(text), "%d", i);
        for (;;) {
                ad_error_t err = NULL;
                bool dup = false;

                if (ad_bus_publish(bus, subject, id, text, strlen(text), &dup, &err) == 0) {
                        st->duplicates += dup;
                        break;
                }
                st->publish_failures++;
                if (!ad_error_is_retryable(err))
                        fail_msg("message %d: a non-retryable publish error: %s", i,
                                 ad_error_message(err));
                if (ad_monotonic_ms() - t0 > 60000)
                        fail_msg("message %d: not published after 60 s: %s", i,
                                 ad_error_message(err));
                ad_error_release(&err);
                test_sleep_ms(100);
        }
        if (ad_monotonic_ms() - t0 > st->longest_ms)
                st->longest_ms = ad_monotonic_ms() - t0;
}

/* What the consumer loop saw, per message index. */
static struct {
        pthread_mutex_t lock;
        int handled[MAX_MSGS]; /* deliveries handled (acked by ad_bus_run) */
        int total, redelivered, bad;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_int loop_stop;
static atomic_int loop_exited;

static enum ad_disposition record(struct ad_delivery *d, void *ud)
{
        char text[16] = "";
        int i;

        (void)ud;
        memcpy(text, d->data, d->len < sizeof(text) - 1 ? d->len : sizeof(text) - 1);
        i = atoi(text);
        pthread_mutex_lock(&seen.lock);
        if (i < 0 || i >= MAX_MSGS) {
                seen.bad++;
        } else {
                seen.handled[i]++;
                seen.redelivered += d->delivered > 1;
                seen.total++;
        }
        pthread_mutex_unlock(&seen.lock);
        return AD_ACK;
}

static bool loop_should_stop(void)
{
        return atomic_load(&loop_stop) != 0;
}

struct loop {
        ad_bus *bus;
        struct ad_consumer consumer;
        pthread_t thread;
        int ret;
};

static void *loop_main(void *arg)
{
        struct loop *l = arg;
        ad_error_t err = NULL;

        l->ret = ad_bus_run(l->bus, &l->consumer, 1, loop_should_stop, &err);
        if (l->ret < 0)
                fprintf(stderr, "ad_bus_run: %s\n", ad_error_message(err));
        ad_error_release(&err);
        atomic_store(&loop_exited, 1);
        return NULL;
}

static void loop_start(struct loop *l, ad_bus *bus, const char *durable, const char *subject)
{
        pthread_mutex_lock(&seen.lock);
        memset(seen.handled, 0, sizeof(seen.handled));
        seen.total = seen.redelivered = seen.bad = 0;
        pthread_mutex_unlock(&seen.lock);
        atomic_store(&loop_stop, 0);
        atomic_store(&loop_exited, 0);
        memset(l, 0, sizeof(*l));
        l->bus = bus;
        /* A short ack wait: a delivery lost with a node comes back soon. */
        l->consumer.spec = (struct ad_consumer_spec){ durable, subject, 5000, 0 };
        l->consumer.handler = record;
        assert_int_equal(pthread_create(&l->thread, NULL, loop_main, l), 0);
}

static int loop_stop_join(struct loop *l)
{
        atomic_store(&loop_stop, 1);
        pthread_join(l->thread, NULL);
        return l->ret;
}

/* Waits (at most timeout_ms) until messages 0..n-1 were all handled. */
static bool wait_handled(int n, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        for (;;) {
                int missing = 0;

                pthread_mutex_lock(&seen.lock);
                for (int i = 0; i < n; i++)
                        missing += seen.handled[i] == 0;
                pthread_mutex_unlock(&seen.lock);
                if (missing == 0)
                        return true;
                if (ad_monotonic_ms() > deadline || atomic_load(&loop_exited))
                        return false;
                test_sleep_ms(50);
        }
}

/* Messages stored in the stream on `subject`, as the stream's leader
 * counts them (asked again for 30 s while a leader is being elected). */
static int64_t stored(ad_bus *bus, const char *subject)
{
        int64_t deadline = ad_monotonic_ms() + 30000;

        for (;;) {
                jsStreamInfo *si = NULL;
                jsOptions o;
                int64_t n = -1;

                jsOptions_Init(&o);
                o.Stream.Info.SubjectsFilter = subject;
                if (js_GetStreamInfo(&si, ad_bus_js(bus), AD_STREAM_NAME, &o, NULL) == NATS_OK) {
                        n = 0;
                        for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count; i++)
                                if (strcmp(si->State.Subjects->List[i].Subject, subject) == 0)
                                        n = (int64_t)si->State.Subjects->List[i].Msgs;
                        jsStreamInfo_Destroy(si);
                }
                if (n >= 0 || ad_monotonic_ms() > deadline)
                        return n;
                test_sleep_ms(200);
        }
}

/* Waits until the DEPLOY stream has a leader and every other replica is
 * online and caught up (a node that just came back replays first). */
static bool stream_current(ad_bus *bus, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        for (;;) {
                jsStreamInfo *si = NULL;
                bool ok = false;

                if (js_GetStreamInfo(&si, ad_bus_js(bus), AD_STREAM_NAME, NULL, NULL) == NATS_OK) {
                        jsClusterInfo *c = si->Cluster;

                        ok = c && c->Leader && c->ReplicasLen == 2;
                        for (int i = 0; ok && i < c->ReplicasLen; i++)
                                ok = c->Replicas[i]->Current && !c->Replicas[i]->Offline &&
                                     c->Replicas[i]->Lag == 0;
                        jsStreamInfo_Destroy(si);
                }
                if (ok)
                        return true;
                if (ad_monotonic_ms() > deadline)
                        return false;
                test_sleep_ms(200);
        }
}

/* Waits until the durable has nothing pending and nothing unacked. */
static bool all_acked(ad_bus *bus, const char *durable, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        for (;;) {
                jsConsumerInfo *ci = NULL;
                bool done = false;

                if (js_GetConsumerInfo(&ci, ad_bus_js(bus), AD_STREAM_NAME, durable, NULL, NULL) ==
                    NATS_OK) {
                        done = ci->NumPending == 0 && ci->NumAckPending == 0;
                        jsConsumerInfo_Destroy(ci);
                }
                if (done)
                        return true;
                if (ad_monotonic_ms() > deadline)
                        return false;
                test_sleep_ms(200);
        }
}

static ad_bus *connect_bus(const char *name)
{
        ad_bus *bus = NULL;
        ad_error_t err = NULL;
        long replicas = atol(getenv("AD_NATS_REPLICAS") ? getenv("AD_NATS_REPLICAS") : "1");

        if (ad_bus_connect(&bus, stack_env("AD_NATS_URL"), name, &err) < 0 ||
            ad_bus_ensure_stream(bus, (int)replicas, &err) < 0)
                fail_msg("%s: %s", name, ad_error_message(err));
        return bus;
}

/* --- the tests ------------------------------------------------------------ */

static void test_cluster_loses_a_node(void **state)
{
        enum { N = 300 };
        char uuid[AD_UUID_LEN + 1], subject[64], durable[64], run[16], cmd[64];
        struct stats st = { 0 };
        jsStreamInfo *si = NULL;
        int killed[2] = { 0 }, lost = 0, twice = 0;
        int64_t t_kill = 0, t_back = 0, on_two, on_three;
        static struct loop l; /* outlives a failed assertion */
        ad_bus *bus;

        (void)state;
        ad_uuid_v4(uuid);
        snprintf(run, sizeof(run), "%.8s", uuid);
        snprintf(subject, sizeof(subject), "deploy.test.infra.%s", run);
        snprintf(durable, sizeof(durable), "infra-%s", run);
        bus = connect_bus("test_infra_cluster");

        /* The stack's AD_NATS_REPLICAS made the stream R3. */
        assert_int_equal(js_GetStreamInfo(&si, ad_bus_js(bus), AD_STREAM_NAME, NULL, NULL),
                         NATS_OK);
        assert_int_equal(si->Config->Replicas, 3);
        jsStreamInfo_Destroy(si);

        loop_start(&l, bus, durable, subject);
        for (int i = 0; i < N; i++) {
                if (i == N / 4) {
                        /* The node this client talks to: it must fail over. */
                        killed[0] = connected_node(bus);
                        assert_true(killed[0] > 0);
                        snprintf(cmd, sizeof(cmd), "kill nats%d", killed[0]);
                        stack(cmd);
                        t_kill = ad_monotonic_ms();
                } else if (i == N / 2) {
                        stack("up"); /* the killed node comes back */
                } else if (i == 3 * N / 4) {
                        /* The stream's leader: the other two elect one. */
                        killed[1] = stream_leader(bus);
                        assert_true(killed[1] > 0);
                        snprintf(cmd, sizeof(cmd), "kill nats%d", killed[1]);
                        stack(cmd);
                }
                publish_retry(bus, subject, run, i, &st);
                if (i == N / 4)
                        t_back = ad_monotonic_ms() - t_kill;
        }
        if (!wait_handled(N, 90000))
                fail_msg("not every message was handled within 90 s (%d handled)", seen.total);
        assert_true(all_acked(bus, durable, 30000));
        on_two = stored(bus, subject);
        stack("up"); /* three nodes again */
        assert_true(stream_current(bus, 30000));
        on_three = stored(bus, subject);

        /* Nothing lost, nothing stored twice (on the two nodes left, and
         * on all three once the third caught up), every message acked and
         * handled; a message handled twice is a redelivery (of an ack lost
         * with a node), never a second copy. */
        if (on_two != N || on_three != N)
                fail_msg("stored: %lld on two nodes, %lld on three, want %d", (long long)on_two,
                         (long long)on_three, N);
        for (int i = 0; i < N; i++) {
                lost += seen.handled[i] == 0;
                twice += seen.handled[i] > 1;
        }
        assert_int_equal(lost, 0);
        assert_int_equal(seen.bad, 0);
        assert_false(atomic_load(&loop_exited));
        assert_int_equal(loop_stop_join(&l), 0);
        printf("cluster: killed nats%d (the client's node) then nats%d (the stream leader); "
               "%d messages published, %lld stored (%lld on three nodes), 0 lost; %d publish "
               "attempts failed "
               "(all retryable), %d dropped as duplicates; %d deliveries handled, %d "
               "redeliveries, %d messages handled twice; first publish after the first kill "
               "took %lld ms, the longest %lld ms\n",
               killed[0], killed[1], N, (long long)on_two, (long long)on_three, st.publish_failures,
               st.duplicates, seen.total, seen.redelivered, twice, (long long)t_back,
               (long long)st.longest_ms);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable, NULL, NULL);
        ad_bus_close(bus);
}

static void test_single_node_restart(void **state)
{
        enum { N1 = 50, N2 = 50, N3 = 20 };
        char uuid[AD_UUID_LEN + 1], subject[64], durable[64], run[16], id[96];
        struct stats st = { 0 };
        ad_error_t err = NULL;
        int64_t t_kill, t_resumed;
        int lost = 0, total, redelivered;
        static struct loop l; /* outlives a failed assertion */
        ad_bus *bus;

        (void)state;
        ad_uuid_v4(uuid);
        snprintf(run, sizeof(run), "%.8s", uuid);
        snprintf(subject, sizeof(subject), "deploy.test.infra.%s", run);
        snprintf(durable, sizeof(durable), "infra-%s", run);
        bus = connect_bus("test_infra_single");
        loop_start(&l, bus, durable, subject);

        for (int i = 0; i < N1; i++)
                publish_retry(bus, subject, run, i, &st);
        assert_true(wait_handled(N1, 30000));

        stack("kill nats");
        t_kill = ad_monotonic_ms();
        /* During the outage a publish fails, retryably (the callers NAK
         * and try again with the same id). */
        snprintf(id, sizeof(id), "%s-%d", run, N1);
        {
                char text[16];
                snprintf(text, sizeof(text), "%d", N1);
                assert_true(ad_bus_publish(bus, subject, id, text, strlen(text), NULL, &err) < 0);
                assert_true(ad_error_is_retryable(err));
                fprintf(stderr, "publish while NATS is down: %s\n", ad_error_message(err));
                ad_error_release(&err);
        }
        stack("up"); /* same port (stack.sh keeps it), same store dir */

        /* The same id again (maybe a duplicate of the publish that timed
         * out), then new messages: the loop must consume them all. */
        for (int i = N1; i < N1 + 1 + N2; i++)
                publish_retry(bus, subject, run, i, &st);
        if (!wait_handled(N1 + 1 + N2, 60000))
                fail_msg("the consumer loop did not resume: %d of %d handled", seen.total,
                         N1 + 1 + N2);
        t_resumed = ad_monotonic_ms() - t_kill;
        pthread_mutex_lock(&seen.lock);
        total = seen.total;
        redelivered = seen.redelivered;
        pthread_mutex_unlock(&seen.lock);

        /* The server forgets the consumer (a store that lost it, an
         * operator's mistake): the loop re-creates it and binds again. */
        assert_int_equal(js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable, NULL, NULL),
                         NATS_OK);
        for (int i = N1 + 1 + N2; i < N1 + 1 + N2 + N3; i++)
                publish_retry(bus, subject, run, i, &st);
        if (!wait_handled(N1 + 1 + N2 + N3, 60000))
                fail_msg("the consumer loop did not re-create its consumer: %d of %d handled",
                         seen.total, N1 + 1 + N2 + N3);
        for (int i = 0; i < N1 + 1 + N2 + N3; i++)
                lost += seen.handled[i] == 0;
        assert_int_equal(lost, 0);
        assert_false(atomic_load(&loop_exited));
        assert_int_equal(loop_stop_join(&l), 0);
        printf("single node: SIGKILL + restart on the same port; %d messages before, %d "
               "after; 0 lost; %d publish attempts failed (all retryable), %d dropped as "
               "duplicates; consumer loop resumed, all consumed %lld ms after the kill (%d "
               "deliveries handled, %d redeliveries); "
               "consumer deleted under the loop: re-created (replaying the subject), %d more "
               "consumed\n",
               N1, N2 + 1, st.publish_failures, st.duplicates, (long long)t_resumed, total,
               redelivered, N3);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable, NULL, NULL);
        ad_bus_close(bus);
}

/* Publishes deploy.requested for a new deployment; *dep gets its id. */
static void request_deployment(ad_bus *bus, char dep[AD_UUID_LEN + 1])
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char id[AD_UUID_LEN + 1];
        ad_error_t err = NULL;
        ad_envelope env;

        ad_uuid_v4(dep);
        rq.repo_url = "file:///nonexistent/infra-faults.git";
        rq.app_name = "infra-faults";
        ad_event_init(&env, dep, "trace-infra", 1, "test", id);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        if (ad_event_publish(bus, AD_SUBJECT_REQUESTED, &env, NULL, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
}

/* Waits up to timeout_ms for the coordinator to record the deployment. */
static bool wait_deployment(ad_db *db, const char *dep, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;
        const char *p[1] = { dep };

        for (;;) {
                PGresult *r = NULL;
                ad_error_t err = NULL;
                bool found = false;

                /* The test's own connection rides the restart too. */
                if (ad_db_exec(db, &r, "SELECT status FROM deployments WHERE id = $1", 1, p,
                               &err) == 0) {
                        found = PQntuples(r) == 1;
                        PQclear(r);
                }
                ad_error_release(&err);
                if (found)
                        return true;
                if (ad_monotonic_ms() > deadline)
                        return false;
                test_sleep_ms(100);
        }
}

static void test_postgres_restart(void **state)
{
        struct test_proc coord = { 0 };
        char before[AD_UUID_LEN + 1], after[AD_UUID_LEN + 1];
        ad_error_t err = NULL;
        int64_t t_restart, t_applied;
        ad_db *db = NULL;
        ad_bus *bus;

        (void)state;
        bus = connect_bus("test_infra_postgres");
        if (ad_db_connect(&db, stack_env("AD_DATABASE_URL"), &err) < 0)
                fail_msg("db: %s", ad_error_message(err));
        if (test_proc_start(&coord, "adcoordinator", NULL) < 0) {
                test_proc_dump(&coord);
                fail_msg("adcoordinator did not start");
        }
        request_deployment(bus, before);
        if (!wait_deployment(db, before, 30000)) {
                test_proc_dump(&coord);
                fail_msg("the coordinator did not apply the first request");
        }

        stack("restart postgres");
        t_restart = ad_monotonic_ms();
        request_deployment(bus, after);
        if (!wait_deployment(db, after, 60000)) {
                test_proc_dump(&coord);
                fail_msg("the coordinator did not apply a request after the restart");
        }
        t_applied = ad_monotonic_ms() - t_restart;
        /* Still the same process: it reconnected, it did not crash. */
        assert_int_equal(waitpid(coord.pid, NULL, WNOHANG), 0);
        assert_int_equal(test_proc_stop(&coord), 0);
        printf("postgres: restarted (fast shutdown); the coordinator applied the next "
               "request %lld ms after the restart, without restarting itself\n",
               (long long)t_applied);
        ad_db_close(db);
        ad_bus_close(bus);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest cluster[] = {
                cmocka_unit_test(test_cluster_loses_a_node),
                cmocka_unit_test(test_postgres_restart),
        };
        const struct CMUnitTest single[] = {
                cmocka_unit_test(test_single_node_restart),
        };

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 2 && strcmp(argv[1], "cluster") == 0)
                return cmocka_run_group_tests_name("infra_faults_cluster", cluster, NULL, NULL);
        if (argc == 2 && strcmp(argv[1], "single") == 0)
                return cmocka_run_group_tests_name("infra_faults_single", single, NULL, NULL);
        fprintf(stderr, "usage: %s cluster|single (run by test_infra_faults.sh)\n", argv[0]);
        return 2;
}
