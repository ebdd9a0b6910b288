/* adctl: deploy and manage apps through the app-deployer REST API. */
#include "adctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct adctl_command adctl_commands[] = {
        { "deploy", adctl_cmd_deploy,
          "deploy URL [--name N] [--ref R] [--env K=V]... [--wait [--timeout S]]",
          "Queues a deployment of the git repository at URL (https://, http://, git://;\n"
          "a local directory when the API allows local sources).\n\n"
          "  --name N          the app's name (default: from the repository's name)\n"
          "  --ref R           branch, tag or commit (default: the default branch)\n"
          "  --env K=V         an environment variable for the app (repeatable);\n"
          "                    --env K alone takes K's value from this environment\n"
          "  --idempotency-key KEY\n"
          "                    the same key twice queues one deployment\n"
          "  -w, --wait        follow the deployment: print each state as it is\n"
          "                    reached with how long it took, then the URL (exit 0)\n"
          "                    or why it failed (exit 1)\n"
          "  --timeout S       give up waiting after S seconds (default: no limit)\n" },
        { "ls", adctl_cmd_ls, "ls [--limit N] [--cursor C] [--all]",
          "Lists deployments, newest first.\n\n"
          "  --limit N         how many (1-100, default 20)\n"
          "  --cursor C        the page after the one that printed C\n"
          "  --all             every page\n" },
        { "status", adctl_cmd_status, "status ID",
          "Shows a deployment: state, URL, IP, steps with their durations, the\n"
          "build, and the error of a failed one.\n" },
        { "logs", adctl_cmd_logs, "logs ID [-f|--follow] | logs APP [--tail] [-n N]",
          "logs ID: prints a deployment's build and runtime log lines.\n"
          "logs APP: the last N lines (default 100) of each running container of the\n"
          "app, read from the engine now, as `web.<replica> | line`.\n"
          "logs APP --tail: the app's collected runtime log, the last N lines then each\n"
          "new one as it comes, across redeploys and deployer restarts (Ctrl-C stops).\n\n"
          "  -f, --follow      (ID) keep printing new lines until the deployment is done\n"
          "  -t, --tail        (APP) follow the app's log\n"
          "  -n, --lines N     (APP) lines per container, or with --tail lines first shown "
          "(1-1000)\n" },
        { "rm", adctl_cmd_rm, "rm ID | rm APP",
          "rm ID: destroys a deployment: its container, route and network go away.\n"
          "rm APP: destroys the app: every deployment's containers, its route, network\n"
          "and images, its releases and config.\n" },
        { "rollback", adctl_cmd_rollback, "rollback ID | rollback APP [N] [--wait]",
          "rollback ID: runs the app's healthy release before deployment ID again, as\n"
          "a new deployment (printed), without building.\n"
          "rollback APP [N]: runs release N of APP again (default: the release before\n"
          "the current one), with that release's config and the app's scale.\n\n"
          "  -w, --wait        follow the new deployment to its end\n" },
        { "apps", adctl_cmd_apps, "apps",
          "Lists the apps: status, current release, replicas, URL.\n" },
        { "info", adctl_cmd_info, "info APP",
          "Shows an app: repository, URL, IP, current release, config version, scale,\n"
          "last deployment, and each container with its state and health.\n" },
        { "ps", adctl_cmd_ps, "ps APP",
          "Lists an app's containers: process type, release, state, health (each\n"
          "replica probed over HTTP now).\n" },
        { "config", adctl_cmd_config,
          "config APP | config get APP NAME | config set APP NAME=V... | config unset APP NAME...",
          "Shows the names of an app's config variables (values stay sealed), one\n"
          "value in clear (get), or changes them: set and unset make a new release of\n"
          "the current image with the new config, no build, health-gated.\n\n"
          "  -w, --wait        follow the new release to its end\n"
          "  --timeout S       give up waiting after S seconds\n" },
        { "scale", adctl_cmd_scale, "scale APP TYPE=N... [--wait]",
          "Runs N containers of each process type given (web=3 worker=1: web 1-100,\n"
          "the Procfile's other types 0-100, within the operator's\n"
          "deployer.max_replicas): a new release of the current image, no build.\n\n"
          "  -w, --wait        follow the new release to its end\n" },
        { "releases", adctl_cmd_releases, "releases APP",
          "Lists an app's releases, newest first: number, status, config version,\n"
          "commit, when, who, what changed.\n" },
        { "redeploy", adctl_cmd_redeploy, "redeploy APP [REF] [--wait]",
          "Deploys the app's repository again (its stored ref, or REF) with its\n"
          "stored config.\n\n"
          "  -w, --wait        follow the deployment to its end\n" },
        { "tokens", adctl_cmd_tokens,
          "tokens ls | tokens create NAME --role ROLE [--expires 30d|never] [--user U] | "
          "tokens rm ID",
          "Lists, creates or revokes your team's API keys (team admins).  create prints\n"
          "the new key once; rm takes effect on the key's next request.\n\n"
          "  --role ROLE       admin, deployer or viewer (at most your own)\n"
          "  --expires D       lifetime: 30d, 12h, 90m, 2w, or never (default 90d)\n"
          "  --user U          bind the key to a member; it acts with the weaker role\n"
          "  --team T          the key's team (platform operators only)\n" },
        { "members", adctl_cmd_members,
          "members ls | members add USER --role ROLE | members role USER --role ROLE | "
          "members rm USER",
          "Lists your team's members, adds one (a user the platform does not know yet\n"
          "is created), changes a member's role or removes a member (team admins).\n"
          "rm revokes the member's keys of the team at once; the last admin cannot be\n"
          "removed or demoted.  A new role applies to the member's keys' next request.\n\n"
          "  --role ROLE       admin, deployer or viewer\n"
          "  --team T          the team (default: your key's; platform operators name\n"
          "                    one)\n" },
        { "login", adctl_cmd_login, "login [--api URL] < KEYFILE",
          "Reads an API key from stdin, checks it with the API (GET /whoami) and keeps\n"
          "it with the API's address in ~/.config/adctl/config (mode 0600).  Later\n"
          "commands send it; $ADCTL_TOKEN, when set, wins.\n" },
        { "audit", adctl_cmd_audit, "audit [-n|--limit N]",
          "Shows your team's audit log, newest first (team admins): who asked for\n"
          "which change, when, from where, and the answer.\n\n"
          "  -n, --limit N     how many entries (default 50, at most 500)\n" },
        { "domains", adctl_cmd_domains,
          "domains ls APP | domains add APP HOST | domains rm APP HOST",
          "Lists, adds or removes an app's custom domains.  A domain added is routed\n"
          "to the app's current release at once, over HTTP and over HTTPS (a\n"
          "certificate from the configured issuer), and stays routed across\n"
          "redeploys, rollbacks, config changes and scaling.  A name another app has\n"
          "(or <app>.<base domain>) is refused.\n" },
        { "run", adctl_cmd_run, "run APP [--timeout S] -- CMD...",
          "Runs CMD once in a new container of the app's current release, with its\n"
          "config, as the app runs (same user, limits, no capabilities), no port and\n"
          "no route; prints its output (stdout and stderr) and exits with its exit\n"
          "code.  One CMD argument is a shell command line (`adctl run shop -- 'echo\n"
          "$HOME; ls'`); several are quoted, one word each.\n\n"
          "  --timeout S       kill it after S seconds (default and most: the\n"
          "                    deployer's deployer.run_timeout_s)\n" },
        { "completion", adctl_cmd_completion, "completion bash|zsh",
          "Prints a completion script for bash or zsh, made from this command table:\n"
          "commands, their subcommands and options, and app names (asked of the API\n"
          "when completing).  Load it with `source <(adctl completion bash)` (zsh:\n"
          "`source <(adctl completion zsh)`).\n" },
        { "man", adctl_cmd_man, "man",
          "Prints adctl's manual page (roff, from this command table): `adctl man >\n"
          "adctl.1; man ./adctl.1`.\n" },
};
const size_t adctl_n_commands = sizeof(adctl_commands) / sizeof(adctl_commands[0]);

