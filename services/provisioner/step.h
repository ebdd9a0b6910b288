/* How a saga step's consumer handles one delivery (shared by the
 * provisioner and the deployer, built as the `adstep` library; a candidate
 * for common/ once other steps use it):
 *
 *   garbage (not an Envelope, wrong payload)       log a warning, TERM
 *   (consumer, event id) in processed_events       ACK, nothing done again
 *   the step's work succeeds                       record it, ACK
 *   a dependency is down (retryable error)         NAK: redelivered after
 *                                                  the bus's backoff, until
 *                                                  max_attempts deliveries,
 *                                                  then deploy.failed
 *                                                  {retryable: true}
 *   any other error                                deploy.failed
 *                                                  {retryable: false}
 *
 * A compensation never gives up: it is retried (NAK) for as long as it
 * fails, and logged as an error once past max_attempts.
 *
 * Events a step publishes get an id derived from the event that caused
 * them, so a redelivered event re-publishes the same ids and JetStream's
 * duplicate window drops the copies.  Each delivery handled logs exactly
 * one JSON line: deployment_id, step, duration_ms, outcome (+ fields the
 * step adds).
 */
#ifndef AD_STEP_H
#define AD_STEP_H

#include <jansson.h>
#include <stdbool.h>

#include "ad/bus.h"
#include "ad/error.h"
#include "ad/event.h"
#include "ad/service.h"

struct step_run;

struct step_def {
        const char *consumer; /* durable name, also the processed_events consumer */
        const char *step;     /* provision, deploy: named in deploy.failed and logs */
        Appdeployer__V1__Envelope__PayloadCase payload; /* the one accepted */
        bool compensation;
        long max_attempts;
        int64_t ping_ms; /* > 0: the work runs on a thread, in-progress every ping_ms */
        struct ad_service *svc;
        /* The work.  Returns 0 when done (it published its event, or
         * reported a failure with step_fail()), negative with err filled
         * otherwise. */
        int (*run)(struct step_run *run, ad_error_t *err);
        void *ud;
};

struct step_run {
        const struct step_def *def;
        struct ad_delivery *delivery;
        const ad_envelope *in;
        json_t *fields;      /* extra fields for the log line */
        const char *outcome; /* set by step_fail(): "failed" */
        char *failure;       /* the reason step_fail() published */
};

/* The consumer handler: a struct ad_consumer's handler with the
 * step_def as userdata. */
enum ad_disposition step_handle(struct ad_delivery *d, void *def);

/* Fills out's header as caused by run's input event (deployment, trace,
 * attempt carried; producer = the service) with an id derived from the
 * input's id and subject, and publishes it. */
int step_publish(struct step_run *run, const char *subject, ad_envelope *out, ad_error_t *err);

/* Publishes deploy.failed {step, reason, retryable} for run's deployment;
 * the run then returns 0 (the failure is its result). */
int step_fail(struct step_run *run, bool retryable, const char *reason, ad_error_t *err);

/* Adds a field to run's log line. */
void step_log_str(struct step_run *run, const char *key, const char *value);
void step_log_int(struct step_run *run, const char *key, long long value);

/* Derives a UUID-shaped id from seed parts (SHA-256; exposed for tests). */
void step_derive_id(char out[AD_UUID_LEN + 1], const char *a, const char *b, const char *c);

#endif
