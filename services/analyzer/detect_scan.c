/* Pattern scanners over source text: env var names, ports, Procfile.
 *
 * Deliberately not parsers of JavaScript, Python or Go: a handful of
 * literal patterns that cover how apps are written in practice, each
 * anchored on identifier boundaries so `DB_PORT = 5432` or a call to
 * `mygetenv(` do not count.  Every loop is bounded by the buffer length.
 */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad/cleanup.h"

static bool is_ident_start(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_ident(char c)
{
        return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_quote(char c)
{
        return c == '"' || c == '\'' || c == '`';
}

static const char *skip_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

static bool starts_with(const char *p, const char *end, const char *lit)
{
        size_t n = strlen(lit);

        return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static size_t ident_len(const char *p, const char *end)
{
        size_t n = 0;

        if (p >= end || !is_ident_start(*p))
                return 0;
        while (p + n < end && is_ident(p[n]))
                n++;
        return n;
}

/* ---- the string set -------------------------------------------------- */

int analyzer_strset_add(struct analyzer_strset *s, const char *name, size_t len, ad_error_t *err)
{
        char *copy;

        /* PORT is the platform's to set; listing it would invite users to
         * override it and break the health check. */
        if (len == 4 && memcmp(name, "PORT", 4) == 0)
                return 0;
        if (len == 0 || len > ANALYZER_MAX_ENV_NAME)
                return 0;
        for (size_t i = 0; i < s->n; i++)
                if (strlen(s->v[i]) == len && memcmp(s->v[i], name, len) == 0)
                        return 0;
        if (s->n >= ANALYZER_MAX_ENV_VARS) {
                s->truncated = true;
                return 0;
        }
        if (s->n == s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 16;
                char **v = realloc(s->v, ncap * sizeof(*v));

                if (v == NULL)
                        return analyzer_oom(err);
                s->v = v;
                s->cap = ncap;
        }
        copy = strndup(name, len);
        if (copy == NULL)
                return analyzer_oom(err);
        s->v[s->n++] = copy;
        return 0;
}

static int cmp_str(const void *x, const void *y)
{
        return strcmp(*(char *const *)x, *(char *const *)y);
}

void analyzer_strset_sort(struct analyzer_strset *s)
{
        size_t out = 0;

        if (s->n == 0)
                return;
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
        for (size_t i = 0; i < s->n; i++) {
                if (out > 0 && strcmp(s->v[out - 1], s->v[i]) == 0) {
                        free(s->v[i]);
                        continue;
                }
                s->v[out++] = s->v[i];
        }
        s->n = out;
}

void analyzer_strset_clear(struct analyzer_strset *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct analyzer_strset){ 0 };
}

/* ---- env vars ---------------------------------------------------------- */

int analyzer_parse_env_example(struct analyzer_strset *set, const char *data, size_t len,
                               ad_error_t *err)
{
        const char *p = data, *end = data + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *line_end = eol ? eol : end;
                size_t n;
                int r;

                while (p < line_end && (*p == ' ' || *p == '\t'))
                        p++;
                if (starts_with(p, line_end, "export "))
                        p = skip_ws(p + 7, line_end);
                n = ident_len(p, line_end);
                if (n > 0) {
                        const char *q = p + n;

                        while (q < line_end && (*q == ' ' || *q == '\t'))
                                q++;
                        if (q < line_end && *q == '=') {
                                r = analyzer_strset_add(set, p, n, err);
                                if (r < 0)
                                        return r;
                        }
                }
                p = eol ? eol + 1 : end;
        }
        return 0;
}

enum env_form {
        ENV_DOT,    /* process.env.NAME */
        ENV_QUOTED, /* <prefix> "NAME" (with optional whitespace) */
};

static const struct {
        const char *prefix;
        enum env_form form;
} env_patterns[] = {
        { "process.env.", ENV_DOT },               /* node */
        { "process.env[", ENV_QUOTED },            /* node */
        { "import.meta.env.", ENV_DOT },           /* vite */
        { "environ[", ENV_QUOTED },                /* python os.environ */
        { "environ.get(", ENV_QUOTED },            /* python */
        { "getenv(", ENV_QUOTED },                 /* python, php, C, Java System.getenv */
        { "Getenv(", ENV_QUOTED },                 /* go */
        { "LookupEnv(", ENV_QUOTED },              /* go */
        { "ENV[", ENV_QUOTED },                    /* ruby */
        { "ENV.fetch(", ENV_QUOTED },              /* ruby */
        { "env::var(", ENV_QUOTED },               /* rust */
        { "get_env(", ENV_QUOTED },                /* elixir System.get_env */
        { "env.get(", ENV_QUOTED },                /* deno Deno.env.get */
        { "_ENV[", ENV_QUOTED },                   /* php $_ENV */
        { "GetEnvironmentVariable(", ENV_QUOTED }, /* .NET */
};

/* First bytes of the prefixes above: a cheap filter before the compare. */
static bool env_first_char(char c)
{
        return c == 'p' || c == 'i' || c == 'e' || c == 'g' || c == 'G' || c == 'L' || c == 'E' ||
               c == '_';
}

int analyzer_scan_env(struct analyzer_strset *set, const char *data, size_t len, ad_error_t *err)
{
        const char *end = data + len;

        for (const char *p = data; p < end; p++) {
                if (!env_first_char(*p))
                        continue;
                if (p > data && is_ident(p[-1]))
                        continue;
                for (size_t i = 0; i < AD_ARRAY_SIZE(env_patterns); i++) {
                        const char *q, *name;
                        size_t n;
                        int r;

                        if (!starts_with(p, end, env_patterns[i].prefix))
                                continue;
                        q = p + strlen(env_patterns[i].prefix);
                        if (env_patterns[i].form == ENV_QUOTED) {
                                char quote;

                                q = skip_ws(q, end);
                                if (q >= end || !is_quote(*q))
                                        break;
                                quote = *q++;
                                n = ident_len(q, end);
                                if (n == 0 || q + n >= end || q[n] != quote)
                                        break;
                        } else {
                                n = ident_len(q, end);
                                if (n == 0)
                                        break;
                        }
                        name = q;
                        r = analyzer_strset_add(set, name, n, err);
                        if (r < 0)
                                return r;
                        break;
                }
        }
        return 0;
}

/* ---- ports ------------------------------------------------------------- */

/* A port number, optionally quoted: 3000, "3000", '3000'.  Returns the
 * position after it, or NULL. */
static const char *parse_port(const char *p, const char *end, unsigned *port)
{
        char quote = 0;
        unsigned v = 0;
        int digits = 0;

        if (p < end && (*p == '"' || *p == '\'')) {
                quote = *p;
                p++;
        }
        while (p < end && *p >= '0' && *p <= '9' && digits < 6) {
                v = v * 10 + (unsigned)(*p - '0');
                digits++;
                p++;
        }
        if (digits == 0 || digits > 5 || v == 0 || v > 65535)
                return NULL;
        if (p < end && (is_ident(*p) || *p == '.'))
                return NULL; /* 3000abc, 3000.5 */
        if (quote) {
                if (p >= end || *p != quote)
                        return NULL;
                p++;
        }
        *port = v;
        return p;
}

/* `listen(3000` (JavaScript). */
static bool port_listen(const char *p, const char *end, unsigned *port)
{
        if (!starts_with(p, end, "listen("))
                return false;
        p = skip_ws(p + 7, end);
        return p < end && *p >= '0' && *p <= '9' && parse_port(p, end, port);
}

/* `process.env.PORT || 3000`, `?? 3000`. */
static bool port_env_fallback(const char *p, const char *end, unsigned *port)
{
        if (!starts_with(p, end, "process.env.PORT"))
                return false;
        p += 16;
        if (p < end && is_ident(*p))
                return false;
        p = skip_ws(p, end);
        if (!starts_with(p, end, "||") && !starts_with(p, end, "??"))
                return false;
        return parse_port(skip_ws(p + 2, end), end, port) != NULL;
}

/* `port = 5000`, `PORT = 8000`, `port := "8080"`, `port=5000` (kwarg), but
 * not `port == ""`, `port: 5432` or `DB_PORT = 5432`. */
static bool port_assign(const char *p, const char *end, unsigned *port)
{
        if (end - p < 4 || strncasecmp(p, "port", 4) != 0 || (p + 4 < end && is_ident(p[4])))
                return false;
        p = skip_ws(p + 4, end);
        if (starts_with(p, end, ":="))
                p += 2;
        else if (p < end && *p == '=' && !starts_with(p, end, "=="))
                p++;
        else
                return false;
        return parse_port(skip_ws(p, end), end, port) != NULL;
}

/* `"PORT", 8000` as in os.environ.get("PORT", 8000) / os.getenv('PORT', '8000'). */
static bool port_env_default(const char *p, const char *end, unsigned *port)
{
        char quote = *p;

        if ((quote != '"' && quote != '\'') || !starts_with(p + 1, end, "PORT") || p + 5 >= end ||
            p[5] != quote)
                return false;
        p = skip_ws(p + 6, end);
        if (p >= end || *p != ',')
                return false;
        return parse_port(skip_ws(p + 1, end), end, port) != NULL;
}

/* A bind-all address string: `":8080"`, `"0.0.0.0:8080"` (Go).  Only
 * bind-all hosts: "localhost:5432" is a database the app talks to. */
static bool port_bind_string(const char *p, const char *end, unsigned *port)
{
        static const char *const hosts[] = { ":", "0.0.0.0:", "[::]:" };
        char quote = *p;

        if (quote != '"' && quote != '\'')
                return false;
        for (size_t i = 0; i < AD_ARRAY_SIZE(hosts); i++) {
                const char *q = p + 1;

                if (!starts_with(q, end, hosts[i]))
                        continue;
                q += strlen(hosts[i]);
                if (q < end && *q >= '0' && *q <= '9') {
                        unsigned v;
                        const char *after = parse_port(q, end, &v);

                        if (after && after < end && *after == quote) {
                                *port = v;
                                return true;
                        }
                }
        }
        return false;
}

/* `("", 8000)` / `("0.0.0.0", 8000)`: Python's socketserver address tuple. */
static bool port_bind_tuple(const char *p, const char *end, unsigned *port)
{
        static const char *const hosts[] = { "\"\"", "''", "\"0.0.0.0\"", "'0.0.0.0'" };

        if (*p != '(')
                return false;
        p = skip_ws(p + 1, end);
        for (size_t i = 0; i < AD_ARRAY_SIZE(hosts); i++) {
                const char *q;

                if (!starts_with(p, end, hosts[i]))
                        continue;
                q = skip_ws(p + strlen(hosts[i]), end);
                if (q >= end || *q != ',')
                        return false;
                q = skip_ws(q + 1, end);
                if (q >= end || *q < '0' || *q > '9')
                        return false;
                q = parse_port(q, end, port);
                return q != NULL && (q = skip_ws(q, end)) < end && *q == ')';
        }
        return false;
}

static const struct {
        bool (*match)(const char *p, const char *end, unsigned *port);
        const char *rule;
        bool word; /* must start at an identifier boundary */
} port_patterns[] = {
        { port_listen, "listen(<port>)", true },
        { port_env_fallback, "process.env.PORT fallback <port>", true },
        { port_assign, "port = <port>", true },
        { port_env_default, "(\"PORT\", <port>) default", false },
        { port_bind_string, "\":<port>\" address", false },
        { port_bind_tuple, "(\"\", <port>) address", false },
};

bool analyzer_scan_port(unsigned *port, const char **rule, const char *data, size_t len)
{
        const char *end = data + len;

        /* The first match in the file wins: it is usually the one line
         * that decides the port. */
        for (const char *p = data; p < end; p++) {
                for (size_t i = 0; i < AD_ARRAY_SIZE(port_patterns); i++) {
                        unsigned v;

                        if (port_patterns[i].word && p > data && is_ident(p[-1]))
                                continue;
                        if (port_patterns[i].match(p, end, &v)) {
                                *port = v;
                                if (rule)
                                        *rule = port_patterns[i].rule;
                                return true;
                        }
                }
        }
        return false;
}

/* ---- Procfile ------------------------------------------------------------ */

void analyzer_procfile_clear(struct analyzer_procfile *pf)
{
        free(pf->web);
        free(pf->release);
        for (size_t i = 0; i < pf->n_procs; i++) {
                free(pf->procs[i].name);
                free(pf->procs[i].command);
        }
        free(pf->procs);
        *pf = (struct analyzer_procfile){ 0 };
}

static bool procfile_name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

static bool procfile_has(const struct analyzer_procfile *pf, const char *name, size_t n)
{
        if ((n == 3 && memcmp(name, "web", 3) == 0 && pf->web) ||
            (n == 7 && memcmp(name, "release", 7) == 0 && pf->release))
                return true;
        for (size_t i = 0; i < pf->n_procs; i++)
                if (strlen(pf->procs[i].name) == n && memcmp(pf->procs[i].name, name, n) == 0)
                        return true;
        return false;
}

/* `<name>: <command>` (line number lineno, from p to line_end). */
static int procfile_line(struct analyzer_procfile *pf, const char *p, const char *line_end,
                         unsigned lineno, ad_error_t *err)
{
        const char *q = p, *cmd, *cend;
        size_t n;
        char *c;

        while (q < line_end && procfile_name_char(*q))
                q++;
        n = (size_t)(q - p);
        while (q < line_end && (*q == ' ' || *q == '\t'))
                q++;
        if (n == 0 || q >= line_end || *q != ':')
                return 0; /* a comment or not an entry: skipped */
        if (!ad_process_name_valid(p, n))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Procfile line %u: process type `%.*s` is not valid: use 1 "
                                     "to %d lower-case letters, digits and '-', starting with a "
                                     "letter",
                                     lineno, (int)(n > 40 ? 40 : n), p, ANALYZER_PROCESS_NAME_MAX);
        if (procfile_has(pf, p, n))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Procfile line %u: process type `%.*s` is declared twice",
                                     lineno, (int)n, p);
        if (pf->n_procs + (pf->web != NULL) + (pf->release != NULL) >= ANALYZER_PROCFILE_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Procfile line %u: more than %d process types", lineno,
                                     ANALYZER_PROCFILE_MAX);
        cmd = skip_ws(q + 1, line_end);
        cend = line_end;
        while (cend > cmd && isspace((unsigned char)cend[-1]))
                cend--;
        if (cend == cmd)
                return ad_error_make(err, AD_ERR_INVALID, 0, "Procfile: empty %.*s: command",
                                     (int)n, p);
        if ((size_t)(cend - cmd) > ANALYZER_MAX_COMMAND)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Procfile: %.*s: command longer than %d bytes", (int)n, p,
                                     ANALYZER_MAX_COMMAND);
        if (memchr(cmd, '\0', (size_t)(cend - cmd)) != NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "Procfile: NUL byte in %.*s: command",
                                     (int)n, p);
        c = strndup(cmd, (size_t)(cend - cmd));
        if (c == NULL)
                return analyzer_oom(err);
        if (n == 3 && memcmp(p, "web", 3) == 0) {
                pf->web = c;
        } else if (n == 7 && memcmp(p, "release", 7) == 0) {
                pf->release = c;
        } else {
                struct analyzer_process *v =
                        realloc(pf->procs, (pf->n_procs + 1) * sizeof(*pf->procs));

                if (v == NULL) {
                        free(c);
                        return analyzer_oom(err);
                }
                pf->procs = v;
                v[pf->n_procs].command = c;
                v[pf->n_procs].name = strndup(p, n);
                if (v[pf->n_procs].name == NULL) {
                        free(c);
                        return analyzer_oom(err);
                }
                pf->n_procs++;
        }
        return 0;
}

