/* adctl completion bash|zsh and adctl man: shell completion and the manual
 * page, both made from the command table (adctl.c), so a new command or
 * option shows up in them without anyone editing a second list.
 *
 * From each command's synopsis: its subcommands (a lower-case word right
 * after the command's name in one of the `|` alternatives: `config set`,
 * `domains add`) and whether it takes an app name (APP); from its
 * synopsis and help: its long options (`--wait`). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adctl.h"

#define WORDS_MAX 2048

/* Appends word to a space-separated list unless it is there already. */
static void add_word(char *list, size_t size, const char *word, size_t n)
{
        size_t len = strlen(list);

        for (const char *p = list; *p;) {
                size_t w = strcspn(p, " ");

                if (w == n && strncmp(p, word, n) == 0)
                        return;
                p += w;
                while (*p == ' ')
                        p++;
        }
        if (len + n + 2 > size)
                return;
        snprintf(list + len, size - len, "%s%.*s", len ? " " : "", (int)n, word);
}

/* The lower-case words that follow the command's name at the start of an
 * alternative of its synopsis. */
static void subcommands(const struct adctl_command *c, char *out, size_t size)
{
        size_t name_len = strlen(c->name);

        out[0] = '\0';
        for (const char *alt = c->synopsis; alt;) {
                while (*alt == ' ' || *alt == '|')
                        alt++;
                if (alt != c->synopsis && islower((unsigned char)*alt)) {
                        /* "completion bash|zsh": the alternative is a word. */
                        size_t n = 0;

                        while (islower((unsigned char)alt[n]))
                                n++;
                        if (alt[n] == '\0' || alt[n] == ' ' || alt[n] == '|')
                                if (strncmp(alt, c->name, name_len) != 0 || n != name_len)
                                        add_word(out, size, alt, n);
                }
                if (strncmp(alt, c->name, name_len) == 0 && alt[name_len] == ' ') {
                        const char *w = alt + name_len + 1;
                        size_t n = 0;

                        while (islower((unsigned char)w[n]))
                                n++;
                        if (n > 0 && (w[n] == ' ' || w[n] == '\0' || w[n] == '|'))
                                add_word(out, size, w, n);
                }
                alt = strchr(alt, '|');
        }
}

/* Every --long-option named in text. */
static void long_options(const char *text, char *out, size_t size)
{
        for (const char *p = strstr(text, "--"); p; p = strstr(p + 2, "--")) {
                size_t n = 2;

                if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '-'))
                        continue;
                while (islower((unsigned char)p[n]) || p[n] == '-')
                        n++;
                if (n > 2)
                        add_word(out, size, p, n);
        }
}

static const char global_options[] = "--api --json --help --version";

static void print_bash(void)
{
        char words[WORDS_MAX];

        printf("# adctl completion for bash (made by `adctl completion bash`).\n"
               "_adctl_apps() {\n"
               "  adctl apps 2>/dev/null | awk 'NR > 1 { print $1 }'\n"
               "}\n"
               "_adctl() {\n"
               "  local cur=${COMP_WORDS[COMP_CWORD]} cmd='' i n=0 words='' opts=''\n"
               "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
               "    case ${COMP_WORDS[i]} in\n"
               "    --api) ((i++)) ;;\n"
               "    -*) ;;\n"
               "    *) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; else n=$((n + 1)); fi ;;\n"
               "    esac\n"
               "  done\n"
               "  if [[ -z $cmd ]]; then\n"
               "    opts='%s'\n"
               "    words='",
               global_options);
        for (size_t i = 0; i < adctl_n_commands; i++)
                printf("%s%s", i ? " " : "", adctl_commands[i].name);
        printf("'\n"
               "  else\n"
               "    case $cmd in\n");
        for (size_t i = 0; i < adctl_n_commands; i++) {
                const struct adctl_command *c = &adctl_commands[i];
                char subs[WORDS_MAX];
                bool app = strstr(c->synopsis, "APP") != NULL;

                subcommands(c, subs, sizeof(subs));
                snprintf(words, sizeof(words), "--api --json --help");
                long_options(c->synopsis, words, sizeof(words));
                long_options(c->help, words, sizeof(words));
                printf("    %s)\n      opts='%s'\n", c->name, words);
                /* The first argument: a subcommand or an app name; an
                 * app name after a subcommand. */
                if (*subs)
                        printf("      ((n == 0)) && words+=' %s'\n", subs);
                if (app)
                        printf("      ((n == 0%s)) && words+=\" $(_adctl_apps)\"\n",
                               *subs ? " || n == 1" : "");
                printf("      ;;\n");
        }
        printf("    esac\n"
               "  fi\n"
               "  # Options when the word starts with '-', else the arguments.\n"
               "  [[ $cur == -* ]] && words=$opts\n"
               "  mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
               "}\n"
               "complete -F _adctl adctl\n");
}

