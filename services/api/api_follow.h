/* The log follower's loop, shared by GET /deployments/{id}/logs?follow=1
 * (api_logs.c) and GET /apps/{name}/logs?follow=1 (api_app_logs.c): a
 * queue of bytes to send, a poll of the owner's table (a pooled
 * connection borrowed per poll), keepalives, the end after
 * API_FOLLOW_MAX_FAILURES failed polls in a row, the end after an idle
 * time, and the Server-Sent Events reply.  The owner embeds struct
 * api_follow as its first member and says what a poll reads. */
#ifndef API_FOLLOW_H
#define API_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ad/buf.h"
#include "ad/error.h"

#define API_FOLLOW_POLL_MS 300
#define API_FOLLOW_KEEPALIVE_MS 10000
/* Consecutive failed polls before a stream gives up. */
#define API_FOLLOW_MAX_FAILURES 20

struct api;
struct api_call;

struct api_follow {
        struct api *api;
        bool ws; /* WebSocket text frames instead of SSE events */
        struct ad_buf out;
        size_t sent; /* of out */
        bool ended;  /* the last message is queued */
        int failures;
        int64_t last_write_ms, last_line_ms;
        /* The owner's: one poll queues new messages (api_follow_message)
         * and, when there is nothing more to follow, the last one with
         * ended set; 1 when something was queued, 0 when nothing, < 0 on
         * error. */
        int (*poll)(struct api_follow *f, ad_error_t *err);
        int64_t idle_ms;        /* no new line for this long ends the stream; 0: never */
        char idle_data[192];    /* the data of that "idle" event */
        const char *error_data; /* the data of the "error" event after the failures */
        /* The log line when the stream gives up: message, then key=value. */
        const char *gave_up, *log_key, *log_value;
};

/* Queues one message: an SSE event (event and id may be NULL; a data with
 * line ends becomes several data fields, which clients join back) or a
 * WebSocket text frame of data.  0, or -1 when out of memory. */
int api_follow_message(struct api_follow *f, const char *event, const char *id, const char *data,
                       size_t len);

/* Polls until there is something to send or the stream is over, sleeping
 * wait_ms between polls (0: returns after one poll): true when f->out has
 * bytes to send. */
bool api_follow_wait(struct api_follow *f, long wait_ms);

/* Makes call's reply a Server-Sent Events stream of f; free_fn(f) when the
 * connection ends. */
void api_follow_sse_reply(struct api_call *call, struct api_follow *f, void (*free_fn)(void *));

/* Frees what api_follow holds (not f itself). */
void api_follow_clear(struct api_follow *f);

#endif
