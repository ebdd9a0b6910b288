#include "api_follow.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"
#include "api_ws.h"

static int put(struct ad_buf *b, const char *s)
{
        return ad_buf_append(b, s, strlen(s));
}

int api_follow_message(struct api_follow *f, const char *event, const char *id, const char *data,
                       size_t n)
{
        int ret = 0;

        if (f->ws) {
                unsigned char hdr[10];
                size_t h = api_ws_header(hdr, API_WS_OP_TEXT, n);

                ret |= ad_buf_append(&f->out, (const char *)hdr, h);
                ret |= ad_buf_append(&f->out, data, n);
                return ret ? -1 : 0;
        }
        if (event) {
                ret |= put(&f->out, "event: ");
                ret |= put(&f->out, event);
                ret |= put(&f->out, "\n");
        }
        if (id) {
                ret |= put(&f->out, "id: ");
                ret |= put(&f->out, id);
                ret |= put(&f->out, "\n");
        }
        for (size_t i = 0;;) {
                size_t len = strcspn(data + i, "\r\n");

                if (i + len > n)
                        len = n - i;
                ret |= put(&f->out, "data: ");
                ret |= ad_buf_append(&f->out, data + i, len);
                ret |= put(&f->out, "\n");
                i += len;
                if (i < n)
                        i += (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n') ? 2 : 1;
                if (i >= n)
                        break;
        }
        ret |= put(&f->out, "\n");
        return ret ? -1 : 0;
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void end_with(struct api_follow *f, const char *event, const char *data)
{
        api_follow_message(f, event, NULL, data, strlen(data));
        f->ended = true;
}

bool api_follow_wait(struct api_follow *f, long wait_ms)
{
        cleanup_error ad_error_t err = NULL;
        int ret;

        if (f->sent < f->out.len)
                return true;
        /* Shutting down: main clears ready before stopping the server. */
        if (f->ended || !atomic_load(&f->api->ready))
                return false;
        ret = f->poll(f, &err);
        if (ret > 0) {
                f->failures = 0;
                return true;
        }
        if (ret < 0 && ++f->failures >= API_FOLLOW_MAX_FAILURES) {
                ad_log(AD_LOG_WARN, f->gave_up, f->log_key, f->log_value, "error",
                       ad_error_message(err), NULL);
                end_with(f, "error", f->error_data);
                return true;
        }
        /* No new line for a while: the stream ends, so a forgotten follower
         * does not hold its connection and its place forever; the client
         * reconnects (Last-Event-ID) to go on. */
        if (f->idle_ms > 0 && ad_monotonic_ms() - f->last_line_ms >= f->idle_ms) {
                end_with(f, "idle", f->idle_data);
                return true;
        }
        /* A comment now and then: proxies keep the connection, and a
         * client that left is noticed when the write fails.  (A WebSocket
         * pings instead, in its own loop.) */
        if (!f->ws && ad_monotonic_ms() - f->last_write_ms >= API_FOLLOW_KEEPALIVE_MS) {
                put(&f->out, ": keepalive\n\n");
                return true;
        }
        if (wait_ms > 0)
                sleep_ms(wait_ms);
        return false;
}

/* The httpd stream callback: blocks (this connection has its own thread)
 * until there is something to send. */
static ssize_t sse_next(void *ud, char *out, size_t max)
{
        struct api_follow *f = ud;

        for (;;) {
                if (api_follow_wait(f, API_FOLLOW_POLL_MS)) {
                        size_t n = f->out.len - f->sent;

                        if (n > max)
                                n = max;
                        memcpy(out, f->out.data + f->sent, n);
                        f->sent += n;
                        if (f->sent == f->out.len)
                                f->sent = f->out.len = 0;
                        f->last_write_ms = ad_monotonic_ms();
                        return (ssize_t)n;
                }
                if (f->ended || !atomic_load(&f->api->ready))
                        return -1;
        }
}

void api_follow_sse_reply(struct api_call *call, struct api_follow *f, void (*free_fn)(void *))
{
        call->reply->status = 200;
        call->reply->content_type = "text/event-stream";
        call->reply->headers[0][0] = "Cache-Control";
        call->reply->headers[0][1] = "no-cache";
        call->reply->headers[1][0] = "X-Accel-Buffering";
        call->reply->headers[1][1] = "no";
        call->reply->stream = sse_next;
        call->reply->stream_ud = f;
        call->reply->stream_free = free_fn;
}

void api_follow_clear(struct api_follow *f)
{
        ad_buf_free(&f->out);
}
