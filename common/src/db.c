#include "ad/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ad_db {
        PGconn *conn;
        int in_tx;
};

static int pg_conn_error(ad_error_t *err, PGconn *conn, const char *what)
{
        const char *m = conn ? PQerrorMessage(conn) : "out of memory";
        size_t l = strlen(m);

        while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
                l--;
        return ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "%s: %.*s", what, (int)l, m);
}

int ad_db_connect(ad_db **out, const char *conninfo, ad_error_t *err)
{
        ad_db *db;
        PGresult *r;

        db = calloc(1, sizeof(*db));
        if (db == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        db->conn = PQconnectdb(conninfo);
        if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
                int ret = pg_conn_error(err, db->conn, "cannot connect to PostgreSQL");
                ad_db_close(db);
                return ret;
        }
        /* Quiet NOTICEs (e.g. "relation already exists, skipping"). */
        r = PQexec(db->conn, "SET client_min_messages = warning");
        PQclear(r);
        *out = db;
        return 0;
}

void ad_db_close(ad_db *db)
{
        if (db == NULL)
                return;
        PQfinish(db->conn);
        free(db);
}

PGconn *ad_db_conn(ad_db *db)
{
        return db->conn;
}

static int result_error(ad_error_t *err, PGresult *r, const char *sql)
{
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        int kind = AD_ERR_GENERIC;
        char first[48];

        if (state && (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0 ||
                      strcmp(state, "40P01") == 0))
                kind = AD_ERR_CONFLICT;
        else if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))
                kind = AD_ERR_UNAVAILABLE;
        snprintf(first, sizeof(first), "%s", sql);
        for (char *p = first; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        return ad_error_make(err, kind, 0, "SQL `%s...` failed: %s (SQLSTATE %s)", first,
                             msg ? msg : PQresStatus(PQresultStatus(r)), state ? state : "?");
}

int ad_db_exec(ad_db *db, PGresult **out, const char *sql, int nparams, const char *const *params,
               ad_error_t *err)
{
        PGresult *r;
        ExecStatusType st;

        if (PQstatus(db->conn) != CONNECTION_OK) {
                /* Never reconnect inside a transaction: its work is lost
                 * and the caller must start over. */
                if (db->in_tx)
                        return pg_conn_error(err, db->conn,
                                             "PostgreSQL connection lost in a transaction");
                PQreset(db->conn);
                if (PQstatus(db->conn) != CONNECTION_OK)
                        return pg_conn_error(err, db->conn, "PostgreSQL is unreachable");
        }
        /* Without parameters, use the simple protocol: it allows several
         * statements in one string (migrations). */
        if (nparams == 0)
                r = PQexec(db->conn, sql);
        else
                r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        st = PQresultStatus(r);
        if (r == NULL || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
                int ret;

                if (r == NULL || PQstatus(db->conn) != CONNECTION_OK) {
                        ret = pg_conn_error(err, db->conn, "PostgreSQL connection lost");
                        db->in_tx = 0;
                } else {
                        ret = result_error(err, r, sql);
                }
                PQclear(r);
                return ret;
        }
        if (out)
                *out = r;
        else
                PQclear(r);
        return 0;
}

int ad_db_begin(ad_db *db, ad_error_t *err)
{
        ad_error_t first = NULL;
        int ret = ad_db_exec(db, NULL, "BEGIN", 0, NULL, &first);

        /* The server restarted since our last statement: libpq learns it
         * only now, on a socket the old server closed.  A BEGIN that never
         * ran is safe to send again on a fresh connection (ad_db_exec
         * resets it); other statements are not retried here, since one
         * may have committed before the connection broke. */
        if (ret < 0 && PQstatus(db->conn) != CONNECTION_OK) {
                ad_error_release(&first);
                ret = ad_db_exec(db, NULL, "BEGIN", 0, NULL, err);
        } else if (ret < 0) {
                if (err && *err == NULL)
                        *err = first;
                else
                        ad_error_release(&first);
        }

        if (ret == 0)
                db->in_tx = 1;
        return ret;
}

int ad_db_commit(ad_db *db, ad_error_t *err)
{
        int ret = ad_db_exec(db, NULL, "COMMIT", 0, NULL, err);

        db->in_tx = 0;
        return ret;
}

void ad_db_rollback(ad_db *db)
{
        PGresult *r;

        if (!db->in_tx)
                return;
        r = PQexec(db->conn, "ROLLBACK");
        PQclear(r);
        db->in_tx = 0;
}

/* *all: every migration is in schema_migrations; *may_create: the role
 * may create tables in the schema (so it may apply them). */
