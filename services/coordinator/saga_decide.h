/* The saga's decisions, as a pure function: (the deployment's recorded
 * state, one incoming event) -> (a verdict, the next status, and the
 * ordered list of effects that carry it out).  No database, no bus, no
 * clock: saga.c loads the state under the row lock, calls saga_decide(),
 * and applies the effects in the one transaction of the event
 * (tests/unit/test_saga_decide.c checks every decision without a server).
 *
 * It decides every input of the coordinator.  For deploy.rollback,
 * deploy.release and deploy.app.destroy it judges only what the event and
 * the deployment say (exists already, names no valid app or target); what
 * they then do depends on other rows (the app's releases, images and
 * config): their handlers in saga.c (SAGA_FX_ROLLBACK, SAGA_FX_RELEASE,
 * SAGA_FX_APP_DESTROY) load those rows and ask saga_release_decide.h. */
#ifndef AD_SAGA_DECIDE_H
#define AD_SAGA_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/status.h"

enum saga_event_kind {
        SAGA_EV_REQUESTED,
        SAGA_EV_ANALYZED,
        SAGA_EV_BUILT,
        SAGA_EV_PROVISIONED,
        SAGA_EV_EXPOSED,
        SAGA_EV_FAILED,
        SAGA_EV_COMPENSATED,
        SAGA_EV_DESTROY,
        SAGA_EV_ROLLBACK,
        SAGA_EV_RELEASE,
        SAGA_EV_APP_DESTROY,
};

/* What the decision needs of the stored deployment. */
struct saga_state {
        bool found;            /* a row exists for the event's deployment id */
        enum ad_status status; /* AD_STATUS_UNKNOWN for a text outside the enum */
        const char *app;       /* the recorded app name ("" when none) */
};

/* What the decision needs of the event. */
struct saga_event {
        enum saga_event_kind kind;
        const char *step;   /* deploy.failed and deploy.compensated: the step named */
        const char *app;    /* the app the event names; NULL or "" when it names none */
        const char *target; /* deploy.rollback: the deployment to roll back */
};

enum saga_verdict {
        SAGA_DECIDE_APPLY,  /* apply the effects */
        SAGA_DECIDE_IGNORE, /* a late or duplicate event: record it, change nothing */
        SAGA_DECIDE_RETRY,  /* too early (or its deployment is not known yet): not
                             * recorded, delivered again later */
        SAGA_DECIDE_DROP,   /* it contradicts the recorded state (another app, a
                             * step that does not exist): forged or garbage, recorded
                             * and never applied */
};

enum saga_effect_kind {
        SAGA_FX_CREATE,               /* the deployment row and its app, from the request */
        SAGA_FX_RECORD,               /* store what the event reports (analysis, build,
                                       * infrastructure, the release) */
        SAGA_FX_RECORD_FAILURE,       /* error, failed step, and the status it failed from */
        SAGA_FX_RECORD_FROM,          /* only the status it was stopped from (`status`) */
        SAGA_FX_STEP_END,             /* `step` ends with `step_status` (done, failed) */
        SAGA_FX_STEP_START,           /* `step` starts, with its deadline */
        SAGA_FX_STATUS,               /* the deployment moves to `status` */
        SAGA_FX_SUPERSEDE,            /* the app's other EXPOSED deployments: SUPERSEDED */
        SAGA_FX_PLAN_COMPENSATION,    /* `step` is to be undone; in order, newest first.
                                       * The applier skips a build whose image another
                                       * release still runs (it reads the builds) */
        SAGA_FX_REOPEN_COMPENSATIONS, /* every compensation not done is pending again */
        SAGA_FX_COMPENSATION_DONE,    /* `step`'s requested compensation is done; when
                                       * none was requested the applier ignores the
                                       * event (it reads the compensations) */
        SAGA_FX_NEXT_COMPENSATION,    /* request the next pending compensation, or end
                                       * in `status` when none is left */
        /* The requests whose outcome reads other rows: their handlers in
         * saga.c create the new deployment (or the app's destroy), end it
         * FAILED, or ignore it (an unknown target or app). */
        SAGA_FX_ROLLBACK,
        SAGA_FX_RELEASE,
        SAGA_FX_APP_DESTROY,
};

struct saga_effect {
        enum saga_effect_kind kind;
        const char *step;        /* a static string: "analyze", "build", ... */
        const char *step_status; /* SAGA_FX_STEP_END */
        enum ad_status status;   /* SAGA_FX_STATUS, SAGA_FX_NEXT_COMPENSATION */
};

#define SAGA_MAX_EFFECTS 12

struct saga_decision {
        enum saga_verdict verdict;
        enum ad_status next; /* the status once applied (the state's when not applied) */
        char note[256];      /* why, when not applied */
        size_t n_effects;
        struct saga_effect effects[SAGA_MAX_EFFECTS];
};

void saga_decide(const struct saga_state *state, const struct saga_event *event,
                 struct saga_decision *out);

/* The subject-like name of an event kind, for notes ("deploy.built"). */
const char *saga_event_name(enum saga_event_kind kind);

#endif
