/* The database layer against a real PostgreSQL (from the stack).  Each
 * test group works in a database of its own, created and dropped here. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/stack.h"
#include "ad/db.h"
#include "ad/event.h"

static char dbname[64];
static char dburl[512];

/* The stack's URL ends in /appdeployer (and its options, ?sslmode=...);
 * point it at our own database, with the same options. */
static void make_url(char *out, size_t size, const char *name)
{
        const char *base = stack_env("AD_DATABASE_URL");
        const char *slash = strrchr(base, '/');
        const char *query = strchr(slash, '?');

        snprintf(out, size, "%.*s/%s%s", (int)(slash - base), base, name, query ? query : "");
}

static int group_setup(void **state)
{
        char id[AD_UUID_LEN + 1], sql[128];
        ad_db *admin = NULL;
        ad_error_t err = NULL;

        (void)state;
        ad_uuid_v4(id);
        snprintf(dbname, sizeof(dbname), "adtest_%.8s", id);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
        if (ad_db_connect(&admin, stack_env("AD_DATABASE_URL"), &err) < 0 ||
            ad_db_exec(admin, NULL, sql, 0, NULL, &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        ad_db_close(admin);
        make_url(dburl, sizeof(dburl), dbname);
        return 0;
}

static int group_teardown(void **state)
{
        char sql[128];
        ad_db *admin = NULL;

        (void)state;
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        if (ad_db_connect(&admin, stack_env("AD_DATABASE_URL"), NULL) == 0)
                ad_db_exec(admin, NULL, sql, 0, NULL, NULL);
        ad_db_close(admin);
        return 0;
}

static ad_db *open_db(void)
{
        ad_db *db = NULL;
        ad_error_t err = NULL;

        if (ad_db_connect(&db, dburl, &err) < 0)
                fail_msg("connect: %s", ad_error_message(err));
        return db;
}

static long count(ad_db *db, const char *sql)
{
        PGresult *r = NULL;
        ad_error_t err = NULL;
        long n;

        if (ad_db_exec(db, &r, sql, 0, NULL, &err) < 0)
                fail_msg("%s: %s", sql, ad_error_message(err));
        n = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
        return n;
}

static void test_migrations_twice_is_a_noop(void **state)
{
        ad_db *db = open_db();
        ad_error_t err = NULL;
        int applied = -1;
        long tables;

        (void)state;
        assert_true(ad_migrations_count > 0);
        assert_int_equal(ad_db_migrate(db, ad_migrations, ad_migrations_count, &applied, &err), 0);
        assert_int_equal(applied, (int)ad_migrations_count);
        tables = count(
                db, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
        assert_true(tables >= 9);
        assert_int_equal(count(db, "SELECT count(*) FROM schema_migrations"),
                         (long)ad_migrations_count);

        assert_int_equal(ad_db_migrate(db, ad_migrations, ad_migrations_count, &applied, &err), 0);
        assert_int_equal(applied, 0);
        assert_int_equal(count(db, "SELECT count(*) FROM information_schema.tables WHERE "
                                   "table_schema = 'public'"),
                         tables);
        assert_int_equal(count(db, "SELECT count(*) FROM schema_migrations"),
                         (long)ad_migrations_count);
        ad_db_close(db);
}

static struct ad_migration all[64];
static size_t nall;

static void *migrate_thread(void *arg)
{
        ad_db *db = NULL;
        int *applied = arg;

        if (ad_db_connect(&db, dburl, NULL) == 0 &&
            ad_db_migrate(db, all, nall, applied, NULL) == 0) {
                ad_db_close(db);
                return NULL;
        }
        ad_db_close(db);
        *applied = -1;
        return NULL;
}

static void test_concurrent_migrators_apply_once(void **state)
{
        /* A later migration that must run exactly once: it fails if run
         * twice (CREATE TABLE without IF NOT EXISTS). */
        static const struct ad_migration extra[] = {
                { 9001, "9001_once",
                  "CREATE TABLE only_once (x int); INSERT INTO only_once VALUES (1);" },
        };
        pthread_t t[4];
        int applied[4], total = 0;
        ad_db *db;

        (void)state;
        assert_true(ad_migrations_count + 1 <= 64);
        memcpy(all, ad_migrations, ad_migrations_count * sizeof(all[0]));
        all[ad_migrations_count] = extra[0];
        nall = ad_migrations_count + 1;
        for (int i = 0; i < 4; i++) {
                applied[i] = 0;
                pthread_create(&t[i], NULL, migrate_thread, &applied[i]);
        }
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < 4; i++) {
                assert_true(applied[i] >= 0);
                total += applied[i];
        }
        /* The base migrations were applied by the test before: exactly one
         * of the four migrators applied the new one, once. */
        assert_int_equal(total, 1);
        db = open_db();
        assert_int_equal(count(db, "SELECT count(*) FROM only_once"), 1);
        ad_db_close(db);
}

/* Every service migrates at start-up; on a fresh machine they all start at
 * once on an empty database.  Six migrators (one per service), on a new
 * database each round: all succeed and every migration is applied once. */
static void test_concurrent_migrators_on_empty_database(void **state)
{
        enum { MIGRATORS = 6, ROUNDS = 5 };

        (void)state;
        memcpy(all, ad_migrations, ad_migrations_count * sizeof(all[0]));
        nall = ad_migrations_count;
        for (int round = 0; round < ROUNDS; round++) {
                char saved[sizeof(dburl)], name[64], id[AD_UUID_LEN + 1], sql[160];
                pthread_t t[MIGRATORS];
                int applied[MIGRATORS], total = 0;
                ad_db *admin = open_db(), *db;

                ad_uuid_v4(id);
                snprintf(name, sizeof(name), "adfresh_%.8s", id);
                snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
                assert_int_equal(ad_db_exec(admin, NULL, sql, 0, NULL, NULL), 0);
                memcpy(saved, dburl, sizeof(saved));
                make_url(dburl, sizeof(dburl), name);
                for (int i = 0; i < MIGRATORS; i++) {
                        applied[i] = 0;
                        pthread_create(&t[i], NULL, migrate_thread, &applied[i]);
                }
                for (int i = 0; i < MIGRATORS; i++)
                        pthread_join(t[i], NULL);
                db = open_db();
                assert_int_equal(count(db, "SELECT count(*) FROM schema_migrations"),
                                 (long)ad_migrations_count);
                ad_db_close(db);
                memcpy(dburl, saved, sizeof(dburl));
                snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
                ad_db_exec(admin, NULL, sql, 0, NULL, NULL);
                ad_db_close(admin);
                for (int i = 0; i < MIGRATORS; i++) {
                        if (applied[i] < 0)
                                fail_msg("round %d: migrator %d failed on an empty database", round,
                                         i);
                        total += applied[i];
                }
                assert_int_equal(total, (int)ad_migrations_count);
        }
}

static void test_transactions(void **state)
{
        ad_db *db = open_db();
        ad_error_t err = NULL;
        const char *p[] = { "t-1" };

        (void)state;
        assert_int_equal(ad_db_exec(db, NULL,
                                    "CREATE TABLE IF NOT EXISTS tx_test (k text PRIMARY KEY)", 0,
                                    NULL, &err),
                         0);
        assert_int_equal(ad_db_begin(db, &err), 0);
        assert_int_equal(ad_db_exec(db, NULL, "INSERT INTO tx_test VALUES ($1)", 1, p, &err), 0);
        ad_db_rollback(db);
        assert_int_equal(count(db, "SELECT count(*) FROM tx_test"), 0);

        assert_int_equal(ad_db_begin(db, &err), 0);
        assert_int_equal(ad_db_exec(db, NULL, "INSERT INTO tx_test VALUES ($1)", 1, p, &err), 0);
        assert_int_equal(ad_db_commit(db, &err), 0);
        assert_int_equal(count(db, "SELECT count(*) FROM tx_test"), 1);

        /* A unique violation is a conflict the caller can recognise. */
        assert_true(ad_db_exec(db, NULL, "INSERT INTO tx_test VALUES ($1)", 1, p, &err) < 0);
        assert_int_equal(err->kind, AD_ERR_CONFLICT);
        assert_non_null(strstr(ad_error_message(err), "23505"));
        ad_error_release(&err);
        ad_db_close(db);
}

static void test_unreachable_server(void **state)
{
        ad_db *db = NULL;
        ad_error_t err = NULL;

        (void)state;
        assert_true(ad_db_connect(&db, "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2",
                                  &err) < 0);
        assert_null(db);
        assert_int_equal(err->kind, AD_ERR_UNAVAILABLE);
        assert_non_null(strstr(ad_error_message(err), "cannot connect to PostgreSQL"));
        ad_error_release(&err);
}

/* Typed rows with named columns (ad_db_read_row): values land in their
 * members whatever the order of the SELECT; NULLs read as documented;
 * a missing column, a member of the wrong size and a value that does not
 * convert are errors naming the column. */
struct typed_row {
        const char *name, *absent;
        int64_t big;
        int small;
        uint32_t count;
        double ratio;
        bool flag;
};
static const struct ad_db_field typed_fields[] = {
        AD_DB_FIELD(struct typed_row, name, AD_DB_TEXT, "name"),
        AD_DB_FIELD(struct typed_row, absent, AD_DB_TEXT_NULL, "absent"),
        AD_DB_FIELD(struct typed_row, big, AD_DB_INT64, "big"),
        AD_DB_FIELD(struct typed_row, small, AD_DB_INT, "small"),
        AD_DB_FIELD(struct typed_row, count, AD_DB_UINT32, "count"),
        AD_DB_FIELD(struct typed_row, ratio, AD_DB_DOUBLE, "ratio"),
        AD_DB_FIELD(struct typed_row, flag, AD_DB_BOOL, "flag"),
        AD_DB_FIELDS_END,
};

static void expect_row_error(ad_db *db, const char *sql, const struct ad_db_field *fields,
                             const char *want)
{
        PGresult *r = NULL;
        ad_error_t err = NULL;
        struct typed_row row;

        if (ad_db_exec(db, &r, sql, 0, NULL, &err) < 0)
                fail_msg("%s: %s", sql, ad_error_message(err));
        assert_true(ad_db_read_row(r, 0, fields, &row, &err) < 0);
        if (strstr(ad_error_message(err), want) == NULL)
                fail_msg("%s: got \"%s\", want \"%s\"", sql, ad_error_message(err), want);
        ad_error_release(&err);
        PQclear(r);
}

static void test_typed_rows(void **state)
{
        static const struct ad_db_field wrong_size[] = {
                AD_DB_FIELD(struct typed_row, small, AD_DB_INT64, "small"),
                AD_DB_FIELDS_END,
        };
        ad_db *db = open_db();
        PGresult *r = NULL;
        ad_error_t err = NULL;
        struct ad_db_rows rows;
        struct typed_row row;

        (void)state;
        /* Columns in another order than the fields, and a NULL of each. */
        if (ad_db_exec(db, &r,
                       "SELECT * FROM (VALUES (true, 0.25::float8, 7::int, 'a', NULL::text, "
                       "9007199254740993::bigint, 4000000000::bigint), (NULL, NULL, NULL, NULL, "
                       "NULL, NULL, NULL)) v(flag, ratio, small, name, absent, big, count)",
                       0, NULL, &err) < 0)
                fail_msg("select: %s", ad_error_message(err));
        assert_int_equal(ad_db_rows_init(&rows, r, typed_fields, &err), 0);
        assert_int_equal(ad_db_rows_read(&rows, 0, &row, &err), 0);
        assert_string_equal(row.name, "a");
        assert_null(row.absent);
        assert_true(row.big == 9007199254740993LL);
        assert_int_equal(row.small, 7);
        assert_true(row.count == 4000000000u);
        assert_true(row.ratio == 0.25);
        assert_true(row.flag);
        assert_int_equal(ad_db_rows_read(&rows, 1, &row, &err), 0);
        assert_string_equal(row.name, ""); /* AD_DB_TEXT: NULL as "" */
        assert_null(row.absent);
        assert_true(row.big == 0 && row.small == 0 && row.count == 0 && row.ratio == 0);
        assert_false(row.flag);
        assert_true(ad_db_rows_read(&rows, 2, &row, &err) < 0); /* no such row */
        ad_error_release(&err);
        PQclear(r);

        expect_row_error(db, "SELECT 'a' AS name", typed_fields,
                         "the query returns no column `absent`");
        expect_row_error(db, "SELECT 1 AS small", wrong_size, "column `small`: the member's size");
        expect_row_error(db,
                         "SELECT 'a' AS name, NULL AS absent, 'x1' AS big, 1 AS small, 1 AS count, "
                         "1 AS ratio, true AS flag",
                         typed_fields, "column `big`: `x1` is not an integer");
        expect_row_error(db,
                         "SELECT 'a' AS name, NULL AS absent, 1 AS big, 3000000000 AS small, "
                         "1 AS count, 1 AS ratio, true AS flag",
                         typed_fields, "column `small`: `3000000000` is not an integer");
        expect_row_error(db,
                         "SELECT 'a' AS name, NULL AS absent, 1 AS big, 1 AS small, -1 AS count, "
                         "1 AS ratio, true AS flag",
                         typed_fields, "column `count`: `-1` is not an integer");
        expect_row_error(db,
                         "SELECT 'a' AS name, NULL AS absent, 1 AS big, 1 AS small, 1 AS count, "
                         "'1.5x' AS ratio, true AS flag",
                         typed_fields, "column `ratio`: `1.5x` is not a number");
        expect_row_error(db,
                         "SELECT 'a' AS name, NULL AS absent, 1 AS big, 1 AS small, 1 AS count, "
                         "1 AS ratio, 'yes' AS flag",
                         typed_fields, "column `flag`: `yes` is not a boolean");
        ad_db_close(db);
}

/* The API's read model (migration 009): a request the coordinator has
 * not seen is QUEUED with the request's fields; once the coordinator has
 * it, its status and fields; a deployment with no request (another system
 * published it) is there too; each id is one row. */
static void test_api_read_model(void **state)
{
        static const char *const q_id = "00000000-0000-4000-8000-000000000901",
                                 *const d_id = "00000000-0000-4000-8000-000000000902";
        ad_db *db = open_db();
        ad_error_t err = NULL;
        PGresult *r = NULL;

        (void)state;
        assert_int_equal(ad_db_migrate(db, ad_migrations, ad_migrations_count, NULL, &err), 0);
        if (ad_db_exec(
                    db, NULL,
                    "INSERT INTO deployment_requests (id, app_name, repo_url, ref, requested_by) "
                    "VALUES ('00000000-0000-4000-8000-000000000901', 'rm-a', "
                    "'https://example.com/a.git', 'main', 'alice')",
                    0, NULL, &err) < 0)
                fail_msg("insert a request: %s", ad_error_message(err));
        if (ad_db_exec(db, &r,
                       "SELECT status, app_name, repo_url, ref, requested_by FROM api_deployment "
                       "WHERE id = $1::uuid",
                       1, &q_id, &err) < 0)
                fail_msg("read the view: %s", ad_error_message(err));
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "QUEUED");
        assert_string_equal(PQgetvalue(r, 0, 1), "rm-a");
        assert_string_equal(PQgetvalue(r, 0, 4), "alice");
        PQclear(r);

        if (ad_db_exec(db, NULL,
                       "INSERT INTO deployments (id, app_name, repo_url, ref, status) VALUES "
                       "('00000000-0000-4000-8000-000000000901', 'rm-a', "
                       "'https://example.com/a.git', 'v2', 'BUILDING'), "
                       "('00000000-0000-4000-8000-000000000902', 'rm-b', "
                       "'https://example.com/b.git', '', 'EXPOSED')",
                       0, NULL, &err) < 0)
                fail_msg("insert deployments: %s", ad_error_message(err));
        if (ad_db_exec(db, &r,
                       "SELECT status, ref, requested_by FROM api_deployment WHERE id = $1::uuid",
                       1, &q_id, &err) < 0)
                fail_msg("read the view: %s", ad_error_message(err));
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "BUILDING");
        assert_string_equal(PQgetvalue(r, 0, 1), "v2");
        assert_string_equal(PQgetvalue(r, 0, 2), "alice"); /* the request's, d has none */
        PQclear(r);
        if (ad_db_exec(db, &r, "SELECT status, app_name FROM api_deployment WHERE id = $1::uuid", 1,
                       &d_id, &err) < 0)
                fail_msg("read the view: %s", ad_error_message(err));
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "EXPOSED");
        assert_string_equal(PQgetvalue(r, 0, 1), "rm-b");
        PQclear(r);
        /* Migration 022: the coordinator's columns the list and the detail
         * show; no requester at all reads NULL, not "". */
        if (ad_db_exec(db, NULL,
                       "UPDATE deployments SET git_sha = 'abc', url = 'http://b', ip = '10.0.0.2', "
                       "analysis = '{\"language\": \"go\"}' WHERE id = $1::uuid",
                       1, &d_id, &err) < 0)
                fail_msg("update a deployment: %s", ad_error_message(err));
        if (ad_db_exec(
                    db, &r,
                    "SELECT git_sha, url, ip, error, failed_step, analysis->>'language' AS lang, "
                    "requested_by FROM api_deployment WHERE id = $1::uuid",
                    1, &d_id, &err) < 0)
                fail_msg("read the view: %s", ad_error_message(err));
        assert_int_equal(PQntuples(r), 1);
        assert_string_equal(PQgetvalue(r, 0, 0), "abc");
        assert_string_equal(PQgetvalue(r, 0, 1), "http://b");
        assert_string_equal(PQgetvalue(r, 0, 2), "10.0.0.2");
        assert_true(PQgetisnull(r, 0, 3) && PQgetisnull(r, 0, 4));
        assert_string_equal(PQgetvalue(r, 0, 5), "go");
        assert_true(PQgetisnull(r, 0, 6));
        PQclear(r);
        if (ad_db_exec(db, &r, "SELECT git_sha, analysis FROM api_deployment WHERE id = $1::uuid",
                       1, &q_id, &err) < 0)
                fail_msg("read the view: %s", ad_error_message(err));
        assert_true(PQgetisnull(r, 0, 0) && PQgetisnull(r, 0, 1));
        PQclear(r);
        assert_int_equal(
                count(db, "SELECT count(*) FROM api_deployment WHERE app_name LIKE 'rm-%'"), 2);
        ad_db_exec(db, NULL, "DELETE FROM deployments WHERE app_name LIKE 'rm-%'", 0, NULL, NULL);
        ad_db_exec(db, NULL, "DELETE FROM deployment_requests WHERE app_name LIKE 'rm-%'", 0, NULL,
                   NULL);
        ad_db_close(db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_migrations_twice_is_a_noop),
                cmocka_unit_test(test_concurrent_migrators_apply_once),
                cmocka_unit_test(test_concurrent_migrators_on_empty_database),
                cmocka_unit_test(test_transactions),
                cmocka_unit_test(test_unreachable_server),
                cmocka_unit_test(test_typed_rows),
                cmocka_unit_test(test_api_read_model),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