static int migrations_state(ad_db *db, const struct ad_migration *migrations, size_t n, bool *all,
                            bool *may_create, ad_error_t *err)
{
        PGresult *r = NULL;
        long have = 0;
        int ret;

        /* A table this role may not read yet (the grant comes with a
         * migration not applied yet) counts as missing. */
        ret = ad_db_exec(db, &r,
                         "SELECT coalesce(has_table_privilege(to_regclass('schema_migrations'), "
                         "'SELECT'), false), has_schema_privilege(current_schema(), 'CREATE')",
                         0, NULL, err);
        if (ret < 0)
                return ret;
        *may_create = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
                PQclear(r);
                *all = false;
                return 0;
        }
        PQclear(r);
        for (size_t i = 0; i < n; i++) {
                char version[16];
                const char *params[1] = { version };

                snprintf(version, sizeof(version), "%d", migrations[i].version);
                ret = ad_db_exec(db, &r, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                 params, err);
                if (ret < 0)
                        return ret;
                have += PQntuples(r) > 0;
                PQclear(r);
        }
        *all = (size_t)have == n;
        return 0;
}

int ad_db_migrate(ad_db *db, const struct ad_migration *migrations, size_t n, int *applied,
                  ad_error_t *err)
{
        int count = 0, ret;

        ret = ad_db_begin(db, err);
        if (ret < 0)
                return ad_error_wrap(err, "migrations");
        /* One migrator at a time across all replicas of all services, and
         * the lock comes first: even CREATE TABLE IF NOT EXISTS races when
         * several services start at once on an empty database (two
         * creators, one fails on the catalog's unique index). */
        ret = ad_db_exec(db, NULL, "SELECT pg_advisory_xact_lock(7420001)", 0, NULL, err);
        /* All applied: nothing to create (a role with no CREATE on the
         * schema, the analyzer's, starts here); some missing and this role
         * may not apply them: AD_ERR_UNAVAILABLE, for the caller to wait
         * until another service has. */
        if (ret == 0) {
                bool all = false, may_create = true;

                ret = migrations_state(db, migrations, n, &all, &may_create, err);
                if (ret == 0 && all) {
                        ret = ad_db_commit(db, err);
                        if (ret == 0 && applied)
                                *applied = 0;
                        return ret;
                }
                if (ret == 0 && !may_create) {
                        ad_db_rollback(db);
                        return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                             "migrations are not all applied and this role may "
                                             "not apply them (another service will)");
                }
        }
        if (ret == 0)
                ret = ad_db_exec(db, NULL,
                                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                 " version integer PRIMARY KEY,"
                                 " name text NOT NULL,"
                                 " applied_at timestamptz NOT NULL DEFAULT now())",
                                 0, NULL, err);
        for (size_t i = 0; ret == 0 && i < n; i++) {
                PGresult *r = NULL;
                char version[16];
                const char *params[2] = { version, migrations[i].name };

                snprintf(version, sizeof(version), "%d", migrations[i].version);
                ret = ad_db_exec(db, &r, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                 params, err);
                if (ret < 0)
                        break;
                int done = PQntuples(r) > 0;
                PQclear(r);
                if (done)
                        continue;
                ret = ad_db_exec(db, NULL, migrations[i].sql, 0, NULL, err);
                if (ret < 0) {
                        ad_error_wrap(err, "migration %s", migrations[i].name);
                        break;
                }
                ret = ad_db_exec(db, NULL,
                                 "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                                 params, err);
                count++;
        }
        if (ret < 0) {
                ad_db_rollback(db);
                return ret;
        }
        ret = ad_db_commit(db, err);
        if (ret == 0 && applied)
                *applied = count;
        return ret;
}

int ad_db_event_seen(ad_db *db, const char *consumer, const char *event_id, bool *seen,
                     ad_error_t *err)
{
        const char *params[2] = { consumer, event_id };
        PGresult *r = NULL;
        int ret;

        ret = ad_db_exec(db, &r,
                         "SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2", 2,
                         params, err);
        if (ret < 0)
                return ret;
        *seen = PQntuples(r) > 0;
        PQclear(r);
        return 0;
}

int ad_db_event_mark(ad_db *db, const char *consumer, const char *event_id, ad_error_t *err)
{
        const char *params[2] = { consumer, event_id };

        return ad_db_exec(db, NULL,
                          "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
                          "ON CONFLICT DO NOTHING",
                          2, params, err);
}

