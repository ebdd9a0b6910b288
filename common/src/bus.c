#include "ad/bus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/redact.h"

struct ad_bus {
        natsConnection *nc;
        jsCtx *js;
};

struct ad_bus_sub {
        natsSubscription *sub;
        /* ad_bus_serve() */
        natsConnection *nc;
        ad_bus_reply_fn fn;
        void *ud;
};

/* Converts a cnats status into our error, keeping cnats' own text. */
static int nats_error(ad_error_t *err, natsStatus s, jsErrCode jerr, const char *what)
{
        int kind = AD_ERR_GENERIC;
        const char *last = nats_GetLastError(NULL);

        /* cnats prefixes its last error with "(file.c:line): ". */
        if (last && *last == '(') {
                const char *p = strstr(last, "): ");
                if (p)
                        last = p + 3;
        }
        /* Don't say the same thing twice. */
        if (last && strcmp(last, natsStatus_GetText(s)) == 0)
                last = NULL;

        switch (s) {
        case NATS_NO_SERVER:
        case NATS_CONNECTION_CLOSED:
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_STALE_CONNECTION:
        case NATS_NO_RESPONDERS:
        case NATS_IO_ERROR:
        case NATS_NOT_YET_CONNECTED:
        case NATS_MISSED_HEARTBEAT:
                kind = AD_ERR_UNAVAILABLE;
                break;
        case NATS_TIMEOUT:
                kind = AD_ERR_TIMEOUT;
                break;
        case NATS_NOT_FOUND:
                kind = AD_ERR_NOT_FOUND;
                break;
        case NATS_INVALID_ARG:
                kind = AD_ERR_INVALID;
                break;
        default:
                break;
        }
        /* A cluster electing a leader (a node was lost): try again. */
        if (jerr == JSClusterNotAvailErr || jerr == JSClusterNotLeaderErr ||
            jerr == JSClusterIncompleteErr || jerr == JSClusterNoPeersErr ||
            jerr == JSStreamOfflineErr || jerr == JSConsumerOfflineErr)
                kind = AD_ERR_UNAVAILABLE;
        if (jerr)
                return ad_error_make(err, kind, (int)s, "%s: %s (JetStream error %d)%s%s", what,
                                     natsStatus_GetText(s), (int)jerr, last && *last ? ": " : "",
                                     last ? last : "");
        return ad_error_make(err, kind, (int)s, "%s: %s%s%s", what, natsStatus_GetText(s),
                             last && *last ? ": " : "", last ? last : "");
}

/* Splits "nats://a:1, nats://b:2" into its URLs (at most AD_BUS_MAX_URLS):
 * returns how many, 0 when there is none or too many.  *buf holds them. */
