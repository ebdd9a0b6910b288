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

/* Adds env to the outbox for `subject`; call inside the caller's
 * transaction. */
int ad_outbox_add(ad_db *db, const char *subject, const ad_envelope *env, ad_error_t *err);

/* Publishes up to `batch` pending rows, oldest first; *published
 * (optional) gets how many.  Safe to run from several processes at once
 * (rows are locked with SKIP LOCKED). */
int ad_outbox_relay(ad_db *db, ad_bus *bus, int batch, int *published, ad_error_t *err);

#endif
