/* The repository detector: what a checked-out repository is and how to
 * build and run it, read from its files alone (no network, no execution).
 *
 * Hostile input is the normal case: the repository is whatever a user
 * pushed.  So the detector never follows a symlink (a link to /etc/shadow
 * or to another tenant's checkout is simply not there for us), skips
 * .git, node_modules and vendor, and bounds every read: ANALYZER_MAX_*
 * below.  A manifest over its bound is AD_ERR_TOO_LARGE; source files
 * scanned for env vars and ports are read only up to their bound.
 *
 * The parsers (analyzer_parse_*, analyzer_scan_*) are pure functions over
 * a buffer so that tests/fuzz can drive them directly.
 *
 * Every decision is explained: analyzer_why() records, per JSON field,
 * the file and the rule that decided it (a->why), shown by `adanalyzer
 * detect` and `adctl status`.  A deployer.yaml at the root beats every
 * detected value (detect_config.c).
 */
#ifndef AD_ANALYZER_DETECT_H
#define AD_ANALYZER_DETECT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ad/analysis.h"
#include "ad/error.h"
#include "ad/names.h"
#include "buildplan_kit.h"

#define ANALYZER_MAX_MANIFEST (1024 * 1024)       /* package.json, go.mod, ... */
#define ANALYZER_MAX_SCAN_FILE (256 * 1024)       /* per source file scanned */
#define ANALYZER_MAX_SCAN_TOTAL (8 * 1024 * 1024) /* all source files scanned */
#define ANALYZER_MAX_SCAN_FILES 1000
#define ANALYZER_MAX_WALK_ENTRIES 20000 /* directory entries looked at */
#define ANALYZER_MAX_DEPTH 12
#define ANALYZER_MAX_ENV_VARS 256
#define ANALYZER_MAX_ENV_NAME 128
#define ANALYZER_MAX_COMMAND 4096

/* Analyses the directory `dir`.  On success *out is a new analysis owned
 * by the caller (free with ad_analysis_free).  Errors:
 *  AD_ERR_NOT_FOUND  nothing recognisable; the message lists what was
 *                    looked for ("no Dockerfile, package.json, ... found
 *                    in DIR");
 *  AD_ERR_INVALID    a manifest is malformed ("package.json: invalid JSON
 *                    at line L column C: ...");
 *  AD_ERR_TOO_LARGE  a manifest exceeds ANALYZER_MAX_MANIFEST;
 *  AD_ERR_IO         dir cannot be opened. */
int analyzer_detect(struct ad_analysis **out, const char *dir, ad_error_t *err);

/* ---- Parsers (fuzz targets) ------------------------------------------ */

/* Dependencies of package.json the detector cares about (bit flags). */
enum analyzer_node_dep {
        NODE_DEP_VITE = 1u << 0,
        NODE_DEP_REACT_SCRIPTS = 1u << 1,
        NODE_DEP_ANGULAR = 1u << 2,
        NODE_DEP_SVELTE_ADAPTER_NODE = 1u << 3,
        NODE_DEP_SVELTE_ADAPTER_STATIC = 1u << 4,
        NODE_DEP_ASTRO_NODE = 1u << 5,
        NODE_DEP_REMIX_SERVE = 1u << 6,
        NODE_DEP_TYPESCRIPT = 1u << 7,
};

/* What the detector uses from package.json.  NULL: absent. */
struct analyzer_package_json {
        char *name;              /* "name" */
        char *main;              /* "main" */
        char *start_script;      /* scripts.start */
        char *start_prod_script; /* scripts["start:prod"] (NestJS) */
        char *build_script;      /* scripts.build */
        char *engines_node;      /* engines.node */
        char *package_manager;   /* "packageManager", e.g. "pnpm@8.6.0" */
        char *framework;         /* from dependencies, e.g. "express" */
        unsigned deps;           /* enum analyzer_node_dep */
        char **workspaces;       /* "workspaces" (array or {packages: [...]}) */
        size_t n_workspaces;
};

/* AD_ERR_INVALID with "package.json: invalid JSON at line L column C:
 * <jansson's text>" or "package.json: <field> is not a string".  On
 * success *out is filled (release with analyzer_package_json_clear). */
