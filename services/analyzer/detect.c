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
 * on purpose (deployer.yaml `build.dockerfile: false` turns that off).
 * Then Railpack's order: languages whose apps often carry a package.json
 * for their front-end assets (PHP/Laravel, Go, Java, Rust, Ruby/Rails,
 * Elixir/Phoenix, Python/Django) come before Node.js; static and shell
 * last since many apps carry an index.html or a start.sh. */
const struct analyzer_provider *const analyzer_providers[] = {
        &analyzer_provider_dockerfile, &analyzer_provider_php,    &analyzer_provider_go,
        &analyzer_provider_java,       &analyzer_provider_rust,   &analyzer_provider_ruby,
        &analyzer_provider_elixir,     &analyzer_provider_python, &analyzer_provider_deno,
        &analyzer_provider_dotnet,     &analyzer_provider_node,   &analyzer_provider_cpp,
        &analyzer_provider_static,     &analyzer_provider_shell,  NULL,
};

const struct analyzer_provider *analyzer_provider_find(const char *name)
{
        for (size_t i = 0; name && analyzer_providers[i]; i++)
                if (strcmp(analyzer_providers[i]->name, name) == 0)
                        return analyzer_providers[i];
        return NULL;
}

/* Never `.env` itself: it holds secrets, not documentation. */
static const char *const env_examples[] = { ".env.example", ".env.sample", ".env.template" };

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

int analyzer_set_deps(const struct analyzer_repo *repo, struct ad_analysis *a,
                      const char *const *files, bool only_existing, ad_error_t *err)
{
        size_t n = 0;

        while (files[n])
                n++;
        for (size_t i = 0; i < a->n_dependency_files; i++)
                free(a->dependency_files[i]);
        free(a->dependency_files);
        a->n_dependency_files = 0;
        a->dependency_files = calloc(n + 1, sizeof(char *));
        if (a->dependency_files == NULL)
                return analyzer_oom(err);
        for (size_t i = 0; i < n; i++) {
                if (only_existing && !analyzer_repo_has_file(repo, files[i]))
                        continue;
                a->dependency_files[a->n_dependency_files] = strdup(files[i]);
                if (a->dependency_files[a->n_dependency_files] == NULL)
                        return analyzer_oom(err);
                a->n_dependency_files++;
        }
        return 0;
}

