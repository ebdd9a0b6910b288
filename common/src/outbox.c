#include "ad/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/fault.h"
#include "ad/log.h"

#define RELAY_BATCH 100

int ad_outbox_add(ad_db *db, const char *subject, const ad_envelope *env, ad_error_t *err)
{
        PGconn *conn = ad_db_conn(db);
        uint8_t *buf = NULL;
        size_t len = 0, esc_len = 0;
        unsigned char *esc;
        int ret;

        ret = ad_event_pack(env, &buf, &len, err);
        if (ret < 0)
                return ret;
        /* bytea as hex text keeps the query in text protocol. */
        esc = PQescapeByteaConn(conn, buf, len, &esc_len);
        free(buf);
        if (esc == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot escape event: %s",
                                     PQerrorMessage(conn));
        const char *params[3] = { env->event_id, subject, (const char *)esc };
        ret = ad_db_exec(db, NULL,
                         "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3) "
                         "ON CONFLICT (event_id) DO NOTHING",
                         3, params, err);
        PQfreemem(esc);
        return ret < 0 ? ad_error_wrap(err, "outbox") : 0;
}

int ad_outbox_relay(ad_db *db, ad_bus *bus, int batch, int *published, ad_error_t *err)
{
        PGresult *r = NULL;
        char limit[16];
        const char *params[1] = { limit };
        int count = 0, ret;

        snprintf(limit, sizeof(limit), "%d", batch > 0 ? batch : 100);
        ret = ad_db_begin(db, err);
        if (ret < 0)
                return ret;
        /* Rows stay locked until the commit, so two relays never publish
         * the same row at once; SKIP LOCKED lets them share the work. */
        ret = ad_db_exec(db, &r,
                         "SELECT id, event_id, subject, payload FROM outbox "
                         "WHERE published_at IS NULL ORDER BY id LIMIT $1 "
                         "FOR UPDATE SKIP LOCKED",
                         1, params, err);
        if (ret < 0)
                goto fail;
        for (int i = 0; i < PQntuples(r); i++) {
                size_t len = 0;
                unsigned char *data =
                        PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 3), &len);
                const char *id[1] = { PQgetvalue(r, i, 0) };

                if (data == NULL) {
                        ret = ad_error_make(err, AD_ERR_GENERIC, 0, "cannot decode outbox row");
                        goto fail;
                }
                ret = ad_bus_publish(bus, PQgetvalue(r, i, 2), PQgetvalue(r, i, 1), data, len, NULL,
                                     err);
                PQfreemem(data);
                if (ret < 0)
                        goto fail;
                /* Published, not yet marked: after a crash the row is published
                 * again (same Nats-Msg-Id) by the next relay. */
                AD_FAULT("outbox.after_publish", PQgetvalue(r, i, 2));
                ret = ad_db_exec(db, NULL, "UPDATE outbox SET published_at = now() WHERE id = $1",
                                 1, id, err);
                if (ret < 0)
                        goto fail;
                count++;
        }
        PQclear(r);
        r = NULL;
        ret = ad_db_commit(db, err);
        if (ret < 0)
                return ret;
        if (published)
                *published = count;
        return 0;
fail:
        PQclear(r);
        ad_db_rollback(db);
        return ad_error_wrap(err, "outbox relay");
}

int ad_outbox_flush(ad_db *db, ad_bus *bus, int *published, ad_error_t *err)
{
        int n = 0, total = 0, ret;

        do {
                ret = ad_outbox_relay(db, bus, RELAY_BATCH, &n, err);
                if (ret < 0)
                        return ret;
                total += n;
        } while (n == RELAY_BATCH);
        if (published)
                *published = total;
        return 0;
}

struct ad_relay {
        struct ad_relay_options o;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop, woken;
};

/* One pass: (re)connect if needed, tick when due, flush.  Returns the
 * connection to keep (NULL after a loss, so the next pass reconnects). */
static ad_db *relay_pass(struct ad_relay *r, ad_db *db, int64_t *next_tick, bool *failing)
{
        cleanup_error ad_error_t err = NULL;
        int published = 0;

        if (db == NULL && ad_db_connect(&db, r->o.database_url, &err) < 0) {
                if (!*failing)
                        ad_log(AD_LOG_WARN, "outbox relay cannot reach PostgreSQL, retrying",
                               "error", ad_error_message(err), NULL);
                *failing = true;
                return NULL;
        }
        if (r->o.tick && ad_monotonic_ms() >= *next_tick) {
                r->o.tick(db, r->o.tick_ud);
                *next_tick = ad_monotonic_ms() + r->o.tick_ms;
        }
        if (ad_outbox_flush(db, r->o.bus, &published, &err) < 0) {
                if (!*failing)
                        ad_log(AD_LOG_WARN, "outbox relay failed, retrying", "error",
                               ad_error_message(err), NULL);
                *failing = true;
                return db;
        }
        if (*failing)
                ad_log(AD_LOG_INFO, "outbox relay recovered", NULL);
        *failing = false;
        if (published > 0) {
                char n[16];

                snprintf(n, sizeof(n), "%d", published);
                ad_log(AD_LOG_DEBUG, "outbox relay published", "events", n, NULL);
        }
        return db;
}

static void *relay_main(void *arg)
{
        struct ad_relay *r = arg;
        int64_t next_tick = 0;
        bool failing = false;
        ad_db *db = NULL;

        pthread_mutex_lock(&r->lock);
        while (!r->stop) {
                struct timespec ts;

                r->woken = false;
                pthread_mutex_unlock(&r->lock);
                db = relay_pass(r, db, &next_tick, &failing);
                pthread_mutex_lock(&r->lock);
                if (r->stop || r->woken)
                        continue;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += r->o.interval_ms / 1000;
                ts.tv_nsec += (r->o.interval_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (!r->stop && !r->woken &&
                       pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
                        ;
        }
        pthread_mutex_unlock(&r->lock);
        ad_db_close(db);
        return NULL;
}

int ad_relay_start(ad_relay **out, const struct ad_relay_options *opts, ad_error_t *err)
{
        struct ad_relay *r;
        pthread_condattr_t attr;
        int ret;

        if (opts->interval_ms <= 0 || opts->bus == NULL || opts->database_url == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "outbox relay: a bus, a database URL and an interval");
        r = calloc(1, sizeof(*r));
        if (r == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        r->o = *opts;
        pthread_mutex_init(&r->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&r->cond, &attr);
        pthread_condattr_destroy(&attr);
        ret = pthread_create(&r->thread, NULL, relay_main, r);
        if (ret != 0) {
                pthread_cond_destroy(&r->cond);
                pthread_mutex_destroy(&r->lock);
                free(r);
                return ad_error_make_errno(err, ret, "cannot start the outbox relay thread");
        }
        *out = r;
        return 0;
}

void ad_relay_wake(ad_relay *r)
{
        if (r == NULL)
                return;
        pthread_mutex_lock(&r->lock);
        r->woken = true;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

void ad_relay_stop(ad_relay *r)
{
        if (r == NULL)
                return;
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
}
