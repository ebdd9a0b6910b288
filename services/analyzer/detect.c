/* analyzer_detect(): the order languages are tried in, and what applies
 * to every language (Procfile, env vars, resources). */
#include "detect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad/cleanup.h"

#define SHELL_PORT 8080
#define BIG_REPO_BYTES (64ULL * 1024 * 1024)
#define BIG_REPO_FILES 5000
#define PORT_NOTE "; PORT is left out: the platform sets it"

/* The first match wins.  A Dockerfile beats everything: the user wrote it
 * on purpose.  Static comes last since many apps carry an index.html. */
static int (*const detectors[])(struct analyzer_repo *, struct ad_analysis *, ad_error_t *) = {
        analyzer_detect_dockerfile, analyzer_detect_node, analyzer_detect_python,
        analyzer_detect_go,         analyzer_detect_php,  analyzer_detect_static,
};

/* Files whose code is scanned for env var references. */
static const char *const code_exts[] = { ".js", ".mjs", ".cjs", ".ts", ".mts",
                                         ".py", ".go",  ".php", NULL };

/* Never `.env` itself: it holds secrets, not documentation. */
static const char *const env_examples[] = { ".env.example", ".env.sample", ".env.template" };

static const struct {
        const char *language;
        unsigned cpu_millis, memory_mb;
} baselines[] = {
        { "node", 500, 512 },       { "python", 500, 256 }, { "go", 250, 128 },
        { "static", 100, 64 },      { "php", 250, 128 },    { "shell", 250, 128 },
        { "dockerfile", 500, 512 },
};

int analyzer_oom(ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
}

int analyzer_setf(char **field, ad_error_t *err, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return analyzer_oom(err);
        free(*field);
        *field = s;
        return 0;
}

int analyzer_why(struct ad_analysis *a, ad_error_t *err, const char *key, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return analyzer_oom(err);
        n = json_object_set_new(a->why, key, json_string(s));
        free(s);
        return n == 0 ? 0 : analyzer_oom(err);
}

static bool has_ext(const char *path, const char *const *exts)
{
        for (size_t i = 0; exts[i]; i++)
                if (analyzer_has_suffix(path, exts[i]))
                        return true;
        return false;
}

static bool in_list(const char *path, const char *const *list)
{
        for (size_t i = 0; list && list[i]; i++)
                if (strcmp(path, list[i]) == 0)
                        return true;
        return false;
}

/* Shared budget for everything read from source files (not manifests). */
struct scan_budget {
        size_t files;
        size_t bytes;
};

/* Reads `path` for scanning within the budget: 0 and *data set, 1 when
 * the file is absent or the budget is spent (skip), negative on error. */