int analyzer_parse_procfile(struct analyzer_procfile *out, const char *data, size_t len,
                            ad_error_t *err)
{
        struct analyzer_procfile pf = { 0 };
        const char *p = data, *end = data + len;
        unsigned lineno = 0;
        int r = 0;

        while (p < end && r == 0) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *line_end = eol ? eol : end;

                lineno++;
                while (p < line_end && (*p == ' ' || *p == '\t' || *p == '\r'))
                        p++;
                r = procfile_line(&pf, p, line_end, lineno, err);
                p = eol ? eol + 1 : end;
        }
        if (r < 0) {
                analyzer_procfile_clear(&pf);
                return r;
        }
        *out = pf;
        return 0;
}

char *analyzer_toml_string(const char *p, const char *le, const char *key, size_t max)
{
        size_t k = strlen(key);
        const char *q;

        if ((size_t)(le - p) <= k || memcmp(p, key, k) != 0)
                return NULL;
        p += k;
        while (p < le && (*p == ' ' || *p == '\t'))
                p++;
        if (p >= le || *p != '=')
                return NULL;
        p++;
        while (p < le && (*p == ' ' || *p == '\t'))
                p++;
        if (p >= le || (*p != '"' && *p != '\''))
                return NULL;
        q = memchr(p + 1, *p, (size_t)(le - p - 1));
        if (q == NULL || q == p + 1 || (size_t)(q - p - 1) > max)
                return NULL;
        return strndup(p + 1, (size_t)(q - p - 1));
}