static void usage(FILE *f)
{
        fprintf(f, "Usage: adctl [--api URL] [--json] COMMAND [ARGS]\n\n"
                   "Deploy and manage apps through the app-deployer REST API.\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < adctl_n_commands; i++)
                fprintf(f, "  adctl %s\n", adctl_commands[i].synopsis);
        fprintf(f,
                "\n"
                "  deploy      queue a deployment of a git repository; --wait follows it\n"
                "              to the end, printing each state and how long it took\n"
                "  ls          list deployments, newest first\n"
                "  status      show a deployment: state, URL, steps, build, error\n"
                "  logs        print a deployment's build and runtime logs; -f follows them\n"
                "  rm          destroy a deployment (its container, route and network)\n"
                "  rollback    run the app's previous healthy release (or release N) again\n"
                "  apps        list apps; info APP shows one, ps APP its containers\n"
                "  config      show or change an app's config variables (a new release)\n"
                "  scale       change how many containers run an app (a new release)\n"
                "  releases    list an app's releases\n"
                "  redeploy    deploy an app's repository again with its stored settings\n"
                "  tokens      list, create or revoke your team's API keys (team admins)\n"
                "  members     list, add or remove your team's members, change roles\n"
                "  login       keep an API key for later commands\n"
                "  audit       your team's audit log (team admins)\n"
                "  domains     list, add or remove an app's custom domains\n"
                "  run         run a one-off command in a new container of an app\n"
                "  completion  print a bash or zsh completion script; man: the manual page\n"
                "\n"
                "Options (anywhere on the command line):\n"
                "  --api URL   the API's address (default: $ADCTL_API, else $AD_API_URL,\n"
                "              else %s)\n"
                "  --json      print the API's JSON replies as they are\n"
                "  -h, --help  show this help (or a command's: adctl deploy --help)\n"
                "  -V, --version\n"
                "\n"
                "Environment: ADCTL_TOKEN, when set, is sent as Authorization: Bearer (an API\n"
                "key or a token of api.tokens); else the key adctl login saved in\n"
                "~/.config/adctl/config, exchanged for short-lived JWTs kept next to it.\n"
                "ADCTL_CA_FILE: a PEM file of the CA to trust for an https:// API (else\n"
                "the system's).\n"
                "\n"
                "Exit status: 0 success, 1 the API refused, could not be reached or the\n"
                "deployment failed, 2 bad usage.\n",
                ADCTL_DEFAULT_API);
}

int adctl_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "adctl: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        for (size_t i = 0; cmd && i < adctl_n_commands; i++)
                if (strcmp(adctl_commands[i].name, cmd) == 0)
                        fprintf(stderr, "usage: adctl %s\n", adctl_commands[i].synopsis);
        if (cmd)
                fprintf(stderr, "Try `adctl %s --help`.\n", cmd);
        else
                fprintf(stderr, "Try `adctl --help`.\n");
        return ADCTL_EXIT_USAGE;
}

