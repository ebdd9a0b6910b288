/* The outbox relay thread (ad_relay) against the real PostgreSQL and NATS:
 * a row committed by another connection, which neither flushes nor wakes
 * the relay, is published on the commit's NOTIFY, long before the relay's
 * interval (a minute here) would find it; the same after the relay's
 * connection was killed (it reconnects and listens again); a rolled-back
 * row is never published. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/outbox.h"

/* Far longer than any wait below: only a notification explains a row
 * published within it. */
#define RELAY_INTERVAL_MS 60000
#define WAIT_MS 20000

struct fixture {
        ad_bus *bus;
        ad_db *db;
        ad_bus_sub *sub;
        ad_relay *relay;
        char subject[80], durable[80], app[64], url[512];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char id[AD_UUID_LEN + 1];
        struct ad_consumer_spec spec;
        ad_error_t err = NULL;

        ad_uuid_v4(id);
        snprintf(f->subject, sizeof(f->subject), "deploy.test.%s", id);
        snprintf(f->durable, sizeof(f->durable), "test-outbox-%.8s", id);
        snprintf(f->app, sizeof(f->app), "test-relay-%.8s", id);
        /* After the stack's own options (?sslmode=...), if it has any. */
        snprintf(f->url, sizeof(f->url), "%s%capplication_name=%s", stack_env("AD_DATABASE_URL"),
                 strchr(stack_env("AD_DATABASE_URL"), '?') ? '&' : '?', f->app);
        spec = (struct ad_consumer_spec){ f->durable, f->subject, 0, 0 };
        if (ad_bus_connect(&f->bus, stack_env("AD_NATS_URL"), "test_outbox", &err) < 0 ||
            ad_bus_ensure_stream(f->bus, 1, &err) < 0 ||
            ad_bus_ensure_consumer(f->bus, &spec, &err) < 0 ||
            ad_bus_bind(&f->sub, f->bus, f->durable, f->subject, &err) < 0 ||
            ad_db_connect(&f->db, stack_env("AD_DATABASE_URL"), &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        {
                const struct ad_relay_options o = {
                        .database_url = f->url,
                        .bus = f->bus,
                        .interval_ms = RELAY_INTERVAL_MS,
                };
                if (ad_relay_start(&f->relay, &o, &err) < 0) {
                        fprintf(stderr, "relay: %s\n", ad_error_message(err));
                        return -1;
                }
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        ad_relay_stop(f->relay);
        ad_bus_sub_free(f->sub);
        js_DeleteConsumer(ad_bus_js(f->bus), AD_STREAM_NAME, f->durable, NULL, NULL);
        ad_bus_close(f->bus);
        ad_db_close(f->db);
        free(f);
        return 0;
}

static void nap_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

/* Adds an event to the outbox on the test's own connection, committed
 * (or rolled back), with no flush and no ad_relay_wake: what another
 * process's transaction looks like to the relay.  id_out gets its id. */
static void add_row(struct fixture *f, bool commit, char id_out[AD_UUID_LEN + 1])
{
        Appdeployer__V1__DestroyRequested destroy = APPDEPLOYER__V1__DESTROY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1];
        ad_error_t err = NULL;
        ad_envelope env;

        ad_uuid_v4(dep);
        ad_event_init(&env, dep, "trace-outbox", 1, "test", id_out);
        destroy.requested_by = (char *)"test_outbox";
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_DESTROY;
        env.destroy = &destroy;
        if (ad_db_begin(f->db, &err) < 0 || ad_outbox_add(f->db, f->subject, &env, &err) < 0)
                fail_msg("outbox: %s", ad_error_message(err));
        if (!commit)
                ad_db_rollback(f->db);
        else if (ad_db_commit(f->db, &err) < 0)
                fail_msg("commit: %s", ad_error_message(err));
}

/* The next message on the test subject within timeout_ms: its event id
 * (the Nats-Msg-Id) into id_out; false when none came. */
static bool next_event(struct fixture *f, int64_t timeout_ms, char id_out[AD_UUID_LEN + 1])
{
        struct ad_delivery d;
        ad_envelope *env = NULL;
        int r = ad_bus_fetch(f->sub, &d, timeout_ms, NULL);

        if (r != 1)
                return false;
        if (ad_event_unpack(&env, d.data, d.len, NULL) == 0) {
                snprintf(id_out, AD_UUID_LEN + 1, "%s", env->event_id);
                ad_event_free(env);
        }
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
        return true;
}

/* Publishes earlier rows of the outbox (other tests', other services')
 * and waits until the relay is idle, listening: its first pass is over
 * once a row committed now went out. */
static void relay_idle(struct fixture *f)
{
        char id[AD_UUID_LEN + 1], got[AD_UUID_LEN + 1] = "";

        add_row(f, true, id);
        while (strcmp(got, id) != 0)
                if (!next_event(f, WAIT_MS, got))
                        fail_msg("the relay published nothing of the first row");
        nap_ms(500);
}

static void expect_published(struct fixture *f, const char *id)
{
        char got[AD_UUID_LEN + 1] = "";

        assert_true(next_event(f, WAIT_MS, got));
        assert_string_equal(got, id);
}

static void test_commit_wakes_the_relay(void **state)
{
        struct fixture *f = *state;
        char id[AD_UUID_LEN + 1];

        relay_idle(f);
        for (int i = 0; i < 3; i++) {
                add_row(f, true, id);
                expect_published(f, id);
        }
}

static void test_rolled_back_row_is_not_published(void **state)
{
        struct fixture *f = *state;
        char id[AD_UUID_LEN + 1], committed[AD_UUID_LEN + 1];

        relay_idle(f);
        add_row(f, false, id);
        /* The next row committed is the next one out. */
        add_row(f, true, committed);
        expect_published(f, committed);
}

static void test_relay_listens_again_after_losing_its_connection(void **state)
{
        struct fixture *f = *state;
        char id[AD_UUID_LEN + 1];
        PGresult *r = NULL;
        ad_error_t err = NULL;
        const char *p[1] = { f->app };

        relay_idle(f);
        if (ad_db_exec(f->db, &r,
                       "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE application_name = $1",
                       1, p, &err) < 0)
                fail_msg("terminate: %s", ad_error_message(err));
        assert_string_equal(PQgetvalue(r, 0, 0), "1");
        PQclear(r);
        nap_ms(500);
        add_row(f, true, id);
        expect_published(f, id);
        /* And it listens on the new connection. */
        nap_ms(500);
        add_row(f, true, id);
        expect_published(f, id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_commit_wakes_the_relay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rolled_back_row_is_not_published, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_relay_listens_again_after_losing_its_connection, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