int analyzer_parse_package_json(struct analyzer_package_json *out, const char *data, size_t len,
                                ad_error_t *err);
void analyzer_package_json_clear(struct analyzer_package_json *pj);

/* A Procfile's entries: `web:` and `release:` (NULL when absent), and
 * every other process type (worker, clock...) in the file's order.  A
 * name is 1 to ANALYZER_PROCESS_NAME_MAX characters of [a-z0-9-], starting
 * with a letter and not ending with '-'; at most ANALYZER_PROCFILE_MAX
 * entries; a name declared twice, an invalid name, an empty or too long
 * command is an error naming the line.  Blank lines, `#` comments and
 * lines that are not `name: command` are skipped (as Heroku does). */
#define ANALYZER_PROCESS_NAME_MAX AD_PROCESS_NAME_MAX
#define ANALYZER_PROCFILE_MAX 16
struct analyzer_process {
        char *name;
        char *command;
};
struct analyzer_procfile {
        char *web;
        char *release;
        struct analyzer_process *procs; /* neither web nor release */
        size_t n_procs;
};
int analyzer_parse_procfile(struct analyzer_procfile *out, const char *data, size_t len,
                            ad_error_t *err);
void analyzer_procfile_clear(struct analyzer_procfile *pf);

struct analyzer_dockerfile {
        unsigned port; /* last EXPOSE with a number (or $PORT set by ENV/ARG); 0: none */
        char *cmd;     /* the last CMD (or ENTRYPOINT) as written, or NULL */
};
int analyzer_parse_dockerfile(struct analyzer_dockerfile *out, const char *data, size_t len,
                              ad_error_t *err);
void analyzer_dockerfile_clear(struct analyzer_dockerfile *df);

struct analyzer_go_mod {
        char *module;     /* module path, or NULL */
        char *go_version; /* the `go` directive, or NULL */
        char *framework;  /* gin, echo, fiber, chi, gorilla from require */
};
int analyzer_parse_go_mod(struct analyzer_go_mod *out, const char *data, size_t len,
                          ad_error_t *err);
void analyzer_go_mod_clear(struct analyzer_go_mod *gm);

/* Python dependencies from requirements.txt, pyproject.toml or Pipfile. */
struct analyzer_python_deps {
        size_t n_deps;
        char *framework;      /* "django", "fastapi" or "flask", or NULL */
        char *python_version; /* pyproject requires-python / poetry python */
        bool has_gunicorn;
        bool has_uvicorn;
        bool poetry;       /* [tool.poetry] */
        bool pdm;          /* [tool.pdm] */
        bool uv;           /* [tool.uv] */
        bool build_system; /* [build-system]: `pip install .` works */
};
int analyzer_parse_requirements(struct analyzer_python_deps *out, const char *data, size_t len,
                                ad_error_t *err);
/* pyproject.toml and Pipfile ([packages], [requires] python_version). */
int analyzer_parse_pyproject(struct analyzer_python_deps *out, const char *data, size_t len,
                             ad_error_t *err);
void analyzer_python_deps_clear(struct analyzer_python_deps *d);

/* Cargo.toml: what the detector needs to name the binary. */
struct analyzer_cargo {
        char *name;         /* [package] name */
        char *default_run;  /* [package] default-run */
        char *rust_version; /* [package] rust-version */
        char **bins;        /* [[bin]] names, in order */
        size_t n_bins;
        char **members; /* [workspace] members */
        size_t n_members;
        char *framework; /* actix-web, axum, rocket, warp, poem */
};
int analyzer_parse_cargo(struct analyzer_cargo *out, const char *data, size_t len, ad_error_t *err);
void analyzer_cargo_clear(struct analyzer_cargo *c);

/* pom.xml: the top-level project's coordinates.  AD_ERR_INVALID for
 * nesting deeper than 64 or unbalanced tags. */
struct analyzer_pom {
        char *artifact_id, *version, *packaging, *final_name, *java_version;
        bool spring_boot;
};
int analyzer_parse_pom(struct analyzer_pom *out, const char *data, size_t len, ad_error_t *err);
void analyzer_pom_clear(struct analyzer_pom *p);

