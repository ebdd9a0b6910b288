/* GET /deployments/{id}/logs: the build and runtime lines the builder and
 * the deployer stored (deployment_logs), as text or JSON, or followed as
 * Server-Sent Events until the deployment reaches a final status.
 *
 * A follower polls the table (every 300 ms) rather than holding a
 * database connection: it borrows a pooled one for each poll only, so a
 * hundred followers cost no more connections than a hundred requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/buf.h"
#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/status.h"
#include "api.h"
#include "api_follow.h"

#define LOG_BATCH 500
#define LOG_MAX_LINES 50000
#define LOG_LINE_MAX (16 * 1024)

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The status of a deployment ('QUEUED' until the coordinator has it), from
 * the API's read model (migration 009); no row when nobody knows the id.
 * $1: id. */
static const char sql_status[] = "SELECT status FROM api_deployment WHERE id = $1::uuid";

struct status_row {
        const char *status;
};
static const struct ad_db_field status_fields[] = {
        AD_DB_FIELD(struct status_row, status, AD_DB_TEXT, "status"),
        AD_DB_FIELDS_END,
};

/* $1: id, $2: the last seq already sent, $3: how many. */
static const char sql_lines[] = "SELECT seq, source, line, " TS(
        "created_at") " AS time "
                      "FROM deployment_logs WHERE deployment_id = $1 AND seq > $2 "
                      "ORDER BY seq LIMIT $3";

struct line_row {
        int64_t seq;
        const char *source, *line, *time;
};
static const struct ad_db_field line_fields[] = {
        AD_DB_FIELD(struct line_row, seq, AD_DB_INT64, "seq"),
        AD_DB_FIELD(struct line_row, source, AD_DB_TEXT, "source"),
        AD_DB_FIELD(struct line_row, line, AD_DB_TEXT, "line"),
        AD_DB_FIELD(struct line_row, time, AD_DB_TEXT, "time"),
        AD_DB_FIELDS_END,
};

static int buf_str(struct ad_buf *b, const char *s)
{
        return ad_buf_append(b, s, strlen(s));
}

struct log_stream {
        struct api_follow f; /* first: the follower loop's */
        char id[AD_UUID_LEN + 1];
        long long last_seq;
        char follower[API_FOLLOWER_KEY_MAX]; /* api.max_followers_per_token's count */
};

/* One poll: queues new lines ("id: <seq>\ndata: <line>\n\n"), or the end
 * event once the deployment is in a final status and every line is out.
 * Returns 1 when something was queued, 0 when nothing was, < 0 on error. */
static int stream_poll(struct api_follow *f, ad_error_t *err)
{
        struct log_stream *s = (struct log_stream *)f;
        cleanup_pgresult PGresult *st = NULL, *lines = NULL;
        char after[24], batch[16];
        const char *p1[1] = { s->id }, *p3[3] = { s->id, after, batch };
        struct status_row st_row = { "DESTROYED" };
        struct ad_db_rows rows;
        struct line_row row;
        ad_db *db = NULL;
        char status[32], seq[24];
        int ret, n;

        ret = api_pool_get(f->api->pool, &db, 2000, err);
        if (ret < 0)
                return ret;
        /* Status before lines: a final status read here means every line
         * written before it is in the query that follows. */
        ret = ad_db_exec(db, &st, sql_status, 1, p1, err);
        if (ret == 0) {
                snprintf(after, sizeof(after), "%lld", s->last_seq);
                snprintf(batch, sizeof(batch), "%d", LOG_BATCH);
                ret = ad_db_exec(db, &lines, sql_lines, 3, p3, err);
        }
        api_pool_put(f->api->pool, db);
        if (ret == 0 && PQntuples(st))
                ret = ad_db_read_row(st, 0, status_fields, &st_row, err);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, lines, line_fields, err);
        if (ret < 0)
                return ret;
        snprintf(status, sizeof(status), "%s", st_row.status);
        n = PQntuples(lines);
        for (int i = 0; i < n; i++) {
                size_t len;

                ret = ad_db_rows_read(&rows, i, &row, err);
                if (ret < 0)
                        return ret;
                len = strlen(row.line);
                snprintf(seq, sizeof(seq), "%lld", (long long)row.seq);
                if (api_follow_message(f, NULL, seq, row.line,
                                       len > LOG_LINE_MAX ? LOG_LINE_MAX : len) < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                s->last_seq = row.seq;
        }
        if (n > 0) {
                f->last_line_ms = ad_monotonic_ms();
                return 1;
        }
        if (ad_status_final(status)) {
                api_follow_message(f, "end", NULL, status, strlen(status));
                f->ended = true;
                return 1;
        }
        return 0;
}

static void stream_free(void *ud)
{
        struct log_stream *s = ud;

        api_limit_follower_release(s->follower);
        api_follow_clear(&s->f);
        free(s);
}

