/* The outbox relay of the API.  A request handler runs one pass right after
 * its commit, so the event normally leaves before the reply; this thread
 * runs a pass every second so that an event whose publish failed (NATS
 * away) still goes out once NATS is back.  The thread owns the service's
 * own database connection (svc.db); handlers use theirs from the pool.
 * Passes may overlap: the relay locks rows with SKIP LOCKED. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ad/log.h"
#include "ad/outbox.h"
#include "api.h"

#define RELAY_INTERVAL_MS 1000
#define RELAY_BATCH 100

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void *relay_main(void *ud)
{
        struct api *api = ud;
        bool failing = false;

        while (!atomic_load(&api->relay_stop)) {
                ad_error_t err = NULL;
                int published = 0;

                if (ad_outbox_relay(api->svc.db, api->svc.bus, RELAY_BATCH, &published, &err) < 0) {
                        /* Say it once per outage, not every second. */
                        if (!failing)
                                ad_log(AD_LOG_WARN, "outbox relay failed, retrying every second",
                                       "error", ad_error_message(err), NULL);
                        failing = true;
                } else {
                        if (failing)
                                ad_log(AD_LOG_INFO, "outbox relay recovered", NULL);
                        failing = false;
                        if (published > 0) {
                                char n[16];

                                snprintf(n, sizeof(n), "%d", published);
                                ad_log(AD_LOG_DEBUG, "outbox relay published", "events", n, NULL);
                        }
                }
                ad_error_release(&err);
                /* A full batch: more may be waiting. */
                if (published == RELAY_BATCH)
                        continue;
                for (int waited = 0; waited < RELAY_INTERVAL_MS && !atomic_load(&api->relay_stop);
                     waited += 100)
                        sleep_ms(100);
        }
        return NULL;
}

int api_relay_start(struct api *api, ad_error_t *err)
{
        int ret;

        atomic_store(&api->relay_stop, false);
        ret = pthread_create(&api->relay, NULL, relay_main, api);
        if (ret != 0)
                return ad_error_make_errno(err, ret, "cannot start the outbox relay thread");
        api->relay_running = true;
        return 0;
}

void api_relay_stop(struct api *api)
{
        if (!api->relay_running)
                return;
        atomic_store(&api->relay_stop, true);
        pthread_join(api->relay, NULL);
        api->relay_running = false;
}

void api_relay_now(struct api *api, ad_db *db)
{
        ad_error_t err = NULL;

        /* Committed already: a failure here only delays the event until
         * the relay thread's next pass. */
        if (ad_outbox_relay(db, api->svc.bus, RELAY_BATCH, NULL, &err) < 0)
                ad_log(AD_LOG_WARN, "outbox relay after commit failed; the relay thread retries",
                       "error", ad_error_message(err), NULL);
        ad_error_release(&err);
}
