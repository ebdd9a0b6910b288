/* GET /apps/{name}/logs?follow=1: an app's runtime log lines as the
 * deployer's collector stores them (app_logs, migration 017), the last
 * `tail` first, then each new line, over Server-Sent Events or, with
 * `Upgrade: websocket`, over a WebSocket (RFC 6455: one text frame per
 * line, server to client; the client's close and ping are answered).
 *
 * As the deployment log follower (api_logs.c), a follower polls the table
 * with a pooled connection borrowed per poll.  Because the lines are read
 * from the table, a follower keeps going across a redeploy (new
 * containers) and a deployer restart.  Bounds: at most
 * APP_FOLLOW_MAX followers per API process (503 past it), and a follower
 * with no new line for APP_FOLLOW_IDLE_MS ends (event "idle"). */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ad/buf.h"
#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"
#include "api_follow.h"
#include "api_ws.h"

#define APP_FOLLOW_IDLE_MS (30L * 60 * 1000)
#define APP_FOLLOW_MAX 64
#define APP_FOLLOW_BATCH 500

static atomic_int followers;

/* The id after which the last $2 lines start. */
static const char sql_start[] =
        "SELECT coalesce((SELECT id FROM app_logs WHERE app_name = $1 ORDER BY id DESC "
        "OFFSET $2::int LIMIT 1), 0) AS id";
static const char sql_lines[] =
        "SELECT id, process, replica, container, stream, "
        "to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS time, line "
        "FROM app_logs WHERE app_name = $1 AND id > $2::bigint ORDER BY id LIMIT $3::int";

