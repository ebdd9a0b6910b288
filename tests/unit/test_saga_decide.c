/* The saga's decisions (services/coordinator/saga_decide.c), without a
 * database: each event kind in each status it can meet, the effects it
 * leads to in order, and the forged or garbage events that change
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "saga_decide.h"

static const enum ad_status abandoned[] = { AD_STATUS_FAILED,      AD_STATUS_ROLLING_BACK,
                                            AD_STATUS_ROLLED_BACK, AD_STATUS_DESTROYING,
                                            AD_STATUS_DESTROYED,   AD_STATUS_SUPERSEDED };
static const enum saga_event_kind forward_kinds[] = { SAGA_EV_ANALYZED, SAGA_EV_BUILT,
                                                      SAGA_EV_PROVISIONED, SAGA_EV_EXPOSED };
/* The status each forward kind is expected in, by the index above. */
static const enum ad_status expected_in[] = { AD_STATUS_ANALYZING, AD_STATUS_BUILDING,
                                              AD_STATUS_PROVISIONING, AD_STATUS_DEPLOYING };

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A decision's effects as one line, e.g. "record; end build done;
 * start provision; status PROVISIONING". */
static const char *effects(const struct saga_decision *d)
{
        static char out[512];
        size_t used = 0;

        out[0] = '\0';
        for (size_t i = 0; i < d->n_effects; i++) {
                const struct saga_effect *fx = &d->effects[i];
                char one[64];

                switch (fx->kind) {
                case SAGA_FX_CREATE:
                        snprintf(one, sizeof(one), "create");
                        break;
                case SAGA_FX_RECORD:
                        snprintf(one, sizeof(one), "record");
                        break;
                case SAGA_FX_RECORD_FAILURE:
                        snprintf(one, sizeof(one), "failure %s from %s", fx->step,
                                 ad_status_name(fx->status));
                        break;
                case SAGA_FX_RECORD_FROM:
                        snprintf(one, sizeof(one), "from %s", ad_status_name(fx->status));
                        break;
                case SAGA_FX_REOPEN_COMPENSATIONS:
                        snprintf(one, sizeof(one), "reopen");
                        break;
                case SAGA_FX_STEP_END:
                        snprintf(one, sizeof(one), "end %s %s", fx->step, fx->step_status);
                        break;
                case SAGA_FX_STEP_START:
                        snprintf(one, sizeof(one), "start %s", fx->step);
                        break;
                case SAGA_FX_STATUS:
                        snprintf(one, sizeof(one), "status %s", ad_status_name(fx->status));
                        break;
                case SAGA_FX_SUPERSEDE:
                        snprintf(one, sizeof(one), "supersede");
                        break;
                case SAGA_FX_PLAN_COMPENSATION:
                        snprintf(one, sizeof(one), "plan %s", fx->step);
                        break;
                case SAGA_FX_COMPENSATION_DONE:
                        snprintf(one, sizeof(one), "compensated %s", fx->step);
                        break;
                case SAGA_FX_ROLLBACK:
                        snprintf(one, sizeof(one), "rollback");
                        break;
                case SAGA_FX_RELEASE:
                        snprintf(one, sizeof(one), "release");
                        break;
                case SAGA_FX_APP_DESTROY:
                        snprintf(one, sizeof(one), "app destroy");
                        break;
                case SAGA_FX_NEXT_COMPENSATION:
                        snprintf(one, sizeof(one), "next or %s", ad_status_name(fx->status));
                        break;
                }
                used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", i ? "; " : "",
                                         one);
                assert_true(used < sizeof(out));
        }
        return out;
}

static struct saga_decision decide(bool found, enum ad_status status, const char *app,
                                   enum saga_event_kind kind, const char *step,
                                   const char *event_app)
{
        struct saga_state s = { .found = found, .status = status, .app = app };
        struct saga_event e = { .kind = kind, .step = step, .app = event_app };
        struct saga_decision d;

        saga_decide(&s, &e, &d);
        /* Only an applied decision has effects. */
        if (d.verdict != SAGA_DECIDE_APPLY)
                assert_int_equal(d.n_effects, 0);
        return d;
}

static struct saga_decision on(enum ad_status status, enum saga_event_kind kind, const char *step)
{
        bool names_app =
                kind != SAGA_EV_FAILED && kind != SAGA_EV_COMPENSATED && kind != SAGA_EV_DESTROY;

        return decide(true, status, "shop", kind, step, names_app ? "shop" : NULL);
}

