/* `adapi secrets rotate` against a real PostgreSQL (the stack's server, in
 * a database of this test's own, so the rotation may cover every row).
 *
 * Rows as an older release and an older key left them: app "shop" with a
 * v1 value and a v2 value under the old key A, one already under the new
 * key B, and a plain one; a deployment of shop whose builds row has A's
 * values; app "blog" with a value copied from shop's config (the attack:
 * it must not open there, so the rotation cannot launder it).
 *
 *   rotate_reseals        every value of shop opens under B alone and no
 *                         longer under A; blog's copy is left and named;
 *                         exit 1 because of it
 *   rotate_again_noop     a second run re-seals nothing, exit 0
 *   rotate_app_scope      --app touches only that app; a value under a key
 *                         the ring lacks is named by key id, exit 1
 *   rotate_bad_config     no secrets.key: exit 2, nothing changed */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/sealed_v1.h"
#include "../support/stack.h"
#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/secret.h"

#define KEY_A "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY_B "2222222222222222222222222222222222222222222222222222222222222222"

static struct {
        char dbname[64], dburl[512];
        ad_db *db;
        struct ad_secret_key a, b;
        struct ad_secret_keyring only_a, only_b;
        char deployment[AD_UUID_LEN + 1];
        char *cur; /* shop's CUR as sealed under B before the rotation */
} T;

/* The stack's URL ends in /appdeployer (and its options, ?sslmode=...);
 * point it at our own database, with the same options. */
static void make_url(char *out, size_t size, const char *name)
{
        const char *base = stack_env("AD_DATABASE_URL");
        const char *slash = strrchr(base, '/');
        const char *query = strchr(slash, '?');

        snprintf(out, size, "%.*s/%s%s", (int)(slash - base), base, name, query ? query : "");
}

/* Runs `adapi secrets rotate` with the given environment assignments and
 * arguments; its stdout in out; returns its exit status. */
static int rotate(const char *env, const char *args, char *out, size_t size)
{
        char cmd[2048];
        FILE *f;
        size_t n = 0, r;
        int rc;

        snprintf(cmd, sizeof(cmd),
                 "env -u AD_CONFIG -u AD_SECRETS_OLD_KEYS -u AD_SECRETS_KEY AD_DATABASE_URL='%s' "
                 "%s %s/bin/adapi secrets rotate %s",
                 T.dburl, env, AD_BINARY_DIR, args);
        f = popen(cmd, "r");
        assert_non_null(f);
        while (n < size - 1 && (r = fread(out + n, 1, size - 1 - n, f)) > 0)
                n += r;
        out[n] = '\0';
        rc = pclose(f);
        fprintf(stderr, "rotate %s -> %d:\n%s", args, WEXITSTATUS(rc), out);
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void insert_app(const char *name, json_t *env)
{
        char *text = json_dumps(env, JSON_COMPACT);
        const char *p[] = { name, text };
        ad_error_t err = NULL;

        if (ad_db_exec(T.db, NULL, "INSERT INTO apps (name, env) VALUES ($1, $2::jsonb)", 2, p,
                       &err) < 0)
                fail_msg("insert app %s: %s", name, ad_error_message(err));
        free(text);
        json_decref(env);
}

static char *seal(const struct ad_secret_key *k, const char *app, const char *name,
                  const char *plain)
{
        char *out = NULL;
        ad_error_t err = NULL;

        if (ad_secret_seal(&out, k, app, name, plain, &err) < 0)
                fail_msg("seal: %s", ad_error_message(err));
        return out;
}

/* The env object of a row (apps by name, or builds by deployment id). */
static json_t *row_env(const char *sql, const char *id)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { id };
        ad_error_t err = NULL;

        if (ad_db_exec(T.db, &r, sql, 1, p, &err) < 0 || PQntuples(r) != 1)
                fail_msg("read %s: %s", id, err ? ad_error_message(err) : "no row");
        return json_loads(PQgetvalue(r, 0, 0), 0, NULL);
}

static json_t *app_env(const char *app)
{
        return row_env("SELECT env::text FROM apps WHERE name = $1", app);
}

static json_t *build_env(void)
{
        return row_env("SELECT env::text FROM builds WHERE deployment_id = $1", T.deployment);
}

/* name's value in env opens under B alone (as app's), to plain, and not
 * under A. */
static void assert_under_b(json_t *env, const char *app, const char *name, const char *plain)
{
        const char *v = json_string_value(json_object_get(env, name));
        ad_error_t err = NULL;
        char *out = NULL;

        assert_non_null(v);
        assert_true(ad_secret_is_current(v, &T.b));
        if (ad_secret_open(&out, &T.only_b, app, name, v, &err) < 0)
                fail_msg("%s/%s does not open under B: %s", app, name, ad_error_message(err));
        assert_string_equal(out, plain);
        free(out);
        out = NULL;
        assert_true(ad_secret_open(&out, &T.only_a, app, name, v, &err) < 0);
        ad_error_release(&err);
        assert_null(out);
}

