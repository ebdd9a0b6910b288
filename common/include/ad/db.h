/* The database: PostgreSQL through libpq, with versioned migrations
 * embedded in the binaries (common/migrations/NNN_name.sql) and applied at
 * start-up under an advisory lock, so replicas starting together apply
 * each migration exactly once. */
#ifndef AD_DB_H
#define AD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Typed rows with named columns (docs/architecture.md, "Data access by
 * owner"): a table's owner declares the row it reads as a struct and a
 * table of fields, each naming its column; the columns are looked up once
 * per result (PQfnumber) and every value is converted with a check, so a
 * reordered SELECT cannot shift values into the wrong members and a
 * malformed number is an error, never a silent 0.
 *
 *   struct dep { const char *status; int64_t version; };
 *   static const struct ad_db_field dep_fields[] = {
 *           AD_DB_FIELD(struct dep, status, AD_DB_TEXT, "status"),
 *           AD_DB_FIELD(struct dep, version, AD_DB_INT64, "version"),
 *           AD_DB_FIELDS_END,
 *   };
 *   ret = ad_db_read_row(r, 0, dep_fields, &d, err);
 *
 * SQL NULL reads as "" (AD_DB_TEXT, as PQgetvalue), NULL (AD_DB_TEXT_NULL),
 * 0 (numbers) or false. */
enum ad_db_type {
        AD_DB_TEXT,      /* const char *: points into the result, valid while it is */
        AD_DB_TEXT_NULL, /* the same, NULL for SQL NULL */
        AD_DB_INT,       /* int */
        AD_DB_INT64,     /* int64_t */
        AD_DB_UINT32,    /* uint32_t: a negative value is an error */
        AD_DB_DOUBLE,    /* double */
        AD_DB_BOOL,      /* bool: PostgreSQL's t or f */
};

struct ad_db_field {
        const char *column; /* as the result names it (`AS name` for an expression) */
        enum ad_db_type type;
        size_t offset, size; /* of the member: AD_DB_FIELD fills them */
};

#define AD_DB_FIELD(type_of_row, member, db_type, column_name)                                     \
        {                                                                                          \
                .column = (column_name), .type = (db_type),                                        \
                .offset = offsetof(type_of_row, member),                                           \
                .size = sizeof(((type_of_row *)0)->member)                                         \
        }
#define AD_DB_FIELDS_END                                                                           \
        {                                                                                          \
                .column = NULL                                                                     \
        }
#define AD_DB_FIELDS_MAX 32

/* A result's columns for a field table, looked up once. */
struct ad_db_rows {
        const PGresult *r;
        const struct ad_db_field *fields;
        int col[AD_DB_FIELDS_MAX];
};

/* Finds the column of every field in r; AD_ERR_GENERIC naming the column
 * when r has none of that name, or a member's size does not fit its type
 * (the query and its reader disagree: a programming error the tests
 * meet). */
int ad_db_rows_init(struct ad_db_rows *rows, const PGresult *r, const struct ad_db_field *fields,
                    ad_error_t *err);
/* Fills the struct at out from row `row`; AD_ERR_GENERIC naming the column
 * and the value when one does not convert. */
int ad_db_rows_read(const struct ad_db_rows *rows, int row, void *out, ad_error_t *err);
/* Both, for one row of a result read once. */
int ad_db_read_row(const PGresult *r, int row, const struct ad_db_field *fields, void *out,
                   ad_error_t *err);

/* True when a trivial query answers. */
int ad_db_ping(ad_db *db);

static inline void ad_pgresult_clearp(PGresult **r)
{
        if (*r)
                PQclear(*r);
}
#define cleanup_pgresult __attribute__((cleanup(ad_pgresult_clearp)))

#endif
