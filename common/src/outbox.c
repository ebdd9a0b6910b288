#include "ad/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/fault.h"
#include "ad/log.h"

#define RELAY_BATCH 100
/* How long a relay woken by another transaction's NOTIFY leaves its rows
 * to that transaction's own flush. */
#define RELAY_NOTIFY_GRACE_MS 200

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
        /* The NOTIFY is delivered at the commit (not at all on a
         * rollback): it wakes every relay at once. */
        ret = ad_db_exec(db, NULL,
                         "WITH ins AS (INSERT INTO outbox (event_id, subject, payload) "
                         "VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING RETURNING 1) "
                         "SELECT pg_notify('" AD_OUTBOX_CHANNEL "', '') FROM ins",
                         3, params, err);
        PQfreemem(esc);
        return ret < 0 ? ad_error_wrap(err, "outbox") : 0;
}

/* An unpublished row; id stays text: it only goes back as a parameter. */
struct outbox_row {
        const char *id, *event_id, *subject, *payload;
};
static const struct ad_db_field outbox_fields[] = {
        AD_DB_FIELD(struct outbox_row, id, AD_DB_TEXT, "id"),
        AD_DB_FIELD(struct outbox_row, event_id, AD_DB_TEXT, "event_id"),
        AD_DB_FIELD(struct outbox_row, subject, AD_DB_TEXT, "subject"),
        AD_DB_FIELD(struct outbox_row, payload, AD_DB_TEXT, "payload"),
        AD_DB_FIELDS_END,
};