/* Gemfile: the gems the detector cares about and the ruby directive. */
struct analyzer_gemfile {
        char *ruby_version;
        bool rails, sinatra, puma, rack, hanami;
        size_t n_gems;
};
int analyzer_parse_gemfile(struct analyzer_gemfile *out, const char *data, size_t len,
                           ad_error_t *err);
void analyzer_gemfile_clear(struct analyzer_gemfile *g);

/* composer.json. */
struct analyzer_composer {
        char *php_version; /* require.php */
        bool laravel, symfony, slim;
        size_t n_require; /* require entries other than php and ext-* */
};
int analyzer_parse_composer(struct analyzer_composer *out, const char *data, size_t len,
                            ad_error_t *err);
void analyzer_composer_clear(struct analyzer_composer *c);

/* deployer.yaml: the repository's own settings, which beat detection.
 * Errors name the file, the line and the key: "deployer.yaml line 3:
 * port: expected an integer in 1..65535". */
struct analyzer_config {
        char *language; /* force a provider */
        char *app_dir;  /* monorepo: the package that is the app */
        char *install, *build, *start, *release;
        char *output_dir;
        unsigned port;
        unsigned cpu_millis, memory_mb;
        unsigned replicas;
        unsigned autoscale_min, autoscale_max, autoscale_cpu;
        char *backend;      /* "engine" or "kubernetes" */
        int use_dockerfile; /* -1 unset, 0 false (ignore it), 1 true */
        json_t *env;        /* name -> value (strings) or NULL */
};
int analyzer_parse_config(struct analyzer_config *out, const char *data, size_t len,
                          ad_error_t *err);
void analyzer_config_clear(struct analyzer_config *c);

/* A bounded set of environment variable names. */
struct analyzer_strset {
        char **v;
        size_t n, cap;
        bool truncated; /* ANALYZER_MAX_ENV_VARS reached, later names dropped */
};
int analyzer_strset_add(struct analyzer_strset *s, const char *name, size_t len, ad_error_t *err);
void analyzer_strset_sort(struct analyzer_strset *s); /* sorts and removes duplicates */
void analyzer_strset_clear(struct analyzer_strset *s);

/* KEY=... lines of a .env.example (comments and `export ` allowed). */
int analyzer_parse_env_example(struct analyzer_strset *set, const char *data, size_t len,
                               ad_error_t *err);
/* process.env.X, process.env["X"], os.environ["X"], os.environ.get("X",
 * os.getenv("X", os.Getenv("X"), os.LookupEnv("X"). */
int analyzer_scan_env(struct analyzer_strset *set, const char *data, size_t len, ad_error_t *err);
/* The first port the code visibly listens on (see detect_scan.c for the
 * patterns); *rule names the pattern for the "why".  False: none found. */
bool analyzer_scan_port(unsigned *port, const char **rule, const char *data, size_t len);

/* ---- Shared by the detect*.c files only -------------------------------- */

struct analyzer_file {
        char *path; /* relative to the root, '/'-separated */
        uint64_t size;
};

/* One repository being analysed. */
struct analyzer_repo {
        int fd;                      /* the root directory */
        const char *path;            /* as given, for messages */
        struct analyzer_file *files; /* regular files found by the walk, sorted */
        size_t n_files;
        uint64_t total_bytes;
        bool truncated; /* the walk hit a bound */
        struct analyzer_procfile procfile;
        struct analyzer_config config;
        bool has_config;
};

/* Reads `rel` (no symlink anywhere on the path, regular files only).
 * Over `max` bytes: AD_ERR_TOO_LARGE, or with `truncate` the first `max`
 * bytes.  Absent, a symlink or not a regular file: AD_ERR_NOT_FOUND with
 * no message (err untouched) so callers can treat it as "not there". */
int analyzer_repo_read(const struct analyzer_repo *repo, const char *rel, size_t max, bool truncate,
                       char **data, size_t *len, ad_error_t *err);
bool analyzer_repo_has_file(const struct analyzer_repo *repo, const char *rel);
bool analyzer_repo_has_dir(const struct analyzer_repo *repo, const char *rel);
/* Directory names (no symlinks, sorted) directly under `rel`; bounded. */
int analyzer_repo_list_dirs(const struct analyzer_repo *repo, const char *rel, char ***names,
                            size_t *n, ad_error_t *err);