static int split_urls(const char *url, char **buf, const char *urls[AD_BUS_MAX_URLS])
{
        int n = 0;

        *buf = strdup(url ? url : "");
        if (*buf == NULL)
                return 0;
        for (char *save = NULL, *tok = strtok_r(*buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                char *end;

                while (*tok == ' ' || *tok == '\t')
                        tok++;
                end = tok + strlen(tok);
                while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
                        *--end = '\0';
                if (*tok == '\0')
                        continue;
                if (n == AD_BUS_MAX_URLS)
                        return 0;
                urls[n++] = tok;
        }
        return n;
}

int ad_bus_connect(ad_bus **out, const char *url, const char *client_name, ad_error_t *err)
{
        const char *urls[AD_BUS_MAX_URLS];
        natsOptions *opts = NULL;
        char *buf = NULL;
        natsStatus s;
        ad_bus *bus;
        int nurls;

        nurls = split_urls(url, &buf, urls);
        if (nurls == 0) {
                /* The URLs carry passwords: the message must not. */
                char *shown = ad_redact_url(url ? url : "");
                int ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                        "NATS URL `%s`: expected 1 to %d comma-separated URLs",
                                        shown ? shown : "", AD_BUS_MAX_URLS);
                free(shown);
                free(buf);
                return ret;
        }
        bus = calloc(1, sizeof(*bus));
        if (bus == NULL) {
                free(buf);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        s = natsOptions_Create(&opts);
        /* Every server of a cluster: the first reachable one is used, and
         * the others (plus those the cluster advertises) on a reconnect. */
        if (s == NATS_OK)
                s = natsOptions_SetServers(opts, urls, nurls);
        if (s == NATS_OK)
                s = natsOptions_SetName(opts, client_name);
        /* Once connected, reconnect forever: a NATS restart must only
         * delay work, never stop a service. */
        if (s == NATS_OK)
                s = natsOptions_SetMaxReconnect(opts, -1);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectWait(opts, 500);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectJitter(opts, 100, 1000);
        if (s == NATS_OK)
                s = natsOptions_SetTimeout(opts, 2000);
        if (s == NATS_OK)
                s = natsConnection_Connect(&bus->nc, opts);
        natsOptions_Destroy(opts);
        free(buf);
        if (s == NATS_OK)
                s = natsConnection_JetStream(&bus->js, bus->nc, NULL);
        if (s != NATS_OK) {
                int ret = nats_error(err, s, 0, "cannot connect to NATS");
                ad_bus_close(bus);
                return ret;
        }
        *out = bus;
        return 0;
}

void ad_bus_close(ad_bus *bus)
{
        if (bus == NULL)
                return;
        jsCtx_Destroy(bus->js);
        if (bus->nc) {
                natsConnection_FlushTimeout(bus->nc, 1000);
                natsConnection_Close(bus->nc);
                natsConnection_Destroy(bus->nc);
        }
        free(bus);
}

bool ad_bus_connected(ad_bus *bus)
{
        return bus && bus->nc && natsConnection_Status(bus->nc) == NATS_CONN_STATUS_CONNECTED;
}

natsConnection *ad_bus_nats(ad_bus *bus)
{
        return bus->nc;
}

jsCtx *ad_bus_js(ad_bus *bus)
{
        return bus->js;
}

int ad_bus_ensure_stream(ad_bus *bus, int replicas, ad_error_t *err)
{
        jsStreamConfig cfg;
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        const char *subjects[] = { AD_STREAM_SUBJECTS };
        natsStatus s;

        s = js_GetStreamInfo(&si, bus->js, AD_STREAM_NAME, NULL, &jerr);
        if (s == NATS_OK) {
                jsStreamInfo_Destroy(si);
                return 0;
        }
        if (s != NATS_NOT_FOUND)
                return nats_error(err, s, jerr, "cannot look up stream " AD_STREAM_NAME);

        jsStreamConfig_Init(&cfg);
        cfg.Name = AD_STREAM_NAME;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy;
        cfg.Replicas = replicas > 0 ? replicas : 1;
        cfg.Duplicates = (int64_t)120 * 1000 * 1000 * 1000; /* 2 min, in ns */
        cfg.MaxMsgSize = AD_BUS_MAX_PAYLOAD;
        cfg.MaxAge = (int64_t)7 * 24 * 3600 * 1000 * 1000 * 1000; /* 7 days */
        jerr = 0;
        s = js_AddStream(&si, bus->js, &cfg, NULL, &jerr);
        if (s == NATS_OK) {
                jsStreamInfo_Destroy(si);
                return 0;
        }
        /* Another replica created it between our lookup and our add. */
        if (jerr == JSStreamNameExistErr)
                return 0;
        return nats_error(err, s, jerr, "cannot create stream " AD_STREAM_NAME);
}

int ad_bus_ensure_consumer(ad_bus *bus, const struct ad_consumer_spec *spec, ad_error_t *err)
{
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        natsStatus s;

        s = js_GetConsumerInfo(&ci, bus->js, AD_STREAM_NAME, spec->durable, NULL, &jerr);
        if (s == NATS_OK) {
                jsConsumerInfo_Destroy(ci);
                return 0;
        }
        if (s != NATS_NOT_FOUND)
                return nats_error(err, s, jerr, "cannot look up consumer");

        jsConsumerConfig_Init(&cc);
        cc.Durable = spec->durable;
        cc.FilterSubject = spec->filter_subject;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckWait = (spec->ack_wait_ms > 0 ? spec->ack_wait_ms : 30000) * (int64_t)1000000;
        cc.MaxDeliver = spec->max_deliver > 0 ? spec->max_deliver : -1;
        cc.MaxAckPending = 1000;
        jerr = 0;
        s = js_AddConsumer(&ci, bus->js, AD_STREAM_NAME, &cc, NULL, &jerr);
        if (s == NATS_OK) {
                jsConsumerInfo_Destroy(ci);
                return 0;
        }
        if (jerr == JSConsumerNameExistErr)
                return 0;
        return nats_error(err, s, jerr, "cannot create consumer");
}

int ad_bus_publish(ad_bus *bus, const char *subject, const char *msg_id, const void *data,
                   size_t len, bool *duplicate, ad_error_t *err)
{
        jsPubOptions po;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus s;

        if (len > AD_BUS_MAX_PAYLOAD)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "message for %s is %zu bytes, the limit is %d", subject, len,
                                     AD_BUS_MAX_PAYLOAD);
        jsPubOptions_Init(&po);
        po.MsgId = msg_id;
        po.MaxWait = 5000;
        s = js_Publish(&pa, bus->js, subject, data, (int)len, &po, &jerr);
        if (s != NATS_OK)
                return nats_error(err, s, jerr, "cannot publish");
        if (duplicate)
                *duplicate = pa->Duplicate;
        jsPubAck_Destroy(pa);
        return 0;
}