int ad_outbox_relay(ad_db *db, ad_bus *bus, int batch, int *published, ad_error_t *err)
{
        PGresult *r = NULL;
        struct ad_db_rows rows;
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
        if (ret < 0 || (ret = ad_db_rows_init(&rows, r, outbox_fields, err)) < 0)
                goto fail;
        for (int i = 0; i < PQntuples(r); i++) {
                struct outbox_row row;
                size_t len = 0;
                unsigned char *data;

                if ((ret = ad_db_rows_read(&rows, i, &row, err)) < 0)
                        goto fail;
                data = PQunescapeBytea((const unsigned char *)row.payload, &len);
                if (data == NULL) {
                        ret = ad_error_make(err, AD_ERR_GENERIC, 0, "cannot decode outbox row");
                        goto fail;
                }
                ret = ad_bus_publish(bus, row.subject, row.event_id, data, len, NULL, err);
                PQfreemem(data);
                if (ret < 0)
                        goto fail;
                /* Published, not yet marked: after a crash the row is published
                 * again (same Nats-Msg-Id) by the next relay. */
                AD_FAULT("outbox.after_publish", row.subject);
                ret = ad_db_exec(db, NULL, "UPDATE outbox SET published_at = now() WHERE id = $1",
                                 1, (const char *[]){ row.id }, err);
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
        /* ad_relay_wake and ad_relay_stop write a byte; the thread polls
         * the read end with its connection's socket. */
        int wake[2];
        atomic_bool stop;
        /* The backend LISTENing on AD_OUTBOX_CHANNEL (0: none): ad_db
         * reconnects by itself, and a new backend listens to nothing. */
        int listen_pid;
};

/* LISTEN on the relay's connection, again after a reconnection. */
static int relay_listen(struct ad_relay *r, ad_db *db, ad_error_t *err)
{
        PGconn *conn = ad_db_conn(db);
        int ret;

        if (PQstatus(conn) == CONNECTION_OK && PQbackendPID(conn) == r->listen_pid)
                return 0;
        r->listen_pid = 0;
        ret = ad_db_exec(db, NULL, "LISTEN " AD_OUTBOX_CHANNEL, 0, NULL, err);
        if (ret < 0)
                return ad_error_wrap(err, "outbox relay: LISTEN");
        r->listen_pid = PQbackendPID(conn);
        return 0;
}

/* Forgets the notifications received so far: the pass about to run
 * publishes what they announced.  Returns how many there were. */
static int drain_notifies(ad_db *db)
{
        PGconn *conn = ad_db_conn(db);
        PGnotify *nf;
        int n = 0;

        if (PQstatus(conn) != CONNECTION_OK)
                return 0;
        while ((nf = PQnotifies(conn)) != NULL) {
                PQfreemem(nf);
                n++;
        }
        return n;
}

/* One pass: (re)connect if needed, listen, tick when due, flush.  Returns
 * the connection to keep (NULL after a failed connect, so the next pass
 * tries again). */
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
        drain_notifies(db);
        if (r->o.tick && ad_monotonic_ms() >= *next_tick) {
                r->o.tick(db, r->o.tick_ud);
                *next_tick = ad_monotonic_ms() + r->o.tick_ms;
        }
        /* Listening before the flush: a row committed during it is
         * announced, not left to the next interval. */
        if (relay_listen(r, db, &err) < 0 || ad_outbox_flush(db, r->o.bus, &published, &err) < 0) {
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

static bool took_notify(PGconn *conn)
{
        PGnotify *nf = PQnotifies(conn);

        PQfreemem(nf);
        return nf != NULL;
}

/* Waits until a commit announces rows (NOTIFY), ad_relay_wake or stop,
 * or timeout_ms: the interval, the fallback for a lost notification or
 * a publish that failed. */
static void relay_wait(struct ad_relay *r, ad_db *db, int64_t timeout_ms)
{
        PGconn *conn = db ? ad_db_conn(db) : NULL;
        struct pollfd fds[2] = { { .fd = r->wake[0], .events = POLLIN }, { .fd = -1 } };
        bool notified = false;
        char buf[64];

        if (conn && r->listen_pid != 0 && PQstatus(conn) == CONNECTION_OK) {
                /* ad_db reconnected during the pass (the LISTEN was
                 * before it): listen again first. */
                if (PQbackendPID(conn) != r->listen_pid)
                        return;
                /* Announced while the pass ran: no wait for it. */
                notified = took_notify(conn) || (PQconsumeInput(conn) && took_notify(conn));
                fds[1].fd = PQsocket(conn);
                fds[1].events = POLLIN;
        }
        if (!notified) {
                if (poll(fds, 2, (int)(timeout_ms > 0 ? timeout_ms : 0)) <= 0)
                        return;
                if (fds[0].revents & POLLIN) {
                        while (read(r->wake[0], buf, sizeof(buf)) > 0)
                                ;
                        return;
                }
                /* A broken connection reads as 0 here; ad_db reconnects
                 * at the next query, and the relay listens again. */
                notified = fds[1].revents && PQconsumeInput(conn) && took_notify(conn);
        }
        if (notified) {
                /* The committing handler flushes its rows itself, at
                 * once: give it that time before taking them (a crash
                 * or a failed publish leaves them to the next pass). */
                fds[1].fd = -1;
                if (poll(fds, 2, RELAY_NOTIFY_GRACE_MS) > 0)
                        while (read(r->wake[0], buf, sizeof(buf)) > 0)
                                ;
        }
}

static void *relay_main(void *arg)
{
        struct ad_relay *r = arg;
        int64_t next_tick = 0;
        bool failing = false;
        ad_db *db = NULL;

        while (!atomic_load(&r->stop)) {
                int64_t wait;

                db = relay_pass(r, db, &next_tick, &failing);
                if (atomic_load(&r->stop))
                        break;
                wait = r->o.interval_ms;
                if (r->o.tick && next_tick - ad_monotonic_ms() < wait)
                        wait = next_tick - ad_monotonic_ms();
                relay_wait(r, db, wait);
        }
        ad_db_close(db);
        return NULL;
}

int ad_relay_start(ad_relay **out, const struct ad_relay_options *opts, ad_error_t *err)
{
        struct ad_relay *r;
        int ret;

        if (opts->interval_ms <= 0 || opts->bus == NULL || opts->database_url == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "outbox relay: a bus, a database URL and an interval");
        r = calloc(1, sizeof(*r));
        if (r == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        r->o = *opts;
        atomic_init(&r->stop, false);
        if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                ret = errno;
                free(r);
                return ad_error_make_errno(err, ret, "cannot make the outbox relay's pipe");
        }
        ret = pthread_create(&r->thread, NULL, relay_main, r);
        if (ret != 0) {
                close(r->wake[0]);
                close(r->wake[1]);
                free(r);
                return ad_error_make_errno(err, ret, "cannot start the outbox relay thread");
        }
        *out = r;
        return 0;
}

void ad_relay_wake(ad_relay *r)
{
        ssize_t n;

        if (r == NULL)
                return;
        /* Non-blocking: a full pipe already asks for a pass. */
        n = write(r->wake[1], "w", 1);
        (void)n;
}

void ad_relay_stop(ad_relay *r)
{
        if (r == NULL)
                return;
        atomic_store(&r->stop, true);
        ad_relay_wake(r);
        pthread_join(r->thread, NULL);
        close(r->wake[0]);
        close(r->wake[1]);
        free(r);
}