static int scan_read(const struct analyzer_repo *repo, struct scan_budget *b, const char *path,
                     char **data, size_t *len, ad_error_t *err)
{
        size_t max = ANALYZER_MAX_SCAN_FILE;
        int r;

        if (b->files >= ANALYZER_MAX_SCAN_FILES || b->bytes >= ANALYZER_MAX_SCAN_TOTAL)
                return 1;
        if (max > ANALYZER_MAX_SCAN_TOTAL - b->bytes)
                max = ANALYZER_MAX_SCAN_TOTAL - b->bytes;
        r = analyzer_repo_read(repo, path, max, true, data, len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 1;
        if (r < 0)
                return r;
        b->files++;
        b->bytes += *len;
        return 0;
}

static int port_in_file(const struct analyzer_repo *repo, struct scan_budget *b, const char *path,
                        unsigned *port, char **why_text, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        const char *rule = NULL, *hole;
        size_t len = 0;
        int r = scan_read(repo, b, path, &data, &len, err);

        if (r != 0)
                return r < 0 ? r : 0;
        if (!analyzer_scan_port(port, &rule, data, len))
                return 0;
        /* "listen(<port>)" -> "listen(3000)": the why quotes the code. */
        hole = strstr(rule, "<port>");
        if (hole != NULL)
                r = asprintf(why_text, "from %s: %.*s%u%s", path, (int)(hole - rule), rule, *port,
                             hole + 6);
        else
                r = asprintf(why_text, "from %s: %s (%u)", path, rule, *port);
        if (r < 0)
                return analyzer_oom(err);
        return 1;
}

int analyzer_find_port(const struct analyzer_repo *repo, const char *const *exts,
                       const char *const *first, unsigned *port, char **why_text, ad_error_t *err)
{
        struct scan_budget b = { 0 };
        int r;

        for (size_t i = 0; first && first[i]; i++) {
                r = port_in_file(repo, &b, first[i], port, why_text, err);
                if (r != 0)
                        return r;
        }
        for (size_t i = 0; i < repo->n_files; i++) {
                const char *path = repo->files[i].path;

                if (!has_ext(path, exts) || in_list(path, first))
                        continue;
                r = port_in_file(repo, &b, path, port, why_text, err);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int collect_env(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct analyzer_strset set = { 0 };
        struct scan_budget b = { 0 };
        const char *example = NULL;
        size_t code_files = 0;
        int r = 0;

        for (size_t i = 0; i < AD_ARRAY_SIZE(env_examples) && r == 0; i++) {
                cleanup_free char *data = NULL;
                size_t len = 0;

                r = analyzer_repo_read(repo, env_examples[i], ANALYZER_MAX_MANIFEST, true, &data,
                                       &len, err);
                if (r == -AD_ERR_NOT_FOUND) {
                        r = 0;
                        continue;
                }
                if (r == 0) {
                        example = example ? example : env_examples[i];
                        r = analyzer_parse_env_example(&set, data, len, err);
                }
        }
        for (size_t i = 0; i < repo->n_files && r == 0; i++) {
                cleanup_free char *data = NULL;
                size_t len = 0, before = set.n;

                if (!has_ext(repo->files[i].path, code_exts))
                        continue;
                r = scan_read(repo, &b, repo->files[i].path, &data, &len, err);
                if (r == 1) {
                        r = 0;
                        continue;
                }
                if (r == 0)
                        r = analyzer_scan_env(&set, data, len, err);
                if (set.n > before)
                        code_files++;
        }
        if (r < 0) {
                analyzer_strset_clear(&set);
                return r;
        }
        analyzer_strset_sort(&set);
        a->env_vars = set.v;
        a->n_env_vars = set.n;
        if (example && code_files)
                r = analyzer_why(a, err, "envVars",
                                 "KEY= lines of %s and env reads (process.env, os.environ, "
                                 "os.getenv, os.Getenv) in %zu source file(s)%s",
                                 example, code_files, PORT_NOTE);
        else if (example)
                r = analyzer_why(a, err, "envVars",
                                 "KEY= lines of %s; no other env reads in the code%s", example,
                                 PORT_NOTE);
        else if (code_files)
                r = analyzer_why(a, err, "envVars",
                                 "env reads (process.env, os.environ, os.getenv, os.Getenv) in "
                                 "%zu source file(s)%s",
                                 code_files, PORT_NOTE);
        else
                r = analyzer_why(a, err, "envVars",
                                 "no .env.example and no env reads in the code%s", PORT_NOTE);
        if (r == 0 && set.truncated)
                r = analyzer_why(a, err, "envVarsTruncated", "more than %d names: list capped",
                                 ANALYZER_MAX_ENV_VARS);
        return r;
}

static void estimate_resources(const struct analyzer_repo *repo, struct ad_analysis *a, bool *big,
                               bool *heavy)
{
        a->cpu_millis = 250;
        a->memory_mb = 128;
        for (size_t i = 0; i < AD_ARRAY_SIZE(baselines); i++) {
                if (strcmp(a->language, baselines[i].language) == 0) {
                        a->cpu_millis = baselines[i].cpu_millis;
                        a->memory_mb = baselines[i].memory_mb;
                }
        }
        /* Server-rendering frameworks hold a whole app bundle in memory. */
        *heavy = a->framework &&
                 (strcmp(a->framework, "next") == 0 || strcmp(a->framework, "nuxt") == 0 ||
                  strcmp(a->framework, "nestjs") == 0);
        if (*heavy && a->memory_mb < 1024)
                a->memory_mb = 1024;
        *big = repo->truncated || repo->total_bytes > BIG_REPO_BYTES ||
               repo->n_files > BIG_REPO_FILES;
        if (*big) {
                a->cpu_millis *= 2;
                a->memory_mb *= 2;
        }
}

static int resources(const struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        bool big, heavy;

        estimate_resources(repo, a, &big, &heavy);
        return analyzer_why(a, err, "resources",
                            "%s baseline%s%s: %um/%uMi for %zu%s file(s), %llu KiB", a->language,
                            heavy ? ", 1Gi for a server-rendering framework" : "",
                            big ? ", doubled for a large repository" : "", a->cpu_millis,
                            a->memory_mb, repo->n_files, repo->truncated ? "+" : "",
                            (unsigned long long)(repo->total_bytes / 1024));
}

static int read_procfile(struct analyzer_repo *repo, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r;

        r = analyzer_repo_read(repo, "Procfile", ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        return analyzer_parse_procfile(&repo->procfile_web, data, len, err);
}

static int apply_procfile(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        int r;

        if (a->language == NULL) {
                /* Only a Procfile: run its command on the base image. */
                r = analyzer_setf(&a->language, err, "shell");
                if (r == 0)
                        r = analyzer_why(a, err, "language",
                                         "only a Procfile web: line, no language manifest");
                if (r < 0)
                        return r;
                a->port = SHELL_PORT;
                r = analyzer_why(a, err, "port", "default %d (the command gets $PORT)", SHELL_PORT);
                if (r < 0)
                        return r;
        }
        r = analyzer_setf(&a->start_command, err, "%s", repo->procfile_web);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "from the Procfile web: line (it overrides the %s default)",
                                 a->language);
        return r;
}

static int not_found(const char *dir, ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_NOT_FOUND, 0,
                             "no Dockerfile, package.json, requirements.txt, pyproject.toml, "
                             "main.py/app.py/server.py, go.mod, index.html or public/index.html "
                             "found in %s (also looked for Containerfile, composer.json, "
                             "index.php and a Procfile web: line)",
                             dir);
}

/* The struct's contract: no NULL strings, "" for unknown. */
static int fill_empty(struct ad_analysis *a, ad_error_t *err)
{
        char **fields[] = { &a->language,        &a->framework,       &a->version,
                            &a->package_manager, &a->install_command, &a->build_command,
                            &a->start_command,   &a->go_main_package, &a->static_root,
                            &a->dockerfile_path };

        for (size_t i = 0; i < AD_ARRAY_SIZE(fields); i++)
                if (*fields[i] == NULL && (*fields[i] = strdup("")) == NULL)
                        return analyzer_oom(err);
        return 0;
}

static int detect_in(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        int r;

        r = analyzer_repo_walk(repo, err);
        if (r == 0)
                r = read_procfile(repo, err);
        for (size_t i = 0; r == 0 && i < AD_ARRAY_SIZE(detectors); i++) {
                r = detectors[i](repo, a, err);
                if (r == 1) {
                        r = 0;
                        break;
                }
        }
        if (r < 0)
                return r;
        if (a->language == NULL && repo->procfile_web == NULL)
                return not_found(repo->path, err);
        if (repo->procfile_web)
                r = apply_procfile(repo, a, err);
        if (r == 0)
                r = collect_env(repo, a, err);
        if (r == 0)
                r = resources(repo, a, err);
        if (r == 0)
                r = fill_empty(a, err);
        return r;
}

int analyzer_detect(struct ad_analysis **out, const char *dir, ad_error_t *err)
{
        struct analyzer_repo repo = { .fd = -1, .path = dir };
        struct ad_analysis *a;
        int r;

        /* The root itself may be a symlink (the caller chose it); nothing
         * below it is followed. */
        repo.fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (repo.fd < 0 && (errno == ENOENT || errno == ENOTDIR))
                return ad_error_make(err, AD_ERR_NOT_FOUND, errno, "cannot open %s: %s", dir,
                                     strerror(errno));
        if (repo.fd < 0)
                return ad_error_make_errno(err, errno, "cannot open %s", dir);
        a = calloc(1, sizeof(*a));
        if (a == NULL || (a->why = json_object()) == NULL) {
                r = analyzer_oom(err);
                goto out;
        }
        r = detect_in(&repo, a, err);
        if (r == 0)
                *out = TAKE_PTR(a);
out:
        ad_analysis_free(a);
        analyzer_repo_clear(&repo);
        close(repo.fd);
        return r;
}
