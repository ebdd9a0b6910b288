/* `adapi secrets rotate`: re-seals every stored env value under the
 * current secrets.key (see ad/secret.h).  The values at rest are the apps'
 * config (apps.env) and each deployment's env (builds.env, which rollbacks
 * deploy again); both are name -> sealed value objects; and the sealed
 * passwords of repository URLs (apps, deployments and deployment_requests
 * rows: ad_secret_url_seal).  Each value is
 * opened with the key ring (secrets.key and secrets.old_keys), bound to its
 * app and variable name, and sealed again under secrets.key; values already
 * in the current form under secrets.key are opened (to check them) and kept.
 * A value that does not open (a key missing from the ring, or a value
 * copied from another app or variable) is left as it is and named.
 *
 * Each table is rewritten in one transaction with its rows locked (FOR
 * UPDATE), so a concurrent config change waits for it.  Events already on
 * the bus or in the outbox keep the key they were sealed under: keep the old
 * key in secrets.old_keys until they are consumed, and until a second run
 * reports nothing left to re-seal. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/config.h"
#include "ad/db.h"
#include "ad/secret.h"
#include "ad/service.h"
#include "api.h"

struct rotate_counts {
        size_t resealed, current, unopened, plain;
};

/* Re-seals the values of one env object.  *changed tells whether the
 * text in *out differs from env. */
