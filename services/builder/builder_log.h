/* A deployment's build log: every line goes live to the core NATS subject
 * logs.<deployment id> (one line per message) and into deployment_logs
 * (source "build"), at most max_lines per deployment, counting lines a
 * previous attempt already stored.  The last BUILDER_LOG_TAIL lines are
 * kept for the deploy.failed reason.
 *
 * Logging is best effort: a lost line never fails a build.
 */
#ifndef AD_BUILDER_LOG_H
#define AD_BUILDER_LOG_H

#include <stddef.h>

#include "ad/bus.h"
#include "ad/db.h"

#define BUILDER_LOG_TAIL 20
#define BUILDER_LOG_LINE_MAX 4096

struct builder_log {
        ad_bus *bus;
        ad_db *db;
        const char *deployment_id;
        char subject[64];
        long max_lines;
        long stored; /* lines in deployment_logs for this deployment */
        long seen;   /* lines given to builder_log_line */
        int db_failures;
        char *tail[BUILDER_LOG_TAIL]; /* ring */
        size_t tail_next;
};

/* Counts the lines already stored (a redelivered build goes on from there). */
void builder_log_open(struct builder_log *log, ad_bus *bus, ad_db *db, const char *deployment_id,
                      long max_lines);

/* One line, without its newline; longer lines are cut at
 * BUILDER_LOG_LINE_MAX bytes. */
void builder_log_line(struct builder_log *log, const char *line);

/* printf-style, for the builder's own lines ("cloning ..."). */
void builder_log_linef(struct builder_log *log, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* The last lines, joined with '\n' (caller frees); "" when none. */
char *builder_log_tail(const struct builder_log *log, size_t max_lines);

void builder_log_close(struct builder_log *log);

#endif