int analyzer_read_version_file(const struct analyzer_repo *repo, const char *name, char **out,
                               ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0, skip, n;
        int r;

        *out = NULL;
        r = analyzer_repo_read(repo, name, 256, true, &data, &len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        skip = strspn(data, " \t\r\n");
        n = strcspn(data + skip, " \t\r\n#");
        if (n == 0 || n > 64)
                return 0;
        *out = strndup(data + skip, n);
        return *out ? 0 : analyzer_oom(err);
}

int analyzer_port_or_default(struct analyzer_repo *repo, struct ad_analysis *a,
                             const char *const *exts, const char *const *first, unsigned dflt,
                             const char *language, ad_error_t *err)
{
        cleanup_free char *why = NULL;
        unsigned port = 0;
        int r = analyzer_find_port(repo, exts, first, &port, &why, err);

        if (r < 0)
                return r;
        if (r == 1) {
                a->port = port;
                return analyzer_why(a, err, "port", "%s", why);
        }
        a->port = dflt;
        return analyzer_why(a, err, "port", "no port found in the code: %s default %u", language,
                            dflt);
}

const char *analyzer_find_suffix(const struct analyzer_repo *repo, const char *suffix,
                                 unsigned depth)
{
        for (size_t i = 0; i < repo->n_files; i++) {
                const char *path = repo->files[i].path;
                unsigned slashes = 0;

                for (const char *c = path; *c; c++)
                        slashes += *c == '/';
                if (slashes <= depth && analyzer_has_suffix(path, suffix))
                        return path;
        }
        return NULL;
}

static bool has_ext(const char *path, const char *const *exts)
{
        for (size_t i = 0; exts[i]; i++)
                if (analyzer_has_suffix(path, exts[i]))
                        return true;
        return false;
}

/* A source file of any language: its code is scanned for env var
 * references whatever the repository's language turns out to be. */
static bool is_source(const char *path)
{
        for (size_t i = 0; analyzer_providers[i]; i++)
                if (analyzer_providers[i]->scan_exts &&
                    has_ext(path, analyzer_providers[i]->scan_exts))
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

                if (!is_source(repo->files[i].path))
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
                                 "getenv, ENV[], env::var, ...) in %zu source file(s)%s",
                                 example, code_files, PORT_NOTE);
        else if (example)
                r = analyzer_why(a, err, "envVars",
                                 "KEY= lines of %s; no other env reads in the code%s", example,
                                 PORT_NOTE);
        else if (code_files)
                r = analyzer_why(
                        a, err, "envVars",
                        "env reads (process.env, os.environ, getenv, ENV[], env::var, ...) in "
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
        /* A single-page app is served by the static image: no node. */
        const char *lang = *a->output_dir ? "static" : a->language;
        const struct analyzer_provider *p = analyzer_provider_find(lang);

        a->cpu_millis = p ? p->cpu_millis : 250;
        a->memory_mb = p ? p->memory_mb : 128;
        /* Server-rendering frameworks hold a whole app bundle in memory. */
        *heavy = !*a->output_dir &&
                 (strcmp(a->framework, "next") == 0 || strcmp(a->framework, "nuxt") == 0 ||
                  strcmp(a->framework, "nestjs") == 0 || strcmp(a->framework, "rails") == 0 ||
                  strcmp(a->framework, "phoenix") == 0);
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
                            "%s baseline%s%s: %um/%uMi for %zu%s file(s), %llu KiB",
                            *a->output_dir ? "static (single-page app)" : a->language,
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
        return analyzer_parse_procfile(&repo->procfile, data, len, err);
}

static const char *const config_names[] = { "deployer.yaml", "deployer.yml" };

static int read_config(struct analyzer_repo *repo, const char **name, ad_error_t *err)
{
        for (size_t i = 0; i < AD_ARRAY_SIZE(config_names); i++) {
                cleanup_free char *data = NULL;
                size_t len = 0;
                int r = analyzer_repo_read(repo, config_names[i], 64 * 1024, false, &data, &len,
                                           err);

                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                *name = config_names[i];
                r = analyzer_parse_config(&repo->config, data, len, err);
                if (r < 0)
                        return ad_error_wrap(err, "%s", config_names[i]);
                repo->has_config = true;
                return 0;
        }
        return 0;
}

static int apply_procfile(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        int r = 0;

        if (repo->procfile.web && a->language == NULL) {
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
        if (repo->procfile.web) {
                r = analyzer_setf(&a->start_command, err, "%s", repo->procfile.web);
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand",
                                         "from the Procfile web: line (it overrides the %s "
                                         "default)",
                                         a->language);
                /* A Procfile start replaces a single-page app's static server. */
                if (r == 0 && a->output_dir && *a->output_dir) {
                        free(a->output_dir);
                        a->output_dir = NULL;
                }
        }
        if (r == 0 && repo->procfile.release) {
                r = analyzer_setf(&a->release_command, err, "%s", repo->procfile.release);
                if (r == 0)
                        r = analyzer_why(a, err, "releaseCommand",
                                         "from the Procfile release: line (runs before each "
                                         "start)");
        }
        if (r == 0 && repo->procfile.n_procs > 0) {
                json_decref(a->processes);
                a->processes = json_object();
                for (size_t i = 0; a->processes && i < repo->procfile.n_procs; i++)
                        if (json_object_set_new(a->processes, repo->procfile.procs[i].name,
                                                json_string(repo->procfile.procs[i].command)) < 0)
                                break;
                if (a->processes == NULL ||
                    json_object_size(a->processes) != repo->procfile.n_procs)
                        return analyzer_oom(err);
                r = analyzer_why(a, err, "processes",
                                 "from the Procfile's other lines: each runs in containers of "
                                 "its own, without a port or route");
        }
        return r;
}

static int config_string(struct ad_analysis *a, char **field, const char *value, const char *key,
                         const char *cfg, const char *yaml_key, ad_error_t *err)
{
        int r;

        if (value == NULL)
                return 0;
        r = analyzer_setf(field, err, "%s", value);
        return r < 0 ? r : analyzer_why(a, err, key, "%s %s", cfg, yaml_key);
}

/* deployer.yaml beats everything detected. */
static int apply_config(struct analyzer_repo *repo, struct ad_analysis *a, const char *cfg,
                        ad_error_t *err)
{
        const struct analyzer_config *c = &repo->config;
        int r = 0;

        if (!repo->has_config)
                return 0;
        r = config_string(a, &a->install_command, c->install, "installCommand", cfg,
                          "build.install", err);
        if (r == 0)
                r = config_string(a, &a->build_command, c->build, "buildCommand", cfg,
                                  "build.command", err);
        if (r == 0)
                r = config_string(a, &a->start_command, c->start, "startCommand", cfg, "start",
                                  err);
        if (r == 0 && c->start && *a->output_dir) {
                free(a->output_dir);
                a->output_dir = strdup("");
                if (a->output_dir == NULL)
                        r = analyzer_oom(err);
        }
        if (r == 0)
                r = config_string(a, &a->release_command, c->release, "releaseCommand", cfg,
                                  "release", err);
        if (r == 0)
                r = config_string(a, &a->output_dir, c->output_dir, "outputDir", cfg,
                                  "build.output", err);
        if (r == 0 && c->port) {
                a->port = c->port;
                r = analyzer_why(a, err, "port", "%s port", cfg);
        }
        if (r == 0 && (c->cpu_millis || c->memory_mb)) {
                if (c->cpu_millis)
                        a->cpu_millis = c->cpu_millis;
                if (c->memory_mb)
                        a->memory_mb = c->memory_mb;
                r = analyzer_why(a, err, "resources", "%s resources: %um/%uMi", cfg, a->cpu_millis,
                                 a->memory_mb);
        }
        if (r == 0 && c->replicas) {
                a->replicas = c->replicas;
                r = analyzer_why(a, err, "replicas", "%s replicas", cfg);
        }
        if (r == 0 && c->autoscale_max) {
                a->autoscale_min = c->autoscale_min ? c->autoscale_min : 1;
                a->autoscale_max = c->autoscale_max;
                a->autoscale_cpu = c->autoscale_cpu ? c->autoscale_cpu : 80;
                r = analyzer_why(a, err, "autoscaling", "%s autoscaling", cfg);
        }
        if (r == 0 && c->backend) {
                free(a->backend);
                a->backend = strdup(c->backend);
                r = a->backend ? analyzer_why(a, err, "backend", "%s backend", cfg)
                               : analyzer_oom(err);
        }
        if (r == 0 && c->env) {
                const char *key;
                json_t *v;
                struct analyzer_strset set = { .v = a->env_vars,
                                               .n = a->n_env_vars,
                                               .cap = a->n_env_vars };

                json_decref(a->env);
                a->env = json_deep_copy(c->env);
                if (a->env == NULL)
                        return analyzer_oom(err);
                /* The names join envVars: the app is told they exist. */
                json_object_foreach (a->env, key, v) {
                        r = analyzer_strset_add(&set, key, strlen(key), err);
                        if (r < 0)
                                break;
                }
                analyzer_strset_sort(&set);
                a->env_vars = set.v;
                a->n_env_vars = set.n;
                if (r == 0)
                        r = analyzer_why(a, err, "env", "%s env", cfg);
        }
        return r;
}

static int not_found(const char *dir, ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_NOT_FOUND, 0,
                             "nothing to deploy in %s: no Dockerfile, package.json, "
                             "requirements.txt, pyproject.toml, Pipfile, main.py/app.py, go.mod, "
                             "go.work, Gemfile, composer.json, index.php, pom.xml, build.gradle, "
                             "Cargo.toml, *.csproj, mix.exs, deno.json, CMakeLists.txt, "
                             "meson.build, index.html, public/index.html, Staticfile, start.sh "
                             "or Procfile web: line (or add a deployer.yaml with `start:`)",
                             dir);
}

