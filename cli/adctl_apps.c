/* adctl apps, info, ps, config, scale, releases, rollback APP, redeploy:
 * the app as the thing users work with (the /apps routes). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "ad/names.h"
#include "adctl.h"

/* Options of the commands that change an app. */
struct change_opts {
        bool wait;
        long timeout_s;
};

/* Parses the common options (and --wait/--timeout when `change` is set)
 * anywhere on the command line; leaves the positional arguments, in their
 * order, at argv[optind...].  Returns
 * ADCTL_OPT_NEXT to go on, else the exit code. */
static int parse_opts(struct adctl *ctl, int argc, char **argv, struct change_opts *change)
{
        static const struct option longopts[] = {
                { "wait", no_argument, NULL, 'w' },
                { "timeout", required_argument, NULL, 't' },
                ADCTL_COMMON_LONGOPTS,
        };
        int c, opt;

        opterr = 0;
        while ((c = getopt_long(argc, argv, change ? "wh" : "h", longopts, NULL)) != -1) {
                if (change && c == 'w') {
                        change->wait = true;
                        continue;
                }
                if (change && c == 't') {
                        char *end;

                        change->timeout_s = strtol(optarg, &end, 10);
                        if (*end || change->timeout_s <= 0)
                                return adctl_usage_error(
                                        argv[0], "--timeout takes seconds (got `%s`)", optarg);
                        continue;
                }
                if (c == 'w' || c == 't')
                        c = '?';
                if ((opt = adctl_common_option(ctl, c, argv[0], argv)) != ADCTL_OPT_NEXT)
                        return opt;
        }
        return ADCTL_OPT_NEXT;
}

/* The app name argument at argv[optind]; NULL after printing why. */
static const char *app_arg(int argc, char **argv, int *ret)
{
        if (optind >= argc) {
                *ret = adctl_usage_error(argv[0], "the app name is missing");
                return NULL;
        }
        if (!ad_app_name_valid(argv[optind])) {
                *ret = adctl_usage_error(argv[0],
                                         "`%s` is not an app name (1 to %d of a-z, 0-9 and -)",
                                         argv[optind], AD_APP_NAME_MAX);
                return NULL;
        }
        return argv[optind++];
}

/* Sends method path (body) and checks the status; prints the raw reply
 * with --json.  Returns 0 with *reply to print, or the exit code. */
