/* The in-progress heartbeat: while a delivery's work runs (a clone, a
 * build, a push: minutes), a thread tells JetStream every `every_ms` that
 * the work goes on, so the message is not redelivered to another replica
 * after the consumer's ack wait.  natsMsg_InProgress is thread-safe; the
 * handler's thread does not touch the message until builder_ping_stop()
 * has returned. */
#ifndef AD_BUILDER_PING_H
#define AD_BUILDER_PING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ad/bus.h"

struct builder_ping {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop;
        bool running;
        struct ad_delivery *delivery;
        int64_t every_ms;
        unsigned sent;
};

/* Starts the heartbeat; on failure (no thread) the work runs without one. */
void builder_ping_start(struct builder_ping *p, struct ad_delivery *d, int64_t every_ms);
void builder_ping_stop(struct builder_ping *p);

#endif