/* A row of sql_lines; sql_start's reads `id` only. */
struct app_line_row {
        int64_t id;
        int replica;
        const char *process, *container, *stream, *time, *line;
};
static const struct ad_db_field app_line_fields[] = {
        AD_DB_FIELD(struct app_line_row, id, AD_DB_INT64, "id"),
        AD_DB_FIELD(struct app_line_row, process, AD_DB_TEXT, "process"),
        AD_DB_FIELD(struct app_line_row, replica, AD_DB_INT, "replica"),
        AD_DB_FIELD(struct app_line_row, container, AD_DB_TEXT, "container"),
        AD_DB_FIELD(struct app_line_row, stream, AD_DB_TEXT, "stream"),
        AD_DB_FIELD(struct app_line_row, time, AD_DB_TEXT, "time"),
        AD_DB_FIELD(struct app_line_row, line, AD_DB_TEXT, "line"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field start_fields[] = {
        AD_DB_FIELD(struct app_line_row, id, AD_DB_INT64, "id"),
        AD_DB_FIELDS_END,
};
static const char sql_app[] = "SELECT 1 FROM apps WHERE name = $1";

struct app_follow {
        struct api_follow f; /* first: the follower loop's */
        char app[AD_APP_NAME_MAX + 1];
        long long last_id;
};

/* One poll: queues the new lines; the end when the app is gone.  1 when
 * something was queued, 0 when not, < 0 on error. */
static int follow_poll(struct api_follow *f, ad_error_t *err)
{
        struct app_follow *s = (struct app_follow *)f;
        cleanup_pgresult PGresult *app = NULL, *lines = NULL;
        char after[24], batch[16];
        const char *p3[3] = { s->app, after, batch };
        struct app_line_row row;
        struct ad_db_rows rows;
        ad_db *db = NULL;
        char id[24];
        int ret, n;

        snprintf(after, sizeof(after), "%lld", s->last_id);
        snprintf(batch, sizeof(batch), "%d", APP_FOLLOW_BATCH);
        ret = api_pool_get(f->api->pool, &db, 2000, err);
        if (ret < 0)
                return ret;
        ret = ad_db_exec(db, &app, sql_app, 1, p3, err);
        if (ret == 0)
                ret = ad_db_exec(db, &lines, sql_lines, 3, p3, err);
        api_pool_put(f->api->pool, db);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, lines, app_line_fields, err);
        if (ret < 0)
                return ret;
        n = PQntuples(lines);
        for (int i = 0; i < n; i++) {
                json_auto_t *o = NULL;
                cleanup_free char *text = NULL;

                ret = ad_db_rows_read(&rows, i, &row, err);
                if (ret < 0)
                        return ret;
                o = json_pack("{s:I,s:s,s:s,s:i,s:s,s:s,s:s}", "id", (json_int_t)row.id, "time",
                              row.time, "process", row.process, "replica", row.replica, "container",
                              row.container, "stream", row.stream, "line", row.line);
                text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                snprintf(id, sizeof(id), "%lld", (long long)row.id);
                if (text == NULL || api_follow_message(f, NULL, id, text, strlen(text)) < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                s->last_id = row.id;
        }
        if (n > 0) {
                f->last_line_ms = ad_monotonic_ms();
                return 1;
        }
        if (PQntuples(app) == 0) {
                static const char gone[] = "{\"event\":\"end\",\"reason\":\"the app is gone\"}";

                api_follow_message(f, "end", NULL, gone, strlen(gone));
                f->ended = true;
                return 1;
        }
        return 0;
}

static void follow_free(void *ud)
{
        struct app_follow *s = ud;

        api_follow_clear(&s->f);
        free(s);
        atomic_fetch_sub(&followers, 1);
}

static bool send_all(int fd, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                p += n;
                len -= (size_t)n;
        }
        return true;
}

static bool ws_control(int fd, int op, const unsigned char *payload, size_t len)
{
        unsigned char frame[10 + 125];
        size_t h = api_ws_header(frame, op, len);

        memcpy(frame + h, payload, len);
        return send_all(fd, frame, h + len);
}

/* Reads what the client sent: false when the connection is over (a close
 * frame, which is answered, end of file, or a frame not acceptable). */
static bool ws_read(int fd, unsigned char *in, size_t *in_len)
{
        struct api_ws_frame f;
        ssize_t n = recv(fd, in + *in_len, API_WS_MAX_PAYLOAD + 14 - *in_len, MSG_DONTWAIT);
        long used;

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return false;
        if (n > 0)
                *in_len += (size_t)n;
        while ((used = api_ws_parse(in, *in_len, &f)) > 0) {
                if (f.op == API_WS_OP_CLOSE) {
                        ws_control(fd, API_WS_OP_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
                        return false;
                }
                if (f.op == API_WS_OP_PING && !ws_control(fd, API_WS_OP_PONG, f.payload, f.len))
                        return false;
                memmove(in, in + used, *in_len - (size_t)used);
                *in_len -= (size_t)used;
        }
        if (used < 0) {
                static const unsigned char protocol_error[2] = { 0x03, 0xea }; /* 1002 */

                ws_control(fd, API_WS_OP_CLOSE, protocol_error, 2);
                return false;
        }
        return true;
}

static void ws_run(void *ud, int fd)
{
        struct api_follow *s = ud;
        unsigned char in[API_WS_MAX_PAYLOAD + 14];
        size_t in_len = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (api_follow_wait(s, 0)) {
                        if (!send_all(fd, s->out.data + s->sent, s->out.len - s->sent))
                                return;
                        s->sent = s->out.len = 0;
                        s->last_write_ms = ad_monotonic_ms();
                        continue;
                }
                if (s->ended || !atomic_load(&s->api->ready)) {
                        static const unsigned char going_away[2] = { 0x03, 0xe9 }; /* 1001 */

                        ws_control(fd, API_WS_OP_CLOSE, going_away, 2);
                        return;
                }
                if (ad_monotonic_ms() - s->last_write_ms >= API_FOLLOW_KEEPALIVE_MS) {
                        if (!ws_control(fd, API_WS_OP_PING, NULL, 0))
                                return;
                        s->last_write_ms = ad_monotonic_ms();
                }
                /* The wait between polls listens to the client. */
                if (poll(&p, 1, API_FOLLOW_POLL_MS) > 0 && !ws_read(fd, in, &in_len))
                        return;
        }
}

static bool has_token(const char *header, const char *token)
{
        size_t n = strlen(token);

        for (const char *p = header; p && *p;) {
                p += strspn(p, " \t,");
                if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || strchr(" \t,", p[n])))
                        return true;
                p = strchr(p, ',');
        }
        return false;
}

