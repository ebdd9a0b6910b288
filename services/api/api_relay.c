/* The outbox relay of the API: common's ad_relay thread, which flushes the
 * outbox on its own connection when a commit NOTIFYs it and every second
 * as a fallback, so that an event whose publish failed (NATS away) still
 * goes out once NATS is back.  A request
 * handler flushes right after its commit on its pooled connection, so the
 * event normally leaves before the reply.  Flushes may overlap: the relay
 * locks rows with SKIP LOCKED. */
#include "ad/log.h"
#include "ad/outbox.h"
#include "api.h"

#define RELAY_INTERVAL_MS 1000

int api_relay_start(struct api *api, ad_error_t *err)
{
        const struct ad_relay_options o = {
                .database_url = ad_config_get_string(api->svc.cfg, api->svc.tables, "database.url"),
                .bus = api->svc.bus,
                .interval_ms = RELAY_INTERVAL_MS,
        };

        return ad_relay_start(&api->relay, &o, err);
}

void api_relay_stop(struct api *api)
{
        ad_relay_stop(api->relay);
        api->relay = NULL;
}

void api_relay_now(struct api *api, ad_db *db)
{
        ad_error_t err = NULL;

        /* Committed already: a failure here only delays the event until
         * the relay thread's pass, which it is asked for at once. */
        if (ad_outbox_flush(db, api->svc.bus, NULL, &err) < 0) {
                ad_log(AD_LOG_WARN, "outbox relay after commit failed; the relay thread retries",
                       "error", ad_error_message(err), NULL);
                ad_relay_wake(api->relay);
        }
        ad_error_release(&err);
}
