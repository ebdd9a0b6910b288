/* adcoordinator: follows every deploy.* event, keeps the saga's state in
 * PostgreSQL (the single writer of deployment state) and publishes the
 * compensations of failed steps through the outbox. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/fault.h"
#include "ad/log.h"
#include "ad/metrics.h"
#include "ad/outbox.h"
#include "ad/service.h"
#include "saga.h"

static const struct ad_config_key coordinator_config[] = {
        { "coordinator.relay_interval_ms", AD_CONFIG_INT, "500", 10, 60000,
          "how often the outbox relay looks for unpublished events unasked (a fallback: each "
          "commit of an event wakes it)",
          NULL },
        { "coordinator.max_unknown_deliveries", AD_CONFIG_INT, "10", 1, 1000,
          "an event for a deployment still unknown (or arriving before the event it follows) "
          "after this many deliveries is dropped",
          NULL },
        { "coordinator.sweep_interval_ms", AD_CONFIG_INT, "2000", 100, 600000,
          "how often deadlines and compensations are checked (also once at start-up)", NULL },
        { "coordinator.deadline.analyze_s", AD_CONFIG_INT, "600", 1, 86400,
          "an analysis that produced no event by then is failed", NULL },
        { "coordinator.deadline.build_s", AD_CONFIG_INT, "1800", 1, 86400,
          "a build that produced no event by then is failed and compensated", NULL },
        { "coordinator.deadline.provision_s", AD_CONFIG_INT, "300", 1, 86400,
          "a provisioning that produced no event by then is failed and compensated", NULL },
        { "coordinator.deadline.deploy_s", AD_CONFIG_INT, "600", 1, 86400,
          "a deploy step that produced no event by then is failed and compensated", NULL },
        { "coordinator.compensate_retry_s", AD_CONFIG_INT, "60", 1, 86400,
          "an unanswered compensation request is sent again after this long", NULL },
        AD_CONFIG_END,
};
static const struct ad_config_key *const config[] = { coordinator_config, NULL };

struct coordinator {
        struct ad_service svc;
        long relay_interval_ms;
        long sweep_interval_ms;
        long max_unknown;
        ad_metric *events;
        ad_relay *relay;
};

static const char *outcome_name(enum saga_outcome o)
{
        switch (o) {
        case SAGA_APPLIED:
                return "applied";
        case SAGA_IGNORED:
                return "ignored";
        case SAGA_DUPLICATE:
                return "duplicate";
        case SAGA_RETRY:
                return "retry";
        case SAGA_DROPPED:
                return "dropped";
        }
        return "?";
}

/* Publishes what the handler just committed, on its own connection; on
 * failure the relay thread's pass (asked for at once) retries. */
static void relay_now(struct coordinator *co, ad_db *db)
{
        cleanup_error ad_error_t err = NULL;

        if (ad_outbox_flush(db, co->svc.bus, NULL, &err) < 0) {
                ad_log(AD_LOG_WARN, "outbox relay failed, will retry", "error",
                       ad_error_message(err), NULL);
                ad_relay_wake(co->relay);
        }
}

/* Fails overdue steps and repeats unanswered compensations. */
static void sweep(ad_db *db)
{
        cleanup_error ad_error_t err = NULL;
        int acted = 0;

        if (saga_sweep(db, &acted, &err) < 0)
                ad_log(AD_LOG_WARN, "sweep failed, will retry", "error", ad_error_message(err),
                       NULL);
        else if (acted > 0)
                ad_log_json(AD_LOG_INFO, "sweep moved deployments",
                            json_pack("{s:i}", "deployments", acted));
}

/* The relay thread's periodic work on its own connection (ad_relay). */
static void sweep_tick(ad_db *db, void *ud)
{
        (void)ud;
        sweep(db);
}

static enum ad_disposition handle_event(struct ad_delivery *d, void *ud)
{
        struct coordinator *co = ud;
        cleanup_error ad_error_t err = NULL;
        int64_t started = ad_monotonic_ms();
        struct saga_result res;
        ad_envelope *env = NULL;
        char labels[64];
        json_t *f;