static bool wants_json(struct api_call *call)
{
        const char *format = ad_httpd_query(call->req, "format");
        const char *accept = ad_httpd_header(call->req, "Accept");

        if (format)
                return strcmp(format, "json") == 0;
        return accept && strstr(accept, "application/json") && !strstr(accept, "text/plain");
}

static bool truthy(const char *v)
{
        return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

/* Where a follower starts: after Last-Event-ID (a reconnecting
 * EventSource) or ?after=, else at the first line. */
static long long follow_start(struct api_call *call)
{
        const char *v = ad_httpd_header(call->req, "Last-Event-ID");
        char *end;
        long long seq;

        if (v == NULL)
                v = ad_httpd_query(call->req, "after");
        if (v == NULL || *v == '\0')
                return 0;
        seq = strtoll(v, &end, 10);
        return *end == '\0' && seq > 0 ? seq : 0;
}

static void reply_stored(struct api_call *call, ad_db *db, const char *status)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char batch[16];
        const char *params[3] = { call->id, "0", batch };
        bool json = wants_json(call);
        struct ad_db_rows rows;
        struct line_row row;
        int n;

        snprintf(batch, sizeof(batch), "%d", LOG_MAX_LINES + 1);
        if (ad_db_exec(db, &r, sql_lines, 3, params, &err) < 0 ||
            ad_db_rows_init(&rows, r, line_fields, &err) < 0) {
                api_reply_error(call, "cannot read logs", err);
                return;
        }
        n = PQntuples(r);
        if (json) {
                json_t *lines = json_array();

                for (int i = 0; i < n && i < LOG_MAX_LINES; i++) {
                        if (ad_db_rows_read(&rows, i, &row, &err) < 0) {
                                json_decref(lines);
                                api_reply_error(call, "cannot read logs", err);
                                return;
                        }
                        json_array_append_new(lines,
                                              json_pack("{s:I,s:s,s:s,s:s}", "seq",
                                                        (json_int_t)row.seq, "source", row.source,
                                                        "time", row.time, "line", row.line));
                }
                ad_httpd_reply_json(call->reply, 200,
                                    json_pack("{s:s,s:s,s:o,s:b}", "id", call->id, "status", status,
                                              "lines", lines, "truncated", n > LOG_MAX_LINES));
                return;
        }
        {
                struct ad_buf b = { 0 };

                for (int i = 0; i < n && i < LOG_MAX_LINES; i++) {
                        if (ad_db_rows_read(&rows, i, &row, &err) < 0) {
                                free(b.data);
                                api_reply_error(call, "cannot read logs", err);
                                return;
                        }
                        if (buf_str(&b, row.line) < 0 || buf_str(&b, "\n") < 0) {
                                free(b.data);
                                ad_httpd_reply_error(call->reply, 500, "internal", "out of memory");
                                return;
                        }
                }
                free(call->reply->body);
                call->reply->status = 200;
                call->reply->content_type = "text/plain; charset=utf-8";
                call->reply->body = b.data ? b.data : strdup("");
                call->reply->body_len = b.len;
        }
}

void api_logs_get(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *params[1] = { call->id };
        struct status_row st;
        struct log_stream *s;
        ad_db *db = api_db_get(call);

        if (db == NULL)
                return;
        snprintf(call->deployment_id, sizeof(call->deployment_id), "%s", call->id);
        if (ad_db_exec(db, &r, sql_status, 1, params, &err) < 0) {
                api_reply_error(call, "cannot look up a deployment", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no deployment %s", call->id);
                return;
        }
        if (ad_db_read_row(r, 0, status_fields, &st, &err) < 0) {
                api_reply_error(call, "cannot look up a deployment", err);
                return;
        }
        if (!truthy(ad_httpd_query(call->req, "follow"))) {
                reply_stored(call, db, st.status);
                return;
        }

        s = calloc(1, sizeof(*s));
        if (s == NULL) {
                ad_httpd_reply_error(call->reply, 500, "internal", "out of memory");
                return;
        }
        if (api_limit_follower_acquire(call, s->follower) < 0) {
                free(s);
                return;
        }
        memcpy(s->id, call->id, sizeof(s->id));
        s->last_seq = follow_start(call);
        s->f.api = call->api;
        s->f.poll = stream_poll;
        s->f.last_write_ms = ad_monotonic_ms();
        s->f.last_line_ms = s->f.last_write_ms;
        s->f.idle_ms = (int64_t)call->api->follower_idle_s * 1000;
        snprintf(s->f.idle_data, sizeof(s->f.idle_data),
                 "no new line for %ld s (api.follower_idle_timeout_s); reconnect with "
                 "Last-Event-ID to follow on",
                 call->api->follower_idle_s);
        s->f.error_data = "the log store is unavailable";
        s->f.gave_up = "log stream gave up";
        s->f.log_key = "deployment_id";
        s->f.log_value = s->id;
        api_follow_sse_reply(call, &s->f, stream_free);
}