int analyzer_repo_walk(struct analyzer_repo *repo, ad_error_t *err);
void analyzer_repo_clear(struct analyzer_repo *repo);
bool analyzer_has_suffix(const char *s, const char *suffix);

/* The value of `key = "value"` (or 'value') on the TOML line [p, le), or
 * NULL when the line is not that, the value is empty or longer than max.
 * Shared by the pyproject and Cargo readers. */
char *analyzer_toml_string(const char *p, const char *le, const char *key, size_t max);

/* The first port found in the files with one of `exts`, trying `first`
 * (NULL-terminated, may be NULL) before the rest.  Returns 1 and fills
 * *port and *why_text ("from server.js: listen(3000)"), 0 when none. */
int analyzer_find_port(const struct analyzer_repo *repo, const char *const *exts,
                       const char *const *first, unsigned *port, char **why_text, ad_error_t *err);

/* Replaces *field by the formatted string. */
int analyzer_setf(char **field, ad_error_t *err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Sets a->why[key] to the formatted string. */
int analyzer_why(struct ad_analysis *a, ad_error_t *err, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int analyzer_oom(ad_error_t *err);

/* Per-language detectors: 1 when the repository is this language (and *a
 * is filled), 0 when not, negative on error.  Tried in this order. */
int analyzer_detect_dockerfile(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_node(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_deno(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_python(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_go(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_ruby(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_php(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_java(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_rust(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_dotnet(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_elixir(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_cpp(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_static(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_shell(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);

/* A language, declared once in its detect_<lang>.c: its name (the
 * analysis's `language`, and deployer.yaml's `language:`), its detector,
 * the resources its apps get before any adjustment, the extensions of its
 * source files, scanned for env var references, and the Dockerfile the
 * builder generates for it: its plan (its stages, written with the
 * builder's kit, services/builder/buildplan_kit.h) and the images that
 * plan uses by key (`builder.images.<key>`), the first being the one its
 * apps run on.  A language with no plan (a repository's own Dockerfile)
 * has neither. */
struct analyzer_provider {
        const char *name;
        int (*detect)(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
        unsigned cpu_millis, memory_mb;
        const char *const *scan_exts; /* NULL-terminated; NULL: none */
        ad_buildplan_fn *plan;
        const struct ad_buildplan_image *images; /* key NULL ends it; NULL: none */
};

extern const struct analyzer_provider analyzer_provider_dockerfile, analyzer_provider_node,
        analyzer_provider_deno, analyzer_provider_python, analyzer_provider_go,
        analyzer_provider_ruby, analyzer_provider_php, analyzer_provider_java,
        analyzer_provider_rust, analyzer_provider_dotnet, analyzer_provider_elixir,
        analyzer_provider_cpp, analyzer_provider_static, analyzer_provider_shell;

/* Every provider, in the order they are tried (the first match wins);
 * NULL-terminated. */
extern const struct analyzer_provider *const analyzer_providers[];
/* The provider named `name`; NULL for no such language. */
const struct analyzer_provider *analyzer_provider_find(const char *name);

/* Helpers shared by the language files. */
/* Sets a->dependency_files to the NULL-terminated list (only the files
 * that exist when `only_existing`). */
int analyzer_set_deps(const struct analyzer_repo *repo, struct ad_analysis *a,
                      const char *const *files, bool only_existing, ad_error_t *err);
/* The first line of a version file (.nvmrc, .ruby-version...), trimmed;
 * 0 and *out NULL when absent or empty. */
int analyzer_read_version_file(const struct analyzer_repo *repo, const char *name, char **out,
                               ad_error_t *err);
/* Sets the port from the code (files with `exts`, `first` first) or the
 * default, with the why. */
int analyzer_port_or_default(struct analyzer_repo *repo, struct ad_analysis *a,
                             const char *const *exts, const char *const *first, unsigned dflt,
                             const char *language, ad_error_t *err);
/* Is there a walked file whose path ends with `suffix` (at most `depth`
 * slashes deep)?  Returns its path or NULL. */
const char *analyzer_find_suffix(const struct analyzer_repo *repo, const char *suffix,
                                 unsigned depth);

#endif