int ad_bus_publish_core(ad_bus *bus, const char *subject, const void *data, size_t len,
                        ad_error_t *err)
{
        natsStatus s = natsConnection_Publish(bus->nc, subject, data, (int)len);

        if (s != NATS_OK)
                return nats_error(err, s, 0, "cannot publish");
        return 0;
}

int ad_bus_bind(ad_bus_sub **out, ad_bus *bus, const char *durable, const char *filter_subject,
                ad_error_t *err)
{
        jsSubOptions so;
        jsErrCode jerr = 0;
        ad_bus_sub *sub;
        natsStatus s;

        sub = calloc(1, sizeof(*sub));
        if (sub == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        jsSubOptions_Init(&so);
        so.Stream = AD_STREAM_NAME;
        so.Consumer = durable;
        /* Bound to an existing consumer: unsubscribing never deletes it. */
        s = js_PullSubscribe(&sub->sub, bus->js, filter_subject, durable, NULL, &so, &jerr);
        if (s != NATS_OK) {
                free(sub);
                return nats_error(err, s, jerr, "cannot bind to consumer");
        }
        *out = sub;
        return 0;
}

void ad_bus_sub_free(ad_bus_sub *sub)
{
        if (sub == NULL)
                return;
        /* A served subject: no more requests once this returns. */
        if (sub->fn)
                natsSubscription_Unsubscribe(sub->sub);
        /* Destroy without Unsubscribe: the durable consumer stays. */
        natsSubscription_Destroy(sub->sub);
        free(sub);
}

int ad_bus_fetch(ad_bus_sub *sub, struct ad_delivery *d, int64_t timeout_ms, ad_error_t *err)
{
        natsMsgList list = { 0 };
        jsMsgMetaData *meta = NULL;
        jsErrCode jerr = 0;
        natsStatus s;

        memset(d, 0, sizeof(*d));
        s = natsSubscription_Fetch(&list, sub->sub, 1, timeout_ms, &jerr);
        if (s == NATS_TIMEOUT)
                return 0;
        if (s != NATS_OK)
                return nats_error(err, s, jerr, "cannot fetch");
        if (list.Count < 1) {
                natsMsgList_Destroy(&list);
                return 0;
        }
        d->msg = list.Msgs[0];
        list.Msgs[0] = NULL;
        natsMsgList_Destroy(&list);
        d->subject = natsMsg_GetSubject(d->msg);
        d->data = natsMsg_GetData(d->msg);
        d->len = (size_t)natsMsg_GetDataLength(d->msg);
        d->delivered = 1;
        if (natsMsg_GetMetaData(&meta, d->msg) == NATS_OK) {
                d->delivered = meta->NumDelivered;
                jsMsgMetaData_Destroy(meta);
        }
        return 1;
}

int ad_delivery_ack(struct ad_delivery *d, ad_error_t *err)
{
        natsStatus s = natsMsg_AckSync(d->msg, NULL, NULL);

        return s == NATS_OK ? 0 : nats_error(err, s, 0, "cannot ack");
}

int ad_delivery_nak(struct ad_delivery *d, int64_t delay_ms, ad_error_t *err)
{
        natsStatus s = natsMsg_NakWithDelay(d->msg, delay_ms, NULL);

        return s == NATS_OK ? 0 : nats_error(err, s, 0, "cannot nak");
}

int ad_delivery_term(struct ad_delivery *d, ad_error_t *err)
{
        natsStatus s = natsMsg_Term(d->msg, NULL);

        return s == NATS_OK ? 0 : nats_error(err, s, 0, "cannot term");
}

int ad_delivery_in_progress(struct ad_delivery *d, ad_error_t *err)
{
        natsStatus s = natsMsg_InProgress(d->msg, NULL);

        return s == NATS_OK ? 0 : nats_error(err, s, 0, "cannot mark in progress");
}

void ad_delivery_release(struct ad_delivery *d)
{
        natsMsg_Destroy(d->msg);
        memset(d, 0, sizeof(*d));
}

struct work {
        int (*fn)(void *ud);
        void *ud;
        int result;
        bool done;
        pthread_mutex_t lock;
        pthread_cond_t cond;
};

static void *work_thread(void *arg)
{
        struct work *w = arg;
        int r = w->fn(w->ud);

        pthread_mutex_lock(&w->lock);
        w->result = r;
        w->done = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int ad_delivery_work(struct ad_delivery *d, int (*fn)(void *ud), void *ud, int64_t ping_ms)
{
        struct work w = { .fn = fn, .ud = ud };
        pthread_condattr_t attr;
        pthread_t t;

        pthread_mutex_init(&w.lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w.cond, &attr);
        pthread_condattr_destroy(&attr);
        if (pthread_create(&t, NULL, work_thread, &w) != 0) {
                /* No thread: do the work here, without progress pings. */
                w.result = fn(ud);
                goto out;
        }
        pthread_mutex_lock(&w.lock);
        while (!w.done) {
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += ping_ms / 1000;
                ts.tv_nsec += (ping_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                if (pthread_cond_timedwait(&w.cond, &w.lock, &ts) != 0 && !w.done) {
                        pthread_mutex_unlock(&w.lock);
                        ad_delivery_in_progress(d, NULL);
                        pthread_mutex_lock(&w.lock);
                }
        }
        pthread_mutex_unlock(&w.lock);
        pthread_join(t, NULL);
out:
        pthread_cond_destroy(&w.cond);
        pthread_mutex_destroy(&w.lock);
        return w.result;
}

int64_t ad_bus_backoff_ms(uint64_t delivered)
{
        int64_t base = 500;
        int64_t jitter;

        for (uint64_t i = 1; i < delivered && base < 30000; i++)
                base *= 2;
        if (base > 30000)
                base = 30000;
        jitter = base / 5;
        return base - jitter + (int64_t)(random() % (2 * jitter + 1));
}

/* After a fetch failed this many times in a row on a connected bus, the
 * consumer is looked up (and re-created if the server lost it) and the
 * subscription bound again. */
#define REBIND_AFTER_ERRORS 5
/* A consumer that delivered nothing for this long is checked for on the
 * server: cnats 3.4.1 reports a deleted consumer once ("Consumer
 * Deleted"), then its fetches just time out, and a single server that
 * lost its store (nats-server 2.9 syncs on a timer) reports nothing. */
#define CHECK_IDLE_MS 30000

struct consumer_state {
        int fails;          /* fetch errors in a row */
        bool suspect;       /* an error since the last message or check */
        int64_t checked_ms; /* last message or check (monotonic) */
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Binds consumer c again, replacing its subscription on success. */
static int rebind(ad_bus *bus, struct ad_consumer *c, ad_error_t *err)
{
        ad_bus_sub *fresh = NULL;
        int ret = ad_bus_ensure_consumer(bus, &c->spec, err);

        if (ret == 0)
                ret = ad_bus_bind(&fresh, bus, c->spec.durable, c->spec.filter_subject, err);
        if (ret < 0)
                return ret;
        ad_bus_sub_free(c->sub);
        c->sub = fresh;
        return 0;
}

/* Between fetches: binds again when the consumer is gone or the fetches
 * keep failing although the connection is up. */
static void keep_bound(ad_bus *bus, struct ad_consumer *c, struct consumer_state *st)
{
        bool again = false;

        if (!ad_bus_connected(bus))
                return;
        if (st->fails >= REBIND_AFTER_ERRORS) {
                again = true;
        } else if (st->fails == 0 && (st->suspect || now_ms() - st->checked_ms >= CHECK_IDLE_MS)) {
                jsConsumerInfo *ci = NULL;
                natsStatus s = js_GetConsumerInfo(&ci, bus->js, AD_STREAM_NAME, c->spec.durable,
                                                  NULL, NULL);

                jsConsumerInfo_Destroy(ci);
                if (s == NATS_NOT_FOUND)
                        again = true;
                else if (s == NATS_OK)
                        st->suspect = false;
                st->checked_ms = now_ms();
        }
        if (again) {
                cleanup_error ad_error_t err = NULL;

                if (rebind(bus, c, &err) == 0) {
                        st->fails = 0;
                        st->suspect = false;
                        st->checked_ms = now_ms();
                }
        }
}

/* The fetch timeout of a consumer loop: how late it notices `stop`.  A
 * fetch returns as soon as a message is there, so this is no delay on the
 * path of a message. */
#define FETCH_WAIT_MS 1000

/* Handlers of one ad_bus_run take turns: a service's handlers share its
 * single database connection. */
struct run_shared {
        ad_bus *bus;
        bool (*stop)(void);
        pthread_mutex_t handler_lock;
        bool threaded;
};

struct consumer_loop {
        struct run_shared *run;
        struct ad_consumer *c;
        struct consumer_state st;
        pthread_t thread;
};

/* Takes the handlers' turn for d; while another consumer's handler has
 * it (a build can take minutes), tells the server d is in progress so it
 * is not redelivered meanwhile. */
static void handler_turn(struct consumer_loop *l, struct ad_delivery *d)
{
        int64_t ack_wait = l->c->spec.ack_wait_ms > 0 ? l->c->spec.ack_wait_ms : 30000;
        int64_t ping = ack_wait / 3 > 100 ? ack_wait / 3 : 100;

        for (;;) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += ping / 1000;
                ts.tv_nsec += (ping % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                if (pthread_mutex_timedlock(&l->run->handler_lock, &ts) == 0)
                        return;
                ad_delivery_in_progress(d, NULL);
        }
}

/* One fetch of consumer l, handled, acked or not. */
static void consume_once(struct consumer_loop *l)
{
        struct ad_consumer *c = l->c;
        struct consumer_state *st = &l->st;
        cleanup_error ad_error_t ferr = NULL;
        struct ad_delivery d;
        enum ad_disposition disp;
        int ret;

        ret = ad_bus_fetch(c->sub, &d, FETCH_WAIT_MS, &ferr);
        if (ret < 0) {
                /* Disconnected: cnats reconnects by itself (and
                 * re-subscribes, so the pull subscription works again);
                 * don't spin while it does. */
                struct timespec ts = { 0, 200 * 1000 * 1000 };

                nanosleep(&ts, NULL);
                st->fails++;
                st->suspect = true;
                keep_bound(l->run->bus, c, st);
                return;
        }
        st->fails = 0;
        if (ret == 0) {
                keep_bound(l->run->bus, c, st);
                return;
        }
        st->suspect = false;
        st->checked_ms = now_ms();
        if (l->run->threaded) {
                handler_turn(l, &d);
                /* Stopping while it waited for its turn: not started, so
                 * given back at once (another replica takes it). */
                if (l->run->stop()) {
                        ad_delivery_nak(&d, 0, NULL);
                        pthread_mutex_unlock(&l->run->handler_lock);
                        ad_delivery_release(&d);
                        return;
                }
        }
        disp = c->handler(&d, c->userdata);
        switch (disp) {
        case AD_ACK:
                ad_delivery_ack(&d, NULL);
                break;
        case AD_NAK:
                ad_delivery_nak(&d, ad_bus_backoff_ms(d.delivered), NULL);
                break;
        case AD_TERM:
                ad_delivery_term(&d, NULL);
                break;
        }
        if (l->run->threaded)
                pthread_mutex_unlock(&l->run->handler_lock);
        ad_delivery_release(&d);
}

static void *consumer_thread(void *arg)
{
        struct consumer_loop *l = arg;

        while (!l->run->stop())
                consume_once(l);
        return NULL;
}

int ad_bus_run(ad_bus *bus, struct ad_consumer *consumers, size_t n, bool (*stop)(void),
               ad_error_t *err)
{
        struct run_shared run = { .bus = bus, .stop = stop, .threaded = n > 1 };
        struct consumer_loop *loops = calloc(n > 0 ? n : 1, sizeof(*loops));
        size_t started = 0;
        int ret = 0;

        if (loops == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        pthread_mutex_init(&run.handler_lock, NULL);
        for (size_t i = 0; i < n; i++) {
                /* NATS away or a cluster electing a leader: wait for it
                 * (bounded only by `stop`); anything else is a bug. */
                consumers[i].sub = NULL;
                loops[i].run = &run;
                loops[i].c = &consumers[i];
                for (int64_t delay = 200;; delay = delay * 2 > 2000 ? 2000 : delay * 2) {
                        ad_error_t serr = NULL;
                        struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };

                        ret = rebind(bus, &consumers[i], &serr);
                        if (ret == 0)
                                break;
                        if (!ad_error_is_retryable(serr) || stop()) {
                                if (err && *err == NULL)
                                        *err = serr;
                                else
                                        ad_error_release(&serr);
                                ad_error_wrap(err, "consumer %s", consumers[i].spec.durable);
                                goto out;
                        }
                        ad_error_release(&serr);
                        nanosleep(&ts, NULL);
                }
                loops[i].st.checked_ms = now_ms();
        }
        if (!run.threaded) {
                while (n == 1 && !stop())
                        consume_once(&loops[0]);
                goto out;
        }
        /* Several consumers: each waits on its own fetch, so a message on
         * any of them is taken at once (a single loop fetching each in
         * turn left a message waiting out the others' fetch timeouts). */
        while (started < n &&
               pthread_create(&loops[started].thread, NULL, consumer_thread, &loops[started]) == 0)
                started++;
        /* No thread for some (out of resources): this one takes them in
         * turn, as a loop without threads would. */
        while (started < n && !stop())
                for (size_t i = started; i < n && !stop(); i++)
                        consume_once(&loops[i]);
        for (size_t i = 0; i < started; i++)
                pthread_join(loops[i].thread, NULL);
out:
        for (size_t i = 0; i < n; i++) {
                ad_bus_sub_free(consumers[i].sub);
                consumers[i].sub = NULL;
        }
        pthread_mutex_destroy(&run.handler_lock);
        free(loops);
        return ret;
}

int ad_bus_request(ad_bus *bus, const char *subject, const void *data, size_t len,
                   int64_t timeout_ms, char **reply, size_t *reply_len, ad_error_t *err)
{
        natsMsg *msg = NULL;
        natsStatus s;
        char *out;
        int n;

        if (len > AD_BUS_MAX_PAYLOAD)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "a request of %zu bytes", len);
        s = natsConnection_Request(&msg, bus->nc, subject, data, (int)len, timeout_ms);
        if (s != NATS_OK)
                return nats_error(err, s, 0, "no reply");
        n = natsMsg_GetDataLength(msg);
        out = malloc((size_t)n + 1);
        if (out == NULL) {
                natsMsg_Destroy(msg);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        memcpy(out, natsMsg_GetData(msg), (size_t)n);
        out[n] = '\0';
        natsMsg_Destroy(msg);
        *reply = out;
        *reply_len = (size_t)n;
        return 0;
}

static void serve_one(natsConnection *nc, natsSubscription *nsub, natsMsg *msg, void *closure)
{
        ad_bus_sub *sub = closure;
        const char *to = natsMsg_GetReply(msg);
        char *reply = NULL;
        size_t reply_len = 0;

        (void)nsub;
        sub->fn(natsMsg_GetSubject(msg), natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                &reply, &reply_len, sub->ud);
        /* A request without a reply subject was a plain publish: its
         * work is done, nobody waits for the answer. */
        if (to && *to)
                natsConnection_Publish(nc, to, reply ? reply : "", reply ? (int)reply_len : 0);
        free(reply);
        natsMsg_Destroy(msg);
}

int ad_bus_serve(ad_bus_sub **out, ad_bus *bus, const char *subject, const char *queue,
                 ad_bus_reply_fn fn, void *ud, ad_error_t *err)
{
        ad_bus_sub *sub = calloc(1, sizeof(*sub));
        natsStatus s;

        if (sub == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        sub->nc = bus->nc;
        sub->fn = fn;
        sub->ud = ud;
        s = natsConnection_QueueSubscribe(&sub->sub, bus->nc, subject, queue, serve_one, sub);
        if (s != NATS_OK) {
                free(sub);
                return nats_error(err, s, 0, "cannot subscribe");
        }
        *out = sub;
        return 0;
}