/* The struct's contract: no NULL strings, "" for unknown. */
static int fill_empty(struct ad_analysis *a, ad_error_t *err)
{
        char **fields[] = { &a->language,        &a->framework,       &a->version,
                            &a->package_manager, &a->install_command, &a->build_command,
                            &a->start_command,   &a->go_main_package, &a->static_root,
                            &a->dockerfile_path, &a->release_command, &a->output_dir };

        for (size_t i = 0; i < AD_ARRAY_SIZE(fields); i++)
                if (*fields[i] == NULL && (*fields[i] = strdup("")) == NULL)
                        return analyzer_oom(err);
        return 0;
}

/* Every field of the analysis gets a why, even when nothing was found. */
static int fill_why(struct ad_analysis *a, ad_error_t *err)
{
        static const struct {
                const char *key, *none;
        } defaults[] = {
                { "framework", "none recognised in the manifests" },
                { "version", "not declared: the image's default" },
                { "packageManager", "none: no dependency manifest" },
                { "installCommand", "none: no dependencies to install" },
                { "buildCommand", "none: no build step for this app" },
                { "startCommand", "none found" },
                { "port", "default" },
        };
        int r = 0;

        for (size_t i = 0; r == 0 && i < AD_ARRAY_SIZE(defaults); i++)
                if (json_object_get(a->why, defaults[i].key) == NULL)
                        r = analyzer_why(a, err, defaults[i].key, "%s", defaults[i].none);
        return r;
}

