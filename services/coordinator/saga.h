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
 * event log with applied = false and a note saying why.
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
};

struct saga_result {
        enum saga_outcome outcome;
        char status[32]; /* the deployment's status afterwards */
        char note[256];
};

int saga_apply(ad_db *db, const ad_envelope *env, const void *raw, size_t raw_len,
               struct saga_result *res, ad_error_t *err);

#endif