        if (ad_event_unpack(&env, d->data, d->len, &err) < 0) {
                ad_log(AD_LOG_WARN, "rejected a message", "subject", d->subject, "error",
                       ad_error_message(err), NULL);
                ad_metric_add(co->events, "outcome=\"rejected\"", 1);
                return AD_TERM;
        }
        if (saga_apply(co->svc.db, env, d->data, d->len, &res, &err) < 0) {
                /* A conflict is another coordinator's transition committed
                 * first: rolled back, judged again on redelivery. */
                bool conflict = err && err->kind == AD_ERR_CONFLICT;

                ad_log(AD_LOG_WARN, "cannot apply event, will retry", "deployment_id",
                       env->deployment_id, "subject", d->subject, "event_id", env->event_id,
                       "error", ad_error_message(err), NULL);
                ad_metric_add(co->events, conflict ? "outcome=\"conflict\"" : "outcome=\"error\"",
                              1);
                ad_event_free(env);
                return AD_NAK;
        }
        /* Committed; neither acked nor relayed yet. */
        if (res.outcome == SAGA_APPLIED)
                AD_FAULT("coordinator.after_commit", d->subject);
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome_name(res.outcome));
        ad_metric_add(co->events, labels, 1);
        f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "deployment_id", env->deployment_id, "subject",
                      d->subject, "event_id", env->event_id, "outcome", outcome_name(res.outcome),
                      "status", res.status, "duration_ms",
                      (json_int_t)(ad_monotonic_ms() - started));
        if (res.note[0])
                json_object_set_new(f, "note", json_string(res.note));
        ad_log_json(res.outcome == SAGA_APPLIED ? AD_LOG_INFO : AD_LOG_WARN, "event handled", f);

        if (res.outcome == SAGA_RETRY) {
                ad_event_free(env);
                if ((long)d->delivered >= co->max_unknown) {
                        ad_log(AD_LOG_WARN, "dropping an event for an unknown deployment",
                               "subject", d->subject, NULL);
                        return AD_TERM;
                }
                return AD_NAK;
        }
        ad_event_free(env);
        if (res.outcome == SAGA_APPLIED)
                relay_now(co, co->svc.db);
        return AD_ACK;
}

int main(int argc, char **argv)
{
        static struct coordinator co;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("coordinator"),
                .config = config,
        };
        struct ad_consumer consumers[] = {
                {
                        .spec = { .durable = "coordinator",
                                  .filter_subject = "deploy.>",
                                  .ack_wait_ms = 30000 },
                        .handler = handle_event,
                        .userdata = &co,
                },
        };
        cleanup_error ad_error_t err = NULL;
        struct saga_deadlines dl;
        int ret;

        ret = ad_service_start(&co.svc, "coordinator", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        const struct ad_config_key *const *t = co.svc.tables;
        if (ad_config_get_int(co.svc.cfg, t, "coordinator.relay_interval_ms", &co.relay_interval_ms,
                              &err) < 0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.max_unknown_deliveries", &co.max_unknown,
                              &err) < 0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.sweep_interval_ms", &co.sweep_interval_ms,
                              &err) < 0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.deadline.analyze_s", &dl.analyze_s,
                              &err) < 0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.deadline.build_s", &dl.build_s, &err) <
                    0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.deadline.provision_s", &dl.provision_s,
                              &err) < 0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.deadline.deploy_s", &dl.deploy_s, &err) <
                    0 ||
            ad_config_get_int(co.svc.cfg, t, "coordinator.compensate_retry_s",
                              &dl.compensate_retry_s, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_service_stop(&co.svc);
                return AD_EXIT_CONFIG;
        }
        saga_set_deadlines(&dl);
        /* Recovery after a restart: fail what overran its deadline while
         * no coordinator ran, and ask again for unanswered compensations;
         * everything else goes on from the events still in the stream. */
        sweep(co.svc.db);
        co.events = ad_metric_get(AD_METRIC_COUNTER, "ad_coordinator_events_total",
                                  "Events the coordinator handled, by outcome.");
        /* The relay publishes what the outbox holds (an event committed
         * just before a crash, or whose publish failed) without waiting
         * for new input, and sweeps for overdue steps. */
        const struct ad_relay_options relay = {
                .database_url = ad_config_get_string(co.svc.cfg, co.svc.tables, "database.url"),
                .bus = co.svc.bus,
                .interval_ms = co.relay_interval_ms,
                .tick = sweep_tick,
                .tick_ms = co.sweep_interval_ms,
        };
        if (ad_relay_start(&co.relay, &relay, &err) < 0) {
                ad_log(AD_LOG_ERROR, "cannot start", "error", ad_error_message(err), NULL);
                ad_service_stop(&co.svc);
                return AD_EXIT_FAILURE;
        }

        ret = ad_service_run_consumers(&co.svc, consumers, AD_ARRAY_SIZE(consumers));
        ad_log(AD_LOG_INFO, "stopping", NULL);
        ad_service_request_stop();
        ad_relay_stop(co.relay);
        ad_service_stop(&co.svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
