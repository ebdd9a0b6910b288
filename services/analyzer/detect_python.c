/* Python: requirements.txt, pyproject.toml, or main.py/app.py/server.py.
 *
 * The image has python3 only, so the start command never relies on a
 * console script being on PATH: `python3 -m uvicorn`, `python3 -m flask`.
 */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define DEFAULT_PORT 8000
#define FLASK_PORT 5000

static const char *const python_exts[] = { ".py", NULL };
static const char *const python_entries[] = { "main.py", "app.py", "server.py" };

void analyzer_python_deps_clear(struct analyzer_python_deps *d)
{
        free(d->framework);
        free(d->python_version);
        *d = (struct analyzer_python_deps){ 0 };
}

/* Flags kept while parsing; the framework is chosen at the end so that
 * the order of the lines does not matter. */
struct dep_flags {
        bool django, fastapi, flask;
};

static void note_dep(struct analyzer_python_deps *d, struct dep_flags *f, const char *name,
                     size_t n)
{
        char norm[64];

        if (n == 0)
                return;
        d->n_deps++;
        if (n >= sizeof(norm))
                return;
        /* PEP 503 normalisation, enough for the names we look for. */
        for (size_t i = 0; i < n; i++)
                norm[i] = name[i] == '_' || name[i] == '.' ? '-'
                                                           : (char)tolower((unsigned char)name[i]);
        norm[n] = '\0';
        if (strcmp(norm, "django") == 0)
                f->django = true;
        else if (strcmp(norm, "fastapi") == 0)
                f->fastapi = true;
        else if (strcmp(norm, "flask") == 0)
                f->flask = true;
        else if (strcmp(norm, "gunicorn") == 0)
                d->has_gunicorn = true;
        else if (strcmp(norm, "uvicorn") == 0)
                d->has_uvicorn = true;
}

static int finish_deps(struct analyzer_python_deps *d, const struct dep_flags *f, ad_error_t *err)
{
        const char *fw = f->django ? "django" : f->fastapi ? "fastapi" : f->flask ? "flask" : NULL;

        if (fw && (d->framework = strdup(fw)) == NULL)
                return analyzer_oom(err);
        return 0;
}

static size_t dep_name_len(const char *p, const char *end)
{
        size_t n = 0;

        while (p + n < end &&
               (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_' || p[n] == '.'))
                n++;
        return n;
}

int analyzer_parse_requirements(struct analyzer_python_deps *out, const char *data, size_t len,
                                ad_error_t *err)
{
        struct analyzer_python_deps d = { 0 };
        struct dep_flags f = { 0 };
        const char *p = data, *end = data + len;
        int r;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;

                while (p < le && (*p == ' ' || *p == '\t'))
                        p++;
                /* Comments, blank lines and options (-r, -e, --index-url). */
                if (p < le && *p != '#' && *p != '-' && *p != '\r')
                        note_dep(&d, &f, p, dep_name_len(p, le));
                p = eol ? eol + 1 : end;
        }
        r = finish_deps(&d, &f, err);
        if (r < 0) {
                analyzer_python_deps_clear(&d);
                return r;
        }
        *out = d;
        return 0;
}

/* The value of `key = "value"` on a TOML line, or NULL. */
static char *toml_string_value(const char *line, const char *le, const char *key)
{
        size_t k = strlen(key);
        const char *p = line, *q;

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
        if (q == NULL || q - p - 1 > 64)
                return NULL;
        return strndup(p + 1, (size_t)(q - p - 1));
}

/* Not a TOML parser: enough of one to read [project] dependencies,
 * requires-python and [tool.poetry.dependencies], line by line. */
int analyzer_parse_pyproject(struct analyzer_python_deps *out, const char *data, size_t len,
                             ad_error_t *err)
{
        enum { OTHER, PROJECT, POETRY_DEPS } section = OTHER;
        struct analyzer_python_deps d = { 0 };
        struct dep_flags f = { 0 };
        const char *p = data, *end = data + len;
        bool in_deps_array = false;
        int r;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                char *v;

                while (p < le && (*p == ' ' || *p == '\t'))
                        p++;
                if (p < le && *p == '[' && !in_deps_array) {
                        size_t n = (size_t)(le - p);

                        section = (n >= 9 && memcmp(p, "[project]", 9) == 0) ? PROJECT
                                  : (n >= 26 && memcmp(p, "[tool.poetry.dependencies]", 26) == 0)
                                          ? POETRY_DEPS
                                          : OTHER;
                } else if (in_deps_array) {
                        /* "flask>=2", 'fastapi' ... until the closing ']' */
                        for (const char *q = p; q < le; q++) {
                                if (*q == '#')
                                        break;
                                if (*q == ']') {
                                        in_deps_array = false;
                                        break;
                                }
                                if (*q == '"' || *q == '\'') {
                                        const char *close = memchr(q + 1, *q, (size_t)(le - q - 1));

                                        note_dep(&d, &f, q + 1, dep_name_len(q + 1, le));
                                        if (close == NULL)
                                                break;
                                        q = close;
                                }
                        }
                } else if (section == PROJECT && (size_t)(le - p) >= 12 &&
                           memcmp(p, "dependencies", 12) == 0 &&
                           memchr(p, '[', (size_t)(le - p)) != NULL) {
                        const char *open = memchr(p, '[', (size_t)(le - p));

                        /* Re-scan the rest of this line as array content. */
                        in_deps_array = true;
                        p = open + 1;
                        continue;
                } else if (section == PROJECT &&
                           (v = toml_string_value(p, le, "requires-python")) != NULL) {
                        free(d.python_version);
                        d.python_version = v;
                } else if (section == POETRY_DEPS && p < le && *p != '#') {
                        size_t n = dep_name_len(p, le);

                        if (n == 6 && memcmp(p, "python", 6) == 0) {
                                v = toml_string_value(p, le, "python");
                                if (v) {
                                        free(d.python_version);
                                        d.python_version = v;
                                }
                        } else {
                                note_dep(&d, &f, p, n);
                        }
                }
                p = eol ? eol + 1 : end;
        }
        r = finish_deps(&d, &f, err);
        if (r < 0) {
                analyzer_python_deps_clear(&d);
                return r;
        }
        *out = d;
        return 0;
}

