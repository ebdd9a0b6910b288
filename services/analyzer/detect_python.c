/* Python: requirements.txt, pyproject.toml, Pipfile, setup.py, or a main.py/app.py/... script.
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
/* Railpack's list, in its order. */
static const char *const python_entries[] = { "main.py", "app.py",   "start.py",
                                              "bot.py",  "hello.py", "server.py" };

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

/* Not a TOML parser: enough of one to read [project] dependencies,
 * requires-python and [tool.poetry.dependencies], line by line. */
int analyzer_parse_pyproject(struct analyzer_python_deps *out, const char *data, size_t len,
                             ad_error_t *err)
{
        enum { OTHER, PROJECT, POETRY_DEPS, REQUIRES } section = OTHER;
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
                                  /* Pipfile: `name = "*"` lines like Poetry's. */
                                  : (n >= 10 && memcmp(p, "[packages]", 10) == 0) ? POETRY_DEPS
                                  : (n >= 10 && memcmp(p, "[requires]", 10) == 0) ? REQUIRES
                                                                                  : OTHER;
                        if (n >= 12 && memcmp(p, "[tool.poetry", 12) == 0)
                                d.poetry = true;
                        else if (n >= 9 && memcmp(p, "[tool.pdm", 9) == 0)
                                d.pdm = true;
                        else if (n >= 8 && memcmp(p, "[tool.uv", 8) == 0)
                                d.uv = true;
                        else if (n >= 14 && memcmp(p, "[build-system]", 14) == 0)
                                d.build_system = true;
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
                           (v = analyzer_toml_string(p, le, "requires-python", 64)) != NULL) {
                        free(d.python_version);
                        d.python_version = v;
                } else if (section == REQUIRES &&
                           (v = analyzer_toml_string(p, le, "python_version", 64)) != NULL) {
                        free(d.python_version);
                        d.python_version = v;
                } else if (section == POETRY_DEPS && p < le && *p != '#') {
                        size_t n = dep_name_len(p, le);

                        if (n == 6 && memcmp(p, "python", 6) == 0) {
                                v = analyzer_toml_string(p, le, "python", 64);
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
        bool has_req, has_pyproject, has_pipfile;
        const char *entry; /* main.py, app.py or server.py */
        char *entry_data;  /* its first ANALYZER_MAX_SCAN_FILE bytes */
        const char *framework;
        bool gunicorn, uvicorn;
        /* The production server the start command runs but the app does
         * not depend on: installed after its dependencies. */
        const char *add_server;
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

/* The first existing of uv, Poetry, PDM, Pipenv, pip, setuptools, as
 * Railpack tries them: a lockfile is the strongest signal. */
static int python_install(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                          ad_error_t *err)
{
        const struct analyzer_python_deps *pp = &c->pyproject;
        const char *pm = NULL, *install = NULL, *why = NULL;
        const char *deps[4] = { 0 };
        bool early = true;
        int r;

        if (analyzer_repo_has_file(repo, "uv.lock") || (pp->uv && c->has_pyproject)) {
                pm = "uv";
                /* --frozen needs the lockfile: without one uv resolves. */
                install = analyzer_repo_has_file(repo, "uv.lock")
                                  ? "python3 -m pip install uv && uv sync --frozen --no-dev "
                                    "--no-install-project"
                                  : "python3 -m pip install uv && uv sync --no-dev "
                                    "--no-install-project";
                why = analyzer_repo_has_file(repo, "uv.lock") ? "uv.lock" : "[tool.uv]";
                deps[0] = "pyproject.toml";
                deps[1] = "uv.lock";
        } else if (analyzer_repo_has_file(repo, "poetry.lock") ||
                   (pp->poetry && c->has_pyproject)) {
                pm = "poetry";
                install = "python3 -m pip install poetry && poetry install --no-interaction "
                          "--no-root --only main";
                why = analyzer_repo_has_file(repo, "poetry.lock") ? "poetry.lock" : "[tool.poetry]";
                deps[0] = "pyproject.toml";
                deps[1] = "poetry.lock";
        } else if (analyzer_repo_has_file(repo, "pdm.lock") || (pp->pdm && c->has_pyproject)) {
                pm = "pdm";
                install = "python3 -m pip install pdm && pdm sync --prod --no-self";
                why = analyzer_repo_has_file(repo, "pdm.lock") ? "pdm.lock" : "[tool.pdm]";
                deps[0] = "pyproject.toml";
                deps[1] = "pdm.lock";
        } else if (c->has_pipfile) {
                pm = "pipenv";
                install = "python3 -m pip install pipenv && pipenv install --deploy";
                why = "Pipfile";
                deps[0] = "Pipfile";
                deps[1] = "Pipfile.lock";
        } else if (c->has_req && c->req.n_deps > 0) {
                pm = "pip";
                install = "python3 -m pip install -r requirements.txt";
                why = "requirements.txt";
                deps[0] = "requirements.txt";
        } else if ((c->has_pyproject && (pp->n_deps > 0 || pp->build_system)) ||
                   analyzer_repo_has_file(repo, "setup.py")) {
                pm = "pip";
                /* `pip install .` builds the project: it needs the source. */
                install = "python3 -m pip install .";
                why = c->has_pyproject ? "pyproject.toml (setuptools/PEP 517 build)" : "setup.py";
                early = false;
        }
        if (pm == NULL)
                return analyzer_why(a, err, "installCommand",
                                    "no dependencies declared: standard library only");
        r = analyzer_setf(&a->install_command, err, "%s", install);
        if (r == 0)
                r = analyzer_why(a, err, "installCommand", "%s: %s installs the dependencies%s",
                                 why, pm, early ? " in their own cached layer" : "");
        if (r == 0 && early)
                r = analyzer_set_deps(repo, a, deps, true, err);
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "%s", pm);
        if (r == 0)
                r = analyzer_why(a, err, "packageManager", "%s found", why);
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

/* The variable in `<var> = <ctor>(` (e.g. `api = FastAPI(`), or NULL. */
static char *app_variable(const char *data, const char *ctor)
{
        if (strstr(data, ctor) == NULL)
                return NULL;
        for (const char *p = strstr(data, ctor); p; p = strstr(p + 1, ctor)) {
                const char *e = p, *s;

                if (p > data && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
                        continue;
                while (e > data && e[-1] == ' ')
                        e--;
                if (e == data || e[-1] != '=')
                        continue;
                e--;
                while (e > data && e[-1] == ' ')
                        e--;
                s = e;
                while (s > data && (isalnum((unsigned char)s[-1]) || s[-1] == '_'))
                        s--;
                if (s == e || e - s > 64 || isdigit((unsigned char)*s))
                        continue;
                /* Module level only: an `app = Flask(` indented inside a
                 * function is a factory's local. */
                if (s != data && s[-1] != '\n')
                        continue;
                return strndup(s, (size_t)(e - s));
        }
        /* The application factory pattern: gunicorn and flask both accept
         * "module:create_app()". */
        for (const char *p = strstr(data, "def create_app("); p;
             p = strstr(p + 1, "def create_app("))
                if (p == data || p[-1] == '\n')
                        return strdup("create_app()");
        return NULL;
}

/* "src/app/main.py" -> "src.app.main", "pkg/__init__.py" -> "pkg". */
static char *module_of(const char *path)
{
        size_t n = strlen(path) - 3;
        char *m;

        if (n >= 9 && strcmp(path + n - 9, "/__init__") == 0)
                n -= 9;
        m = strndup(path, n);
        for (char *p = m; p && *p; p++)
                if (*p == '/')
                        *p = '.';
        return m;
}

/* The module:variable of the Flask/FastAPI app object: the entry file
 * first, then any .py file up to two directories down (tests skipped). */
static int find_app_object(struct analyzer_repo *repo, struct python_ctx *c, const char *ctor,
                           char **target, char **where, ad_error_t *err)
{
        size_t read = 0;

        *target = NULL;
        if (c->entry) {
                cleanup_free char *var = app_variable(c->entry_data, ctor);
                cleanup_free char *mod = module_of(c->entry);

                if (var && mod) {
                        *where = strdup(c->entry);
                        return asprintf(target, "%s:%s", mod, var) < 0 || !*where
                                       ? analyzer_oom(err)
                                       : 0;
                }
        }
        for (size_t i = 0; i < repo->n_files && read < 200; i++) {
                const char *path = repo->files[i].path;
                cleanup_free char *data = NULL;
                cleanup_free char *var = NULL;
                size_t len, slashes = 0;
                int r;

                for (const char *q = path; *q; q++)
                        slashes += *q == '/';
                if (slashes > 2 || !analyzer_has_suffix(path, ".py") || strstr(path, "test") ||
                    path[strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_/.")] != '\0')
                        continue;
                r = analyzer_repo_read(repo, path, 64 * 1024, true, &data, &len, err);
                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                read++;
                var = app_variable(data, ctor);
                if (var) {
                        cleanup_free char *mod = module_of(path);

                        *where = strdup(path);
                        return mod == NULL || *where == NULL ||
                                               asprintf(target, "%s:%s", mod, var) < 0
                                       ? analyzer_oom(err)
                                       : 0;
                }
        }
        return 0;
}

/* Django's settings module from manage.py's DJANGO_SETTINGS_MODULE:
 * "mysite.settings" -> "mysite". */
static char *django_project_from_manage(struct analyzer_repo *repo)
{
        cleanup_free char *data = NULL;
        const char *p, *e;
        size_t len = 0;

        if (analyzer_repo_read(repo, "manage.py", 64 * 1024, true, &data, &len, NULL) != 0)
                return NULL;
        p = strstr(data, "DJANGO_SETTINGS_MODULE");
        if (p == NULL || (p = strpbrk(p + 22, "\"'")) == NULL ||
            (p = strpbrk(p + 1, "\"'")) == NULL)
                return NULL;
        p++;
        e = p + strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (e == p || *e != '.')
                return NULL;
        return strndup(p, (size_t)(e - p));
}

/* collectstatic at build time when the settings name a STATIC_ROOT
 * (without one Django refuses to collect). */
static int django_static(struct analyzer_repo *repo, struct ad_analysis *a, const char *module,
                         ad_error_t *err)
{
        cleanup_free char *settings = NULL;
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&settings, "%s/settings.py", module) < 0)
                return analyzer_oom(err);
        r = analyzer_repo_read(repo, settings, ANALYZER_MAX_SCAN_FILE, true, &data, &len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return analyzer_why(a, err, "buildCommand", "django: no %s, no collectstatic",
                                    settings);
        if (r < 0)
                return r;
        if (strstr(data, "STATIC_ROOT") == NULL)
                return analyzer_why(a, err, "buildCommand",
                                    "django: %s sets no STATIC_ROOT, no collectstatic", settings);
        if (*(a->build_command ? a->build_command : "") != '\0')
                return 0;
        r = analyzer_setf(&a->build_command, err, "python3 manage.py collectstatic --noinput");
        return r < 0 ? r
                     : analyzer_why(a, err, "buildCommand",
                                    "django: %s sets STATIC_ROOT: the static files are "
                                    "collected into the image",
                                    settings);
}

static int django_start(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                        ad_error_t *err)
{
        cleanup_free char *module = django_project_from_manage(repo);
        cleanup_free char *wsgi = NULL;
        int r = 0;

        if (module && asprintf(&wsgi, "%s/wsgi.py", module) >= 0 &&
            !analyzer_repo_has_file(repo, wsgi)) {
                free(module);
                module = NULL;
        }
        if (module == NULL)
                r = django_wsgi_module(repo, &module, err);
        if (r < 0)
                return r;
        /* Railpack migrates before every start; here it is the release
         * command, run once per release before its containers start, so a
         * failed migration fails the deployment visibly. */
        r = analyzer_setf(&a->release_command, err, "python3 manage.py migrate --noinput");
        if (r == 0)
                r = analyzer_why(a, err, "releaseCommand",
                                 "django: apply the migrations once per release, before it starts "
                                 "(a Procfile release: line or deployer.yaml release overrides "
                                 "it)");
        if (r < 0)
                return r;
        if (module) {
                r = django_static(repo, a, module, err);
                if (r == 0)
                        r = analyzer_setf(&a->start_command, err,
                                          "python3 -m gunicorn %s.wsgi:application --bind "
                                          "0.0.0.0:$PORT",
                                          module);
                if (r == 0 && !c->gunicorn)
                        c->add_server = "gunicorn";
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "django under gunicorn (a production WSGI server, "
                                            "never runserver): the WSGI module %s/wsgi.py "
                                            "(DJANGO_SETTINGS_MODULE of manage.py)%s",
                                            module,
                                            c->gunicorn ? ""
                                                        : "; gunicorn is not a dependency, "
                                                          "so the build installs it");
        }
        r = analyzer_setf(&a->start_command, err, "python3 manage.py runserver 0.0.0.0:$PORT");
        return r < 0 ? r
                     : analyzer_why(a, err, "startCommand",
                                    "django: manage.py runserver, the development server: no "
                                    "<project>/wsgi.py found for gunicorn");
}

static int python_start(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                        ad_error_t *err)
{
        const char *fw = c->framework ? c->framework : "";
        cleanup_free char *module = NULL;
        cleanup_free char *target = NULL;
        cleanup_free char *where = NULL;
        int r;

        if (strcmp(fw, "django") == 0 && analyzer_repo_has_file(repo, "manage.py"))
                return django_start(repo, a, c, err);
        if (strcmp(fw, "fastapi") == 0 || strcmp(fw, "flask") == 0) {
                bool fastapi = strcmp(fw, "fastapi") == 0;

                r = find_app_object(repo, c, fastapi ? "FastAPI(" : "Flask(", &target, &where, err);
                if (r < 0)
                        return r;
        }
        if (target && strcmp(fw, "fastapi") == 0) {
                size_t n = strcspn(target, "(");

                /* uvicorn calls a factory itself: --factory module:create_app */
                r = analyzer_setf(&a->start_command, err,
                                  "python3 -m uvicorn %s%.*s --host 0.0.0.0 --port $PORT",
                                  target[n] ? "--factory " : "", (int)n, target);
                if (r == 0 && !c->uvicorn)
                        c->add_server = "uvicorn";
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "fastapi: the ASGI app %s found in %s, served by "
                                            "uvicorn%s",
                                            target, where,
                                            c->uvicorn ? ""
                                                       : " (not a dependency: the build "
                                                         "installs it)");
        }
        if (target) {
                r = analyzer_setf(&a->start_command, err,
                                  strchr(target, '(')
                                          ? "python3 -m gunicorn '%s' --bind 0.0.0.0:$PORT"
                                          : "python3 -m gunicorn %s --bind 0.0.0.0:$PORT",
                                  target);
                if (r == 0 && !c->gunicorn)
                        c->add_server = "gunicorn";
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "flask under gunicorn (a production WSGI server, "
                                            "never the development server): the WSGI app %s "
                                            "found in %s%s",
                                            target, where,
                                            c->gunicorn ? ""
                                                        : "; gunicorn is not a dependency, "
                                                          "so the build installs it");
        }
        if (c->entry == NULL)
                return analyzer_why(a, err, "startCommand",
                                    "none: no main.py, app.py, start.py, bot.py, hello.py or "
                                    "server.py (add a Procfile)");
        module = strndup(c->entry, strlen(c->entry) - 3);
        if (module == NULL)
                return analyzer_oom(err);
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

/* The server goes in after the app's own dependencies, with the same
 * installer: uv's environments have no pip of their own. */
static int python_add_server(struct ad_analysis *a, const char *server, ad_error_t *err)
{
        const char *install = a->install_command ? a->install_command : "";
        const char *pm = a->package_manager ? a->package_manager : "";
        cleanup_free char *old = *install ? strdup(install) : NULL;

        if (*install && old == NULL)
                return analyzer_oom(err);
        if (strcmp(pm, "pip") == 0 && strstr(install, "-r requirements.txt"))
                return analyzer_setf(&a->install_command, err, "%s %s", old, server);
        if (*install == '\0')
                return analyzer_setf(&a->install_command, err, "python3 -m pip install %s", server);
        return analyzer_setf(&a->install_command, err, "%s && %s %s", old,
                             strcmp(pm, "uv") == 0 ? "uv pip install" : "python3 -m pip install",
                             server);
}

static int python_run(struct analyzer_repo *repo, struct ad_analysis *a, struct python_ctx *c,
                      ad_error_t *err)
{
        const char *trigger = c->has_req                                  ? "requirements.txt"
                              : c->has_pyproject                          ? "pyproject.toml"
                              : c->has_pipfile                            ? "Pipfile"
                              : c->entry                                  ? c->entry
                              : analyzer_repo_has_file(repo, "manage.py") ? "manage.py"
                                                                          : "setup.py";
        int r;

        c->framework = c->req.framework ? c->req.framework : c->pyproject.framework;
        c->gunicorn = c->req.has_gunicorn || c->pyproject.has_gunicorn;
        c->uvicorn = c->req.has_uvicorn || c->pyproject.has_uvicorn;
        r = analyzer_setf(&a->language, err, "python");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", trigger);
        if (r == 0 && c->framework) {
                r = analyzer_setf(&a->framework, err, "%s", c->framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s lists %s",
                                         c->req.framework ? "requirements.txt"
                                         : c->has_pipfile ? "Pipfile"
                                                          : "pyproject.toml",
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
        if (r == 0 && c->add_server)
                r = python_add_server(a, c->add_server, err);
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
        if (r == 0 && !c.has_pyproject)
                r = read_optional(repo, "Pipfile", ANALYZER_MAX_MANIFEST, &pyproject,
                                  &pyproject_len, &c.has_pipfile, err);
        if (r == 0)
                r = pick_entry(repo, &c, err);
        if (r == 0 && !c.has_req && !c.has_pyproject && !c.has_pipfile && c.entry == NULL &&
            !analyzer_repo_has_file(repo, "setup.py") && !analyzer_repo_has_file(repo, "manage.py"))
                goto out; /* not python */
        if (r == 0 && c.has_req)
                r = analyzer_parse_requirements(&c.req, req, req_len, err);
        if (r == 0 && (c.has_pyproject || c.has_pipfile))
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

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_python(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        const char *python_image;
        int r = ad_buildplan_use_image(images, "python", &python_image, err);

        if (r < 0)
                return r;
        ad_buildplan_from(f, python_image, NULL);
        fprintf(f, "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n");
        if (*ad_buildplan_str(a->install_command) != '\0') {
                /* Debian marks its python3 externally managed (PEP 668); the
                 * image is the app's alone, so installing system-wide is
                 * what we want. */
                fprintf(f, "ENV PIP_NO_CACHE_DIR=1 PIP_BREAK_SYSTEM_PACKAGES=1 "
                           "PIP_DISABLE_PIP_VERSION_CHECK=1\n");
                /* The python image has pip and venv since base-images.sh
                 * added them; an older one gets them here (a layer shared
                 * by every app on that image). */
                fprintf(f, "RUN python3 -m pip --version >/dev/null 2>&1 || { export "
                           "DEBIAN_FRONTEND=noninteractive && apt-get update -q && apt-get "
                           "install -y -q --no-install-recommends python3-pip python3-venv && "
                           "rm -rf /var/lib/apt/lists/*; }\n");
                /* uv must not download a Python of its own: the
                 * image's python3 is the one the app runs on. */
                fprintf(f, "ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy "
                           "UV_COMPILE_BYTECODE=0\n");
                ad_buildplan_trust(f, images, false);
                ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_PYPI);
        }
        {
                const char *pm = ad_buildplan_str(a->package_manager);

                /* uv, Poetry, PDM and Pipenv install into /app/.venv: put it
                 * first on PATH so python3 and its console scripts are the
                 * venv's at build and at run time. */
                if (strcmp(pm, "uv") == 0 || strcmp(pm, "poetry") == 0 || strcmp(pm, "pdm") == 0 ||
                    strcmp(pm, "pipenv") == 0)
                        fprintf(f, "ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH "
                                   "POETRY_VIRTUALENVS_IN_PROJECT=true PIPENV_VENV_IN_PROJECT=1 "
                                   "UV_PROJECT_ENVIRONMENT=/app/.venv\n");
        }
        ad_buildplan_install_and_source(f, a);
        return ad_buildplan_runtime(f, a, "", err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const python_scan_exts[] = { ".py", NULL };
static const struct ad_buildplan_image python_images[] = {
        AD_BUILDPLAN_IMAGE("python"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_python = {
        .name = "python",
        .detect = analyzer_detect_python,
        .cpu_millis = 500,
        .memory_mb = 256,
        .scan_exts = python_scan_exts,
        .plan = plan_python,
        .images = python_images,
};
