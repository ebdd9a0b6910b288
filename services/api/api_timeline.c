/* A deployment's timeline: when it was accepted, when each step's service
 * took it and finished, the deploy step's own moments (containers started,
 * every replica healthy, the route serving it) and when the coordinator
 * recorded the outcome; and the hops between them, the time no step was
 * working on it (the bus, the outbox, the consumers' fetches).
 *
 * Read from what is stored already: the request's row (the API's) and the
 * envelopes in event_log (the coordinator's, read here only).  The times
 * are the producers' clocks (Unix ms in the envelope) and PostgreSQL's
 * (transaction start): on one machine, one clock. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "api.h"

/* A deployment's saga is a dozen events; compensations and retries add a
 * few.  More than this is not read. */
#define TIMELINE_EVENTS_MAX 200

static const char sql_events[] =
        "SELECT e.payload, (extract(epoch FROM e.received_at) * 1000)::bigint AS received_ms, "
        "(SELECT (extract(epoch FROM r.created_at) * 1000)::bigint FROM deployment_requests r "
        " WHERE r.id = $1) AS accepted_ms "
        "FROM event_log e WHERE e.deployment_id = $1 AND e.applied ORDER BY e.id LIMIT 200";

/* A row of sql_events: accepted_ms is 0 without a request row. */
struct event_row {
        const char *payload; /* bytea, escaped */
        int64_t received_ms, accepted_ms;
};
static const struct ad_db_field event_fields[] = {
        AD_DB_FIELD(struct event_row, payload, AD_DB_TEXT, "payload"),
        AD_DB_FIELD(struct event_row, received_ms, AD_DB_INT64, "received_ms"),
        AD_DB_FIELD(struct event_row, accepted_ms, AD_DB_INT64, "accepted_ms"),
        AD_DB_FIELDS_END,
};

/* RFC 3339 in UTC with milliseconds, as every other time the API shows. */
static void format_ms(char *out, size_t size, int64_t ms)
{
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        char base[32];

        if (gmtime_r(&s, &tm) == NULL ||
            strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                snprintf(base, sizeof(base), "1970-01-01T00:00:00");
        snprintf(out, size, "%s.%03dZ", base, (int)(ms % 1000));
}

struct timeline {
        json_t *events; /* [{event, at, elapsed_ms}] */
        json_t *hops;   /* [{from, to, duration_ms}] */
        int64_t first_ms;
        /* The last moment a step finished (or the acceptance), waiting for
         * the next one to start: a hop. */
        char pending[48];
        int64_t pending_ms;
        int64_t hops_ms;
};

static void add_hop(struct timeline *t, const char *to, int64_t ms)
{
        int64_t d = ms - t->pending_ms;

        if (!t->pending[0])
                return;
        json_array_append_new(t->hops, json_pack("{s:s,s:s,s:I}", "from", t->pending, "to", to,
                                                 "duration_ms", (json_int_t)d));
        t->hops_ms += d;
        t->pending[0] = '\0';
}

/* Appends `event` at `ms` (0: unknown, left out).  A hop ends at a step's
 * start or at the outcome; one starts at a step's end or the acceptance. */
static void add(struct timeline *t, const char *step, const char *what, int64_t ms)
{
        char name[48], at[40];
        size_t len;

        if (ms <= 0)
                return;
        snprintf(name, sizeof(name), "%s%s%s", step, *what ? "." : "", what);
        if (json_array_size(t->events) == 0)
                t->first_ms = ms;
        format_ms(at, sizeof(at), ms);
        json_array_append_new(t->events, json_pack("{s:s,s:s,s:I}", "event", name, "at", at,
                                                   "elapsed_ms", (json_int_t)(ms - t->first_ms)));
        len = strlen(name);
        if (strcmp(what, "started") == 0 || !*what) {
                add_hop(t, name, ms);
        }
        if (strcmp(name, "accepted") == 0 || (len > 6 && strcmp(name + len - 6, ".ended") == 0) ||
            (len > 7 && strcmp(name + len - 7, ".failed") == 0)) {
                snprintf(t->pending, sizeof(t->pending), "%s", name);
                t->pending_ms = ms;
        }
}

static const char *step_of(const ad_envelope *env)
{
        switch (env->payload_case) {
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED:
                return "analyze";
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT:
                return "build";
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED:
                return "provision";
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED:
                return "deploy";
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED:
                return env->failed->step && *env->failed->step ? env->failed->step : "unknown";
        default:
                return NULL;
        }
}

/* One applied event of the deployment, in the order the coordinator
 * applied them.  `received` is when the coordinator's transaction began. */
static void add_event(struct timeline *t, const ad_envelope *env, int64_t received,
                      int64_t accepted)
{
        const char *step = step_of(env);

        switch (env->payload_case) {
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED:
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_RELEASE:
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ROLLBACK:
                /* Published by another system (no request row): its own
                 * time is the acceptance. */
                if (accepted <= 0 && json_array_size(t->events) == 0)
                        add(t, "accepted", "", env->timestamp_ms);
                return;
        default:
                break;
        }
        if (step == NULL)
                return;
        add(t, step, "started", env->step_started_ms);
        if (env->payload_case == APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED) {
                add(t, step, "failed", env->timestamp_ms);
                add(t, "failed", "", received);
                return;
        }
        if (env->payload_case == APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED) {
                add(t, step, "containers_started", env->exposed->containers_started_ms);
                add(t, step, "first_healthy", env->exposed->healthy_ms);
                add(t, step, "route_switched", env->exposed->route_switched_ms);
        }
        add(t, step, "ended", env->timestamp_ms);
        if (env->payload_case == APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED)
                add(t, "exposed", "", received);
}

int api_timeline(ad_db *db, const char *id, json_t *doc, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[1] = { id };
        struct timeline t = { 0 };
        struct ad_db_rows rows;
        struct event_row row;
        int64_t accepted = 0;
        int ret;

        ret = ad_db_exec(db, &r, sql_events, 1, params, err);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, r, event_fields, err);
        if (ret == 0 && PQntuples(r) > 0 && (ret = ad_db_rows_read(&rows, 0, &row, err)) == 0)
                accepted = row.accepted_ms;
        if (ret < 0)
                return ad_error_wrap(err, "timeline");
        t.events = json_array();
        t.hops = json_array();
        if (accepted > 0)
                add(&t, "accepted", "", accepted);
        for (int i = 0; i < PQntuples(r) && i < TIMELINE_EVENTS_MAX; i++) {
                size_t len = 0;
                unsigned char *raw;
                ad_envelope *env = NULL;

                if (ad_db_rows_read(&rows, i, &row, err) < 0) {
                        json_decref(t.events);
                        json_decref(t.hops);
                        return ad_error_wrap(err, "timeline");
                }
                raw = PQunescapeBytea((const unsigned char *)row.payload, &len);

                /* Every row was an event the coordinator decoded; one that
                 * no longer decodes is left out, not an error. */
                if (raw && ad_event_unpack(&env, raw, len, NULL) == 0) {
                        add_event(&t, env, row.received_ms, accepted);
                        ad_event_free(env);
                }
                PQfreemem(raw);
        }
        json_object_set_new(doc, "timeline", t.events);
        json_object_set_new(doc, "hops", t.hops);
        json_object_set_new(doc, "hops_total_ms",
                            json_array_size(t.hops) ? json_integer(t.hops_ms) : json_null());
        return 0;
}