int ad_db_ping(ad_db *db)
{
        PGresult *r;
        int ok;

        if (db == NULL)
                return 0;
        if (PQstatus(db->conn) != CONNECTION_OK)
                PQreset(db->conn);
        r = PQexec(db->conn, "SELECT 1");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        return ok;
}

static size_t type_size(enum ad_db_type t)
{
        switch (t) {
        case AD_DB_TEXT:
        case AD_DB_TEXT_NULL:
                return sizeof(const char *);
        case AD_DB_INT:
                return sizeof(int);
        case AD_DB_INT64:
                return sizeof(int64_t);
        case AD_DB_UINT32:
                return sizeof(uint32_t);
        case AD_DB_DOUBLE:
                return sizeof(double);
        case AD_DB_BOOL:
                return sizeof(bool);
        }
        return 0;
}

int ad_db_rows_init(struct ad_db_rows *rows, const PGresult *r, const struct ad_db_field *fields,
                    ad_error_t *err)
{
        size_t i;

        for (i = 0; fields[i].column; i++) {
                if (i == AD_DB_FIELDS_MAX)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "a row of more than %d fields",
                                             AD_DB_FIELDS_MAX);
                if (fields[i].size != type_size(fields[i].type))
                        return ad_error_make(err, AD_ERR_GENERIC, 0,
                                             "column `%s`: the member's size (%zu) is not its "
                                             "type's",
                                             fields[i].column, fields[i].size);
                rows->col[i] = PQfnumber(r, fields[i].column);
                if (rows->col[i] < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0,
                                             "the query returns no column `%s`", fields[i].column);
        }
        rows->r = r;
        rows->fields = fields;
        return 0;
}

static int bad_value(const struct ad_db_field *f, const char *v, const char *what, ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_GENERIC, 0, "column `%s`: `%.40s` is not %s", f->column, v,
                             what);
}

static int read_int(const struct ad_db_field *f, const char *v, long long min, long long max,
                    long long *out, ad_error_t *err)
{
        char *end;
        long long n;

        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end != '\0' || n < min || n > max)
                return bad_value(f, v, "an integer in range", err);
        *out = n;
        return 0;
}

int ad_db_rows_read(const struct ad_db_rows *rows, int row, void *out, ad_error_t *err)
{
        if (row < 0 || row >= PQntuples(rows->r))
                return ad_error_make(err, AD_ERR_GENERIC, 0, "no row %d in a result of %d", row,
                                     PQntuples(rows->r));
        for (size_t i = 0; rows->fields[i].column; i++) {
                const struct ad_db_field *f = &rows->fields[i];
                char *m = (char *)out + f->offset;
                bool null = PQgetisnull(rows->r, row, rows->col[i]);
                const char *v = PQgetvalue(rows->r, row, rows->col[i]);
                long long n = 0;
                int ret = 0;

                switch (f->type) {
                case AD_DB_TEXT:
                case AD_DB_TEXT_NULL: {
                        const char *t = null && f->type == AD_DB_TEXT_NULL ? NULL : v;

                        memcpy(m, &t, sizeof(t));
                        break;
                }
                case AD_DB_INT:
                        if (!null)
                                ret = read_int(f, v, INT32_MIN, INT32_MAX, &n, err);
                        *(int *)(void *)m = (int)n;
                        break;
                case AD_DB_INT64:
                        if (!null)
                                ret = read_int(f, v, INT64_MIN, INT64_MAX, &n, err);
                        *(int64_t *)(void *)m = n;
                        break;
                case AD_DB_UINT32:
                        if (!null)
                                ret = read_int(f, v, 0, UINT32_MAX, &n, err);
                        *(uint32_t *)(void *)m = (uint32_t)n;
                        break;
                case AD_DB_DOUBLE: {
                        double d = 0;
                        char *end;

                        if (!null) {
                                errno = 0;
                                d = strtod(v, &end);
                                if (errno || end == v || *end != '\0')
                                        ret = bad_value(f, v, "a number", err);
                        }
                        *(double *)(void *)m = d;
                        break;
                }
                case AD_DB_BOOL:
                        if (!null && strcmp(v, "t") != 0 && strcmp(v, "f") != 0)
                                ret = bad_value(f, v, "a boolean", err);
                        *(bool *)(void *)m = !null && v[0] == 't';
                        break;
                }
                if (ret < 0)
                        return ret;
        }
        return 0;
}

int ad_db_read_row(const PGresult *r, int row, const struct ad_db_field *fields, void *out,
                   ad_error_t *err)
{
        struct ad_db_rows rows;
        int ret = ad_db_rows_init(&rows, r, fields, err);

        return ret < 0 ? ret : ad_db_rows_read(&rows, row, out, err);
}