/* `import flask` / `from fastapi import ...` at the start of a line. */
static const char *import_framework(const char *data, size_t len)
{
        static const char *const names[] = { "django", "fastapi", "flask" };
        const char *p = data, *end = data + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                size_t kw = 0;

                if ((size_t)(le - p) > 5 && memcmp(p, "from ", 5) == 0)
                        kw = 5;
                else if ((size_t)(le - p) > 7 && memcmp(p, "import ", 7) == 0)
                        kw = 7;
                for (size_t i = 0; kw && i < AD_ARRAY_SIZE(names); i++) {
                        size_t n = strlen(names[i]);
                        const char *q = p + kw;

                        if ((size_t)(le - q) >= n && memcmp(q, names[i], n) == 0 &&
                            (q + n == le || !(isalnum((unsigned char)q[n]) || q[n] == '_')))
                                return names[i];
                }
                p = eol ? eol + 1 : end;
        }
        return NULL;
}

/* Does the file start a server itself when run as a script? */
static bool runs_itself(const char *data)
{
        return strstr(data, "__main__") || strstr(data, ".run(") || strstr(data, "serve_forever(");
}

struct python_ctx {
        struct analyzer_python_deps req, pyproject;
        bool has_req, has_pyproject;
        const char *entry; /* main.py, app.py or server.py */
        char *entry_data;  /* its first ANALYZER_MAX_SCAN_FILE bytes */
        const char *framework;
};

static int read_optional(struct analyzer_repo *repo, const char *name, size_t max, char **data,
                         size_t *len, bool *found, ad_error_t *err)
{
        int r = analyzer_repo_read(repo, name, max, false, data, len, err);

        *found = r == 0;
        return r == -AD_ERR_NOT_FOUND ? 0 : r;
}

/* main.py, app.py, server.py: the first that runs itself, else the first. */
static int pick_entry(struct analyzer_repo *repo, struct python_ctx *c, ad_error_t *err)
{
        for (size_t i = 0; i < AD_ARRAY_SIZE(python_entries); i++) {
                char *data = NULL;
                size_t len;
                int r = analyzer_repo_read(repo, python_entries[i], ANALYZER_MAX_SCAN_FILE, true,
                                           &data, &len, err);

                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                if (c->entry == NULL || (!runs_itself(c->entry_data) && runs_itself(data))) {
                        free(c->entry_data);
                        c->entry = python_entries[i];
                        c->entry_data = data;
                } else {
                        free(data);
                }
        }
        return 0;
}