static void test_requested_creates_once(void **state)
{
        struct saga_decision d;

        (void)state;
        d = decide(false, AD_STATUS_UNKNOWN, NULL, SAGA_EV_REQUESTED, NULL, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        assert_int_equal(d.next, AD_STATUS_ANALYZING);
        assert_string_equal(effects(&d), "create; start analyze");
        /* A second request with the same deployment id, whatever its state. */
        for (int s = 0; s < AD_STATUS_COUNT; s++) {
                d = on((enum ad_status)s, SAGA_EV_REQUESTED, NULL);
                assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                assert_non_null(strstr(d.note, "exists already"));
                assert_int_equal(d.next, s);
        }
}

static void test_forward_path_in_order(void **state)
{
        struct saga_decision d;

        (void)state;
        d = on(AD_STATUS_ANALYZING, SAGA_EV_ANALYZED, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        assert_int_equal(d.next, AD_STATUS_BUILDING);
        assert_string_equal(effects(&d), "record; end analyze done; start build; status BUILDING");
        d = on(AD_STATUS_BUILDING, SAGA_EV_BUILT, NULL);
        assert_int_equal(d.next, AD_STATUS_PROVISIONING);
        assert_string_equal(effects(&d),
                            "record; end build done; start provision; status PROVISIONING");
        d = on(AD_STATUS_PROVISIONING, SAGA_EV_PROVISIONED, NULL);
        assert_int_equal(d.next, AD_STATUS_DEPLOYING);
        assert_string_equal(effects(&d),
                            "record; end provision done; start deploy; status DEPLOYING");
        d = on(AD_STATUS_DEPLOYING, SAGA_EV_EXPOSED, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        assert_int_equal(d.next, AD_STATUS_EXPOSED);
        assert_string_equal(effects(&d), "record; end deploy done; status EXPOSED; supersede");
        /* An event naming no app (an outside publisher) is judged on its state. */
        d = decide(true, AD_STATUS_BUILDING, "shop", SAGA_EV_BUILT, NULL, "");
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        d = decide(true, AD_STATUS_BUILDING, "shop", SAGA_EV_BUILT, NULL, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
}

/* An event that comes before the one it follows waits (retried);
 * one after it is late (ignored). */
static void test_forward_event_early_or_late(void **state)
{
        (void)state;
        for (size_t k = 0; k < N(forward_kinds); k++)
                for (int s = AD_STATUS_QUEUED; s <= AD_STATUS_EXPOSED; s++) {
                        struct saga_decision d = on((enum ad_status)s, forward_kinds[k], NULL);
                        int want = ad_status_rank(expected_in[k]);

                        if (s == (int)expected_in[k])
                                assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
                        else if (ad_status_rank((enum ad_status)s) < want) {
                                assert_int_equal(d.verdict, SAGA_DECIDE_RETRY);
                                assert_non_null(strstr(d.note, "before the event that leads to"));
                                assert_non_null(strstr(d.note, ad_status_name(expected_in[k])));
                        } else {
                                assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                                assert_non_null(strstr(d.note, "does not fit status"));
                                assert_non_null(strstr(d.note, ad_status_name((enum ad_status)s)));
                        }
                }
}

/* A late or duplicate forward event on a deployment that was abandoned
 * (failed, compensating, destroyed, superseded) does nothing. */
static void test_forward_event_on_abandoned_is_ignored(void **state)
{
        (void)state;
        for (size_t k = 0; k < N(forward_kinds); k++)
                for (size_t s = 0; s < N(abandoned); s++) {
                        struct saga_decision d = on(abandoned[s], forward_kinds[k], NULL);
                        char want[128];

                        assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                        assert_int_equal(d.next, abandoned[s]);
                        snprintf(want, sizeof(want), "%s does not fit status %s",
                                 saga_event_name(forward_kinds[k]), ad_status_name(abandoned[s]));
                        assert_string_equal(d.note, want);
                }
}

/* A failure of the running step compensates the steps it touched, newest
 * first, then asks for the first (or ends ROLLED_BACK when none). */
static void test_failure_in_each_step_compensates_newest_first(void **state)
{
        static const struct {
                enum ad_status status;
                const char *step, *want;
        } cases[] = {
                { AD_STATUS_ANALYZING, "analyze",
                  "failure analyze from ANALYZING; end analyze failed; status FAILED; "
                  "status ROLLING_BACK; next or ROLLED_BACK" },
                { AD_STATUS_BUILDING, "build",
                  "failure build from BUILDING; end build failed; status FAILED; plan build; "
                  "status ROLLING_BACK; next or ROLLED_BACK" },
                { AD_STATUS_PROVISIONING, "provision",
                  "failure provision from PROVISIONING; end provision failed; status FAILED; "
                  "plan provision; plan build; status ROLLING_BACK; next or ROLLED_BACK" },
                { AD_STATUS_DEPLOYING, "deploy",
                  "failure deploy from DEPLOYING; end deploy failed; status FAILED; "
                  "plan deploy; plan provision; plan build; status ROLLING_BACK; "
                  "next or ROLLED_BACK" },
        };

        (void)state;
        for (size_t i = 0; i < N(cases); i++) {
                struct saga_decision d = on(cases[i].status, SAGA_EV_FAILED, cases[i].step);

                assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
                assert_int_equal(d.next, AD_STATUS_ROLLING_BACK);
                assert_string_equal(effects(&d), cases[i].want);
        }
}

/* deploy.failed for a step other than the running one: an earlier step's
 * is late (ignored), a later step's came before its step started (retried);
 * on a deployment no step runs for, it is ignored. */
static void test_failure_of_the_wrong_step(void **state)
{
        static const char *const steps[] = { "analyze", "build", "provision", "deploy" };
        struct saga_decision d;

        (void)state;
        for (size_t st = 0; st < N(expected_in); st++)
                for (size_t f = 0; f < N(steps); f++) {
                        d = on(expected_in[st], SAGA_EV_FAILED, steps[f]);
                        if (f == st)
                                assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
                        else if (f < st) {
                                assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                                assert_non_null(strstr(d.note, "that step is over"));
                        } else {
                                assert_int_equal(d.verdict, SAGA_DECIDE_RETRY);
                                assert_non_null(strstr(d.note, "before its step"));
                        }
                }
        for (size_t s = 0; s < N(abandoned); s++)
                for (size_t f = 0; f < N(steps); f++) {
                        d = on(abandoned[s], SAGA_EV_FAILED, steps[f]);
                        assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                        assert_non_null(strstr(d.note, "does not fit status"));
                }
        d = on(AD_STATUS_EXPOSED, SAGA_EV_FAILED, "build");
        assert_string_equal(d.note, "deploy.failed (build) does not fit status EXPOSED");
        /* QUEUED runs no step yet: any failure is early. */
        d = on(AD_STATUS_QUEUED, SAGA_EV_FAILED, "analyze");
        assert_int_equal(d.verdict, SAGA_DECIDE_RETRY);
}

static void test_compensated_moves_to_the_next(void **state)
{
        static const char *const steps[] = { "deploy", "provision", "build" };
        struct saga_decision d;

        (void)state;
        for (size_t i = 0; i < N(steps); i++) {
                char want[96];

                d = on(AD_STATUS_ROLLING_BACK, SAGA_EV_COMPENSATED, steps[i]);
                assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
                assert_int_equal(d.next, AD_STATUS_ROLLING_BACK);
                snprintf(want, sizeof(want), "compensated %s; next or ROLLED_BACK", steps[i]);
                assert_string_equal(effects(&d), want);
                d = on(AD_STATUS_DESTROYING, SAGA_EV_COMPENSATED, steps[i]);
                assert_int_equal(d.next, AD_STATUS_DESTROYING);
                snprintf(want, sizeof(want), "compensated %s; next or DESTROYED", steps[i]);
                assert_string_equal(effects(&d), want);
        }
        /* In any other status: late (a duplicate, or after the saga ended). */
        for (int s = 0; s < AD_STATUS_COUNT; s++) {
                if (s == AD_STATUS_ROLLING_BACK || s == AD_STATUS_DESTROYING)
                        continue;
                d = on((enum ad_status)s, SAGA_EV_COMPENSATED, "deploy");
                assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                assert_non_null(strstr(d.note, "deploy.compensated.deploy does not fit status"));
        }
}

/* deploy.destroy undoes what the deployment touched, newest first; one
 * already compensating only changes where it ends. */
static void test_destroy_in_each_status(void **state)
{
        static const struct {
                enum ad_status status;
                const char *want;
        } cases[] = {
                { AD_STATUS_ANALYZING,
                  "from ANALYZING; reopen; status DESTROYING; next or DESTROYED" },
                { AD_STATUS_BUILDING,
                  "from BUILDING; plan build; reopen; status DESTROYING; next or DESTROYED" },
                { AD_STATUS_DEPLOYING, "from DEPLOYING; plan deploy; plan provision; plan build; "
                                       "reopen; status DESTROYING; next or DESTROYED" },
                { AD_STATUS_EXPOSED, "plan deploy; plan provision; plan build; reopen; "
                                     "status DESTROYING; next or DESTROYED" },
                { AD_STATUS_SUPERSEDED, "plan deploy; plan provision; plan build; reopen; "
                                        "status DESTROYING; next or DESTROYED" },
                /* Its image may have been kept for another release. */
                { AD_STATUS_ROLLED_BACK,
                  "plan build; reopen; status DESTROYING; next or DESTROYED" },
                { AD_STATUS_FAILED, "plan build; reopen; status DESTROYING; next or DESTROYED" },
                { AD_STATUS_ROLLING_BACK, "status DESTROYING" },
        };
        struct saga_decision d;

        (void)state;
        for (size_t i = 0; i < N(cases); i++) {
                d = on(cases[i].status, SAGA_EV_DESTROY, NULL);
                assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
                assert_int_equal(d.next, AD_STATUS_DESTROYING);
                assert_string_equal(effects(&d), cases[i].want);
        }
        d = on(AD_STATUS_DESTROYING, SAGA_EV_DESTROY, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
        assert_string_equal(d.note, "already DESTROYING");
        d = on(AD_STATUS_DESTROYED, SAGA_EV_DESTROY, NULL);
        assert_string_equal(d.note, "already DESTROYED");
        d = decide(false, AD_STATUS_UNKNOWN, NULL, SAGA_EV_DESTROY, NULL, NULL);
        assert_int_equal(d.verdict, SAGA_DECIDE_RETRY);
}

/* deploy.rollback, deploy.release, deploy.app.destroy: what the event and
 * the deployment say is judged here; what they do is their handlers'. */
static void test_requests_for_new_deployments(void **state)
{
        static const char target[] = "7d8e2f4c-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
        struct saga_state none = { .found = false, .status = AD_STATUS_UNKNOWN, .app = NULL };
        struct saga_event e = { .kind = SAGA_EV_ROLLBACK, .target = target };
        struct saga_decision d;

        (void)state;
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        assert_int_equal(d.next, AD_STATUS_BUILDING);
        assert_string_equal(effects(&d), "rollback");
        e = (struct saga_event){ .kind = SAGA_EV_RELEASE, .app = "shop" };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_APPLY);
        assert_string_equal(effects(&d), "release");
        e = (struct saga_event){ .kind = SAGA_EV_APP_DESTROY, .app = "shop" };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.next, AD_STATUS_DESTROYING);
        assert_string_equal(effects(&d), "app destroy");

        /* The same request id twice: the second is late. */
        d = decide(true, AD_STATUS_BUILDING, "shop", SAGA_EV_RELEASE, NULL, "shop");
        assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
        assert_string_equal(d.note, "release deployment exists already (BUILDING)");
        e = (struct saga_event){ .kind = SAGA_EV_ROLLBACK, .target = target };
        {
                struct saga_state s = { .found = true, .status = AD_STATUS_EXPOSED, .app = "shop" };

                saga_decide(&s, &e, &d);
                assert_int_equal(d.verdict, SAGA_DECIDE_IGNORE);
                assert_string_equal(d.note, "rollback deployment exists already (EXPOSED)");
        }

        /* Garbage: dropped. */
        e = (struct saga_event){ .kind = SAGA_EV_ROLLBACK, .target = "not-a-uuid" };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        assert_string_equal(d.note, "rollback target is not a deployment id");
        e = (struct saga_event){ .kind = SAGA_EV_ROLLBACK, .target = NULL };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        e = (struct saga_event){ .kind = SAGA_EV_RELEASE, .app = "../etc" };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        assert_string_equal(d.note, "release request names no valid app");
        e = (struct saga_event){ .kind = SAGA_EV_APP_DESTROY, .app = "" };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        assert_string_equal(d.note, "app destroy names no valid app");
        e = (struct saga_event){ .kind = SAGA_EV_APP_DESTROY, .app = NULL };
        saga_decide(&none, &e, &d);
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
}

/* Issue 12: a forged or garbage event changes nothing. */
static void test_forged_or_garbage_events_are_dropped(void **state)
{
        static const char *const bad_steps[] = {
                NULL, "", "unknown", "Build", "build ", "rm -rf /"
        };
        struct saga_decision d;

        (void)state;
        /* Another app's name, even in the very state the event fits. */
        for (size_t k = 0; k < N(forward_kinds); k++) {
                d = decide(true, expected_in[k], "shop", forward_kinds[k], NULL, "bank");
                assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
                assert_non_null(strstr(d.note, "names app bank, the deployment is of shop"));
                /* And in any other state. */
                for (int s = 0; s < AD_STATUS_COUNT; s++) {
                        d = decide(true, (enum ad_status)s, "shop", forward_kinds[k], NULL,
                                   "shop2");
                        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
                }
        }
        /* A failure or a completion naming no step of the saga. */
        for (size_t i = 0; i < N(bad_steps); i++) {
                d = on(AD_STATUS_DEPLOYING, SAGA_EV_FAILED, bad_steps[i]);
                assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
                assert_non_null(strstr(d.note, "names no step"));
                d = on(AD_STATUS_ROLLING_BACK, SAGA_EV_COMPENSATED, bad_steps[i]);
                assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        }
        /* analyze has nothing to undo: no compensation of it exists. */
        d = on(AD_STATUS_ROLLING_BACK, SAGA_EV_COMPENSATED, "analyze");
        assert_int_equal(d.verdict, SAGA_DECIDE_DROP);
        /* A stored status outside the enum: nothing fits it. */
        for (size_t k = 0; k < N(forward_kinds); k++)
                assert_int_equal(on(AD_STATUS_UNKNOWN, forward_kinds[k], NULL).verdict,
                                 SAGA_DECIDE_IGNORE);
        assert_int_equal(on(AD_STATUS_UNKNOWN, SAGA_EV_FAILED, "build").verdict,
                         SAGA_DECIDE_IGNORE);
        assert_int_equal(on(AD_STATUS_UNKNOWN, SAGA_EV_COMPENSATED, "build").verdict,
                         SAGA_DECIDE_IGNORE);
}

/* An event for a deployment not recorded: its request may still be on its
 * way, so it waits (the coordinator drops it after
 * coordinator.max_unknown_deliveries); it never creates anything. */
static void test_unknown_deployment_waits_and_creates_nothing(void **state)
{
        static const enum saga_event_kind kinds[] = { SAGA_EV_ANALYZED,    SAGA_EV_BUILT,
                                                      SAGA_EV_PROVISIONED, SAGA_EV_EXPOSED,
                                                      SAGA_EV_FAILED,      SAGA_EV_COMPENSATED };

        (void)state;
        for (size_t k = 0; k < N(kinds); k++) {
                struct saga_decision d =
                        decide(false, AD_STATUS_UNKNOWN, NULL, kinds[k], "build", "shop");

                assert_int_equal(d.verdict, SAGA_DECIDE_RETRY);
                assert_non_null(strstr(d.note, "not known yet"));
        }
}

/* Every (status, kind, step) fits the effect list, and only a status of
 * the enum is ever decided as next. */
static void test_every_decision_is_bounded(void **state)
{
        static const char *const steps[] = { NULL, "analyze", "build", "provision", "deploy", "x" };

        (void)state;
        for (int s = AD_STATUS_UNKNOWN; s < AD_STATUS_COUNT; s++)
                for (int k = SAGA_EV_REQUESTED; k <= SAGA_EV_APP_DESTROY; k++)
                        for (size_t i = 0; i < N(steps); i++)
                                for (int found = 0; found < 2; found++) {
                                        struct saga_decision d =
                                                decide(found, (enum ad_status)s, "shop",
                                                       (enum saga_event_kind)k, steps[i], NULL);

                                        assert_true(d.n_effects < SAGA_MAX_EFFECTS);
                                        if (d.verdict == SAGA_DECIDE_APPLY) {
                                                assert_true(d.next > AD_STATUS_UNKNOWN);
                                                assert_true(d.next < AD_STATUS_COUNT);
                                        } else
                                                assert_true(strlen(d.note) > 0);
                                }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_requested_creates_once),
                cmocka_unit_test(test_forward_path_in_order),
                cmocka_unit_test(test_forward_event_early_or_late),
                cmocka_unit_test(test_forward_event_on_abandoned_is_ignored),
                cmocka_unit_test(test_failure_in_each_step_compensates_newest_first),
                cmocka_unit_test(test_failure_of_the_wrong_step),
                cmocka_unit_test(test_compensated_moves_to_the_next),
                cmocka_unit_test(test_destroy_in_each_status),
                cmocka_unit_test(test_requests_for_new_deployments),
                cmocka_unit_test(test_forged_or_garbage_events_are_dropped),
                cmocka_unit_test(test_unknown_deployment_waits_and_creates_nothing),
                cmocka_unit_test(test_every_decision_is_bounded),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