int adctl_bad_option(const char *cmd, char **argv)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        /* optopt names a short option; a long one is the argument itself. */
        if (optopt && !(arg[0] == '-' && arg[1] == '-'))
                return adctl_usage_error(cmd, "unknown option or missing value: `-%c`", optopt);
        return adctl_usage_error(cmd, "unknown option or missing value: `%s`", arg);
}

int adctl_common_option(struct adctl *ctl, int c, const char *cmd, char **argv)
{
        switch (c) {
        case 'A':
                return adctl_set_api(ctl, optarg) < 0 ? ADCTL_EXIT_USAGE : ADCTL_OPT_NEXT;
        case 'J':
                ctl->json = true;
                return ADCTL_OPT_NEXT;
        case 'h':
                return adctl_command_help(cmd);
        default:
                return adctl_bad_option(cmd, argv);
        }
}

int adctl_command_help(const char *cmd)
{
        for (size_t i = 0; i < adctl_n_commands; i++)
                if (strcmp(adctl_commands[i].name, cmd) == 0)
                        printf("Usage: adctl %s\n\n%s\n"
                               "  --api URL         the API's address\n"
                               "  --json            print the API's JSON reply as it is\n",
                               adctl_commands[i].synopsis, adctl_commands[i].help);
        return ADCTL_EXIT_OK;
}

int adctl_set_api(struct adctl *ctl, const char *url)
{
        size_t n;

        if (url == NULL ||
            (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
                fprintf(stderr, "adctl: the API address `%s` must start with http:// or https://\n",
                        url ? url : "");
                return -1;
        }
        n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
                n--;
        if (n >= sizeof(ctl->api)) {
                fprintf(stderr, "adctl: the API address is too long\n");
                return -1;
        }
        memcpy(ctl->api, url, n);
        ctl->api[n] = '\0';
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "version", no_argument, NULL, 'V' },
                ADCTL_COMMON_LONGOPTS,
        };
        struct adctl ctl = { .json = false, .token = getenv("ADCTL_TOKEN") };
        const char *api = getenv("ADCTL_API");
        bool api_given;
        int c;

        if (ctl.token && *ctl.token == '\0')
                ctl.token = NULL;
        if (api == NULL || *api == '\0')
                api = getenv("AD_API_URL");
        api_given = api && *api;
        if (!api_given)
                api = ADCTL_DEFAULT_API;
        if (adctl_set_api(&ctl, api) < 0)
                return ADCTL_EXIT_USAGE;
        /* adctl login's file: the key when $ADCTL_TOKEN is not set. */
        adctl_config_load(&ctl, api_given);

        /* Options before the command; '+' stops at the command name, whose
         * own parser accepts these options too. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'A':
                        if (adctl_set_api(&ctl, optarg) < 0)
                                return ADCTL_EXIT_USAGE;
                        break;
                case 'J':
                        ctl.json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return ADCTL_EXIT_OK;
                case 'V':
                        printf("adctl 0.1.0\n");
                        return ADCTL_EXIT_OK;
                default:
                        return adctl_bad_option(NULL, argv);
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return ADCTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < adctl_n_commands; i++) {
                if (strcmp(argv[optind], adctl_commands[i].name) == 0) {
                        int sub_argc = argc - optind;
                        char **sub_argv = argv + optind;

                        optind = 0; /* a full reset for the command's getopt */
                        return adctl_commands[i].fn(&ctl, sub_argc, sub_argv);
                }
        }
        if (strcmp(argv[optind], "help") == 0) {
                usage(stdout);
                return ADCTL_EXIT_OK;
        }
        return adctl_usage_error(NULL, "unknown command `%s`", argv[optind]);
}