static int python_install(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                          ad_error_t *err)
{
        int r;

        (void)repo;
        if (c->has_req && c->req.n_deps > 0) {
                a->dependency_files = calloc(1, sizeof(char *));
                if (a->dependency_files == NULL ||
                    (a->dependency_files[0] = strdup("requirements.txt")) == NULL)
                        return analyzer_oom(err);
                a->n_dependency_files = 1;
                r = analyzer_setf(&a->install_command, err,
                                  "python3 -m pip install -r requirements.txt");
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand",
                                         "requirements.txt lists %zu requirement(s)",
                                         c->req.n_deps);
        } else if (c->has_pyproject && c->pyproject.n_deps > 0) {
                /* `pip install .` needs the whole source: no early copy. */
                r = analyzer_setf(&a->install_command, err, "python3 -m pip install .");
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand",
                                         "pyproject.toml declares %zu dependencies",
                                         c->pyproject.n_deps);
        } else {
                return analyzer_why(a, err, "installCommand",
                                    "no dependencies declared: standard library only");
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "pip");
        if (r == 0)
                r = analyzer_why(a, err, "packageManager", "pip installs %s",
                                 c->has_req && c->req.n_deps ? "requirements.txt"
                                                             : "pyproject.toml");
        return r;
}

static int python_version(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                          ad_error_t *err)
{
        static const struct {
                const char *file, *prefix;
        } files[] = { { ".python-version", "" }, { "runtime.txt", "python-" } };
        int r;

        for (size_t i = 0; i < AD_ARRAY_SIZE(files); i++) {
                cleanup_free char *data = NULL;
                size_t len, skip = strlen(files[i].prefix), n;

                r = analyzer_repo_read(repo, files[i].file, 256, true, &data, &len, err);
                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                if (strncmp(data, files[i].prefix, skip) != 0)
                        continue;
                n = strcspn(data + skip, " \t\r\n#");
                if (n == 0)
                        continue;
                r = analyzer_setf(&a->version, err, "%.*s", (int)n, data + skip);
                return r < 0 ? r : analyzer_why(a, err, "version", "%s", files[i].file);
        }
        if (c->pyproject.python_version) {
                r = analyzer_setf(&a->version, err, "%s", c->pyproject.python_version);
                return r < 0 ? r : analyzer_why(a, err, "version", "pyproject.toml");
        }
        return analyzer_why(a, err, "version",
                            "not declared (.python-version, runtime.txt, requires-python): the "
                            "image's python3");
}

/* `<dir>/wsgi.py` one level down: Django's startproject layout. */
static int django_wsgi_module(struct analyzer_repo *repo, char **module, ad_error_t *err)
{
        char **dirs = NULL;
        size_t n = 0;
        int r = analyzer_repo_list_dirs(repo, ".", &dirs, &n, err);

        *module = NULL;
        for (size_t i = 0; r == 0 && i < n; i++) {
                cleanup_free char *path = NULL;

                if (*module == NULL && asprintf(&path, "%s/wsgi.py", dirs[i]) >= 0 &&
                    analyzer_repo_has_file(repo, path) &&
                    dirs[i][strspn(dirs[i], "abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")] == '\0')
                        *module = strdup(dirs[i]);
        }
        for (size_t i = 0; i < n; i++)
                free(dirs[i]);
        free(dirs);
        return r;
}

/* The variable holding the ASGI app: `api = FastAPI(` -> "api". */
static char *fastapi_variable(const char *data)
{
        const char *p = strstr(data, "FastAPI(");
        const char *e, *s;

        if (p == NULL)
                return strdup("app");
        e = p;
        while (e > data && (e[-1] == ' ' || e[-1] == '='))
                e--;
        s = e;
        while (s > data && (isalnum((unsigned char)s[-1]) || s[-1] == '_'))
                s--;
        if (s == e || e - s > 64)
                return strdup("app");
        return strndup(s, (size_t)(e - s));
}

