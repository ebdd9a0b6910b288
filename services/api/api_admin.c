/* `adapi admin`: the operator's bootstrap of teams, users and keys, from
 * the command line, with the service's own configuration (-c FILE or
 * $AD_CONFIG, AD_* overrides) and database (migrations applied first).
 * A new key is printed once on stdout, alone, for scripts; everything
 * else goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "api.h"

#define EXIT_USAGE 2

static const char usage_text[] =
        "usage: adapi admin [-c CONFIG] COMMAND\n"
        "  create-team NAME\n"
        "  create-user NAME --team TEAM --role admin|deployer|viewer\n"
        "      (creates the user if new; sets their role in TEAM)\n"
        "  create-token --team TEAM --role ROLE --name NAME [--expires 30d|never] [--user USER]\n"
        "      (prints the key once on stdout; default lifetime 90d)\n"
        "  assign-app APP --team TEAM   (an app made before teams, or by an operator)\n";

static int usage(const char *fmt, const char *arg)
{
        if (fmt) {
                fprintf(stderr, "adapi admin: ");
                fprintf(stderr, fmt, arg ? arg : "");
                fputc('\n', stderr);
        }
        fputs(usage_text, stderr);
        return EXIT_USAGE;
}

struct opts {
        const char *team, *role, *name, *expires, *user;
        const char *positional;
};

/* --team X --role Y ... and at most one positional argument. */
static int parse_opts(struct opts *o, int argc, char **argv)
{
        memset(o, 0, sizeof(*o));
        for (int i = 0; i < argc; i++) {
                static const char *const names[] = { "--team", "--role", "--name", "--expires",
                                                     "--user" };
                const char **slots[] = { &o->team, &o->role, &o->name, &o->expires, &o->user };
                bool done = false;

                for (size_t k = 0; k < 5 && !done; k++) {
                        size_t n = strlen(names[k]);

                        if (strcmp(argv[i], names[k]) == 0) {
                                if (i + 1 >= argc)
                                        return usage("%s needs a value", names[k]);
                                *slots[k] = argv[++i];
                                done = true;
                        } else if (strncmp(argv[i], names[k], n) == 0 && argv[i][n] == '=') {
                                *slots[k] = argv[i] + n + 1;
                                done = true;
                        }
                }
                if (done)
                        continue;
                if (argv[i][0] == '-' || o->positional)
                        return usage("unexpected argument `%s`", argv[i]);
                o->positional = argv[i];
        }
        return 0;
}

static int fail(const char *what, ad_error_t err)
{
        fprintf(stderr, "adapi admin: %s: %s\n", what, ad_error_message(err));
        return AD_EXIT_FAILURE;
}

static int create_team(ad_db *db, const struct opts *o)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        char id[AD_UUID_LEN + 1];

        if (!api_team_name_valid(o->positional))
                return usage("a team name is 1 to 63 of a-z 0-9 - (not starting with -): `%s`",
                             o->positional);
        ad_uuid_v4(id);
        if (ad_db_exec(db, &r,
                       "INSERT INTO teams (id, name) VALUES ($1, $2) ON CONFLICT (name) DO "
                       "NOTHING RETURNING id",
                       2, (const char *[]){ id, o->positional }, &err) < 0)
                return fail("cannot create the team", err);
        if (PQntuples(r) == 0) {
                fprintf(stderr, "adapi admin: team %s exists already\n", o->positional);
                return AD_EXIT_FAILURE;
        }
        if (api_audit_admin(db, "admin_create_team", o->positional, o->positional, &err) < 0)
                return fail("cannot write the audit log", err);
        fprintf(stderr, "team %s created (%s)\n", o->positional, id);
        return 0;
}

static int create_user(ad_db *db, const struct opts *o)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        enum api_role role;
        char id[AD_UUID_LEN + 1];

        if (!api_user_name_valid(o->positional))
                return usage("a user name is 1 to 63 of A-Z a-z 0-9 . _ @ -: `%s`", o->positional);
        if (o->team == NULL || o->role == NULL)
                return usage("create-user needs --team and --role", NULL);
        if (api_role_parse(&role, o->role, &err) < 0)
                return usage("%s", ad_error_message(err));
        ad_uuid_v4(id);
        if (ad_db_exec(db, &r,
                       "WITH t AS (SELECT id FROM teams WHERE name = $2), "
                       "u AS (INSERT INTO users (id, name) SELECT $1, $3 WHERE EXISTS (SELECT 1 "
                       "FROM t) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING "
                       "id) INSERT INTO memberships (user_id, team_id, role) SELECT u.id, t.id, $4 "
                       "FROM u, t ON CONFLICT (user_id, team_id) DO UPDATE SET role = $4 "
                       "RETURNING user_id",
                       4, (const char *[]){ id, o->team, o->positional, api_role_name(role) },
                       &err) < 0)
                return fail("cannot create the user", err);
        if (PQntuples(r) == 0) {
                fprintf(stderr, "adapi admin: no team %s (adapi admin create-team %s)\n", o->team,
                        o->team);
                return AD_EXIT_FAILURE;
        }
        if (api_audit_admin(db, "admin_create_user", o->team, o->positional, &err) < 0)
                return fail("cannot write the audit log", err);
        fprintf(stderr, "user %s is a %s of team %s\n", o->positional, api_role_name(role),
                o->team);
        return 0;
}

