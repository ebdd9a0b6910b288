/* Build log lines: see builder_log.h. */
#include "builder_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/event.h"

/* After this many failed inserts the database is left alone for the rest
 * of the build: the NATS stream and the tail still get every line. */
#define MAX_DB_FAILURES 3

struct stored_row {
        int64_t lines;
};
static const struct ad_db_field stored_fields[] = {
        AD_DB_FIELD(struct stored_row, lines, AD_DB_INT64, "lines"),
        AD_DB_FIELDS_END,
};

void builder_log_open(struct builder_log *log, ad_bus *bus, ad_db *db, const char *deployment_id,
                      long max_lines)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[1] = { deployment_id };
        struct stored_row row;

        memset(log, 0, sizeof(*log));
        log->bus = bus;
        log->db = db;
        log->deployment_id = deployment_id;
        log->max_lines = max_lines;
        snprintf(log->subject, sizeof(log->subject), "%s.%s", AD_SUBJECT_LOGS, deployment_id);
        if (db &&
            ad_db_exec(db, &r,
                       "SELECT count(*) AS lines FROM deployment_logs "
                       "WHERE deployment_id = $1 AND source = 'build'",
                       1, params, NULL) == 0 &&
            PQntuples(r) == 1 && ad_db_read_row(r, 0, stored_fields, &row, NULL) == 0)
                log->stored = (long)row.lines;
}

static void store(struct builder_log *log, const char *line)
{
        const char *params[2] = { log->deployment_id, line };

        if (log->db == NULL || log->db_failures >= MAX_DB_FAILURES)
                return;
        if (ad_db_exec(log->db, NULL,
                       "INSERT INTO deployment_logs (deployment_id, source, line) "
                       "VALUES ($1, 'build', $2)",
                       2, params, NULL) < 0)
                log->db_failures++;
        else
                log->stored++;
}

/* PostgreSQL text must be valid UTF-8 without NULs: replace what is not. */
static void sanitize(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                size_t n = 0;

                if (*p < 0x80)
                        n = 1;
                else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
                        n = 2;
                else if ((*p & 0xf0) == 0xe0)
                        n = 3;
                else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
                        n = 4;
                for (size_t i = 1; i < n; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                n = 0;
                /* Overlong forms, UTF-16 surrogates, past U+10FFFF. */
                if ((n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) ||
                    (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))))
                        n = 0;
                if (n == 0) {
                        *p++ = '?';
                        continue;
                }
                if (n == 1 && *p < 0x20 && *p != '\t')
                        *p = ' ';
                p += n;
        }
}

void builder_log_line(struct builder_log *log, const char *line)
{
        char *copy = strndup(line, BUILDER_LOG_LINE_MAX);

        if (copy == NULL)
                return;
        sanitize(copy);
        log->seen++;
        free(log->tail[log->tail_next]);
        log->tail[log->tail_next] = strdup(copy);
        log->tail_next = (log->tail_next + 1) % BUILDER_LOG_TAIL;

        if (log->stored < log->max_lines) {
                if (log->bus)
                        ad_bus_publish_core(log->bus, log->subject, copy, strlen(copy), NULL);
                store(log, copy);
        } else if (log->stored == log->max_lines) {
                char note[128];

                snprintf(note, sizeof(note),
                         "[build log truncated: more than %ld lines, the rest is not kept]",
                         log->max_lines);
                if (log->bus)
                        ad_bus_publish_core(log->bus, log->subject, note, strlen(note), NULL);
                store(log, note);
                /* Counted even when the insert failed: say it once. */
                if (log->stored == log->max_lines)
                        log->stored++;
        }
        free(copy);
}

void builder_log_linef(struct builder_log *log, const char *fmt, ...)
{
        char line[BUILDER_LOG_LINE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        builder_log_line(log, line);
}

char *builder_log_tail(const struct builder_log *log, size_t max_lines)
{
        size_t n = max_lines < BUILDER_LOG_TAIL ? max_lines : BUILDER_LOG_TAIL, len = 0;
        char *out;

        for (size_t i = 0; i < BUILDER_LOG_TAIL; i++)
                if (log->tail[i])
                        len += strlen(log->tail[i]) + 1;
        out = malloc(len + 1);
        if (out == NULL)
                return NULL;
        out[0] = '\0';
        len = 0;
        /* Oldest first: the ring's next slot holds the oldest line. */
        for (size_t k = BUILDER_LOG_TAIL - n; k < BUILDER_LOG_TAIL; k++) {
                const char *l = log->tail[(log->tail_next + k) % BUILDER_LOG_TAIL];
                size_t ll;

                if (l == NULL)
                        continue;
                ll = strlen(l);
                if (len)
                        out[len++] = '\n';
                memcpy(out + len, l, ll);
                len += ll;
                out[len] = '\0';
        }
        return out;
}

void builder_log_close(struct builder_log *log)
{
        for (size_t i = 0; i < BUILDER_LOG_TAIL; i++) {
                free(log->tail[i]);
                log->tail[i] = NULL;
        }
}