static int group_setup(void **state)
{
        char id[AD_UUID_LEN + 1], sql[128];
        ad_db *admin = NULL;
        ad_error_t err = NULL;

        (void)state;
        ad_uuid_v4(id);
        snprintf(T.dbname, sizeof(T.dbname), "adtest_rot_%.8s", id);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", T.dbname);
        if (ad_db_connect(&admin, stack_env("AD_DATABASE_URL"), &err) < 0 ||
            ad_db_exec(admin, NULL, sql, 0, NULL, &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                ad_db_close(admin);
                return -1;
        }
        ad_db_close(admin);
        make_url(T.dburl, sizeof(T.dburl), T.dbname);
        if (ad_db_connect(&T.db, T.dburl, &err) < 0 ||
            ad_db_migrate(T.db, ad_migrations, ad_migrations_count, NULL, &err) < 0 ||
            ad_secret_key_parse(&T.a, KEY_A, &err) < 0 ||
            ad_secret_key_parse(&T.b, KEY_B, &err) < 0) {
                fprintf(stderr, "setup: %s\n", ad_error_message(err));
                return -1;
        }
        ad_secret_keyring_of(&T.only_a, &T.a);
        ad_secret_keyring_of(&T.only_b, &T.b);
        return 0;
}

static int group_teardown(void **state)
{
        char sql[128];
        ad_db *admin = NULL;

        (void)state;
        ad_db_close(T.db);
        free(T.cur);
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", T.dbname);
        if (ad_db_connect(&admin, stack_env("AD_DATABASE_URL"), NULL) == 0)
                ad_db_exec(admin, NULL, sql, 0, NULL, NULL);
        ad_db_close(admin);
        return 0;
}

static void rotate_reseals(void **state)
{
        cleanup_free char *v1 = test_seal_v1(&T.a, "one-v1");
        cleanup_free char *v2 = seal(&T.a, "shop", "V2", "two-v2");
        cleanup_free char *b1 = test_seal_v1(&T.a, "build-v1");
        cleanup_free char *b2 = seal(&T.a, "shop", "V2", "build-v2");
        const char *p[] = { NULL, NULL };
        ad_error_t err = NULL;
        json_t *env;
        char out[4096];
        char *text;

        (void)state;
        assert_non_null(v1);
        T.cur = seal(&T.b, "shop", "CUR", "already-b");
        insert_app("shop", json_pack("{s:s,s:s,s:s,s:s}", "V1", v1, "V2", v2, "CUR", T.cur, "PLAIN",
                                     "not-a-secret"));
        /* Copied from shop's V2 into blog's config. */
        insert_app("blog", json_pack("{s:s}", "STOLEN", v2));
        ad_uuid_v4(T.deployment);
        p[0] = T.deployment;
        if (ad_db_exec(T.db, NULL,
                       "INSERT INTO deployments (id, app_name, repo_url, status) "
                       "VALUES ($1, 'shop', 'test://rotate', 'EXPOSED')",
                       1, p, &err) < 0)
                fail_msg("insert deployment: %s", ad_error_message(err));
        env = json_pack("{s:s,s:s}", "V1", b1, "V2", b2);
        text = json_dumps(env, JSON_COMPACT);
        json_decref(env);
        p[1] = text;
        if (ad_db_exec(T.db, NULL,
                       "INSERT INTO builds (deployment_id, image, env) VALUES ($1, 'img', "
                       "$2::jsonb)",
                       2, p, &err) < 0)
                fail_msg("insert build: %s", ad_error_message(err));
        free(text);

        assert_int_equal(
                rotate("AD_SECRETS_KEY=" KEY_B " AD_SECRETS_OLD_KEYS=" KEY_A, "", out, sizeof(out)),
                1);
        assert_non_null(strstr(out, "apps: 2 re-sealed, 1 already current, 1 do not open, 1 "
                                    "plain"));
        assert_non_null(strstr(out, "builds: 2 re-sealed, 0 already current, 0 do not open"));
        assert_null(strstr(out, "one-v1"));

        env = app_env("shop");
        assert_under_b(env, "shop", "V1", "one-v1");
        assert_under_b(env, "shop", "V2", "two-v2");
        assert_under_b(env, "shop", "CUR", "already-b");
        /* Already current: kept as it was. */
        assert_string_equal(json_string_value(json_object_get(env, "CUR")), T.cur);
        assert_string_equal(json_string_value(json_object_get(env, "PLAIN")), "not-a-secret");
        json_decref(env);
        env = build_env();
        assert_under_b(env, "shop", "V1", "build-v1");
        assert_under_b(env, "shop", "V2", "build-v2");
        json_decref(env);
        /* The copy was neither opened nor re-sealed for blog. */
        env = app_env("blog");
        assert_string_equal(json_string_value(json_object_get(env, "STOLEN")), v2);
        json_decref(env);
}

static void rotate_again_noop(void **state)
{
        char out[4096];

        (void)state;
        if (ad_db_exec(T.db, NULL, "DELETE FROM apps WHERE name = 'blog'", 0, NULL, NULL) < 0)
                fail_msg("delete blog");
        /* The old key is no longer needed. */
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B, "", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "apps: 0 re-sealed, 3 already current, 0 do not open"));
        assert_non_null(strstr(out, "builds: 0 re-sealed, 2 already current, 0 do not open"));
        assert_non_null(strstr(out, ": yes"));
}