static int run_detectors(struct analyzer_repo *repo, struct ad_analysis *a, const char *cfg,
                         ad_error_t *err)
{
        const struct analyzer_config *c = &repo->config;
        int r = 0;

        for (size_t i = 0; analyzer_providers[i]; i++) {
                const struct analyzer_provider *p = analyzer_providers[i];

                if (c->language && strcmp(c->language, p->name) != 0)
                        continue;
                if (c->use_dockerfile == 0 && p == &analyzer_provider_dockerfile)
                        continue;
                r = p->detect(repo, a, err);
                if (r < 0)
                        return r;
                if (r == 1)
                        break;
        }
        if (c->language && a->language == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "%s: language `%s` forced, but its manifest is not there", cfg,
                                     c->language);
        if (c->language)
                return analyzer_why(a, err, "language", "forced by %s language: %s", cfg,
                                    c->language);
        return 0;
}

static int detect_in(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        const char *cfg = "deployer.yaml";
        int r;

        repo->config.use_dockerfile = -1;
        r = analyzer_repo_walk(repo, err);
        if (r == 0)
                r = read_config(repo, &cfg, err);
        if (r == 0)
                r = read_procfile(repo, err);
        if (r == 0)
                r = run_detectors(repo, a, cfg, err);
        if (r < 0)
                return r;
        if (a->language == NULL && repo->procfile.web == NULL &&
            !(repo->has_config && repo->config.start))
                return not_found(repo->path, err);
        r = apply_procfile(repo, a, err);
        if (r == 0 && a->language == NULL) {
                /* Only deployer.yaml's start: a shell app. */
                r = analyzer_setf(&a->language, err, "shell");
                a->port = SHELL_PORT;
                if (r == 0)
                        r = analyzer_why(a, err, "language", "only %s start:, no manifest", cfg);
        }
        if (r == 0)
                r = fill_empty(a, err);
        if (r == 0)
                r = collect_env(repo, a, err);
        if (r == 0)
                r = resources(repo, a, err);
        if (r == 0)
                r = apply_config(repo, a, cfg, err);
        if (r == 0)
                r = fill_empty(a, err);
        if (r == 0)
                r = fill_why(a, err);
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
        if (a != NULL)
                a->replicas = 1;
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
