/* The event bus: NATS JetStream through cnats.
 *
 * All deployment events live in one stream, DEPLOY, on subjects deploy.>.
 * Each service reads with durable pull consumers that are created
 * explicitly (never by subscribing), so a replica shutting down never
 * deletes the consumer its siblings share.  Messages are acked only after
 * their work is durable; a handler decides ack, nak (redeliver after a
 * backoff) or term (never redeliver: the message can never be processed).
 */
#ifndef AD_BUS_H
#define AD_BUS_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ad/error.h"

#define AD_STREAM_NAME "DEPLOY"
#define AD_STREAM_SUBJECTS "deploy.>"
#define AD_BUS_MAX_PAYLOAD (1024 * 1024)

typedef struct ad_bus ad_bus;

#define AD_BUS_MAX_URLS 16

/* One connection attempt; the caller retries (see ad_service).  url is one
 * server or a comma-separated list of a cluster's servers ("nats://a:4222,
 * nats://b:4222"); any reachable one will do.  Once connected, the
 * connection is re-established forever, to any server of the list or of
 * the cluster: in between, publishes fail with a retryable error
 * (ad_error_is_retryable) and fetches return errors that ad_bus_run
 * waits out. */
int ad_bus_connect(ad_bus **out, const char *url, const char *client_name, ad_error_t *err);
void ad_bus_close(ad_bus *bus);
bool ad_bus_connected(ad_bus *bus);
natsConnection *ad_bus_nats(ad_bus *bus);
jsCtx *ad_bus_js(ad_bus *bus);

/* Creates the DEPLOY stream, or checks the existing one.  replicas is 1
 * on a single server, 3 on a cluster. */
int ad_bus_ensure_stream(ad_bus *bus, int replicas, ad_error_t *err);

struct ad_consumer_spec {
        const char *durable;        /* shared by all replicas of a service */
        const char *filter_subject; /* e.g. deploy.requested */
        int64_t ack_wait_ms;        /* 0: 30 s */
        int64_t max_deliver;        /* 0: unlimited */
};

int ad_bus_ensure_consumer(ad_bus *bus, const struct ad_consumer_spec *spec, ad_error_t *err);

/* Publishes to the stream with Nats-Msg-Id = msg_id and waits for the
 * server's ack.  *duplicate (optional) tells a re-publish the server
 * dropped. */
int ad_bus_publish(ad_bus *bus, const char *subject, const char *msg_id, const void *data,
                   size_t len, bool *duplicate, ad_error_t *err);

/* Core NATS publish, not stored (log streaming). */
int ad_bus_publish_core(ad_bus *bus, const char *subject, const void *data, size_t len,
                        ad_error_t *err);

typedef struct ad_bus_sub ad_bus_sub;

/* Request and reply over core NATS (not stored, never redelivered): for
 * work a client waits for, such as a one-off command of an app.  A
 * request with no responder fails at once with AD_ERR_UNAVAILABLE; one
 * not answered within timeout_ms with AD_ERR_TIMEOUT.  *reply (caller
 * frees) is NUL-terminated after *reply_len bytes. */
int ad_bus_request(ad_bus *bus, const char *subject, const void *data, size_t len,
                   int64_t timeout_ms, char **reply, size_t *reply_len, ad_error_t *err);

/* Answers the requests of `subject` (wildcards allowed) in queue group
 * `queue` (one member of the group gets each).  fn runs on a cnats thread,
 * one request at a time per subscription; it returns the reply in *reply
 * (malloc'd, freed here) and its length; NULL sends an empty reply. */
typedef void (*ad_bus_reply_fn)(const char *subject, const void *data, size_t len, char **reply,
                                size_t *reply_len, void *ud);
int ad_bus_serve(ad_bus_sub **out, ad_bus *bus, const char *subject, const char *queue,
                 ad_bus_reply_fn fn, void *ud, ad_error_t *err);

/* Binds to an existing durable consumer. */
int ad_bus_bind(ad_bus_sub **out, ad_bus *bus, const char *durable, const char *filter_subject,
                ad_error_t *err);
void ad_bus_sub_free(ad_bus_sub *sub);

struct ad_delivery {
        const char *subject;
        const void *data;
        size_t len;
        uint64_t delivered; /* 1 on the first delivery */
        natsMsg *msg;
};

/* Waits up to timeout_ms for one message: returns 1 and fills d, 0 when
 * none came, negative on error.  Release d with ad_delivery_release(). */
int ad_bus_fetch(ad_bus_sub *sub, struct ad_delivery *d, int64_t timeout_ms, ad_error_t *err);
int ad_delivery_ack(struct ad_delivery *d, ad_error_t *err);
int ad_delivery_nak(struct ad_delivery *d, int64_t delay_ms, ad_error_t *err);
int ad_delivery_term(struct ad_delivery *d, ad_error_t *err);
/* Tells the server work goes on: resets the ack deadline. */
int ad_delivery_in_progress(struct ad_delivery *d, ad_error_t *err);
void ad_delivery_release(struct ad_delivery *d);

/* Runs fn(ud) on a worker thread and, while it runs, tells the server
 * every ping_ms that the message is in progress, so a long step (a clone,
 * a build) is not redelivered under it.  Returns fn's result. */
int ad_delivery_work(struct ad_delivery *d, int (*fn)(void *ud), void *ud, int64_t ping_ms);

/* The redelivery delay after the n-th failed delivery: exponential from
 * 500 ms, capped at 30 s, with +-20% jitter. */
int64_t ad_bus_backoff_ms(uint64_t delivered);

enum ad_disposition { AD_ACK, AD_NAK, AD_TERM };

typedef enum ad_disposition (*ad_handler_fn)(struct ad_delivery *d, void *ud);

struct ad_consumer {
        struct ad_consumer_spec spec;
        ad_handler_fn handler;
        void *userdata;
        ad_bus_sub *sub; /* set by ad_bus_run */
};

/* Creates and binds every consumer, then delivers messages to their
 * handlers until `stop` returns true (checked at least every second).
 * With several consumers, each waits on its own fetch on a thread of its
 * own, so a message is taken as soon as it is stored whatever consumer it
 * is for; the handlers still run one at a time (a service's handlers
 * share its database connection), and a message waiting for its turn is
 * kept in progress (no redelivery to another replica meanwhile).
 * A NAK is redelivered after ad_bus_backoff_ms(delivered).
 * NATS going away never ends the loop: creating the consumers waits out
 * retryable errors (no server, a cluster electing a leader), fetches wait
 * for cnats to reconnect, and a consumer the server lost (deleted, or a
 * restarted server without it) is re-created and bound again, checked
 * after fetch errors and after 30 s without a message.  Only a
 * non-retryable error at start-up is returned. */
int ad_bus_run(ad_bus *bus, struct ad_consumer *consumers, size_t n, bool (*stop)(void),
               ad_error_t *err);

#endif
