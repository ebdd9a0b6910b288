#include "ad/step.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/fault.h"
#include "ad/log.h"
#include "ad/status.h"

int ad_step_publish(struct ad_step_run *run, const char *subject, ad_envelope *out, ad_error_t *err)
{
        char id[AD_UUID_LEN + 1];
        ad_envelope hdr;
        int ret;

        /* ad_event_init() clears the whole envelope: the header is made
         * apart and copied, so out's payload stays. */
        ad_event_init(&hdr, run->in->deployment_id, run->in->trace_id, run->in->attempt,
                      run->def->svc->name, id);
        {
                char salt[160];

                snprintf(salt, sizeof(salt), "%s/%s", run->def->consumer, subject);
                ad_uuid_derive(id, run->in->event_id, salt);
        }
        out->event_id = hdr.event_id;
        out->deployment_id = hdr.deployment_id;
        out->attempt = hdr.attempt;
        out->timestamp_ms = hdr.timestamp_ms;
        out->trace_id = hdr.trace_id;
        out->producer = hdr.producer;
        out->step_started_ms = run->started_ms;
        ret = ad_event_publish(run->def->svc->bus, subject, out, NULL, err);
        out->event_id = NULL; /* `id` goes out of scope */
        return ret;
}

/* s cut to AD_STEP_REASON_MAX bytes, not within a UTF-8 character. */
static char *reason_dup(const char *s)
{
        size_t n = strnlen(s, AD_STEP_REASON_MAX);

        if (n == AD_STEP_REASON_MAX)
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        return strndup(s, n);
}

