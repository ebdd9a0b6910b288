#include "saga_decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ad/names.h"
#include "ad/uuid.h"

/* The forward steps in order; a forward status runs the step of the same
 * index (ANALYZING runs analyze, ... DEPLOYING runs deploy). */
static const char *const steps[] = { "analyze", "build", "provision", "deploy" };
static const enum ad_status running[] = { AD_STATUS_ANALYZING, AD_STATUS_BUILDING,
                                          AD_STATUS_PROVISIONING, AD_STATUS_DEPLOYING };

/* Steps with side effects, newest first: the order of compensation. */
static const char *const compensable[] = { "deploy", "provision", "build" };

const char *saga_event_name(enum saga_event_kind kind)
{
        switch (kind) {
        case SAGA_EV_REQUESTED:
                return "deploy.requested";
        case SAGA_EV_ANALYZED:
                return "deploy.analyzed";
        case SAGA_EV_BUILT:
                return "deploy.built";
        case SAGA_EV_PROVISIONED:
                return "deploy.provisioned";
        case SAGA_EV_EXPOSED:
                return "deploy.exposed";
        case SAGA_EV_FAILED:
                return "deploy.failed";
        case SAGA_EV_COMPENSATED:
                return "deploy.compensated";
        case SAGA_EV_DESTROY:
                return "deploy.destroy";
        case SAGA_EV_ROLLBACK:
                return "deploy.rollback";
        case SAGA_EV_RELEASE:
                return "deploy.release";
        case SAGA_EV_APP_DESTROY:
                return "deploy.app.destroy";
        }
        return "?";
}

/* The index of `step` in steps[]; -1 for any other text. */
static int step_index(const char *step)
{
        for (size_t i = 0; step && i < sizeof(steps) / sizeof(steps[0]); i++)
                if (strcmp(step, steps[i]) == 0)
                        return (int)i;
        return -1;
}

/* The index of the step a status runs; -1 when it runs none. */
static int running_index(enum ad_status s)
{
        for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++)
                if (running[i] == s)
                        return (int)i;
        return -1;
}

static bool is_compensable(const char *step)
{
        for (size_t i = 0; step && i < sizeof(compensable) / sizeof(compensable[0]); i++)
                if (strcmp(step, compensable[i]) == 0)
                        return true;
        return false;
}

