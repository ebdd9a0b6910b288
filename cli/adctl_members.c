/* adctl members ls|add|role|rm: a team's members and their roles (team
 * admins; /teams/{team}/members).  The team is --team, else the caller's
 * own (GET /whoami). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "adctl.h"

/* The caller's team into out; -1 after printing why not. */
static int own_team(const struct adctl *ctl, char *out, size_t size)
{
        struct adctl_call call = { .path = "/whoami" };
        struct adctl_reply reply;
        int ret = -1;

        if (adctl_request(ctl, &call, &reply) < 0)
                return -1;
        if (reply.status != 200) {
                adctl_fail(ctl, &reply);
        } else if (*adctl_str(reply.doc, "team") == '\0') {
                fprintf(stderr, "adctl: your token belongs to no team (a platform operator's): "
                                "name one with --team\n");
        } else {
                snprintf(out, size, "%s", adctl_str(reply.doc, "team"));
                ret = 0;
        }
        adctl_reply_free(&reply);
        return ret;
}

/* One request to /teams/TEAM/members[/USER]; prints the raw reply with
 * --json, else calls print.  Returns the exit code. */
static int members_call(const struct adctl *ctl, const char *method, const char *team,
                        const char *user, json_t *body, long ok, void (*print)(const json_t *doc))
{
        cleanup_free char *t = ad_http_escape(team), *u = user ? ad_http_escape(user) : NULL;
        cleanup_free char *path = NULL, *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        struct adctl_call call = { .method = method, .body = text };
        struct adctl_reply reply;
        int ret = ADCTL_EXIT_OK;

        if (t == NULL || (user && u == NULL) ||
            asprintf(&path, "/teams/%s/members%s%s", t, u ? "/" : "", u ? u : "") < 0)
                return ADCTL_EXIT_FAILURE;
        call.path = path;
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != ok)
                ret = adctl_fail(ctl, &reply);
        else if (ctl->json)
                adctl_print_raw(&reply);
        else
                print(reply.doc);
        adctl_reply_free(&reply);
        return ret;
}

static void print_list(const json_t *doc)
{
        json_t *m;
        size_t i;

        printf("%-32s  %-8s  %-4s  %s\n", "USER", "ROLE", "KEYS", "SINCE (UTC)");
        json_array_foreach (json_object_get(doc, "members"), i, m)
                printf("%-32s  %-8s  %4lld  %.19s\n", adctl_str(m, "user"), adctl_str(m, "role"),
                       (long long)json_integer_value(json_object_get(m, "keys")),
                       adctl_str(m, "since"));
}

static void print_added(const json_t *doc)
{
        printf("%s is now a %s of team %s\n", adctl_str(doc, "user"), adctl_str(doc, "role"),
               adctl_str(doc, "team"));
}

static void print_role(const json_t *doc)
{
        printf("%s of team %s: %s -> %s\n", adctl_str(doc, "user"), adctl_str(doc, "team"),
               adctl_str(doc, "was"), adctl_str(doc, "role"));
}

static void print_removed(const json_t *doc)
{
        printf("%s (%s) left team %s; %lld of their keys revoked\n", adctl_str(doc, "user"),
               adctl_str(doc, "was"), adctl_str(doc, "team"),
               (long long)json_integer_value(json_object_get(doc, "keys_revoked")));
}

int adctl_cmd_members(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "role", required_argument, NULL, 'r' },
                { "team", required_argument, NULL, 't' },
                ADCTL_COMMON_LONGOPTS,
        };
        const char *role = NULL, *team_opt = NULL, *sub;
        char team[128];
        json_auto_t *body = NULL;
        char **args;
        int c, ret, nargs;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                if (c == 'r')
                        role = optarg;
                else if (c == 't')
                        team_opt = optarg;
                else if ((ret = adctl_common_option(ctl, c, "members", argv)) != ADCTL_OPT_NEXT)
                        return ret;
        }
        if (optind >= argc)
                return adctl_usage_error("members", "which one: ls, add, role or rm?");
        sub = argv[optind];
        args = argv + optind + 1;
        nargs = argc - optind - 1;
        if (strcmp(sub, "ls") == 0) {
                if (nargs != 0 || role)
                        return adctl_usage_error("members", "members ls takes no argument");
        } else if (strcmp(sub, "add") == 0 || strcmp(sub, "role") == 0) {
                if (nargs != 1 || role == NULL)
                        return adctl_usage_error("members", "members %s USER --role ROLE", sub);
        } else if (strcmp(sub, "rm") == 0) {
                if (nargs != 1 || role)
                        return adctl_usage_error("members", "members rm USER");
        } else {
                return adctl_usage_error("members", "unknown subcommand `%s` (ls, add, role, rm)",
                                         sub);
        }
        if (team_opt)
                snprintf(team, sizeof(team), "%s", team_opt);
        else if (own_team(ctl, team, sizeof(team)) < 0)
                return ADCTL_EXIT_FAILURE;
        if (strcmp(sub, "ls") == 0)
                return members_call(ctl, NULL, team, NULL, NULL, 200, print_list);
        if (strcmp(sub, "add") == 0) {
                body = json_pack("{s:s,s:s}", "user", args[0], "role", role);
                return members_call(ctl, "POST", team, NULL, body, 201, print_added);
        }
        if (strcmp(sub, "role") == 0) {
                body = json_pack("{s:s}", "role", role);
                return members_call(ctl, "PATCH", team, args[0], body, 200, print_role);
        }
        return members_call(ctl, "DELETE", team, args[0], NULL, 200, print_removed);
}
