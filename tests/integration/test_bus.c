/* The bus against a real nats-server with JetStream (from the stack).
 * Each test uses its own subject (deploy.test.<uuid>) and its own durable
 * consumer, deleted at the end, so tests never see each other's messages. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/event.h"

struct fixture {
        ad_bus *bus;
        char subject[80];
        char durable[80];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char id[AD_UUID_LEN + 1];
        ad_error_t err = NULL;

        ad_uuid_v4(id);
        snprintf(f->subject, sizeof(f->subject), "deploy.test.%s", id);
        snprintf(f->durable, sizeof(f->durable), "test-%.8s", id);
        if (ad_bus_connect(&f->bus, stack_env("AD_NATS_URL"), "test_bus", &err) < 0 ||
            ad_bus_ensure_stream(f->bus, 1, &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        js_DeleteConsumer(ad_bus_js(f->bus), AD_STREAM_NAME, f->durable, NULL, NULL);
        ad_bus_close(f->bus);
        free(f);
        return 0;
}

static ad_bus_sub *consumer(struct fixture *f, ad_bus *bus, int64_t ack_wait_ms)
{
        struct ad_consumer_spec spec = { f->durable, f->subject, ack_wait_ms, 0 };
        ad_bus_sub *sub = NULL;
        ad_error_t err = NULL;

        if (ad_bus_ensure_consumer(bus, &spec, &err) < 0 ||
            ad_bus_bind(&sub, bus, f->durable, f->subject, &err) < 0)
                fail_msg("consumer: %s", ad_error_message(err));
        return sub;
}

static void publish(struct fixture *f, const char *msg_id, const char *text, bool *dup)
{
        ad_error_t err = NULL;

        if (ad_bus_publish(f->bus, f->subject, msg_id, text, strlen(text), dup, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
}

static int fetch(ad_bus_sub *sub, struct ad_delivery *d, int64_t timeout_ms)
{
        ad_error_t err = NULL;
        int r = ad_bus_fetch(sub, d, timeout_ms, &err);

        if (r < 0)
                fail_msg("fetch: %s", ad_error_message(err));
        return r;
}

static void test_publish_consume_ack(void **state)
{
        struct fixture *f = *state;
        ad_bus_sub *sub = consumer(f, f->bus, 0);
        struct ad_delivery d;
        char id[AD_UUID_LEN + 1];

        ad_uuid_v4(id);
        publish(f, id, "hello", NULL);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        assert_int_equal(d.len, 5);
        assert_memory_equal(d.data, "hello", 5);
        assert_string_equal(d.subject, f->subject);
        assert_int_equal(d.delivered, 1);
        assert_int_equal(ad_delivery_ack(&d, NULL), 0);
        ad_delivery_release(&d);
        /* Acked: never delivered again. */
        assert_int_equal(fetch(sub, &d, 1500), 0);
        ad_bus_sub_free(sub);
}

static void test_duplicate_msg_id_is_dropped(void **state)
{
        struct fixture *f = *state;
        ad_bus_sub *sub = consumer(f, f->bus, 0);
        char id[AD_UUID_LEN + 1];
        struct ad_delivery d;
        bool dup = true;

        ad_uuid_v4(id);
        publish(f, id, "once", &dup);
        assert_false(dup);
        publish(f, id, "once", &dup);
        assert_true(dup);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
        assert_int_equal(fetch(sub, &d, 1500), 0);
        ad_bus_sub_free(sub);
}

static void test_redelivery_after_nak(void **state)
{
        struct fixture *f = *state;
        ad_bus_sub *sub = consumer(f, f->bus, 0);
        char id[AD_UUID_LEN + 1];
        struct ad_delivery d;

        ad_uuid_v4(id);
        publish(f, id, "retry me", NULL);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        assert_int_equal(d.delivered, 1);
        assert_int_equal(ad_delivery_nak(&d, 200, NULL), 0);
        ad_delivery_release(&d);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        assert_int_equal(d.delivered, 2);
        assert_memory_equal(d.data, "retry me", 8);
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
        ad_bus_sub_free(sub);
}