static void verdict(struct saga_decision *d, enum saga_verdict v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void verdict(struct saga_decision *d, enum saga_verdict v, const char *fmt, ...)
{
        va_list ap;

        d->verdict = v;
        va_start(ap, fmt);
        vsnprintf(d->note, sizeof(d->note), fmt, ap);
        va_end(ap);
}

static void effect(struct saga_decision *d, enum saga_effect_kind kind, const char *step,
                   const char *step_status, enum ad_status status)
{
        /* SAGA_MAX_EFFECTS holds the longest list below (a failure in
         * DEPLOYING: 9). */
        if (d->n_effects < SAGA_MAX_EFFECTS)
                d->effects[d->n_effects++] = (struct saga_effect){
                        .kind = kind, .step = step, .step_status = step_status, .status = status
                };
}

static const char *name(enum ad_status s)
{
        return ad_status_name(s);
}

/* deploy.analyzed, built, provisioned, exposed: each is expected while
 * its step runs.  Before (a redelivery, or another replica still holding
 * the event it follows): retried.  After, or off the forward path
 * (failed, compensating, destroyed, superseded: abandoned): ignored. */
static void forward(const struct saga_state *s, const struct saga_event *e, int step,
                    struct saga_decision *d)
{
        int now = ad_status_rank(s->status);

        if (s->status != running[step]) {
                if (now >= 0 && now < ad_status_rank(running[step]))
                        verdict(d, SAGA_DECIDE_RETRY,
                                "arrived in %s, before the event that leads to %s", name(s->status),
                                name(running[step]));
                else
                        verdict(d, SAGA_DECIDE_IGNORE, "%s does not fit status %s",
                                saga_event_name(e->kind), name(s->status));
                return;
        }
        d->verdict = SAGA_DECIDE_APPLY;
        effect(d, SAGA_FX_RECORD, NULL, NULL, s->status);
        effect(d, SAGA_FX_STEP_END, steps[step], "done", s->status);
        if (step + 1 < (int)(sizeof(steps) / sizeof(steps[0]))) {
                d->next = running[step + 1];
                effect(d, SAGA_FX_STEP_START, steps[step + 1], NULL, s->status);
                effect(d, SAGA_FX_STATUS, NULL, NULL, d->next);
        } else {
                d->next = AD_STATUS_EXPOSED;
                effect(d, SAGA_FX_STATUS, NULL, NULL, d->next);
                effect(d, SAGA_FX_SUPERSEDE, NULL, NULL, d->next);
        }
}

/* deploy.failed: the running step gave up.  The touched steps are
 * compensated newest first, one at a time. */
static void failed(const struct saga_state *s, const struct saga_event *e, struct saga_decision *d)
{
        int step = step_index(e->step), now = running_index(s->status);
        int touched;

        if (step < 0) {
                verdict(d, SAGA_DECIDE_DROP, "deploy.failed names no step of the saga (%.64s)",
                        e->step && *e->step ? e->step : "none");
                return;
        }
        if (!ad_status_is_active(s->status)) {
                verdict(d, SAGA_DECIDE_IGNORE, "deploy.failed (%s) does not fit status %s",
                        steps[step], name(s->status));
                return;
        }
        if (step < now) {
                verdict(d, SAGA_DECIDE_IGNORE,
                        "deploy.failed (%s) does not fit status %s: that step is over", steps[step],
                        name(s->status));
                return;
        }
        if (step > now) {
                verdict(d, SAGA_DECIDE_RETRY, "deploy.failed (%s) arrived in %s, before its step",
                        steps[step], name(s->status));
                return;
        }
        d->verdict = SAGA_DECIDE_APPLY;
        d->next = AD_STATUS_ROLLING_BACK;
        effect(d, SAGA_FX_RECORD_FAILURE, steps[step], NULL, s->status);
        effect(d, SAGA_FX_STEP_END, steps[step], "failed", s->status);
        effect(d, SAGA_FX_STATUS, NULL, NULL, AD_STATUS_FAILED);
        touched = ad_status_touched_steps(s->status);
        for (int i = 3 - touched; i < 3; i++)
                effect(d, SAGA_FX_PLAN_COMPENSATION, compensable[i], NULL, s->status);
        effect(d, SAGA_FX_STATUS, NULL, NULL, AD_STATUS_ROLLING_BACK);
        effect(d, SAGA_FX_NEXT_COMPENSATION, NULL, NULL, AD_STATUS_ROLLED_BACK);
}

/* deploy.compensated.<step>: one compensation is done; the next follows. */
static void compensated(const struct saga_state *s, const struct saga_event *e,
                        struct saga_decision *d)
{
        enum ad_status final;

        if (!is_compensable(e->step)) {
                verdict(d, SAGA_DECIDE_DROP,
                        "deploy.compensated names no step that is compensated (%.64s)",
                        e->step && *e->step ? e->step : "none");
                return;
        }
        if (s->status == AD_STATUS_ROLLING_BACK)
                final = AD_STATUS_ROLLED_BACK;
        else if (s->status == AD_STATUS_DESTROYING)
                final = AD_STATUS_DESTROYED;
        else {
                verdict(d, SAGA_DECIDE_IGNORE, "deploy.compensated.%s does not fit status %s",
                        e->step, name(s->status));
                return;
        }
        d->verdict = SAGA_DECIDE_APPLY;
        effect(d, SAGA_FX_COMPENSATION_DONE, e->step, NULL, s->status);
        effect(d, SAGA_FX_NEXT_COMPENSATION, NULL, NULL, final);
}

/* deploy.destroy: everything the deployment touched is undone, newest
 * first; a deployment already compensating only changes where it ends. */
static void destroy(const struct saga_state *s, struct saga_decision *d)
{
        int n;

        if (s->status == AD_STATUS_DESTROYING || s->status == AD_STATUS_DESTROYED) {
                verdict(d, SAGA_DECIDE_IGNORE, "already %s", name(s->status));
                return;
        }
        d->verdict = SAGA_DECIDE_APPLY;
        d->next = AD_STATUS_DESTROYING;
        if (s->status == AD_STATUS_ROLLING_BACK) {
                /* The compensations under way remove everything. */
                effect(d, SAGA_FX_STATUS, NULL, NULL, AD_STATUS_DESTROYING);
                return;
        }
        if (ad_status_is_active(s->status))
                effect(d, SAGA_FX_RECORD_FROM, NULL, NULL, s->status);
        /* A rolled-back deployment may still own its image (kept while
         * another release shared it): ad_status_destroy_steps plans the
         * build's removal again. */
        n = ad_status_destroy_steps(s->status);
        for (int i = 3 - n; i < 3; i++)
                effect(d, SAGA_FX_PLAN_COMPENSATION, compensable[i], NULL, s->status);
        effect(d, SAGA_FX_REOPEN_COMPENSATIONS, NULL, NULL, s->status);
        effect(d, SAGA_FX_STATUS, NULL, NULL, AD_STATUS_DESTROYING);
        effect(d, SAGA_FX_NEXT_COMPENSATION, NULL, NULL, AD_STATUS_DESTROYED);
}

/* deploy.rollback, deploy.release, deploy.app.destroy: requests that make
 * a new deployment (or destroy an app's); judged here on what they say,
 * carried out by their handlers. */
static void request(const struct saga_state *s, const struct saga_event *e, struct saga_decision *d)
{
        if (e->kind != SAGA_EV_APP_DESTROY && s->found) {
                verdict(d, SAGA_DECIDE_IGNORE, "%s deployment exists already (%s)",
                        e->kind == SAGA_EV_ROLLBACK ? "rollback" : "release", name(s->status));
                return;
        }
        if (e->kind == SAGA_EV_ROLLBACK && !ad_uuid_valid(e->target)) {
                verdict(d, SAGA_DECIDE_DROP, "rollback target is not a deployment id");
                return;
        }
        if (e->kind != SAGA_EV_ROLLBACK && !ad_app_name_valid(e->app)) {
                verdict(d, SAGA_DECIDE_DROP, "%s names no valid app",
                        e->kind == SAGA_EV_RELEASE ? "release request" : "app destroy");
                return;
        }
        d->verdict = SAGA_DECIDE_APPLY;
        if (e->kind == SAGA_EV_ROLLBACK) {
                d->next = AD_STATUS_BUILDING;
                effect(d, SAGA_FX_ROLLBACK, NULL, NULL, d->next);
        } else if (e->kind == SAGA_EV_RELEASE) {
                d->next = AD_STATUS_BUILDING;
                effect(d, SAGA_FX_RELEASE, NULL, NULL, d->next);
        } else {
                d->next = AD_STATUS_DESTROYING;
                effect(d, SAGA_FX_APP_DESTROY, NULL, NULL, d->next);
        }
}

void saga_decide(const struct saga_state *s, const struct saga_event *e, struct saga_decision *d)
{
        memset(d, 0, sizeof(*d));
        d->verdict = SAGA_DECIDE_IGNORE;
        d->next = s->found ? s->status : AD_STATUS_UNKNOWN;

        if (e->kind == SAGA_EV_ROLLBACK || e->kind == SAGA_EV_RELEASE ||
            e->kind == SAGA_EV_APP_DESTROY) {
                request(s, e, d);
                return;
        }

        if (e->kind == SAGA_EV_REQUESTED) {
                if (s->found) {
                        verdict(d, SAGA_DECIDE_IGNORE, "deployment exists already (%s)",
                                name(s->status));
                        return;
                }
                d->verdict = SAGA_DECIDE_APPLY;
                d->next = AD_STATUS_ANALYZING;
                effect(d, SAGA_FX_CREATE, NULL, NULL, d->next);
                effect(d, SAGA_FX_STEP_START, "analyze", NULL, d->next);
                return;
        }
        if (!s->found) {
                /* Its deploy.requested may still be on its way; the
                 * coordinator drops it after max_unknown_deliveries. */
                verdict(d, SAGA_DECIDE_RETRY, "the deployment is not known yet");
                return;
        }
        /* An event about another app than the one recorded is not about
         * this deployment, whatever its state. */
        if (e->app && *e->app && strcmp(e->app, s->app ? s->app : "") != 0) {
                verdict(d, SAGA_DECIDE_DROP, "%s names app %.64s, the deployment is of %.64s",
                        saga_event_name(e->kind), e->app, s->app ? s->app : "");
                return;
        }
        switch (e->kind) {
        case SAGA_EV_ANALYZED:
                forward(s, e, 0, d);
                break;
        case SAGA_EV_BUILT:
                forward(s, e, 1, d);
                break;
        case SAGA_EV_PROVISIONED:
                forward(s, e, 2, d);
                break;
        case SAGA_EV_EXPOSED:
                forward(s, e, 3, d);
                break;
        case SAGA_EV_FAILED:
                failed(s, e, d);
                break;
        case SAGA_EV_COMPENSATED:
                compensated(s, e, d);
                break;
        case SAGA_EV_DESTROY:
                destroy(s, d);
                break;
        case SAGA_EV_REQUESTED:
        case SAGA_EV_ROLLBACK:
        case SAGA_EV_RELEASE:
        case SAGA_EV_APP_DESTROY:
                break;
        }
}
