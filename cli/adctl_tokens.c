/* adctl tokens ls|create|rm (a team's API keys, for its admins) and
 * adctl login (a key kept in ~/.config/adctl/config, mode 0600). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "adctl.h"

/* The config file: $XDG_CONFIG_HOME/adctl/config, else
 * $HOME/.config/adctl/config.  dir (optional) gets its directory. */
int adctl_config_path(char *path, size_t size, char *dir, size_t dir_size)
{
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        char d[1024];
        int n;

        if (xdg && *xdg)
                n = snprintf(d, sizeof(d), "%s/adctl", xdg);
        else if (home && *home)
                n = snprintf(d, sizeof(d), "%s/.config/adctl", home);
        else
                return -1;
        if (n < 0 || (size_t)n >= sizeof(d) || snprintf(path, size, "%s/config", d) >= (int)size)
                return -1;
        if (dir)
                snprintf(dir, dir_size, "%s", d);
        return 0;
}

void adctl_config_load(struct adctl *ctl, bool api_given)
{
        static char token[256];
        char path[1100], line[1300];
        struct stat st;
        FILE *f;

        if (adctl_config_path(path, sizeof(path), NULL, 0) < 0 || (f = fopen(path, "r")) == NULL)
                return;
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
                fprintf(stderr, "adctl: warning: %s is readable by others (chmod 600 it)\n", path);
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (strncmp(line, "token=", 6) == 0 && ctl->token == NULL &&
                    strlen(line + 6) < sizeof(token)) {
                        snprintf(token, sizeof(token), "%s", line + 6);
                        ctl->token = token;
                        ctl->token_saved = true;
                } else if (strncmp(line, "api=", 4) == 0 && !api_given) {
                        adctl_set_api(ctl, line + 4);
                }
        }
        explicit_bzero(line, sizeof(line));
        fclose(f);
}

/* The options of tokens and login (NULL slots: not taken by this
 * command) and the common ones; returns ADCTL_OPT_NEXT or an exit code.
 * first: stop at the first argument that is not an option (the
 * subcommand), else take options anywhere. */
static int parse(struct adctl *ctl, int argc, char **argv, const char *cmd, bool first,
                 const char **role, const char **expires, const char **user, const char **team)
{
        static const struct option longopts[] = {
                { "role", required_argument, NULL, 'r' },
                { "expires", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },
                { "team", required_argument, NULL, 't' },
                ADCTL_COMMON_LONGOPTS,
        };
        int c, ret;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, first ? "+h" : "h", longopts, NULL)) != -1) {
                const char **slot = c == 'r'   ? role
                                    : c == 'e' ? expires
                                    : c == 'u' ? user
                                    : c == 't' ? team
                                               : NULL;

                if (slot) {
                        *slot = optarg;
                        continue;
                }
                if (c == 'r' || c == 'e' || c == 'u' || c == 't')
                        return adctl_usage_error(cmd, "`%s` does not take that option",
                                                 argv[optind - 1]);
                if ((ret = adctl_common_option(ctl, c, cmd, argv)) != ADCTL_OPT_NEXT)
                        return ret;
        }
        return ADCTL_OPT_NEXT;
}