static void rotate_app_scope(void **state)
{
        cleanup_free char *other = seal(&T.a, "other", "X", "x-under-a");
        json_t *env;
        char out[4096];

        (void)state;
        insert_app("other", json_pack("{s:s}", "X", other));
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B " AD_SECRETS_OLD_KEYS=" KEY_A, "--app shop",
                                out, sizeof(out)),
                         0);
        assert_non_null(strstr(out, "apps: 0 re-sealed, 3 already current"));
        env = app_env("other");
        assert_string_equal(json_string_value(json_object_get(env, "X")), other);
        json_decref(env);
        /* Without A in the ring, other's value cannot be re-sealed. */
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B, "--app other", out, sizeof(out)), 1);
        assert_non_null(strstr(out, "apps: 0 re-sealed, 0 already current, 1 do not open"));
        env = app_env("other");
        assert_string_equal(json_string_value(json_object_get(env, "X")), other);
        json_decref(env);
        /* With it, it is. */
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B " AD_SECRETS_OLD_KEYS=" KEY_A,
                                "--app other", out, sizeof(out)),
                         0);
        env = app_env("other");
        assert_under_b(env, "other", "X", "x-under-a");
        json_decref(env);
}

static void rotate_bad_config(void **state)
{
        char out[4096];

        (void)state;
        assert_int_equal(rotate("", "", out, sizeof(out)), 2);
        assert_int_equal(rotate("AD_SECRETS_KEY=abc", "", out, sizeof(out)), 2);
        assert_int_equal(
                rotate("AD_SECRETS_KEY=" KEY_B " AD_SECRETS_OLD_KEYS=" KEY_B, "", out, sizeof(out)),
                2);
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B, "--bogus", out, sizeof(out)), 2);
}

/* A repository URL's password sealed under A (apps and
 * deployment_requests rows): re-sealed under B, the URL the same once
 * opened, and no longer opening under A; a second run keeps it. */
static void rotate_repo_urls(void **state)
{
        const char *plain = "https://bot:s3cr3t-token@git.example.com/acme/repo.git";
        cleanup_free char *sealed = NULL;
        char id[AD_UUID_LEN + 1], out[4096];
        ad_error_t err = NULL;

        (void)state;
        if (ad_secret_url_seal(&sealed, &T.a, "priv", plain, &err) < 0)
                fail_msg("seal url: %s", ad_error_message(err));
        assert_null(strstr(sealed, "s3cr3t-token"));
        ad_uuid_v4(id);
        if (ad_db_exec(T.db, NULL,
                       "INSERT INTO apps (name, repo_url, env) VALUES ('priv', $1, '{}')", 1,
                       (const char *[]){ sealed }, &err) < 0 ||
            ad_db_exec(T.db, NULL,
                       "INSERT INTO deployment_requests (id, app_name, repo_url) "
                       "VALUES ($1::uuid, 'priv', $2)",
                       2, (const char *[]){ id, sealed }, &err) < 0)
                fail_msg("insert: %s", ad_error_message(err));
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B " AD_SECRETS_OLD_KEYS=" KEY_A, "--app priv",
                                out, sizeof(out)),
                         0);
        assert_non_null(strstr(out, "repository URLs: 2 re-sealed, 0 already current, 0 do not "
                                    "open"));
        assert_null(strstr(out, "s3cr3t-token"));
        for (int i = 0; i < 2; i++) {
                cleanup_pgresult PGresult *r = NULL;
                char *opened = NULL;

                if (ad_db_exec(T.db, &r,
                               i == 0 ? "SELECT repo_url FROM apps WHERE name = 'priv'"
                                      : "SELECT repo_url FROM deployment_requests WHERE id = "
                                        "$1::uuid",
                               i == 0 ? 0 : 1, i == 0 ? NULL : (const char *[]){ id }, &err) < 0 ||
                    PQntuples(r) != 1)
                        fail_msg("read url: %s", err ? ad_error_message(err) : "no row");
                assert_string_not_equal(PQgetvalue(r, 0, 0), sealed);
                assert_null(strstr(PQgetvalue(r, 0, 0), "s3cr3t-token"));
                if (ad_secret_url_open(&opened, &T.only_b, "priv", PQgetvalue(r, 0, 0), &err) < 0)
                        fail_msg("the URL does not open under B: %s", ad_error_message(err));
                assert_string_equal(opened, plain);
                free(opened);
                opened = NULL;
                assert_true(ad_secret_url_open(&opened, &T.only_a, "priv", PQgetvalue(r, 0, 0),
                                               &err) < 0);
                ad_error_release(&err);
        }
        assert_int_equal(rotate("AD_SECRETS_KEY=" KEY_B, "--app priv", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "repository URLs: 0 re-sealed, 2 already current, 0 do not "
                                    "open"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(rotate_reseals),   cmocka_unit_test(rotate_again_noop),
                cmocka_unit_test(rotate_app_scope), cmocka_unit_test(rotate_bad_config),
                cmocka_unit_test(rotate_repo_urls),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
