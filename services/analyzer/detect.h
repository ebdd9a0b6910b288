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
 */
#ifndef AD_ANALYZER_DETECT_H
#define AD_ANALYZER_DETECT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ad/analysis.h"
#include "ad/error.h"

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

/* What the detector uses from package.json.  NULL: absent. */
struct analyzer_package_json {
        char *main;            /* "main" */
        char *start_script;    /* scripts.start */
        char *build_script;    /* scripts.build */
        char *engines_node;    /* engines.node */
        char *package_manager; /* "packageManager", e.g. "pnpm@8.6.0" */
        char *framework;       /* from dependencies, e.g. "express" */
};

/* AD_ERR_INVALID with "package.json: invalid JSON at line L column C:
 * <jansson's text>" or "package.json: <field> is not a string".  On
 * success *out is filled (release with analyzer_package_json_clear). */
int analyzer_parse_package_json(struct analyzer_package_json *out, const char *data, size_t len,
                                ad_error_t *err);
void analyzer_package_json_clear(struct analyzer_package_json *pj);

/* The command of the first `web:` line, or *web = NULL when there is none
 * (returns 0 either way). */
int analyzer_parse_procfile(char **web, const char *data, size_t len, ad_error_t *err);

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

/* Python dependencies from requirements.txt or pyproject.toml. */
struct analyzer_python_deps {
        size_t n_deps;
        char *framework;      /* "django", "fastapi" or "flask", or NULL */
        char *python_version; /* pyproject requires-python / poetry python */
        bool has_gunicorn;
        bool has_uvicorn;
};
int analyzer_parse_requirements(struct analyzer_python_deps *out, const char *data, size_t len,
                                ad_error_t *err);
int analyzer_parse_pyproject(struct analyzer_python_deps *out, const char *data, size_t len,
                             ad_error_t *err);
void analyzer_python_deps_clear(struct analyzer_python_deps *d);

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
        char *procfile_web;
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
int analyzer_detect_python(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_go(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_php(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);
int analyzer_detect_static(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err);

#endif
