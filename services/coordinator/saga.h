/* The deployment saga's state machine, applied to PostgreSQL.
 *
 *   QUEUED -> ANALYZING -> BUILDING -> PROVISIONING -> DEPLOYING -> EXPOSED
 *   a step fails: FAILED -> ROLLING_BACK (compensations, newest first)
 *                 -> ROLLED_BACK
 *   deploy.destroy: DESTROYING (compensations) -> DESTROYED
 *   deploy.rollback: a new deployment of the app, starting at BUILDING with
 *                    the previous healthy release's image
 *
 * saga_apply() applies one event in one transaction: the event log row,
 * the state change and the events it causes (into the outbox) commit
 * together or not at all.  An event that does not fit the current state
 * (late, duplicate, out of order) changes nothing and is recorded in the
 * event log with applied = false and a note saying why; so does one that
 * contradicts it (forged or garbage: SAGA_DROPPED).  The decisions of the
 * deploy path are the pure function saga_decide() (saga_decide.h); this
 * layer loads the state, asks it, and applies its effects.
 */
#ifndef AD_SAGA_H
#define AD_SAGA_H

#include <stdbool.h>

#include "ad/db.h"
#include "ad/error.h"
#include "ad/event.h"

enum saga_outcome {
        SAGA_APPLIED,   /* the state moved */
        SAGA_IGNORED,   /* recorded, changed nothing (note says why) */
        SAGA_DUPLICATE, /* this event id was applied before */
        SAGA_RETRY,     /* its deployment is not known yet: try again later */
        SAGA_DROPPED,   /* recorded, changed nothing: it contradicts the recorded
                         * state (another app, no such step): forged or garbage */
};

struct saga_result {
        enum saga_outcome outcome;
        char status[32]; /* the deployment's status afterwards */
        char note[256];
};

/* Fails with AD_ERR_CONFLICT (retryable) when another coordinator moved
 * the deployment while this one decided: nothing is kept, and the event
 * must be delivered again. */
int saga_apply(ad_db *db, const ad_envelope *env, const void *raw, size_t raw_len,
               struct saga_result *res, ad_error_t *err);

/* The compare-and-set every transition is written with, inside the
 * caller's transaction: sets the status and bumps `version` only if the
 * row is still at expected_version; otherwise AD_ERR_CONFLICT and
 * nothing changed. */
int saga_transition(ad_db *db, const char *id, long expected_version, const char *status,
                    ad_error_t *err);

/* How long each step may run before the coordinator fails it, in
 * seconds (analyze, build, provision, deploy), and after how long an
 * unanswered compensation is requested again. */
struct saga_deadlines {
        long analyze_s, build_s, provision_s, deploy_s;
        long compensate_retry_s;
};

void saga_set_deadlines(const struct saga_deadlines *d);

/* Fails every running step whose deadline has passed (through the same
 * path as a deploy.failed event, so compensation follows) and repeats
 * compensation requests that got no answer in time.  Runs at start-up
 * (recovery after a restart) and then periodically.  *acted (optional)
 * gets how many deployments it moved. */
int saga_sweep(ad_db *db, int *acted, ad_error_t *err);

#endif