int ad_step_fail(struct ad_step_run *run, bool retryable, const char *reason, ad_error_t *err)
{
        Appdeployer__V1__DeployFailed failed = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        ad_envelope env;
        char *r = reason_dup(reason ? reason : "");
        int ret;

        if (r == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        if (run->def->on_fail)
                run->def->on_fail(run, r);
        failed.step = (char *)run->def->step;
        failed.reason = r;
        failed.retryable = retryable;
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED;
        env.failed = &failed;
        ret = ad_step_publish(run, AD_SUBJECT_FAILED, &env, err);
        if (ret < 0) {
                free(r);
                return ret;
        }
        free(run->failure);
        run->failure = r;
        run->outcome = "failed";
        return 0;
}

void ad_step_log_str(struct ad_step_run *run, const char *key, const char *value)
{
        json_object_set_new(run->fields, key, json_string(value ? value : ""));
}

void ad_step_log_int(struct ad_step_run *run, const char *key, long long value)
{
        json_object_set_new(run->fields, key, json_integer(value));
}

void ad_step_log_bool(struct ad_step_run *run, const char *key, bool value)
{
        json_object_set_new(run->fields, key, json_boolean(value));
}

static int processed(struct ad_step_run *run, bool *done, ad_error_t *err)
{
        int ret = ad_db_event_seen(run->def->svc->db, run->def->consumer, run->in->event_id, done,
                                   err);

        return ret < 0 ? ad_error_wrap(err, "processed_events") : 0;
}

static int mark_processed(struct ad_step_run *run, ad_error_t *err)
{
        int ret = ad_db_event_mark(run->def->svc->db, run->def->consumer, run->in->event_id, err);

        return ret < 0 ? ad_error_wrap(err, "processed_events") : 0;
}

struct status_row {
        const char *status;
};
static const struct ad_db_field status_fields[] = {
        AD_DB_FIELD(struct status_row, status, AD_DB_TEXT, "status"),
        AD_DB_FIELDS_END,
};

/* A forward step must not act for a deployment the coordinator has
 * failed, rolled back or destroyed (a late or redelivered event): its
 * work would be left behind.  An unknown deployment goes on: the
 * coordinator may simply not have seen it yet. */
static int abandoned(struct ad_step_run *run, const char **status, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[] = { run->in->deployment_id };
        struct status_row row;
        enum ad_status now;
        int ret;

        *status = NULL;
        if (run->def->compensation)
                return 0;
        ret = ad_db_exec(run->def->svc->db, &r, "SELECT status FROM deployments WHERE id = $1", 1,
                         params, err);
        if (ret < 0)
                return ad_error_wrap(err, "deployment status");
        if (PQntuples(r) == 0)
                return 0;
        if ((ret = ad_db_read_row(r, 0, status_fields, &row, err)) < 0)
                return ad_error_wrap(err, "deployment status");
        now = ad_status_parse(row.status);
        if (!ad_status_is_abandoned(now))
                return 0;
        *status = ad_status_name(now);
        return 1;
}

struct work {
        struct ad_step_run *run;
        ad_error_t err;
};

static int work_fn(void *ud)
{
        struct work *w = ud;

        return w->run->def->run(w->run, &w->err);
}

/* The failure when retries are exhausted or the error is final. */
static int give_up(struct ad_step_run *run, bool retryable, const ad_error_t cause, ad_error_t *err)
{
        cleanup_free char *reason = NULL;

        if (retryable) {
                if (asprintf(&reason, "gave up after %llu attempts: %s",
                             (unsigned long long)run->delivery->delivered,
                             ad_error_message(cause)) < 0)
                        reason = NULL;
        } else {
                reason = strdup(ad_error_message(cause));
        }
        return ad_step_fail(run, retryable, reason ? reason : "out of memory", err);
}

/* Decides what becomes of the delivery after the work failed with werr. */
static enum ad_disposition after_error(struct ad_step_run *run, const ad_error_t werr,
                                       const char **outcome, enum ad_log_level *level)
{
        const struct ad_step_def *def = run->def;
        bool retryable = ad_error_is_retryable(werr);
        bool exhausted = run->delivery->delivered >= (uint64_t)def->max_attempts;
        cleanup_error ad_error_t ferr = NULL;

        if (ad_service_stopping()) {
                /* Most likely the shutdown cut the work short (engine
                 * calls are cancelled): not the step's failure. */
                *outcome = "interrupted";
                *level = AD_LOG_WARN;
                return AD_NAK;
        }
        if (def->compensation) {
                *level = exhausted ? AD_LOG_ERROR : AD_LOG_WARN;
                if (retryable || !exhausted) {
                        *outcome = "retry";
                        return AD_NAK;
                }
                *outcome = "abandoned";
                return AD_TERM;
        }
        if (retryable && !exhausted) {
                *outcome = "retry";
                *level = AD_LOG_WARN;
                return AD_NAK;
        }
        *level = AD_LOG_ERROR;
        if (give_up(run, retryable, werr, &ferr) < 0 || mark_processed(run, &ferr) < 0) {
                ad_step_log_str(run, "report_error", ad_error_message(ferr));
                *outcome = "retry";
                return AD_NAK;
        }
        *outcome = "failed";
        return AD_ACK;
}

/* malloc_trim(0); how long it took, in microseconds. */
static json_int_t trim(void)
{
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        malloc_trim(0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        return (json_int_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
}

enum ad_disposition ad_step_handle(struct ad_delivery *d, void *ud)
{
        const struct ad_step_def *def = ud;
        int64_t t0 = ad_monotonic_ms();
        cleanup_error ad_error_t err = NULL;
        struct ad_step_run run = { .def = def, .delivery = d, .started_ms = ad_now_ms() };
        struct work w = { .run = &run };
        enum ad_disposition disp = AD_ACK;
        enum ad_log_level level = AD_LOG_INFO;
        const char *outcome = "done";
        ad_envelope *env = NULL;
        const char *over = NULL;
        bool done = false;
        json_int_t trim_us;
        json_t *f;
        int ret;

        if (ad_event_unpack(&env, d->data, d->len, &err) < 0) {
                ad_log(AD_LOG_WARN, "discarding a message that is not an event", "consumer",
                       def->consumer, "subject", d->subject, "error", ad_error_message(err), NULL);
                return AD_TERM;
        }
        if (env->payload_case != def->payload) {
                ad_log(AD_LOG_WARN, "discarding an event of the wrong kind", "consumer",
                       def->consumer, "subject", d->subject, "event_id", env->event_id, "kind",
                       ad_event_kind(env), NULL);
                ad_event_free(env);
                return AD_TERM;
        }
        run.in = env;
        run.fields = json_object();

        ret = processed(&run, &done, &err);
        if (ret == 0 && !done)
                ret = abandoned(&run, &over, &err);
        if (ret < 0) {
                disp = AD_NAK;
                outcome = "retry";
                level = AD_LOG_WARN;
        } else if (done) {
                outcome = "duplicate";
        } else if (over) {
                outcome = "skipped";
                level = AD_LOG_WARN;
                ad_step_log_str(&run, "deployment_status", over);
        } else {
                ret = def->ping_ms > 0 ? ad_delivery_work(d, work_fn, &w, def->ping_ms)
                                       : work_fn(&w);
                if (ret == 0) {
                        /* The effect is done and its event published; the
                         * delivery is neither recorded nor acked yet. */
                        AD_FAULT("step.after_effect", def->step);
                        outcome = run.outcome ? run.outcome : "done";
                        if (run.failure)
                                level = AD_LOG_WARN;
                        if (mark_processed(&run, &err) < 0) {
                                disp = AD_NAK;
                                outcome = "retry";
                                level = AD_LOG_WARN;
                        }
                } else {
                        err = TAKE_PTR(w.err);
                        disp = after_error(&run, err, &outcome, &level);
                }
        }
        ad_error_release(&w.err);

        f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "deployment_id", env->deployment_id,
                      "step", def->step, "consumer", def->consumer, "event_id", env->event_id,
                      "subject", d->subject ? d->subject : "", "delivered",
                      (json_int_t)d->delivered, "duration_ms", (json_int_t)(ad_monotonic_ms() - t0),
                      "outcome", outcome);
        if (f) {
                json_object_update(f, run.fields);
                if (err)
                        json_object_set_new(f, "error", json_string(ad_error_message(err)));
                if (run.failure)
                        json_object_set_new(f, "reason", json_string(run.failure));
        }
        json_decref(run.fields);
        free(run.failure);
        ad_event_free(env);
        /* A step's work (a clone, a build context, an engine's stream)
         * frees what it allocated, but glibc keeps the freed pages in the
         * arena of the thread that used them: the service would stay at
         * its peak while idle.  Hand them back once per event; its cost is
         * in the line (trim_us). */
        trim_us = trim();
        if (f)
                json_object_set_new(f, "trim_us", json_integer(trim_us));
        ad_log_json(level, "event handled", f);
        return disp;
}

int ad_step_serve(struct ad_service *svc, struct ad_step_def *defs, size_t n)
{
        struct ad_consumer consumers[8];
        char subjects[8][64];

        if (n == 0 || n > AD_ARRAY_SIZE(consumers)) {
                ad_log(AD_LOG_ERROR, "a step service needs 1 to 8 steps", NULL);
                return AD_EXIT_FAILURE;
        }
        for (size_t i = 0; i < n; i++) {
                const char *subject = defs[i].subject;

                if (defs[i].compensation) {
                        snprintf(subjects[i], sizeof(subjects[i]), "%s.%s", AD_SUBJECT_COMPENSATE,
                                 defs[i].step);
                        subject = subjects[i];
                }
                if (subject == NULL || defs[i].consumer == NULL) {
                        ad_log(AD_LOG_ERROR, "a forward step needs a consumer and a subject",
                               "step", defs[i].step, NULL);
                        return AD_EXIT_FAILURE;
                }
                defs[i].svc = svc;
                consumers[i] = (struct ad_consumer){
                        .spec = { .durable = defs[i].consumer,
                                  .filter_subject = subject,
                                  .ack_wait_ms = defs[i].ack_wait_ms,
                                  .max_deliver = defs[i].max_deliver },
                        .handler = ad_step_handle,
                        .userdata = &defs[i],
                };
        }
        return ad_service_run_consumers(svc, consumers, n);
}
