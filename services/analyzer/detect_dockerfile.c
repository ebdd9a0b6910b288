/* A repository with its own Dockerfile: the builder uses that file, we
 * only read what the deployer needs from it (the port) and what helps the
 * user (the CMD, for the "why"). */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad/cleanup.h"

#define DEFAULT_PORT 8080

/* Docker also accepts the lower-case spelling; Containerfile is podman's. */
static const char *const dockerfile_names[] = { "Dockerfile", "dockerfile", "Containerfile" };

static unsigned parse_number(const char *s, size_t n)
{
        unsigned v = 0;
        size_t i;

        for (i = 0; i < n && i < 6 && s[i] >= '0' && s[i] <= '9'; i++)
                v = v * 10 + (unsigned)(s[i] - '0');
        if (i == 0 || i > 5 || v == 0 || v > 65535)
                return 0;
        /* 8080, 8080/tcp, 8000-8010 (the first of a range) */
        if (i < n && s[i] != '/' && s[i] != '-')
                return 0;
        return v;
}

/* The value of PORT in `ENV PORT=8080 X=y`, `ENV PORT 8080` (the legacy
 * one-variable form) or `ARG PORT=8080`; 0 when not set here. */
static unsigned port_variable(const char *args)
{
        const char *p = args;

        if (strncmp(p, "PORT", 4) == 0 && (p[4] == ' ' || p[4] == '\t')) {
                const char *v = p + 5 + strspn(p + 5, " \t\"'");

                return parse_number(v, strcspn(v, " \t\"'"));
        }
        while (*p) {
                size_t n = strcspn(p, " \t");

                if (n > 5 && strncmp(p, "PORT=", 5) == 0) {
                        const char *v = p + 5 + strspn(p + 5, "\"'");

                        return parse_number(v, strcspn(v, " \t\"'"));
                }
                p += n;
                p += strspn(p, " \t");
        }
        return 0;
}

static unsigned expose_port(const char *args, unsigned port_var)
{
        const char *p = args;

        while (*p) {
                size_t n = strcspn(p, " \t");
                unsigned v;

                if (n == 0) {
                        p++;
                        continue;
                }
                if ((n >= 5 && strncmp(p, "$PORT", 5) == 0) ||
                    (n >= 7 && strncmp(p, "${PORT}", 7) == 0))
                        v = port_var;
                else
                        v = parse_number(p, n);
                if (v)
                        return v;
                p += n;
        }
        return 0;
}

static int handle_instruction(struct analyzer_dockerfile *df, unsigned *port_var, char *line,
                              ad_error_t *err)
{
        char *args;
        size_t n;

        while (*line == ' ' || *line == '\t')
                line++;
        n = strcspn(line, " \t");
        args = line + n;
        while (*args == ' ' || *args == '\t')
                args++;
        for (size_t l = strlen(args); l > 0 && isspace((unsigned char)args[l - 1]); l--)
                args[l - 1] = '\0';

        if ((n == 3 && strncasecmp(line, "ENV", 3) == 0) ||
            (n == 3 && strncasecmp(line, "ARG", 3) == 0)) {
                unsigned v = port_variable(args);

                if (v)
                        *port_var = v;
        } else if (n == 6 && strncasecmp(line, "EXPOSE", 6) == 0) {
                unsigned v = expose_port(args, *port_var);

                if (v)
                        df->port = v;
        } else if ((n == 3 && strncasecmp(line, "CMD", 3) == 0) ||
                   (n == 10 && strncasecmp(line, "ENTRYPOINT", 10) == 0 && df->cmd == NULL)) {
                if (strlen(args) > ANALYZER_MAX_COMMAND)
                        return 0;
                free(df->cmd);
                df->cmd = strdup(args);
                if (df->cmd == NULL)
                        return analyzer_oom(err);
        }
        return 0;
}

int analyzer_parse_dockerfile(struct analyzer_dockerfile *out, const char *data, size_t len,
                              ad_error_t *err)
{
        struct analyzer_dockerfile df = { 0 };
        cleanup_free char *line = malloc(len + 1);
        const char *p = data, *end = data + len;
        unsigned port_var = 0;
        size_t n = 0;
        int r = 0;

        if (line == NULL)
                return analyzer_oom(err);
        /* Join `\`-continued lines into one logical line; comment lines
         * inside a continuation are dropped, as Docker does. */
        while (p < end && r == 0) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                const char *s = p;
                bool cont = false;

                while (s < le && (*s == ' ' || *s == '\t'))
                        s++;
                p = eol ? eol + 1 : end;
                if (s < le && *s == '#')
                        continue;
                while (le > s && isspace((unsigned char)le[-1]))
                        le--;
                if (le > s && le[-1] == '\\') {
                        cont = true;
                        le--;
                }
                for (const char *c = s; c < le; c++)
                        line[n++] = *c == '\0' ? ' ' : *c;
                if (cont && p < end) {
                        line[n++] = ' ';
                        continue;
                }
                line[n] = '\0';
                if (n > 0)
                        r = handle_instruction(&df, &port_var, line, err);
                n = 0;
        }
        if (r < 0) {
                analyzer_dockerfile_clear(&df);
                return r;
        }
        *out = df;
        return 0;
}

void analyzer_dockerfile_clear(struct analyzer_dockerfile *df)
{
        free(df->cmd);
        df->cmd = NULL;
}

int analyzer_detect_dockerfile(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct analyzer_dockerfile df = { 0 };
        cleanup_free char *data = NULL;
        const char *name = NULL;
        size_t len = 0;
        int r = -AD_ERR_NOT_FOUND;

        for (size_t i = 0; i < AD_ARRAY_SIZE(dockerfile_names) && r == -AD_ERR_NOT_FOUND; i++) {
                name = dockerfile_names[i];
                r = analyzer_repo_read(repo, name, ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        }
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        r = analyzer_parse_dockerfile(&df, data, len, err);
        if (r < 0)
                return ad_error_wrap(err, "%s", name);

        a->has_dockerfile = true;
        r = analyzer_setf(&a->language, err, "dockerfile");
        if (r == 0)
                r = analyzer_setf(&a->dockerfile_path, err, "%s", name);
        if (r == 0)
                r = analyzer_why(a, err, "language",
                                 "%s at the root: the repository's own Dockerfile is built "
                                 "(it takes precedence over any other manifest)",
                                 name);
        if (r == 0 && df.port) {
                a->port = df.port;
                r = analyzer_why(a, err, "port", "from the last EXPOSE in %s", name);
        } else if (r == 0) {
                a->port = DEFAULT_PORT;
                r = analyzer_why(a, err, "port", "no EXPOSE with a number in %s: default %d", name,
                                 DEFAULT_PORT);
        }
        /* startCommand stays empty: the image's own CMD runs, and the
         * exec-form JSON of a CMD is no `sh -c` command anyway. */
        if (r == 0)
                r = analyzer_why(a, err, "startCommand", "none: the image's own CMD runs (%s)",
                                 df.cmd ? df.cmd : "inherited from its base image");
        analyzer_dockerfile_clear(&df);
        return r < 0 ? r : 1;
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
const struct analyzer_provider analyzer_provider_dockerfile = {
        .name = "dockerfile",
        .detect = analyzer_detect_dockerfile,
        .cpu_millis = 500,
        .memory_mb = 512,
        .scan_exts = NULL,
};