static int app_request(const struct adctl *ctl, const char *method, const char *path,
                       const char *body, long ok_status, struct adctl_reply *reply)
{
        struct adctl_call call = { .method = method, .path = path, .body = body };
        int ret = 0;

        if (adctl_request(ctl, &call, reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply->status != ok_status) {
                ret = adctl_fail(ctl, reply);
                adctl_reply_free(reply);
                return ret;
        }
        if (ctl->json && ok_status != 202)
                adctl_print_raw(reply);
        return 0;
}

static char *app_path(const char *app, const char *suffix)
{
        char *path = NULL;

        if (asprintf(&path, "/apps/%s%s", app, suffix ? suffix : "") < 0)
                return NULL;
        return path;
}

/* A change was accepted (202): prints the new deployment, or follows it. */
static int accepted(const struct adctl *ctl, struct adctl_reply *reply, const char *what,
                    const struct change_opts *o)
{
        const char *id = adctl_str(reply->doc, "id");
        cleanup_free char *copy = strdup(id);
        int ret = ADCTL_EXIT_OK;

        if (ctl->json && !o->wait)
                adctl_print_raw(reply);
        else if (!ctl->json)
                printf("%s %s: new deployment %s\n", what, adctl_str(reply->doc, "app"), id);
        adctl_reply_free(reply);
        if (o->wait && copy)
                ret = adctl_wait(ctl, copy, o->timeout_s);
        else if (!ctl->json && copy)
                printf("Follow it with: adctl status %s\n", copy);
        return ret;
}

int adctl_cmd_apps(struct adctl *ctl, int argc, char **argv)
{
        struct adctl_reply reply;
        size_t i;
        json_t *a;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if (optind < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
        if ((ret = app_request(ctl, NULL, "/apps", NULL, 200, &reply)) != 0)
                return ret;
        if (!ctl->json) {
                printf("%-24s  %-8s  %-8s  %-8s  %s\n", "APP", "STATUS", "RELEASE", "REPLICAS",
                       "URL");
                json_array_foreach (json_object_get(reply.doc, "apps"), i, a) {
                        char rel[16] = "-";

                        if (json_is_integer(json_object_get(a, "release")))
                                snprintf(rel, sizeof(rel), "v%lld",
                                         (long long)json_integer_value(
                                                 json_object_get(a, "release")));
                        printf("%-24s  %-8s  %-8s  %-8lld  %s\n", adctl_str(a, "name"),
                               adctl_str(a, "status"), rel,
                               (long long)json_integer_value(json_object_get(a, "replicas")),
                               adctl_str(a, "url"));
                }
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

static void field(const char *name, const char *value)
{
        if (value && *value)
                printf("%-16s %s\n", name, value);
}

static void print_processes(json_t *procs)
{
        size_t i;
        json_t *p;

        if (!json_is_array(procs)) {
                printf("(the API cannot see the container engine: no live replicas shown)\n");
                return;
        }
        printf("%-6s  %-28s  %-36s  %-10s  %s\n", "TYPE", "NAME", "DEPLOYMENT", "STATE", "HEALTH");
        json_array_foreach (procs, i, p)
                printf("%-6s  %-28s  %-36s  %-10s  %s\n", adctl_str(p, "type"),
                       adctl_str(p, "name"), adctl_str(p, "deployment_id"), adctl_str(p, "state"),
                       adctl_str(p, "health"));
}

int adctl_cmd_info(struct adctl *ctl, int argc, char **argv)
{
        cleanup_free char *path = NULL;
        struct adctl_reply reply;
        const char *app;
        json_t *rel, *last;
        char line[512];
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if ((path = app_path(app, NULL)) == NULL ||
            (ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                return ret ? ret : ADCTL_EXIT_FAILURE;
        if (ctl->json) {
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        field("app:", adctl_str(reply.doc, "name"));
        field("status:", adctl_str(reply.doc, "status"));
        snprintf(line, sizeof(line), "%s%s%s%s", adctl_str(reply.doc, "repo_url"),
                 *adctl_str(reply.doc, "ref") ? " (" : "", adctl_str(reply.doc, "ref"),
                 *adctl_str(reply.doc, "ref") ? ")" : "");
        field("repo:", line);
        field("url:", adctl_str(reply.doc, "url"));
        {
                json_t *d;
                size_t k, n = 0;

                line[0] = '\0';
                json_array_foreach (json_object_get(reply.doc, "domains"), k, d)
                        if (json_is_string(d) && n + json_string_length(d) + 2 < sizeof(line))
                                n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s",
                                                      n ? ", " : "", json_string_value(d));
                field("domains:", line);
        }
        field("ip:", adctl_str(reply.doc, "ip"));
        snprintf(line, sizeof(line), "v%lld",
                 (long long)json_integer_value(json_object_get(reply.doc, "config_version")));
        field("config:", line);
        rel = json_object_get(reply.doc, "release");
        if (json_is_object(rel)) {
                snprintf(line, sizeof(line), "v%lld  %s (config v%lld)",
                         (long long)json_integer_value(json_object_get(rel, "version")),
                         adctl_str(rel, "image"),
                         (long long)json_integer_value(json_object_get(rel, "config_version")));
                field("release:", line);
        }
        {
                const char *type;
                json_t *pt;
                size_t n =
                        (size_t)snprintf(line, sizeof(line), "web=%zu",
                                         json_array_size(json_object_get(reply.doc, "containers")));

                /* The Procfile's other process types, with their containers. */
                json_object_foreach (json_object_get(reply.doc, "process_types"), type, pt)
                        if (strcmp(type, "web") != 0 && n + strlen(type) + 24 < sizeof(line))
                                n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%lld", type,
                                                      (long long)json_integer_value(
                                                              json_object_get(pt, "replicas")));
        }
        field("replicas:", line);
        last = json_object_get(reply.doc, "last_deployment");
        if (json_is_object(last)) {
                snprintf(line, sizeof(line), "%s %s (%s)%s%s", adctl_str(last, "id"),
                         adctl_str(last, "status"), adctl_str(last, "description"),
                         *adctl_str(last, "error") ? ": " : "", adctl_str(last, "error"));
                field("last deploy:", line);
        }
        printf("\n");
        print_processes(json_object_get(reply.doc, "processes"));
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

int adctl_cmd_ps(struct adctl *ctl, int argc, char **argv)
{
        cleanup_free char *path = NULL;
        struct adctl_reply reply;
        const char *app;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if ((path = app_path(app, NULL)) == NULL ||
            (ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                return ret ? ret : ADCTL_EXIT_FAILURE;
        if (!ctl->json)
                print_processes(json_object_get(reply.doc, "processes"));
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

int adctl_cmd_releases(struct adctl *ctl, int argc, char **argv)
{
        cleanup_free char *path = NULL;
        struct adctl_reply reply;
        const char *app;
        size_t i;
        json_t *r;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if ((path = app_path(app, "/releases")) == NULL ||
            (ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                return ret ? ret : ADCTL_EXIT_FAILURE;
        if (!ctl->json) {
                printf("%-5s  %-11s  %-7s  %-12s  %-19s  %-12s  %s\n", "REL", "STATUS", "CONFIG",
                       "COMMIT", "CREATED (UTC)", "BY", "DESCRIPTION");
                json_array_foreach (json_object_get(reply.doc, "releases"), i, r) {
                        char ver[16], cfg[16], when[32];

                        snprintf(ver, sizeof(ver), "v%lld",
                                 (long long)json_integer_value(json_object_get(r, "version")));
                        snprintf(cfg, sizeof(cfg), "v%lld",
                                 (long long)json_integer_value(
                                         json_object_get(r, "config_version")));
                        snprintf(when, sizeof(when), "%.19s", adctl_str(r, "created_at"));
                        if (strlen(when) > 10)
                                when[10] = ' ';
                        printf("%-5s  %-11s  %-7s  %-12.12s  %-19s  %-12s  %s%s\n", ver,
                               json_is_true(json_object_get(r, "current")) ? "current"
                                                                           : adctl_str(r, "status"),
                               cfg, adctl_str(r, "git_sha"), when, adctl_str(r, "requested_by"),
                               adctl_str(r, "description"),
                               json_is_true(json_object_get(r, "image_available"))
                                       ? ""
                                       : " (image removed)");
                }
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

/* adctl config APP | config set APP K=V... | config unset APP K... |
 * config get APP K */
int adctl_cmd_config(struct adctl *ctl, int argc, char **argv)
{
        struct change_opts o = { 0 };
        cleanup_free char *path = NULL, *body = NULL;
        json_auto_t *patch = NULL;
        struct adctl_reply reply;
        const char *sub = "show", *app;
        size_t i;
        json_t *n;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, &o)) != ADCTL_OPT_NEXT)
                return ret;
        if (optind < argc &&
            (strcmp(argv[optind], "set") == 0 || strcmp(argv[optind], "unset") == 0 ||
             strcmp(argv[optind], "get") == 0))
                sub = argv[optind++];
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (strcmp(sub, "show") == 0) {
                if (optind < argc)
                        return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
                if ((path = app_path(app, "/config")) == NULL ||
                    (ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                        return ret ? ret : ADCTL_EXIT_FAILURE;
                if (!ctl->json) {
                        printf("# %s config v%lld (values: adctl config get %s NAME)\n", app,
                               (long long)json_integer_value(
                                       json_object_get(reply.doc, "config_version")),
                               app);
                        json_array_foreach (json_object_get(reply.doc, "names"), i, n)
                                printf("%s\n", json_string_value(n));
                }
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        if (strcmp(sub, "get") == 0) {
                cleanup_free char *esc = NULL, *suffix = NULL;

                if (optind + 1 != argc)
                        return adctl_usage_error(argv[0], "config get takes one NAME");
                esc = ad_http_escape(argv[optind]);
                if (esc == NULL || asprintf(&suffix, "/config/%s", esc) < 0 ||
                    (path = app_path(app, suffix)) == NULL)
                        return ADCTL_EXIT_FAILURE;
                if ((ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                        return ret;
                if (!ctl->json)
                        printf("%s\n", adctl_str(reply.doc, "value"));
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        if (optind >= argc)
                return adctl_usage_error(argv[0], "config %s needs at least one %s", sub,
                                         strcmp(sub, "set") == 0 ? "NAME=value" : "NAME");
        patch = json_object();
        for (; optind < argc; optind++) {
                const char *arg = argv[optind];
                const char *eq = strchr(arg, '=');

                if (strcmp(sub, "set") == 0) {
                        char name[256];

                        if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(name))
                                return adctl_usage_error(argv[0], "`%s` is not NAME=value", arg);
                        memcpy(name, arg, (size_t)(eq - arg));
                        name[eq - arg] = '\0';
                        json_object_set_new(patch, name, json_string(eq + 1));
                } else {
                        if (eq)
                                return adctl_usage_error(argv[0], "unset takes names, not `%s`",
                                                         arg);
                        json_object_set_new(patch, arg, json_null());
                }
        }
        body = json_dumps(patch, JSON_COMPACT);
        if (body == NULL || (path = app_path(app, "/config")) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, "PATCH", path, body, 202, &reply)) != 0)
                return ret;
        return accepted(ctl, &reply, "Changing the config of", &o);
}

/* adctl scale APP TYPE=N... (web=3 worker=1) */
int adctl_cmd_scale(struct adctl *ctl, int argc, char **argv)
{
        struct change_opts o = { 0 };
        cleanup_free char *path = NULL;
        cleanup_free char *body = NULL;
        json_auto_t *req = json_object();
        struct adctl_reply reply;
        const char *app;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, &o)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind >= argc)
                return adctl_usage_error(argv[0], "give TYPE=N, such as web=3 worker=1");
        for (int i = optind; i < argc; i++) {
                const char *arg = argv[i], *eq = strchr(arg, '=');
                char *end;
                long n;

                if (eq == NULL || !ad_process_name_valid(arg, (size_t)(eq - arg)))
                        return adctl_usage_error(argv[0],
                                                 "`%s`: give TYPE=N, TYPE a process type of the "
                                                 "app's Procfile (web, worker...)",
                                                 arg);
                n = strtol(eq + 1, &end, 10);
                if (*end || end == eq + 1 || n < 0 || n > 100 ||
                    (n == 0 && eq - arg == 3 && strncmp(arg, "web", 3) == 0))
                        return adctl_usage_error(argv[0],
                                                 "`%s`: N is a number from 0 to 100 (web: 1 to "
                                                 "100)",
                                                 arg);
                {
                        char name[AD_PROCESS_NAME_MAX + 1];

                        snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
                        json_object_set_new(req, name, json_integer(n));
                }
        }
        body = json_dumps(req, JSON_COMPACT);
        if (body == NULL || (path = app_path(app, "/scale")) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, "POST", path, body, 202, &reply)) != 0)
                return ret;
        return accepted(ctl, &reply, "Scaling", &o);
}

/* adctl rollback APP [N] */
int adctl_app_rollback(struct adctl *ctl, int argc, char **argv)
{
        struct change_opts o = { 0 };
        cleanup_free char *path = NULL;
        struct adctl_reply reply;
        const char *app;
        char body[64] = "{}";
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, &o)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind < argc) {
                const char *v = argv[optind][0] == 'v' ? argv[optind] + 1 : argv[optind];
                char *end;
                long n = strtol(v, &end, 10);

                if (*end || end == v || n < 1 || optind + 1 < argc)
                        return adctl_usage_error(argv[0], "`%s` is not a release number",
                                                 argv[optind]);
                snprintf(body, sizeof(body), "{\"release\":%ld}", n);
        }
        if ((path = app_path(app, "/rollback")) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, "POST", path, body, 202, &reply)) != 0)
                return ret;
        return accepted(ctl, &reply, "Rolling back", &o);
}

/* adctl redeploy APP [REF]: a new commit with the app's settings. */
int adctl_cmd_redeploy(struct adctl *ctl, int argc, char **argv)
{
        struct change_opts o = { 0 };
        cleanup_free char *path = NULL, *body = NULL;
        json_auto_t *doc = json_object();
        struct adctl_reply reply;
        const char *app;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, &o)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind < argc)
                json_object_set_new(doc, "ref", json_string(argv[optind++]));
        if (optind < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
        body = json_dumps(doc, JSON_COMPACT);
        if (body == NULL || (path = app_path(app, "/deployments")) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, "POST", path, body, 202, &reply)) != 0)
                return ret;
        return accepted(ctl, &reply, "Deploying", &o);
}

int adctl_app_rm(struct adctl *ctl, int argc, char **argv)
{
        cleanup_free char *path = NULL;
        struct adctl_reply reply;
        const char *app;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
        if ((path = app_path(app, NULL)) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, "DELETE", path, NULL, 202, &reply)) != 0)
                return ret;
        if (ctl->json)
                adctl_print_raw(&reply);
        else
                printf("Destroying app %s and everything it owns\n", app);
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

/* adctl logs APP [--tail] [-n N]: the last N lines of each running
 * container of the app, "web.<replica> | line"; with --tail, the last N
 * stored lines of the app, then each new one as it comes (followed). */
int adctl_app_logs(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "tail", no_argument, NULL, 't' },
                { "lines", required_argument, NULL, 'n' },
                ADCTL_COMMON_LONGOPTS,
        };
        cleanup_free char *path = NULL, *suffix = NULL;
        struct adctl_reply reply;
        const char *app, *lines = "100";
        int c, opt, ret = ADCTL_EXIT_FAILURE;
        bool tail = false;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "tn:h", longopts, NULL)) != -1) {
                if (c == 't') {
                        tail = true;
                        continue;
                }
                if (c == 'n') {
                        lines = optarg;
                        continue;
                }
                if ((opt = adctl_common_option(ctl, c, argv[0], argv)) != ADCTL_OPT_NEXT)
                        return opt;
        }
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
        if (strspn(lines, "0123456789") != strlen(lines) || !*lines || strlen(lines) > 6)
                return adctl_usage_error(argv[0], "-n takes a number of lines (got `%s`)", lines);
        if (tail)
                return adctl_follow_app(ctl, app, lines);
        if (asprintf(&suffix, "/logs?tail=%s%s", lines, ctl->json ? "&format=json" : "") < 0 ||
            (path = app_path(app, suffix)) == NULL)
                return ADCTL_EXIT_FAILURE;
        if ((ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                return ret;
        if (!ctl->json)
                fwrite(reply.body, 1, reply.len, stdout);
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

/* adctl domains ls APP | domains add APP HOST | domains rm APP HOST */
int adctl_cmd_domains(struct adctl *ctl, int argc, char **argv)
{
        char host[AD_HOSTNAME_MAX + 1];
        cleanup_free char *path = NULL, *body = NULL, *esc = NULL;
        cleanup_error ad_error_t err = NULL;
        struct adctl_reply reply;
        const char *sub, *app, *added;
        size_t i;
        json_t *d;
        int ret = 0;

        if ((ret = parse_opts(ctl, argc, argv, NULL)) != ADCTL_OPT_NEXT)
                return ret;
        if (optind >= argc)
                return adctl_usage_error(argv[0], "say ls, add or rm");
        sub = argv[optind++];
        if (strcmp(sub, "ls") != 0 && strcmp(sub, "add") != 0 && strcmp(sub, "rm") != 0)
                return adctl_usage_error(argv[0], "unknown subcommand `%s`: ls, add or rm", sub);
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (strcmp(sub, "ls") == 0) {
                if (optind < argc)
                        return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
                if ((path = app_path(app, "/domains")) == NULL ||
                    (ret = app_request(ctl, NULL, path, NULL, 200, &reply)) != 0)
                        return ret ? ret : ADCTL_EXIT_FAILURE;
                if (!ctl->json)
                        json_array_foreach (json_object_get(reply.doc, "domains"), i, d)
                                printf("%-40s  %s\n", adctl_str(d, "hostname"),
                                       adctl_str(d, "url"));
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        if (optind >= argc)
                return adctl_usage_error(argv[0], "the host name is missing");
        if (optind + 1 < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind + 1]);
        if (ad_hostname_normalize(host, argv[optind], strlen(argv[optind]), &err) < 0)
                return adctl_usage_error(argv[0], "`%s`: %s", argv[optind], ad_error_message(err));
        if (strcmp(sub, "add") == 0) {
                json_auto_t *doc = json_pack("{s:s}", "hostname", host);

                body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                path = app_path(app, "/domains");
                if (body == NULL || path == NULL)
                        return ADCTL_EXIT_FAILURE;
                /* 201 added, 200 already there: both are fine. */
                {
                        struct adctl_call call = { .method = "POST", .path = path, .body = body };

                        if (adctl_request(ctl, &call, &reply) < 0)
                                return ADCTL_EXIT_FAILURE;
                }
                if (reply.status != 201 && reply.status != 200) {
                        ret = adctl_fail(ctl, &reply);
                        adctl_reply_free(&reply);
                        return ret;
                }
                added = reply.status == 201 ? "added" : "already there";
                if (ctl->json)
                        adctl_print_raw(&reply);
                else
                        printf("%s: %s %s (%s)\n", app, host, added, adctl_str(reply.doc, "url"));
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        esc = ad_http_escape(host);
        if (esc == NULL || asprintf(&path, "/apps/%s/domains/%s", app, esc) < 0) {
                path = NULL;
                return ADCTL_EXIT_FAILURE;
        }
        if ((ret = app_request(ctl, "DELETE", path, NULL, 200, &reply)) != 0)
                return ret;
        if (!ctl->json)
                printf("%s: %s removed\n", app, host);
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

/* Appends arg to *line for /bin/sh: as it is when it has only safe
 * characters, else in single quotes. */
static int shell_append(char **line, const char *arg)
{
        const char *safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                           "-_./=:,+@%";
        size_t n = *line ? strlen(*line) : 0, add = strlen(arg) * 4 + 4;
        char *grown = realloc(*line, n + add), *p;

        if (grown == NULL)
                return -1;
        *line = grown;
        p = grown + n;
        if (n)
                *p++ = ' ';
        if (*arg && strspn(arg, safe) == strlen(arg)) {
                strcpy(p, arg);
                return 0;
        }
        *p++ = '\'';
        for (const char *a = arg; *a; a++) {
                if (*a == '\'') {
                        memcpy(p, "'\\''", 4);
                        p += 4;
                } else {
                        *p++ = *a;
                }
        }
        *p++ = '\'';
        *p = '\0';
        return 0;
}

/* adctl run APP [--timeout S] -- CMD...: prints the command's output and
 * exits with its code. */
int adctl_cmd_run(struct adctl *ctl, int argc, char **argv)
{
        struct change_opts o = { 0 };
        cleanup_free char *path = NULL, *line = NULL, *body = NULL;
        json_auto_t *doc = NULL;
        struct adctl_reply reply;
        const char *app, *out;
        int ret = 0, code;

        if ((ret = parse_opts(ctl, argc, argv, &o)) != ADCTL_OPT_NEXT)
                return ret;
        if (o.wait)
                return adctl_usage_error(argv[0], "run always waits: no --wait");
        if ((app = app_arg(argc, argv, &ret)) == NULL)
                return ret;
        if (optind >= argc)
                return adctl_usage_error(argv[0],
                                         "the command is missing (adctl run APP -- CMD...)");
        /* One argument is a command line as it is; several are quoted
         * for the shell, each one word. */
        if (optind + 1 == argc)
                line = strdup(argv[optind]);
        else
                for (int i = optind; i < argc; i++)
                        if (shell_append(&line, argv[i]) < 0)
                                return ADCTL_EXIT_FAILURE;
        doc = line ? json_pack("{s:s}", "command", line) : NULL;
        if (doc && o.timeout_s > 0)
                json_object_set_new(doc, "timeout_s", json_integer(o.timeout_s));
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        path = app_path(app, "/run");
        if (body == NULL || path == NULL)
                return ADCTL_EXIT_FAILURE;
        {
                struct adctl_call call = {
                        .method = "POST",
                        .path = path,
                        .body = body,
                        /* The command's time, a minute for the image, a
                         * margin. */
                        .timeout_ms = ((o.timeout_s > 0 ? o.timeout_s : 300) + 90) * 1000L,
                        .max_body = 2 * 1024 * 1024,
                };

                if (adctl_request(ctl, &call, &reply) < 0)
                        return ADCTL_EXIT_FAILURE;
        }
        if (reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
                adctl_reply_free(&reply);
                return ret;
        }
        code = (int)json_integer_value(json_object_get(reply.doc, "exit_code"));
        if (ctl->json) {
                adctl_print_raw(&reply);
        } else {
                out = adctl_str(reply.doc, "output");
                fwrite(out, 1, strlen(out), stdout);
                fflush(stdout);
                if (json_is_true(json_object_get(reply.doc, "truncated")))
                        fprintf(stderr,
                                "adctl: the output was cut (deployer.run_max_output_bytes)\n");
                if (json_is_true(json_object_get(reply.doc, "timed_out")))
                        fprintf(stderr, "adctl: the command ran out of time and was killed\n");
        }
        adctl_reply_free(&reply);
        return code < 0 || code > 255 ? ADCTL_EXIT_FAILURE : code;
}
