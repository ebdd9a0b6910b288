/* The in-progress heartbeat: see builder_ping.h. */
#include "builder_ping.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static void *ping_main(void *arg)
{
        struct builder_ping *p = arg;

        pthread_mutex_lock(&p->mu);
        while (!p->stop) {
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += p->every_ms / 1000;
                ts.tv_nsec += (p->every_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT)
                        ;
                if (p->stop)
                        break;
                pthread_mutex_unlock(&p->mu);
                /* A failure (NATS away for a moment) is retried next tick. */
                if (ad_delivery_in_progress(p->delivery, NULL) == 0)
                        p->sent++;
                pthread_mutex_lock(&p->mu);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

void builder_ping_start(struct builder_ping *p, struct ad_delivery *d, int64_t every_ms)
{
        pthread_condattr_t ca;

        memset(p, 0, sizeof(*p));
        p->delivery = d;
        p->every_ms = every_ms > 0 ? every_ms : 10000;
        pthread_mutex_init(&p->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cv, &ca);
        pthread_condattr_destroy(&ca);
        p->running = pthread_create(&p->thread, NULL, ping_main, p) == 0;
}

void builder_ping_stop(struct builder_ping *p)
{
        if (p->running) {
                pthread_mutex_lock(&p->mu);
                p->stop = true;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                pthread_join(p->thread, NULL);
                p->running = false;
        }
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
}
