/* Following a container's log: the streamed request and the reader that
 * takes the engine's multiplexed, timestamped stream apart into lines.
 * The reader is a parser of what the engine sends: it is bounded (lines
 * are cut) and fuzzed (tests/fuzz/fuzz_engine_logs.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/engine.h"
#include "ad/http.h"

int64_t ad_engine_parse_rfc3339_ns(const char *s, size_t len)
{
        struct tm tm = { 0 };
        int64_t ns = 0, secs;
        size_t i = 19;
        int digits = 0;

        /* YYYY-MM-DDTHH:MM:SS */
        if (len < 20)
                return -1;
        for (size_t k = 0; k < 19; k++) {
                static const char shape[] = "dddd-dd-ddTdd:dd:dd";

                if (shape[k] == 'd' ? (s[k] < '0' || s[k] > '9') : s[k] != shape[k])
                        return -1;
        }
        tm.tm_year = atoi(s) - 1900;
        tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
        tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
        tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
        tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
        tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
        if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
            tm.tm_min > 59 || tm.tm_sec > 60)
                return -1;
        if (i < len && s[i] == '.') {
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
                        if (digits < 9) {
                                ns = ns * 10 + (s[i] - '0');
                                digits++;
                        }
                if (digits == 0)
                        return -1;
                for (; digits < 9; digits++)
                        ns *= 10;
        }
        secs = (int64_t)timegm(&tm);
        if (i < len && s[i] == 'Z') {
                i++;
        } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
                   s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' && s[i + 2] <= '9' &&
                   s[i + 4] >= '0' && s[i + 4] <= '9' && s[i + 5] >= '0' && s[i + 5] <= '9') {
                int off = ((s[i + 1] - '0') * 10 + (s[i + 2] - '0')) * 3600 +
                          ((s[i + 4] - '0') * 10 + (s[i + 5] - '0')) * 60;

                secs -= s[i] == '+' ? off : -off;
                i += 6;
        } else {
                return -1;
        }
        if (i != len || secs < 0 || secs > 4000000000LL)
                return -1;
        return secs * 1000000000LL + ns;
}

void ad_engine_log_reader_init(struct ad_engine_log_reader *r, ad_engine_log_fn fn, void *ud)
{
        memset(r, 0, sizeof(*r));
        r->fn = fn;
        r->ud = ud;
}

static void emit(struct ad_engine_log_reader *r, int k)
{
        char *l = r->line[k];
        size_t n = r->line_len[k];
        struct ad_engine_log_line out = {
                .stream = k + 1, .ts_ns = r->line_ns[k], .ts_text = r->line_ts[k], .text = l
        };

        if (n && l[n - 1] == '\r')
                n--;
        l[n] = '\0';
        out.len = n;
        r->fn(&out, r->ud);
        r->line_len[k] = 0;
        r->started[k] = false;
}

/* A text byte of stream k (the time of its frame is known). */
static void text_byte(struct ad_engine_log_reader *r, int k, char c)
{
        if (!r->started[k]) {
                r->started[k] = true;
                r->line_ns[k] = r->frame_ns;
                memcpy(r->line_ts[k], r->frame_ts, sizeof(r->frame_ts));
        }
        if (c == '\n') {
                if (!r->cut[k] || r->line_len[k])
                        emit(r, k);
                r->cut[k] = false;
                r->started[k] = false;
                if (r->raw)
                        r->in_ts = true;
                return;
        }
        /* A NUL byte an app wrote would end the line's C string early and
         * is refused by PostgreSQL's text: dropped. */
        if (c == '\0' || r->cut[k])
                return;
        if (r->line_len[k] == AD_ENGINE_LOG_LINE_MAX) {
                emit(r, k);
                r->cut[k] = true;
                return;
        }
        r->line[k][r->line_len[k]++] = c;
}

/* The time at the start of a frame ends at its first space; something
 * else there is text (with no time). */
static void ts_end(struct ad_engine_log_reader *r, int k, bool space)
{
        int64_t ns = space ? ad_engine_parse_rfc3339_ns(r->ts, r->ts_len) : -1;

        r->in_ts = false;
        if (ns >= 0) {
                r->frame_ns = ns;
                memcpy(r->frame_ts, r->ts, r->ts_len);
                r->frame_ts[r->ts_len] = '\0';
                r->ts_len = 0;
                return;
        }
        r->frame_ns = 0;
        r->frame_ts[0] = '\0';
        for (size_t i = 0; i < r->ts_len; i++)
                text_byte(r, k, r->ts[i]);
        if (space)
                text_byte(r, k, ' ');
        r->ts_len = 0;
}

static void payload(struct ad_engine_log_reader *r, int stream, const char *data, size_t len)
{
        int k = stream == 2 ? 1 : 0;

        for (size_t i = 0; i < len; i++) {
                if (r->in_ts) {
                        if (data[i] == ' ') {
                                ts_end(r, k, true);
                                continue;
                        }
                        if (data[i] != '\n' && r->ts_len < sizeof(r->ts) - 1) {
                                r->ts[r->ts_len++] = data[i];
                                continue;
                        }
                        ts_end(r, k, false);
                }
                text_byte(r, k, data[i]);
        }
}

void ad_engine_log_reader_feed(struct ad_engine_log_reader *r, const char *data, size_t len)
{
        while (len > 0) {
                if (r->raw) {
                        payload(r, 1, data, len);
                        return;
                }
                if (r->remain > 0) {
                        size_t n = len < r->remain ? len : r->remain;

                        payload(r, r->stream, data, n);
                        r->remain -= (uint32_t)n;
                        data += n;
                        len -= n;
                        if (r->remain == 0 && r->in_ts)
                                ts_end(r, r->stream == 2 ? 1 : 0, false);
                        continue;
                }
                r->hdr[r->hdr_len++] = (unsigned char)*data++;
                len--;
                /* Not a frame header: the stream is not multiplexed. */
                if (r->hdr[0] > 2 ||
                    (r->hdr_len > 1 && r->hdr_len <= 4 && r->hdr[r->hdr_len - 1] != 0)) {
                        r->raw = true;
                        r->in_ts = true;
                        payload(r, 1, (const char *)r->hdr, r->hdr_len);
                        r->hdr_len = 0;
                        continue;
                }
                if (r->hdr_len == 8) {
                        r->stream = r->hdr[0];
                        r->remain = (uint32_t)r->hdr[4] << 24 | (uint32_t)r->hdr[5] << 16 |
                                    (uint32_t)r->hdr[6] << 8 | (uint32_t)r->hdr[7];
                        r->hdr_len = 0;
                        r->in_ts = r->remain > 0;
                }
        }
}

void ad_engine_log_reader_end(struct ad_engine_log_reader *r)
{
        if (r->in_ts)
                ts_end(r, r->raw ? 0 : (r->stream == 2 ? 1 : 0), false);
        for (int k = 0; k < 2; k++)
                if (r->line_len[k])
                        emit(r, k);
}
