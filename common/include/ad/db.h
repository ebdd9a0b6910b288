/* The database: PostgreSQL through libpq, with versioned migrations
 * embedded in the binaries (common/migrations/NNN_name.sql) and applied at
 * start-up under an advisory lock, so replicas starting together apply
 * each migration exactly once. */
#ifndef AD_DB_H
#define AD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

struct ad_migration {
        int version;
        const char *name;
        const char *sql;
};

extern const struct ad_migration ad_migrations[];
extern const size_t ad_migrations_count;

typedef struct ad_db ad_db;

int ad_db_connect(ad_db **out, const char *conninfo, ad_error_t *err);
void ad_db_close(ad_db *db);
PGconn *ad_db_conn(ad_db *db);

/* Runs sql with text parameters.  *out (optional) receives the result,
 * which the caller PQclear()s.  A lost connection is re-established once
 * before giving up; failures map to AD_ERR_UNAVAILABLE (server away),
 * AD_ERR_CONFLICT (unique violation, serialization failure) or
 * AD_ERR_GENERIC, with PostgreSQL's own message. */
int ad_db_exec(ad_db *db, PGresult **out, const char *sql, int nparams, const char *const *params,
               ad_error_t *err);

/* A BEGIN that fails on a connection the server closed (a PostgreSQL
 * restart since the last statement) is sent once more on a fresh one. */
int ad_db_begin(ad_db *db, ad_error_t *err);
int ad_db_commit(ad_db *db, ad_error_t *err);
void ad_db_rollback(ad_db *db);

/* Applies the migrations not yet applied; *applied (optional) gets how
 * many were. */
int ad_db_migrate(ad_db *db, const struct ad_migration *migrations, size_t n, int *applied,
                  ad_error_t *err);

/* Idempotent consumers: whether (consumer, event_id) is already done, and
 * recording that it is (a second mark is a no-op). */
int ad_db_event_seen(ad_db *db, const char *consumer, const char *event_id, bool *seen,
                     ad_error_t *err);
int ad_db_event_mark(ad_db *db, const char *consumer, const char *event_id, ad_error_t *err);

/* True when a trivial query answers. */
int ad_db_ping(ad_db *db);

static inline void ad_pgresult_clearp(PGresult **r)
{
        if (*r)
                PQclear(*r);
}
#define cleanup_pgresult __attribute__((cleanup(ad_pgresult_clearp)))

#endif