/* Starts a follower of call->name (its app row was checked): SSE, or a
 * WebSocket when the request asks for the upgrade. */
void api_app_logs_follow(struct api_call *call, long tail)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *upgrade = ad_httpd_header(call->req, "Upgrade");
        const char *last = ad_httpd_header(call->req, "Last-Event-ID");
        bool ws = upgrade && strcasecmp(upgrade, "websocket") == 0;
        char tail_text[16];
        const char *params[2] = { call->name, tail_text };
        struct app_follow *s;
        char accept[29];
        ad_db *db;
        if (ws) {
                const char *conn = ad_httpd_header(call->req, "Connection");
                const char *version = ad_httpd_header(call->req, "Sec-WebSocket-Version");

                if (!conn || !has_token(conn, "upgrade") || !version ||
                    strcmp(version, "13") != 0 ||
                    !api_ws_accept(ad_httpd_header(call->req, "Sec-WebSocket-Key"), accept)) {
                        ad_httpd_reply_error(call->reply, 400, "invalid_websocket",
                                             "a WebSocket handshake needs Connection: Upgrade, "
                                             "Sec-WebSocket-Version: 13 and a "
                                             "Sec-WebSocket-Key of 16 bytes in base64");
                        return;
                }
        }
        if (atomic_fetch_add(&followers, 1) >= APP_FOLLOW_MAX) {
                atomic_fetch_sub(&followers, 1);
                ad_httpd_reply_error(call->reply, 503, "too_many_followers",
                                     "%d log followers are open: try again later", APP_FOLLOW_MAX);
                return;
        }
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
                atomic_fetch_sub(&followers, 1);
                ad_httpd_reply_error(call->reply, 500, "internal", "out of memory");
                return;
        }
        s->f.api = call->api;
        s->f.ws = ws;
        s->f.poll = follow_poll;
        s->f.last_write_ms = s->f.last_line_ms = ad_monotonic_ms();
        s->f.idle_ms = APP_FOLLOW_IDLE_MS;
        snprintf(s->f.idle_data, sizeof(s->f.idle_data),
                 "{\"event\":\"idle\",\"reason\":\"no new line\"}");
        s->f.error_data = "{\"event\":\"error\",\"reason\":\"the log store is unavailable\"}";
        s->f.gave_up = "app log stream gave up";
        s->f.log_key = "app";
        snprintf(s->app, sizeof(s->app), "%s", call->name);
        s->f.log_value = s->app;
        /* A reconnecting EventSource goes on after the last line it had. */
        if (last && strspn(last, "0123456789") == strlen(last) && *last && strlen(last) < 19) {
                s->last_id = strtoll(last, NULL, 10);
        } else {
                snprintf(tail_text, sizeof(tail_text), "%ld", tail);
                if ((db = api_db_get(call)) == NULL) {
                        follow_free(s);
                        return;
                }
                if (ad_db_exec(db, &r, sql_start, 2, params, &err) < 0) {
                        follow_free(s);
                        api_reply_error(call, "cannot read an app's log", err);
                        return;
                }
                {
                        struct app_line_row start;

                        if (ad_db_read_row(r, 0, start_fields, &start, &err) < 0) {
                                follow_free(s);
                                api_reply_error(call, "cannot read an app's log", err);
                                return;
                        }
                        s->last_id = start.id;
                }
        }
        call->reply->status = 200;
        if (ws) {
                static __thread char accept_header[29];

                memcpy(accept_header, accept, sizeof(accept_header));
                call->reply->headers[0][0] = "Upgrade";
                call->reply->headers[0][1] = "websocket";
                call->reply->headers[1][0] = "Connection";
                call->reply->headers[1][1] = "Upgrade";
                call->reply->headers[2][0] = "Sec-WebSocket-Accept";
                call->reply->headers[2][1] = accept_header;
                call->reply->upgrade = ws_run;
                call->reply->upgrade_ud = &s->f;
                call->reply->upgrade_free = follow_free;
                return;
        }
        api_follow_sse_reply(call, &s->f, follow_free);
}