static int tokens_ls(struct adctl *ctl)
{
        struct adctl_call call = { .path = "/tokens" };
        struct adctl_reply reply;
        size_t i;
        json_t *t;

        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 200) {
                int ret = adctl_fail(ctl, &reply);

                adctl_reply_free(&reply);
                return ret;
        }
        if (ctl->json) {
                adctl_print_raw(&reply);
        } else {
                printf("%-36s  %-16s  %-12s  %-8s  %-12s  %-10s  %-10s\n", "ID", "NAME", "TEAM",
                       "ROLE", "KEY", "EXPIRES", "LAST USED");
                json_array_foreach (json_object_get(reply.doc, "tokens"), i, t)
                        printf("%-36s  %-16s  %-12s  %-8s  %-12s  %-10.10s  %-10.10s\n",
                               adctl_str(t, "id"), adctl_str(t, "name"), adctl_str(t, "team"),
                               adctl_str(t, "role"), adctl_str(t, "prefix"),
                               *adctl_str(t, "expires_at") ? adctl_str(t, "expires_at") : "never",
                               *adctl_str(t, "last_used_at") ? adctl_str(t, "last_used_at")
                                                             : "never");
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

static int tokens_create(struct adctl *ctl, const char *name, const char *role, const char *expires,
                         const char *user, const char *team)
{
        json_auto_t *body = json_pack("{s:s,s:s}", "name", name, "role", role);
        cleanup_free char *text = NULL;
        struct adctl_call call = { .method = "POST", .path = "/tokens" };
        struct adctl_reply reply;

        if (expires)
                json_object_set_new(body, "expires_in", json_string(expires));
        if (user)
                json_object_set_new(body, "user", json_string(user));
        if (team)
                json_object_set_new(body, "team", json_string(team));
        text = json_dumps(body, JSON_COMPACT);
        call.body = text;
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 201) {
                int ret = adctl_fail(ctl, &reply);

                adctl_reply_free(&reply);
                return ret;
        }
        if (ctl->json) {
                adctl_print_raw(&reply);
        } else {
                fprintf(stderr, "Key %s (%s) of team %s, role %s, expires %s. It is shown once:\n",
                        adctl_str(reply.doc, "name"), adctl_str(reply.doc, "id"),
                        adctl_str(reply.doc, "team"), adctl_str(reply.doc, "role"),
                        *adctl_str(reply.doc, "expires_at") ? adctl_str(reply.doc, "expires_at")
                                                            : "never");
                printf("%s\n", adctl_str(reply.doc, "key"));
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

static int tokens_rm(struct adctl *ctl, const char *id)
{
        cleanup_free char *esc = ad_http_escape(id), *path = NULL;
        struct adctl_call call = { .method = "DELETE" };
        struct adctl_reply reply;

        if (esc == NULL || asprintf(&path, "/tokens/%s", esc) < 0)
                return ADCTL_EXIT_FAILURE;
        call.path = path;
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 200) {
                int ret = adctl_fail(ctl, &reply);

                adctl_reply_free(&reply);
                return ret;
        }
        if (ctl->json)
                adctl_print_raw(&reply);
        else
                printf("Revoked key %s (%s) of team %s\n", adctl_str(reply.doc, "name"), id,
                       adctl_str(reply.doc, "team"));
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

int adctl_cmd_tokens(struct adctl *ctl, int argc, char **argv)
{
        const char *role = NULL, *expires = NULL, *user = NULL, *team = NULL, *sub;
        int ret = parse(ctl, argc, argv, "tokens", true, NULL, NULL, NULL, NULL);
        int rest;

        if (ret != ADCTL_OPT_NEXT)
                return ret;
        /* '+' stopped at the subcommand: its own options follow it. */
        if (optind >= argc)
                return adctl_usage_error("tokens", "which one: ls, create or rm?");
        sub = argv[optind];
        rest = optind;
        ret = parse(ctl, argc - rest, argv + rest, "tokens", false, &role, &expires, &user, &team);
        if (ret != ADCTL_OPT_NEXT)
                return ret;
        {
                int nargs = argc - rest - optind;
                char **args = argv + rest + optind;

                if (strcmp(sub, "ls") == 0) {
                        if (nargs != 0 || role || expires || user || team)
                                return adctl_usage_error("tokens", "tokens ls takes no argument");
                        return tokens_ls(ctl);
                }
                if (strcmp(sub, "create") == 0) {
                        if (nargs != 1 || role == NULL)
                                return adctl_usage_error("tokens",
                                                         "tokens create NAME --role ROLE");
                        return tokens_create(ctl, args[0], role, expires, user, team);
                }
                if (strcmp(sub, "rm") == 0) {
                        if (nargs != 1 || !adctl_is_uuid(args[0]))
                                return adctl_usage_error("tokens",
                                                         "tokens rm ID (the id tokens ls shows)");
                        return tokens_rm(ctl, args[0]);
                }
        }
        return adctl_usage_error("tokens", "unknown subcommand `%s` (ls, create, rm)", sub);
}

/* Writes api= and token= to the config file, mode 0600, atomically. */
static int save_config(const struct adctl *ctl, const char *key, char *path, size_t size)
{
        char dir[1024], tmp[1200];
        FILE *f;
        int fd;

        if (adctl_config_path(path, size, dir, sizeof(dir)) < 0) {
                fprintf(stderr, "adctl: neither $XDG_CONFIG_HOME nor $HOME is set\n");
                return -1;
        }
        {
                /* ~/.config may not exist yet. */
                char parent[1024];
                char *slash;

                snprintf(parent, sizeof(parent), "%s", dir);
                slash = strrchr(parent, '/');
                if (slash && slash != parent) {
                        *slash = '\0';
                        mkdir(parent, 0700);
                }
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "adctl: cannot create %s: %s\n", dir, strerror(errno));
                return -1;
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0 || (f = fdopen(fd, "w")) == NULL) {
                fprintf(stderr, "adctl: cannot write %s: %s\n", tmp, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        fprintf(f, "# adctl login wrote this file; keep it private (mode 0600)\napi=%s\ntoken=%s\n",
                ctl->api, key);
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                fprintf(stderr, "adctl: cannot write %s: %s\n", path, strerror(errno));
                unlink(tmp);
                return -1;
        }
        adctl_jwt_forget();
        return 0;
}

/* One line of stdin; on a terminal, asked for and not echoed. */
static int read_key(const struct adctl *ctl, char *key, size_t size)
{
        struct termios old, quiet;
        bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
        char *got;

        if (tty) {
                fprintf(stderr, "API key for %s: ", ctl->api);
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        got = fgets(key, (int)size, stdin);
        if (tty) {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
                fputc('\n', stderr);
        }
        return got ? 0 : -1;
}

int adctl_cmd_login(struct adctl *ctl, int argc, char **argv)
{
        char key[256], path[1100];
        struct adctl_call call = { .path = "/whoami" };
        struct adctl_reply reply;
        struct adctl probe = *ctl;
        int ret = parse(ctl, argc, argv, "login", false, NULL, NULL, NULL, NULL);

        if (ret != ADCTL_OPT_NEXT)
                return ret;
        if (optind != argc)
                return adctl_usage_error("login", "login reads the key from stdin");
        if (read_key(ctl, key, sizeof(key)) < 0) {
                fprintf(stderr, "adctl: no key on stdin\n");
                return ADCTL_EXIT_USAGE;
        }
        key[strcspn(key, "\r\n")] = '\0';
        if (key[0] == '\0' || strchr(key, ' ') || strchr(key, '=')) {
                explicit_bzero(key, sizeof(key));
                return adctl_usage_error("login", "that is not an API key");
        }
        /* The key must work before it is kept. */
        probe = *ctl;
        probe.token = key;
        probe.token_saved = false;
        probe.json = false;
        if (adctl_request(&probe, &call, &reply) < 0) {
                explicit_bzero(key, sizeof(key));
                return ADCTL_EXIT_FAILURE;
        }
        if (reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
                adctl_reply_free(&reply);
                explicit_bzero(key, sizeof(key));
                return ret;
        }
        if (save_config(ctl, key, path, sizeof(path)) < 0) {
                adctl_reply_free(&reply);
                explicit_bzero(key, sizeof(key));
                return ADCTL_EXIT_FAILURE;
        }
        explicit_bzero(key, sizeof(key));
        printf("Logged in to %s as %s (team %s, role %s); the key is in %s\n", ctl->api,
               adctl_str(reply.doc, "principal"),
               *adctl_str(reply.doc, "team") ? adctl_str(reply.doc, "team") : "none",
               adctl_str(reply.doc, "role"), path);
        if (getenv("ADCTL_TOKEN"))
                fprintf(stderr, "adctl: note: $ADCTL_TOKEN is set and wins over the saved key\n");
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

/* adctl audit [--limit N]: the team's audit log, newest first. */
int adctl_cmd_audit(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "limit", required_argument, NULL, 'n' },
                ADCTL_COMMON_LONGOPTS,
        };
        cleanup_free char *path = NULL;
        struct adctl_call call = { 0 };
        struct adctl_reply reply;
        const char *limit = "50";
        size_t i;
        json_t *e;
        int c, ret;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, "+hn:", longopts, NULL)) != -1) {
                if (c == 'n') {
                        limit = optarg;
                        continue;
                }
                if ((ret = adctl_common_option(ctl, c, "audit", argv)) != ADCTL_OPT_NEXT)
                        return ret;
        }
        if (optind != argc)
                return adctl_usage_error("audit", "audit takes no argument");
        if (strspn(limit, "0123456789") != strlen(limit) || !*limit || strlen(limit) > 4)
                return adctl_usage_error("audit", "--limit is a number (1 to 500)");
        if (asprintf(&path, "/audit?limit=%s", limit) < 0)
                return ADCTL_EXIT_FAILURE;
        call.path = path;
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
                adctl_reply_free(&reply);
                return ret;
        }
        if (ctl->json) {
                adctl_print_raw(&reply);
        } else {
                printf("%-23s  %-24s  %-15s  %-20s  %-6s  %s\n", "AT (UTC)", "WHO", "FROM",
                       "ACTION", "STATUS", "TARGET");
                json_array_foreach (json_object_get(reply.doc, "entries"), i, e)
                        printf("%-23.23s  %-24s  %-15s  %-20s  %-6lld  %s\n", adctl_str(e, "at"),
                               adctl_str(e, "principal"), adctl_str(e, "remote"),
                               adctl_str(e, "action"),
                               (long long)json_integer_value(json_object_get(e, "status")),
                               *adctl_str(e, "app") ? adctl_str(e, "app") : adctl_str(e, "path"));
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}
