/* The deployment's status: the one owner of its names and of every
 * question asked about it (is it over, is a step running, which steps did
 * it touch).  The coordinator is the only writer of the stored status;
 * everyone else reads it and asks here.  Migration 008 keeps the stored
 * column to these names (a CHECK constraint; a unit test compares them). */
#ifndef AD_STATUS_H
#define AD_STATUS_H

#include <stdbool.h>

enum ad_status {
        AD_STATUS_UNKNOWN = -1,
        /* The forward path, in order (ad_status_rank). */
        AD_STATUS_QUEUED,
        AD_STATUS_ANALYZING,
        AD_STATUS_BUILDING,
        AD_STATUS_PROVISIONING,
        AD_STATUS_DEPLOYING,
        AD_STATUS_HEALTHY,
        AD_STATUS_EXPOSED,
        /* Exposed once, then replaced by a newer deployment of the app. */
        AD_STATUS_SUPERSEDED,
        /* Failure and compensation. */
        AD_STATUS_FAILED,
        AD_STATUS_ROLLING_BACK,
        AD_STATUS_ROLLED_BACK,
        /* DELETE. */
        AD_STATUS_DESTROYING,
        AD_STATUS_DESTROYED,
        AD_STATUS_COUNT
};

/* "QUEUED", ...; "UNKNOWN" for a value outside the enum. */
const char *ad_status_name(enum ad_status s);
/* The status named `name` (exact, upper case); AD_STATUS_UNKNOWN for NULL
 * or any other text. */
enum ad_status ad_status_parse(const char *name);

/* Nothing more happens to it by itself: EXPOSED, SUPERSEDED, ROLLED_BACK,
 * FAILED, DESTROYED (a log follower or `adctl --wait` stops here). */
bool ad_status_is_final(enum ad_status s);
/* The deployment served its app: EXPOSED, or SUPERSEDED after it. */
bool ad_status_served(enum ad_status s);
/* A forward step is pending or running: QUEUED to DEPLOYING. */
bool ad_status_is_active(enum ad_status s);
/* A forward step must not act on it any more (a late or redelivered
 * event would leave its work behind): failed, compensating, compensated,
 * destroying, destroyed or superseded. */
bool ad_status_is_abandoned(enum ad_status s);
/* Position on the forward path (QUEUED 0 ... EXPOSED 6); -1 off it. */
int ad_status_rank(enum ad_status s);

/* How many compensable steps (counted from the newest of deploy,
 * provision, build) a deployment in `s` has touched: the ones done and the
 * one running.  A failure compensates these. */
int ad_status_touched_steps(enum ad_status s);
/* How many a DELETE must compensate: the touched ones, and for a
 * deployment already FAILED or ROLLED_BACK the build once more (its image
 * may have been kept while another release shared it). */
int ad_status_destroy_steps(enum ad_status s);

/* String forms, for callers holding the stored text. */
static inline bool ad_status_final(const char *name)
{
        return ad_status_is_final(ad_status_parse(name));
}

#endif