static int reseal_env(const struct ad_secret_keyring *ring, const char *where, const char *app,
                      const char *env_text, char **out, bool *changed, struct rotate_counts *c,
                      ad_error_t *err)
{
        json_auto_t *env = json_loads(env_text, 0, NULL);
        const char *name;
        json_t *v;

        *changed = false;
        if (!json_is_object(env))
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s: env is not a JSON object", where);
        json_object_foreach (env, name, v) {
                cleanup_error ad_error_t oerr = NULL;
                char *plain = NULL, *sealed = NULL;
                const char *value = json_string_value(v);
                int ret;

                if (!ad_secret_is_sealed(value)) {
                        c->plain++;
                        continue;
                }
                if (ad_secret_open(&plain, ring, app, name, value, &oerr) < 0) {
                        c->unopened++;
                        fprintf(stderr, "%s: %s does not open: %s\n", where, name,
                                ad_error_message(oerr));
                        continue;
                }
                if (ad_secret_is_current(value, &ring->keys[0])) {
                        c->current++;
                        explicit_bzero(plain, strlen(plain));
                        free(plain);
                        continue;
                }
                ret = ad_secret_seal(&sealed, &ring->keys[0], app, name, plain, err);
                explicit_bzero(plain, strlen(plain));
                free(plain);
                if (ret < 0)
                        return ad_error_wrap(err, "%s: %s", where, name);
                ret = json_object_set_new(env, name, json_string(sealed));
                free(sealed);
                if (ret < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                c->resealed++;
                *changed = true;
        }
        if (*changed && (*out = json_dumps(env, JSON_COMPACT)) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return 0;
}

/* Re-seals the password of one repository URL, as reseal_env does a
 * value: a URL without a sealed password is counted as plain. */
static int reseal_url(const struct ad_secret_keyring *ring, const char *where, const char *app,
                      const char *url, char **out, bool *changed, struct rotate_counts *c,
                      ad_error_t *err)
{
        cleanup_error ad_error_t oerr = NULL;
        char *plain = NULL;
        int ret;

        *changed = false;
        if (!ad_secret_url_is_sealed(url)) {
                c->plain++;
                return 0;
        }
        if (ad_secret_url_open(&plain, ring, app, url, &oerr) < 0) {
                c->unopened++;
                fprintf(stderr, "%s: the repository URL's password does not open: %s\n", where,
                        ad_error_message(oerr));
                return 0;
        }
        if (ad_secret_url_is_current(url, &ring->keys[0])) {
                c->current++;
        } else {
                ret = ad_secret_url_seal(out, &ring->keys[0], app, plain, err);
                if (ret < 0) {
                        explicit_bzero(plain, strlen(plain));
                        free(plain);
                        return ad_error_wrap(err, "%s: repository URL", where);
                }
                c->resealed++;
                *changed = true;
        }
        explicit_bzero(plain, strlen(plain));
        free(plain);
        return 0;
}

typedef int (*reseal_fn)(const struct ad_secret_keyring *ring, const char *where, const char *app,
                         const char *text, char **out, bool *changed, struct rotate_counts *c,
                         ad_error_t *err);

/* A row with sealed values: its id in its table, its app, and the value
 * (an env's JSON text, name -> sealed value, or a repository URL). */
struct sealed_row {
        const char *id, *app, *value;
};
static const struct ad_db_field sealed_fields[] = {
        AD_DB_FIELD(struct sealed_row, id, AD_DB_TEXT, "id"),
        AD_DB_FIELD(struct sealed_row, app, AD_DB_TEXT, "app"),
        AD_DB_FIELD(struct sealed_row, value, AD_DB_TEXT, "value"),
        AD_DB_FIELDS_END,
};

/* One table: select (id, app, value) rows FOR UPDATE, re-seal each value
 * with fn, update the changed ones by id, in one transaction. */
static int rotate_table(ad_db *db, const struct ad_secret_keyring *ring, const char *table,
                        const char *select_sql, const char *update_sql, const char *app,
                        struct rotate_counts *c, reseal_fn fn, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[1] = { app ? app : "" };
        struct ad_db_rows rows;
        int ret = ad_db_begin(db, err);

        if (ret == 0)
                ret = ad_db_exec(db, &r, select_sql, 1, params, err);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, r, sealed_fields, err);
        for (int i = 0; ret == 0 && i < PQntuples(r); i++) {
                cleanup_free char *text = NULL;
                struct sealed_row row;
                char where[200];
                bool changed = false;

                ret = ad_db_rows_read(&rows, i, &row, err);
                if (ret < 0)
                        break;
                snprintf(where, sizeof(where), "%s %s (app %s)", table, row.id, row.app);
                ret = fn(ring, where, row.app, row.value, &text, &changed, c, err);
                if (ret == 0 && changed) {
                        const char *up[2] = { row.id, text };
                        cleanup_pgresult PGresult *u = NULL;

                        ret = ad_db_exec(db, &u, update_sql, 2, up, err);
                }
        }
        if (ret == 0)
                ret = ad_db_commit(db, err);
        if (ret < 0) {
                ad_db_rollback(db);
                return ad_error_wrap(err, "%s", table);
        }
        return 0;
}

static void secrets_usage(FILE *f)
{
        fprintf(f,
                "usage: adapi secrets rotate [-c CONFIG] [--app NAME]\n"
                "  Re-seals every stored env value (apps.env, builds.env) and the sealed\n"
                "  passwords of repository URLs under secrets.key,\n"
                "  opening them with secrets.key and secrets.old_keys.  --app: only that\n"
                "  app's values.  Exit 0: every sealed value is now under secrets.key;\n"
                "  1: some do not open (named on stderr) or an error; 2: bad usage or config.\n");
}

int api_secrets_main(int argc, char **argv)
{
        const char *path = getenv("AD_CONFIG"), *app = NULL;
        struct rotate_counts apps = { 0 }, builds = { 0 }, urls = { 0 };
        struct ad_secret_keyring ring;
        cleanup_error ad_error_t err = NULL;
        ad_config *cfg = NULL;
        ad_db *db = NULL;
        int ret;

        if (argc < 3 || strcmp(argv[2], "rotate") != 0) {
                secrets_usage(argc >= 3 && strcmp(argv[2], "--help") == 0 ? stdout : stderr);
                return argc >= 3 && strcmp(argv[2], "--help") == 0 ? AD_EXIT_OK : AD_EXIT_CONFIG;
        }
        for (int i = 3; i < argc; i++) {
                if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                    i + 1 < argc) {
                        path = argv[++i];
                } else if (strcmp(argv[i], "--app") == 0 && i + 1 < argc) {
                        app = argv[++i];
                } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        secrets_usage(stdout);
                        return AD_EXIT_OK;
                } else {
                        fprintf(stderr, "adapi secrets rotate: unexpected argument `%s`\n",
                                argv[i]);
                        secrets_usage(stderr);
                        return AD_EXIT_CONFIG;
                }
        }
        if (ad_config_load(&cfg, path, &err) < 0 ||
            ad_secret_keyring_parse(&ring, ad_config_string(cfg, "secrets.key", ""),
                                    ad_config_string(cfg, "secrets.old_keys", ""), &err) < 0) {
                fprintf(stderr, "adapi secrets rotate: %s\n", ad_error_message(err));
                ad_config_free(cfg);
                return AD_EXIT_CONFIG;
        }
        ret = ad_db_connect(
                &db,
                ad_config_string(cfg, "database.url", "postgresql://127.0.0.1:5432/appdeployer"),
                &err);
        ad_config_free(cfg);
        if (ret == 0)
                ret = ad_db_migrate(db, ad_migrations, ad_migrations_count, NULL, &err);
        if (ret == 0)
                ret = rotate_table(db, &ring, "apps",
                                   "SELECT name AS id, name AS app, env::text AS value FROM apps "
                                   "WHERE $1 = '' OR name = $1 ORDER BY name FOR UPDATE",
                                   "UPDATE apps SET env = $2::jsonb WHERE name = $1", app, &apps,
                                   reseal_env, &err);
        if (ret == 0)
                ret = rotate_table(
                        db, &ring, "builds",
                        "SELECT b.deployment_id AS id, d.app_name AS app, b.env::text AS value "
                        "FROM builds b "
                        "JOIN deployments d ON d.id = b.deployment_id "
                        "WHERE $1 = '' OR d.app_name = $1 "
                        "ORDER BY b.deployment_id FOR UPDATE OF b",
                        "UPDATE builds SET env = $2::jsonb WHERE deployment_id = $1", app, &builds,
                        reseal_env, &err);
        /* Repository URLs: only rows whose URL holds a sealed password. */
        if (ret == 0)
                ret = rotate_table(db, &ring, "apps",
                                   "SELECT name AS id, name AS app, repo_url AS value FROM apps "
                                   "WHERE ($1 = '' OR name = $1) AND repo_url LIKE '%sealed%' "
                                   "ORDER BY name FOR UPDATE",
                                   "UPDATE apps SET repo_url = $2 WHERE name = $1", app, &urls,
                                   reseal_url, &err);
        if (ret == 0)
                ret = rotate_table(db, &ring, "deployments",
                                   "SELECT id, app_name AS app, repo_url AS value FROM deployments "
                                   "WHERE ($1 = '' OR app_name = $1) AND repo_url LIKE '%sealed%' "
                                   "ORDER BY id FOR UPDATE",
                                   "UPDATE deployments SET repo_url = $2 WHERE id = $1", app, &urls,
                                   reseal_url, &err);
        if (ret == 0)
                ret = rotate_table(db, &ring, "deployment_requests",
                                   "SELECT id, app_name AS app, repo_url AS value "
                                   "FROM deployment_requests "
                                   "WHERE ($1 = '' OR app_name = $1) AND repo_url LIKE '%sealed%' "
                                   "ORDER BY id FOR UPDATE",
                                   "UPDATE deployment_requests SET repo_url = $2 WHERE id = $1",
                                   app, &urls, reseal_url, &err);
        ad_db_close(db);
        if (ret < 0) {
                explicit_bzero(&ring, sizeof(ring));
                fprintf(stderr, "adapi secrets rotate: %s\n", ad_error_message(err));
                return AD_EXIT_FAILURE;
        }
        printf("apps: %zu re-sealed, %zu already current, %zu do not open, %zu plain\n",
               apps.resealed, apps.current, apps.unopened, apps.plain);
        printf("builds: %zu re-sealed, %zu already current, %zu do not open, %zu plain\n",
               builds.resealed, builds.current, builds.unopened, builds.plain);
        printf("repository URLs: %zu re-sealed, %zu already current, %zu do not open\n",
               urls.resealed, urls.current, urls.unopened);
        printf("every value is sealed under key %s: %s\n", ring.keys[0].id,
               apps.unopened + builds.unopened + urls.unopened == 0 ? "yes" : "no");
        explicit_bzero(&ring, sizeof(ring));
        return apps.unopened + builds.unopened + urls.unopened == 0 ? AD_EXIT_OK : AD_EXIT_FAILURE;
}