static int python_start(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                        ad_error_t *err)
{
        const char *fw = c->framework ? c->framework : "";
        cleanup_free char *module = NULL;
        int r;

        if (strcmp(fw, "django") == 0 && analyzer_repo_has_file(repo, "manage.py")) {
                bool gunicorn = c->req.has_gunicorn || c->pyproject.has_gunicorn;

                r = gunicorn ? django_wsgi_module(repo, &module, err) : 0;
                if (r < 0)
                        return r;
                if (module) {
                        r = analyzer_setf(&a->start_command, err,
                                          "python3 -m gunicorn %s.wsgi --bind 0.0.0.0:$PORT",
                                          module);
                        return r < 0 ? r
                                     : analyzer_why(a, err, "startCommand",
                                                    "django with gunicorn: %s/wsgi.py", module);
                }
                r = analyzer_setf(&a->start_command, err,
                                  "python3 manage.py runserver 0.0.0.0:$PORT");
                return r < 0 ? r : analyzer_why(a, err, "startCommand", "django: manage.py");
        }
        if (c->entry == NULL)
                return analyzer_why(a, err, "startCommand",
                                    "none: no main.py, app.py or server.py (add a Procfile)");

        module = strndup(c->entry, strlen(c->entry) - 3);
        if (module == NULL)
                return analyzer_oom(err);
        if (!runs_itself(c->entry_data) && strcmp(fw, "fastapi") == 0) {
                cleanup_free char *var = fastapi_variable(c->entry_data);

                if (var == NULL)
                        return analyzer_oom(err);
                r = analyzer_setf(&a->start_command, err,
                                  "python3 -m uvicorn %s:%s --host 0.0.0.0 --port $PORT", module,
                                  var);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "fastapi app in %s that does not run itself", c->entry);
        }
        if (!runs_itself(c->entry_data) && strcmp(fw, "flask") == 0) {
                r = analyzer_setf(&a->start_command, err,
                                  "python3 -m flask --app %s run --host 0.0.0.0 --port $PORT",
                                  module);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "flask app in %s that does not run itself", c->entry);
        }
        r = analyzer_setf(&a->start_command, err, "python3 %s", c->entry);
        return r < 0 ? r : analyzer_why(a, err, "startCommand", "%s at the root", c->entry);
}

static int python_port(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                       ad_error_t *err)
{
        const char *first[] = { c->entry, NULL };
        cleanup_free char *why = NULL;
        unsigned port = 0;
        int r = analyzer_find_port(repo, python_exts, c->entry ? first : NULL, &port, &why, err);

        if (r < 0)
                return r;
        if (r == 1) {
                a->port = port;
                return analyzer_why(a, err, "port", "%s", why);
        }
        /* Flask's app.run() without a port listens on 5000, whatever $PORT. */
        if (c->framework && strcmp(c->framework, "flask") == 0 && c->entry &&
            strstr(c->entry_data, ".run(") && a->start_command &&
            strncmp(a->start_command, "python3 ", 8) == 0) {
                a->port = FLASK_PORT;
                return analyzer_why(a, err, "port", "%s: flask app.run() without a port", c->entry);
        }
        a->port = DEFAULT_PORT;
        return analyzer_why(a, err, "port", "no port found in the code: python default %d",
                            DEFAULT_PORT);
}

static int python_run(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                      ad_error_t *err)
{
        const char *trigger = c->has_req         ? "requirements.txt"
                              : c->has_pyproject ? "pyproject.toml"
                                                 : c->entry;
        int r;

        c->framework = c->req.framework ? c->req.framework : c->pyproject.framework;
        r = analyzer_setf(&a->language, err, "python");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", trigger);
        if (r == 0 && c->framework) {
                r = analyzer_setf(&a->framework, err, "%s", c->framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s lists %s",
                                         c->req.framework ? "requirements.txt" : "pyproject.toml",
                                         c->framework);
        } else if (r == 0 && c->entry &&
                   (c->framework = import_framework(c->entry_data, strlen(c->entry_data)))) {
                r = analyzer_setf(&a->framework, err, "%s", c->framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s imports %s", c->entry,
                                         c->framework);
        }
        if (r == 0)
                r = python_install(repo, a, c, err);
        if (r == 0)
                r = python_version(repo, a, c, err);
        if (r == 0)
                r = python_start(repo, a, c, err);
        if (r == 0)
                r = python_port(repo, a, c, err);
        return r;
}

int analyzer_detect_python(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct python_ctx c = { 0 };
        cleanup_free char *req = NULL;
        cleanup_free char *pyproject = NULL;
        size_t req_len = 0, pyproject_len = 0;
        int r;

        r = read_optional(repo, "requirements.txt", ANALYZER_MAX_MANIFEST, &req, &req_len,
                          &c.has_req, err);
        if (r == 0)
                r = read_optional(repo, "pyproject.toml", ANALYZER_MAX_MANIFEST, &pyproject,
                                  &pyproject_len, &c.has_pyproject, err);
        if (r == 0)
                r = pick_entry(repo, &c, err);
        if (r == 0 && !c.has_req && !c.has_pyproject && c.entry == NULL)
                goto out; /* not python */
        if (r == 0 && c.has_req)
                r = analyzer_parse_requirements(&c.req, req, req_len, err);
        if (r == 0 && c.has_pyproject)
                r = analyzer_parse_pyproject(&c.pyproject, pyproject, pyproject_len, err);
        if (r == 0)
                r = python_run(repo, a, &c, err);
        if (r == 0)
                r = 1;
out:
        analyzer_python_deps_clear(&c.req);
        analyzer_python_deps_clear(&c.pyproject);
        free(c.entry_data);
        return r;
}
