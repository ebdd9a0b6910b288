/* The transactional outbox: an event is written to the outbox table in the
 * same transaction as the state change that causes it, and a relay
 * publishes pending rows with Nats-Msg-Id = event id, then marks them
 * published.  A crash between the commit and the publish only delays the
 * event; a crash between the publish and the mark re-publishes it, and the
 * server drops the duplicate inside the stream's duplicate window. */
#ifndef AD_OUTBOX_H
#define AD_OUTBOX_H

#include "ad/bus.h"
#include "ad/db.h"
#include "ad/error.h"
#include "ad/event.h"

/* The channel every outbox insert NOTIFYs at its commit; the relay
 * threads LISTEN on it. */
#define AD_OUTBOX_CHANNEL "ad_outbox"

/* Adds env to the outbox for `subject`; call inside the caller's
 * transaction.  Its commit notifies AD_OUTBOX_CHANNEL. */
int ad_outbox_add(ad_db *db, const char *subject, const ad_envelope *env, ad_error_t *err);

/* Publishes up to `batch` pending rows, oldest first; *published
 * (optional) gets how many.  Safe to run from several processes at once
 * (rows are locked with SKIP LOCKED). */
int ad_outbox_relay(ad_db *db, ad_bus *bus, int batch, int *published, ad_error_t *err);

/* Publishes every pending row, batch after batch, on the caller's
 * connection: what a handler calls right after its commit, so the event
 * normally leaves before the reply.  *published (optional) gets the total. */
int ad_outbox_flush(ad_db *db, ad_bus *bus, int *published, ad_error_t *err);

/* The relay thread every service with an outbox runs (one implementation
 * for the API and the coordinator): on a connection of its own (made, and
 * made again after a loss, from `database_url`), it LISTENs on
 * AD_OUTBOX_CHANNEL and flushes the outbox when any process commits an
 * outbox row (PostgreSQL NOTIFY, no polling; 200 ms later, as the
 * committing handler flushes its own rows at once), when woken, and every
 * `interval_ms` as a fallback, so an event whose publish failed (NATS
 * away) or that was committed just before a crash still goes out.
 * `tick`, when set, runs on the same connection every `tick_ms` (the
 * coordinator's sweep for overdue steps).  It logs once per outage, not on
 * every pass. */
struct ad_relay_options {
        const char *database_url;
        ad_bus *bus;
        long interval_ms;
        void (*tick)(ad_db *db, void *ud);
        void *tick_ud;
        long tick_ms;
};
typedef struct ad_relay ad_relay;

int ad_relay_start(ad_relay **out, const struct ad_relay_options *opts, ad_error_t *err);
/* Asks for a pass now (a commit just added rows); never blocks. */
void ad_relay_wake(ad_relay *r);
/* Stops and joins the thread, closes its connection; NULL is a no-op. */
void ad_relay_stop(ad_relay *r);

#endif
