/* How a saga step's consumer handles one delivery (the analyzer, the
 * builder, the provisioner and the deployer):
 *
 *   garbage (not an Envelope, wrong payload)       log a warning, TERM
 *   (consumer, event id) in processed_events       ACK, nothing done again
 *   a forward step for a deployment that failed,   ACK, nothing done: it
 *   is rolling back or is destroyed                must not move on
 *   the step's work succeeds                       record it, ACK
 *   a dependency is down (retryable error)         NAK: redelivered after
 *                                                  the bus's backoff, until
 *                                                  max_attempts deliveries,
 *                                                  then deploy.failed
 *                                                  {retryable: true}
 *   any other error                                deploy.failed
 *                                                  {retryable: false}
 *   the work fails while the service is stopping   NAK (interrupted): the
 *   (SIGTERM cancels engine calls)                 next delivery does it
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

/* deploy.failed reasons are cut to this many bytes (at a UTF-8 boundary). */
#define AD_STEP_REASON_MAX 4096

struct ad_step_run;

struct ad_step_def {
        const char *consumer; /* durable name, also the processed_events consumer */
        const char *step;     /* provision, deploy: named in deploy.failed and logs */
        /* The subject its consumer reads; NULL for a compensation, which
         * reads deploy.compensate.<step>. */
        const char *subject;
        Appdeployer__V1__Envelope__PayloadCase payload; /* the one accepted */
        bool compensation;
        int64_t ack_wait_ms; /* 0: the bus's default (30 s) */
        int64_t max_deliver; /* 0: unlimited (the runner's max_attempts ends it) */
        long max_attempts;
        int64_t ping_ms; /* > 0: the work runs on a thread, in-progress every ping_ms */
        struct ad_service *svc;
        /* The work.  Returns 0 when done (it published its event, or
         * reported a failure with ad_step_fail()), negative with err filled
         * otherwise. */
        int (*run)(struct ad_step_run *run, ad_error_t *err);
        /* Optional: called by ad_step_fail() with the reason, before
         * deploy.failed is published (also when the runner gives up after
         * run returned), e.g. to write it into the step's own log. */
        void (*on_fail)(struct ad_step_run *run, const char *reason);
        void *ud;
};

struct ad_step_run {
        const struct ad_step_def *def;
        struct ad_delivery *delivery;
        const ad_envelope *in;
        json_t *fields;      /* extra fields for the log line */
        const char *outcome; /* set by ad_step_fail(): "failed" */
        char *failure;       /* the reason ad_step_fail() published */
        int64_t started_ms;  /* Unix ms when the runner took the delivery */
};

/* The consumer handler: a struct ad_consumer's handler with the
 * step_def as userdata. */
enum ad_disposition ad_step_handle(struct ad_delivery *d, void *def);

/* A step service's loop: one durable consumer per def, named and filtered
 * from the def itself (consumer, subject or deploy.compensate.<step>,
 * ack_wait_ms, max_deliver), each handled by ad_step_handle, until
 * SIGTERM.  Returns the service's exit code. */
int ad_step_serve(struct ad_service *svc, struct ad_step_def *defs, size_t n);

/* Fills out's header as caused by run's input event (deployment, trace,
 * attempt carried; producer = the service; step_started_ms = when the
 * runner took the input) with an id derived from the input's id and
 * subject, and publishes it. */
int ad_step_publish(struct ad_step_run *run, const char *subject, ad_envelope *out,
                    ad_error_t *err);

/* Publishes deploy.failed {step, reason, retryable} for run's deployment;
 * the run then returns 0 (the failure is its result). */
int ad_step_fail(struct ad_step_run *run, bool retryable, const char *reason, ad_error_t *err);

/* Adds a field to run's log line. */
void ad_step_log_str(struct ad_step_run *run, const char *key, const char *value);
void ad_step_log_int(struct ad_step_run *run, const char *key, long long value);
void ad_step_log_bool(struct ad_step_run *run, const char *key, bool value);

#endif