/* The help text as roff: a line starting with '.' or '\'' is escaped. */
static void print_roff_text(const char *text)
{
        bool line_start = true;

        for (const char *p = text; *p; p++) {
                if (line_start && (*p == '.' || *p == '\''))
                        fputs("\\&", stdout);
                if (*p == '\\')
                        fputs("\\e", stdout);
                else if (*p == '-')
                        fputs("\\-", stdout);
                else
                        putchar(*p);
                line_start = *p == '\n';
        }
}

static void print_man(void)
{
        printf(".\\\" Made by `adctl man` from adctl's command table.\n"
               ".TH ADCTL 1 \"\" \"app-deployer\" \"User Commands\"\n"
               ".SH NAME\n"
               "adctl \\- deploy and manage apps through the app\\-deployer REST API\n"
               ".SH SYNOPSIS\n"
               ".B adctl\n"
               "[\\fB\\-\\-api\\fR \\fIURL\\fR] [\\fB\\-\\-json\\fR] \\fICOMMAND\\fR "
               "[\\fIARGS\\fR]\n"
               ".SH DESCRIPTION\n"
               "adctl is a thin client of the app\\-deployer REST API (docs/api.md): each "
               "command is one or a few requests.\n"
               ".SH COMMANDS\n");
        for (size_t i = 0; i < adctl_n_commands; i++) {
                printf(".TP\n.B adctl ");
                print_roff_text(adctl_commands[i].synopsis);
                printf("\n.nf\n");
                print_roff_text(adctl_commands[i].help);
                printf(".fi\n");
        }
        printf(".SH OPTIONS\n"
               ".TP\n.BI \\-\\-api \" URL\"\n"
               "The API's address (default: $ADCTL_API, else $AD_API_URL, else " ADCTL_DEFAULT_API
               ").\n"
               ".TP\n.B \\-\\-json\nPrint the API's JSON replies as they are.\n"
               ".TP\n.BR \\-h \", \" \\-\\-help\nShow the help (of a command: adctl deploy "
               "\\-\\-help).\n"
               ".SH ENVIRONMENT\n"
               ".TP\n.B ADCTL_TOKEN\nSent as Authorization: Bearer (an API with api.tokens asks "
               "for it).\n"
               ".SH EXIT STATUS\n"
               "0 success; 1 the API refused, could not be reached or the deployment failed; 2 "
               "bad usage.\n"
               ".SH SEE ALSO\n"
               "docs/apps.md, docs/api.md\n");
}

static int no_options(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = { ADCTL_COMMON_LONGOPTS };
        int c, opt;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
                if ((opt = adctl_common_option(ctl, c, argv[0], argv)) != ADCTL_OPT_NEXT)
                        return opt;
        return ADCTL_OPT_NEXT;
}

int adctl_cmd_completion(struct adctl *ctl, int argc, char **argv)
{
        int ret;

        if ((ret = no_options(ctl, argc, argv)) != ADCTL_OPT_NEXT)
                return ret;
        if (optind + 1 != argc ||
            (strcmp(argv[optind], "bash") != 0 && strcmp(argv[optind], "zsh") != 0))
                return adctl_usage_error(argv[0], "say bash or zsh");
        if (strcmp(argv[optind], "zsh") == 0)
                printf("# adctl completion for zsh (made by `adctl completion zsh`): the bash "
                       "one through bashcompinit.\n"
                       "autoload -U +X compinit && compinit\n"
                       "autoload -U +X bashcompinit && bashcompinit\n");
        print_bash();
        return ADCTL_EXIT_OK;
}

int adctl_cmd_man(struct adctl *ctl, int argc, char **argv)
{
        int ret;

        if ((ret = no_options(ctl, argc, argv)) != ADCTL_OPT_NEXT)
                return ret;
        if (optind < argc)
                return adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind]);
        print_man();
        return ADCTL_EXIT_OK;
}