static void test_in_progress_extends_the_deadline(void **state)
{
        struct fixture *f = *state;
        ad_bus_sub *sub = consumer(f, f->bus, 1000);
        char id[AD_UUID_LEN + 1];
        struct ad_delivery d, again;

        ad_uuid_v4(id);
        publish(f, id, "long work", NULL);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        /* Work for 2.4 s, saying so every 600 ms: with a 1 s ack wait
         * the message would otherwise be redelivered twice. */
        for (int i = 0; i < 4; i++) {
                struct timespec ts = { 0, 600 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                assert_int_equal(ad_delivery_in_progress(&d, NULL), 0);
        }
        assert_int_equal(fetch(sub, &again, 300), 0);
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
        ad_bus_sub_free(sub);
}

static void test_redelivery_after_consumer_dies(void **state)
{
        struct fixture *f = *state;
        ad_bus *other = NULL;
        ad_error_t err = NULL;
        ad_bus_sub *sub;
        char id[AD_UUID_LEN + 1];
        struct ad_delivery d;

        /* A service instance takes the message and dies without acking:
         * its whole connection goes away. */
        assert_int_equal(ad_bus_connect(&other, stack_env("AD_NATS_URL"), "dying", &err), 0);
        sub = consumer(f, other, 1000);
        ad_uuid_v4(id);
        publish(f, id, "orphan", NULL);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        assert_int_equal(d.delivered, 1);
        ad_delivery_release(&d);
        ad_bus_sub_free(sub);
        ad_bus_close(other);

        /* The durable consumer survived its subscriber, and another
         * instance gets the message once the ack wait has passed. */
        sub = consumer(f, f->bus, 1000);
        assert_int_equal(fetch(sub, &d, 5000), 1);
        assert_int_equal(d.delivered, 2);
        assert_memory_equal(d.data, "orphan", 6);
        ad_delivery_ack(&d, NULL);
        ad_delivery_release(&d);
        ad_bus_sub_free(sub);
}

static void test_two_instances_share_one_durable(void **state)
{
        enum { N = 30 };
        struct fixture *f = *state;
        ad_bus *second = NULL;
        ad_error_t err = NULL;
        ad_bus_sub *subs[2];
        int seen[N] = { 0 }, per_instance[2] = { 0 }, total = 0, idle = 0;

        assert_int_equal(ad_bus_connect(&second, stack_env("AD_NATS_URL"), "second", &err), 0);
        subs[0] = consumer(f, f->bus, 0);
        subs[1] = consumer(f, second, 0);
        for (int i = 0; i < N; i++) {
                char id[AD_UUID_LEN + 1], text[16];
                ad_uuid_v4(id);
                snprintf(text, sizeof(text), "%d", i);
                publish(f, id, text, NULL);
        }
        /* Alternate between the two instances until both stay idle. */
        while (idle < 4) {
                int got = 0;
                for (int s = 0; s < 2; s++) {
                        struct ad_delivery d;
                        char text[16] = "";
                        if (fetch(subs[s], &d, 300) == 1) {
                                memcpy(text, d.data, d.len < 15 ? d.len : 15);
                                seen[atoi(text)]++;
                                per_instance[s]++;
                                total++;
                                got = 1;
                                ad_delivery_ack(&d, NULL);
                                ad_delivery_release(&d);
                        }
                }
                idle = got ? 0 : idle + 1;
        }
        assert_int_equal(total, N);
        for (int i = 0; i < N; i++)
                if (seen[i] != 1)
                        fail_msg("message %d delivered %d times", i, seen[i]);
        assert_true(per_instance[0] > 0);
        assert_true(per_instance[1] > 0);
        ad_bus_sub_free(subs[0]);
        ad_bus_sub_free(subs[1]);
        ad_bus_close(second);
}

static void test_consumer_outlives_subscription(void **state)
{
        struct fixture *f = *state;
        ad_bus_sub *sub = consumer(f, f->bus, 0);
        jsConsumerInfo *ci = NULL;

        ad_bus_sub_free(sub);
        assert_int_equal(
                js_GetConsumerInfo(&ci, ad_bus_js(f->bus), AD_STREAM_NAME, f->durable, NULL, NULL),
                NATS_OK);
        jsConsumerInfo_Destroy(ci);
}

/* ad_bus_run with two consumers: what each handler saw. */
static struct {
        atomic_int inside, overlaps, handled_a, handled_b, a_running, stop;
        atomic_ullong b_delivered;
} two;

static void nap_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void enter(void)
{
        if (atomic_fetch_add(&two.inside, 1) > 0)
                atomic_fetch_add(&two.overlaps, 1);
}

/* A long step (a build): 4 s. */
static enum ad_disposition slow_a(struct ad_delivery *d, void *ud)
{
        (void)d;
        (void)ud;
        enter();
        atomic_store(&two.a_running, 1);
        nap_ms(4000);
        atomic_fetch_add(&two.handled_a, 1);
        atomic_fetch_sub(&two.inside, 1);
        return AD_ACK;
}

static enum ad_disposition quick_b(struct ad_delivery *d, void *ud)
{
        (void)ud;
        enter();
        atomic_store(&two.b_delivered, d->delivered);
        atomic_fetch_add(&two.handled_b, 1);
        atomic_fetch_sub(&two.inside, 1);
        return AD_ACK;
}

static bool two_stop(void)
{
        return atomic_load(&two.stop) != 0;
}

struct two_run {
        ad_bus *bus;
        struct ad_consumer c[2];
        int ret;
};

static void *two_main(void *arg)
{
        struct two_run *r = arg;
        ad_error_t err = NULL;

        r->ret = ad_bus_run(r->bus, r->c, 2, two_stop, &err);
        ad_error_release(&err);
        return NULL;
}

static bool wait_for(atomic_int *v, int want, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        while (atomic_load(v) < want)
                if (ad_monotonic_ms() > deadline)
                        return false;
                else
                        nap_ms(20);
        return true;
}

/* A service with two consumers (a step and its compensation) handles one
 * message at a time, whichever consumer it came on, and a message that
 * waits for the other's long handler is kept in progress: no other
 * replica gets it meanwhile, and it is handled once, on its first
 * delivery, although it waited several times its ack wait. */
static void test_run_two_consumers_take_turns(void **state)
{
        struct fixture *f = *state;
        char sa[96], sb[96], da[96], db[96], id[AD_UUID_LEN + 1];
        struct two_run r = { .bus = f->bus };
        pthread_t t;

        memset(&two, 0, sizeof(two));
        snprintf(sa, sizeof(sa), "%s.a", f->subject);
        snprintf(sb, sizeof(sb), "%s.b", f->subject);
        snprintf(da, sizeof(da), "%s-a", f->durable);
        snprintf(db, sizeof(db), "%s-b", f->durable);
        r.c[0] = (struct ad_consumer){ .spec = { da, sa, 30000, 0 }, .handler = slow_a };
        r.c[1] = (struct ad_consumer){ .spec = { db, sb, 1000, 0 }, .handler = quick_b };
        assert_int_equal(pthread_create(&t, NULL, two_main, &r), 0);

        ad_uuid_v4(id);
        if (ad_bus_publish(f->bus, sa, id, "a", 1, NULL, NULL) < 0)
                fail_msg("publish a");
        assert_true(wait_for(&two.a_running, 1, 20000));
        ad_uuid_v4(id);
        if (ad_bus_publish(f->bus, sb, id, "b", 1, NULL, NULL) < 0)
                fail_msg("publish b");
        /* Taken by the loop (waiting for its turn), then another replica
         * asks for b for twice its ack wait: b must not come again. */
        {
                int64_t deadline = ad_monotonic_ms() + 5000;
                jsConsumerInfo *ci = NULL;
                struct ad_delivery d;
                ad_bus_sub *other;
                int64_t pending = 0;

                while (pending == 0 && ad_monotonic_ms() < deadline) {
                        if (js_GetConsumerInfo(&ci, ad_bus_js(f->bus), AD_STREAM_NAME, db, NULL,
                                               NULL) == NATS_OK)
                                pending = (int64_t)ci->NumAckPending;
                        jsConsumerInfo_Destroy(ci);
                        ci = NULL;
                        if (pending == 0)
                                nap_ms(20);
                }
                assert_int_equal(pending, 1);
                assert_int_equal(atomic_load(&two.handled_b), 0);
                if (ad_bus_bind(&other, f->bus, db, sb, NULL) < 0)
                        fail_msg("bind b");
                assert_int_equal(fetch(other, &d, 2000), 0);
                ad_bus_sub_free(other);
        }
        assert_true(wait_for(&two.handled_a, 1, 20000));
        assert_true(wait_for(&two.handled_b, 1, 20000));
        /* A redelivery of b, had its deadline passed, would come now. */
        nap_ms(2000);
        atomic_store(&two.stop, 1);
        pthread_join(t, NULL);

        assert_int_equal(r.ret, 0);
        assert_int_equal(atomic_load(&two.overlaps), 0);
        assert_int_equal(atomic_load(&two.handled_a), 1);
        assert_int_equal(atomic_load(&two.handled_b), 1);
        assert_int_equal(atomic_load(&two.b_delivered), 1);
        js_DeleteConsumer(ad_bus_js(f->bus), AD_STREAM_NAME, da, NULL, NULL);
        js_DeleteConsumer(ad_bus_js(f->bus), AD_STREAM_NAME, db, NULL, NULL);
}

static void test_connect_refused_is_unavailable(void **state)
{
        ad_bus *bus = NULL;
        ad_error_t err = NULL;

        (void)state;
        assert_true(ad_bus_connect(&bus, "nats://127.0.0.1:1", "nobody", &err) < 0);
        assert_null(bus);
        assert_int_equal(err->kind, AD_ERR_UNAVAILABLE);
        assert_true(ad_error_is_retryable(err));
        ad_error_release(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_publish_consume_ack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_msg_id_is_dropped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redelivery_after_nak, setup, teardown),
                cmocka_unit_test_setup_teardown(test_in_progress_extends_the_deadline, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_redelivery_after_consumer_dies, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_two_instances_share_one_durable, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_consumer_outlives_subscription, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_run_two_consumers_take_turns, setup, teardown),
                cmocka_unit_test(test_connect_refused_is_unavailable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