static int create_token(ad_db *db, const struct opts *o)
{
        struct api_token_create req = { 0 };
        cleanup_error ad_error_t err = NULL;
        char key[API_KEY_LEN + 1], id[AD_UUID_LEN + 1], expires[32];

        if (o->positional || o->team == NULL || o->role == NULL || o->name == NULL)
                return usage("create-token needs --team, --role and --name", NULL);
        if (!api_team_name_valid(o->team) || strlen(o->team) >= sizeof(req.team))
                return usage("no such team name: `%s`", o->team);
        if (!api_key_name_valid(o->name))
                return usage("a key name is 1 to 63 of A-Z a-z 0-9 . _ -: `%s`", o->name);
        if (o->user && !api_user_name_valid(o->user))
                return usage("no such user name: `%s`", o->user);
        if (api_role_parse(&req.role, o->role, &err) < 0 ||
            api_duration_parse(&req.ttl_s, o->expires ? o->expires : "90d", &err) < 0)
                return usage("%s", ad_error_message(err));
        snprintf(req.team, sizeof(req.team), "%s", o->team);
        snprintf(req.name, sizeof(req.name), "%s", o->name);
        snprintf(req.user, sizeof(req.user), "%s", o->user ? o->user : "");
        if (api_key_create(db, &req, "adapi admin", key, id, expires, &err) < 0)
                return fail("cannot create the key", err);
        if (api_audit_admin(db, "admin_create_token", req.team, req.name, &err) < 0)
                fprintf(stderr, "adapi admin: cannot write the audit log: %s\n",
                        ad_error_message(err));
        fprintf(stderr, "key %s (%s) of team %s, role %s, expires %s: shown once, keep it\n",
                req.name, id, req.team, api_role_name(req.role), expires[0] ? expires : "never");
        printf("%s\n", key);
        explicit_bzero(key, sizeof(key));
        return 0;
}

static int assign_app(ad_db *db, const struct opts *o)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;

        if (o->positional == NULL || !ad_app_name_valid(o->positional) || o->team == NULL)
                return usage("assign-app needs an app name and --team", NULL);
        if (ad_db_exec(db, &r,
                       "INSERT INTO app_owners (app_name, team_id) SELECT $1, id FROM teams "
                       "WHERE name = $2 ON CONFLICT (app_name) DO UPDATE SET team_id = "
                       "EXCLUDED.team_id RETURNING 1",
                       2, (const char *[]){ o->positional, o->team }, &err) < 0)
                return fail("cannot assign the app", err);
        if (PQntuples(r) == 0) {
                fprintf(stderr, "adapi admin: no team %s\n", o->team);
                return AD_EXIT_FAILURE;
        }
        if (api_audit_admin(db, "admin_assign_app", o->team, o->positional, &err) < 0)
                return fail("cannot write the audit log", err);
        fprintf(stderr, "app %s belongs to team %s\n", o->positional, o->team);
        return 0;
}

int api_admin_main(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*fn)(ad_db *db, const struct opts *o);
                bool positional;
        } cmds[] = {
                { "create-team", create_team, true },
                { "create-user", create_user, true },
                { "create-token", create_token, false },
                { "assign-app", assign_app, true },
        };
        const struct ad_config_key *tables[] = { ad_service_common_config, NULL };
        const char *path = getenv("AD_CONFIG");
        ad_config *cfg = NULL;
        ad_db *db = NULL;
        ad_error_t err = NULL;
        struct opts o;
        int i = 1, ret;

        if (i < argc && (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
                if (i + 1 >= argc)
                        return usage("%s needs a file", argv[i]);
                path = argv[i + 1];
                i += 2;
        } else if (i < argc && strncmp(argv[i], "--config=", 9) == 0) {
                path = argv[i++] + 9;
        }
        if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                fputs(usage_text, i >= argc ? stderr : stdout);
                return i >= argc ? EXIT_USAGE : 0;
        }
        for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
                if (strcmp(argv[i], cmds[k].name) != 0)
                        continue;
                ret = parse_opts(&o, argc - i - 1, argv + i + 1);
                if (ret != 0)
                        return ret;
                if (cmds[k].positional && o.positional == NULL)
                        return usage("%s needs a name", cmds[k].name);
                if (ad_config_load(&cfg, path, &err) < 0 ||
                    ad_db_connect(&db, ad_config_get_string(cfg, tables, "database.url"), &err) <
                            0 ||
                    ad_db_migrate(db, ad_migrations, ad_migrations_count, NULL, &err) < 0) {
                        ret = fail("cannot open the database", err);
                        ad_error_release(&err);
                } else {
                        ret = cmds[k].fn(db, &o);
                }
                ad_db_close(db);
                ad_config_free(cfg);
                return ret;
        }
        return usage("unknown command `%s`", argv[i]);
}
