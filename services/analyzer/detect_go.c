/* Go: go.mod at the root.  Built in a go stage, run from bin/ (the binary
 * is named after its directory, as Heroku's Go buildpack does, so a
 * Procfile `web: bin/<name>` keeps working). */
#include "detect.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define DEFAULT_PORT 8080
#define MAX_FIRST_FILES 32

static const char *const go_exts[] = { ".go", NULL };

static const char *str_or(const char *s)
{
        return s ? s : "";
}

static const struct {
        const char *module_prefix;
        const char *framework;
} go_frameworks[] = {
        { "github.com/gin-gonic/gin", "gin" },   { "github.com/labstack/echo", "echo" },
        { "github.com/gofiber/fiber", "fiber" }, { "github.com/go-chi/chi", "chi" },
        { "github.com/gorilla/mux", "gorilla" },
};

void analyzer_go_mod_clear(struct analyzer_go_mod *gm)
{
        free(gm->module);
        free(gm->go_version);
        free(gm->framework);
        *gm = (struct analyzer_go_mod){ 0 };
}

/* The first word at or after `p` on the line, stopping at a // comment. */
static const char *word(const char *p, const char *le, size_t *n)
{
        while (p < le && (*p == ' ' || *p == '\t'))
                p++;
        *n = 0;
        while (p + *n < le && !isspace((unsigned char)p[*n]) &&
               !(p[*n] == '/' && p + *n + 1 < le && p[*n + 1] == '/'))
                (*n)++;
        return p;
}

static bool is_directive(const char *p, const char *le, const char *kw)
{
        size_t n = strlen(kw);

        return (size_t)(le - p) > n && memcmp(p, kw, n) == 0 && (p[n] == ' ' || p[n] == '\t');
}

static int note_require(struct analyzer_go_mod *gm, const char *path, size_t n, ad_error_t *err)
{
        if (gm->framework)
                return 0;
        for (size_t i = 0; i < AD_ARRAY_SIZE(go_frameworks); i++) {
                size_t m = strlen(go_frameworks[i].module_prefix);

                /* github.com/labstack/echo/v4 counts as echo. */
                if (n >= m && memcmp(path, go_frameworks[i].module_prefix, m) == 0 &&
                    (n == m || path[m] == '/')) {
                        gm->framework = strdup(go_frameworks[i].framework);
                        return gm->framework ? 0 : analyzer_oom(err);
                }
        }
        return 0;
}

static int set_word(char **dst, const char *w, size_t n, size_t max, ad_error_t *err)
{
        if (*dst != NULL || n == 0 || n > max)
                return 0;
        *dst = strndup(w, n);
        return *dst ? 0 : analyzer_oom(err);
}

int analyzer_parse_go_mod(struct analyzer_go_mod *out, const char *data, size_t len,
                          ad_error_t *err)
{
        struct analyzer_go_mod gm = { 0 };
        const char *p = data, *end = data + len;
        bool in_require = false;
        int r = 0;

        while (p < end && r == 0) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                const char *w;
                size_t n;

                while (p < le && (*p == ' ' || *p == '\t'))
                        p++;
                if (in_require) {
                        w = word(p, le, &n);
                        if (n == 1 && *w == ')')
                                in_require = false;
                        else if (n > 0)
                                r = note_require(&gm, w, n, err);
                } else if (is_directive(p, le, "module")) {
                        w = word(p + 6, le, &n);
                        r = set_word(&gm.module, w, n, 512, err);
                } else if (is_directive(p, le, "go")) {
                        w = word(p + 2, le, &n);
                        r = set_word(&gm.go_version, w, n, 32, err);
                } else if (is_directive(p, le, "require")) {
                        w = word(p + 7, le, &n);
                        if (n == 1 && *w == '(')
                                in_require = true;
                        else if (n > 0)
                                r = note_require(&gm, w, n, err);
                }
                p = eol ? eol + 1 : end;
        }
        if (r < 0) {
                analyzer_go_mod_clear(&gm);
                return r;
        }
        *out = gm;
        return 0;
}

/* The package clause of a Go file: the first line starting with
 * `package`, skipping comments (build tags, licence headers). */
static bool is_package_main(const char *data, size_t len)
{
        const char *p = data, *end = data + len;
        bool in_block = false;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;

                while (p < le && isspace((unsigned char)*p))
                        p++;
                if (in_block) {
                        const char *close = memmem(p, (size_t)(le - p), "*/", 2);

                        if (close)
                                in_block = false;
                } else if ((size_t)(le - p) >= 2 && memcmp(p, "/*", 2) == 0) {
                        in_block = memmem(p + 2, (size_t)(le - p - 2), "*/", 2) == NULL;
                } else if ((size_t)(le - p) >= 8 && memcmp(p, "package ", 8) == 0) {
                        size_t n;
                        const char *w = word(p + 8, le, &n);

                        return n == 4 && memcmp(w, "main", 4) == 0;
                } else if (p < le && !((size_t)(le - p) >= 2 && memcmp(p, "//", 2) == 0)) {
                        return false; /* code before any package clause */
                }
                p = eol ? eol + 1 : end;
        }
        return false;
}

/* Is `dir` ("" for the root) a main package?  Looks at the walked .go
 * files directly in it, tests excluded. */
static int dir_is_main(struct analyzer_repo *repo, const char *dir, ad_error_t *err)
{
        size_t dlen = strlen(dir);

        for (size_t i = 0; i < repo->n_files; i++) {
                const char *path = repo->files[i].path;
                cleanup_free char *data = NULL;
                size_t len;
                int r;

                if (strncmp(path, dir, dlen) != 0 || strchr(path + dlen, '/') != NULL ||
                    !analyzer_has_suffix(path, ".go") || analyzer_has_suffix(path, "_test.go"))
                        continue;
                r = analyzer_repo_read(repo, path, 64 * 1024, true, &data, &len, err);
                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                return is_package_main(data, len) ? 1 : 0;
        }
        return 0;
}

/* Does a package directory start a network server?  Among several
 * commands the server is the one to deploy (a CLI or a migrator is not). */
static int dir_serves(struct analyzer_repo *repo, const char *dir, ad_error_t *err)
{
        static const char *const marks[] = { "ListenAndServe", "net.Listen(",    "http.Serve(",
                                             "gin.Default()",  "gin.New()",      "echo.New()",
                                             "fiber.New(",     "grpc.NewServer(" };
        size_t dlen = strlen(dir);

        for (size_t i = 0; i < repo->n_files; i++) {
                const char *path = repo->files[i].path;
                cleanup_free char *data = NULL;
                size_t len;
                int r;

                if (strncmp(path, dir, dlen) != 0 || strchr(path + dlen, '/') != NULL ||
                    !analyzer_has_suffix(path, ".go") || analyzer_has_suffix(path, "_test.go"))
                        continue;
                r = analyzer_repo_read(repo, path, ANALYZER_MAX_SCAN_FILE, true, &data, &len, err);
                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                for (size_t m = 0; m < AD_ARRAY_SIZE(marks); m++)
                        if (strstr(data, marks[m]))
                                return 1;
        }
        return 0;
}

/* A name usable as bin/<name> and in a COPY line unquoted. */
static bool plain_name(const char *s, size_t n)
{
        if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

struct go_ctx {
        struct analyzer_go_mod gm;
        char *pkg;     /* "./cmd/foo" or "." */
        char *binary;  /* bin/<binary> */
        char *pkg_dir; /* "cmd/foo/" or "" for the port scan */
};

static int go_main_package(struct analyzer_repo *repo, struct ad_analysis *a, struct go_ctx *c,
                           ad_error_t *err)
{
        char **dirs = NULL;
        size_t n = 0, mains = 0, servers = 0, found = 0;
        const char *base;
        int r, root_main = 0;

        r = analyzer_repo_list_dirs(repo, "cmd", &dirs, &n, err);
        for (size_t i = 0; r == 0 && i < n; i++) {
                cleanup_free char *dir = NULL;

                if (!plain_name(dirs[i], strlen(dirs[i])))
                        continue;
                if (asprintf(&dir, "cmd/%s/", dirs[i]) < 0) {
                        r = analyzer_oom(err);
                        break;
                }
                r = dir_is_main(repo, dir, err);
                if (r == 1) {
                        if (mains++ == 0)
                                found = i;
                        r = servers == 0 ? dir_serves(repo, dir, err) : 0;
                        if (r == 1 && servers++ == 0)
                                found = i;
                        r = r < 0 ? r : 0;
                }
        }
        /* Railpack's order: a main package at the root wins, then the
         * first main under cmd/ (alphabetically), then the root anyway. */
        if (r == 0 && mains > 0)
                root_main = dir_is_main(repo, "", err);
        if (root_main < 0)
                r = root_main;
        if (r == 0 && mains >= 1 && root_main == 0) {
                if (asprintf(&c->pkg, "./cmd/%s", dirs[found]) < 0 ||
                    asprintf(&c->pkg_dir, "cmd/%s/", dirs[found]) < 0 ||
                    (c->binary = strdup(dirs[found])) == NULL)
                        r = analyzer_oom(err);
                else if (mains == 1)
                        r = analyzer_why(a, err, "goMainPackage",
                                         "the only main package under cmd/");
                else if (servers > 0)
                        r = analyzer_why(a, err, "goMainPackage",
                                         "of %zu main packages under cmd/, cmd/%s is the first "
                                         "that starts a server (set deployer.yaml start to run "
                                         "another)",
                                         mains, dirs[found]);
                else
                        r = analyzer_why(a, err, "goMainPackage",
                                         "the first of %zu main packages under cmd/, none of "
                                         "which starts a server that we can see (set "
                                         "deployer.yaml start to run another)",
                                         mains);
        } else if (r == 0) {
                /* The binary is named after the module's last element. */
                base = c->gm.module ? strrchr(c->gm.module, '/') : NULL;
                base = base ? base + 1 : c->gm.module;
                c->binary = strdup(base && plain_name(base, strlen(base)) ? base : "app");
                c->pkg = strdup(".");
                c->pkg_dir = strdup("");
                if (c->binary == NULL || c->pkg == NULL || c->pkg_dir == NULL)
                        r = analyzer_oom(err);
                else if (mains > 0)
                        r = analyzer_why(a, err, "goMainPackage",
                                         "the root is a main package: it wins over the %zu under "
                                         "cmd/",
                                         mains);
                else
                        r = analyzer_why(a, err, "goMainPackage",
                                         "no main package under cmd/: building the root");
        }
        for (size_t i = 0; i < n; i++)
                free(dirs[i]);
        free(dirs);
        if (r == 0)
                r = analyzer_setf(&a->go_main_package, err, "%s", c->pkg);
        return r;
}

static int go_commands(struct analyzer_repo *repo, struct ad_analysis *a, struct go_ctx *c,
                       ad_error_t *err)
{
        int r = analyzer_setf(&a->package_manager, err, "go");

        if (r == 0 && analyzer_repo_has_file(repo, "go.sum")) {
                a->dependency_files = calloc(2, sizeof(char *));
                if (a->dependency_files == NULL ||
                    (a->dependency_files[0] = strdup("go.mod")) == NULL ||
                    (a->dependency_files[1] = strdup("go.sum")) == NULL) {
                        if (a->dependency_files)
                                a->n_dependency_files = a->dependency_files[0] ? 1 : 0;
                        return analyzer_oom(err);
                }
                a->n_dependency_files = 2;
                r = analyzer_setf(&a->install_command, err, "go mod download");
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand",
                                         "go.sum present: modules downloaded in their own layer");
        } else if (r == 0) {
                r = analyzer_why(a, err, "installCommand", "no go.sum: no module dependencies");
        }
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "go build -o bin/%s %s", c->binary,
                                  c->pkg);
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "static binary of %s into bin/%s", c->pkg,
                                 c->binary);
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "./bin/%s", c->binary);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand", "the binary built from %s", c->pkg);
        return r;
}

static int go_port(struct analyzer_repo *repo, struct ad_analysis *a, struct go_ctx *c,
                   ad_error_t *err)
{
        const char *first[MAX_FIRST_FILES + 1] = { 0 };
        cleanup_free char *why = NULL;
        size_t n = 0, dlen = strlen(c->pkg_dir);
        unsigned port = 0;
        int r;

        /* The main package's own files decide before helpers elsewhere. */
        for (size_t i = 0; i < repo->n_files && n < MAX_FIRST_FILES; i++) {
                const char *path = repo->files[i].path;

                if (strncmp(path, c->pkg_dir, dlen) == 0 && !strchr(path + dlen, '/') &&
                    analyzer_has_suffix(path, ".go") && !analyzer_has_suffix(path, "_test.go"))
                        first[n++] = path;
        }
        r = analyzer_find_port(repo, go_exts, first, &port, &why, err);
        if (r < 0)
                return r;
        if (r == 1) {
                a->port = port;
                return analyzer_why(a, err, "port", "%s", why);
        }
        a->port = DEFAULT_PORT;
        return analyzer_why(a, err, "port", "no port found in the code: go default %d",
                            DEFAULT_PORT);
}

/* The `use` directories of a go.work, in order (at most `max`). */
static size_t go_work_uses(const char *data, size_t len, char **out, size_t max)
{
        const char *p = data, *end = data + len;
        bool block = false;
        size_t n = 0;

        while (p < end && n < max) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end, *w = NULL;
                size_t wn = 0;

                while (p < le && (*p == ' ' || *p == '\t'))
                        p++;
                if (block) {
                        w = word(p, le, &wn);
                        if (wn == 1 && *w == ')') {
                                block = false;
                                wn = 0;
                        }
                } else if (is_directive(p, le, "use")) {
                        w = word(p + 3, le, &wn);
                        if (wn == 1 && *w == '(') {
                                block = true;
                                wn = 0;
                        }
                }
                if (wn > 0) {
                        while (wn >= 2 && w[0] == '.' && w[1] == '/') {
                                w += 2;
                                wn -= 2;
                        }
                        if (wn > 0 && wn < 128 && plain_name(w, 1) && !memmem(w, wn, "..", 2) &&
                            strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789._-/") >= wn &&
                            (out[n] = strndup(w, wn)) != NULL)
                                n++;
                }
                p = eol ? eol + 1 : end;
        }
        return n;
}

/* go.work without a root go.mod: the first used module whose root is a
 * main package is built from the workspace root. */
static int detect_go_work(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        char *uses[16] = { 0 };
        size_t len = 0, n;
        int r = analyzer_repo_read(repo, "go.work", ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r < 0)
                return r == -AD_ERR_NOT_FOUND ? 0 : r;
        n = go_work_uses(data, len, uses, AD_ARRAY_SIZE(uses));
        r = analyzer_setf(&a->language, err, "go");
        if (r == 0)
                r = analyzer_why(a, err, "language", "go.work at the root");
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "go");
        for (size_t i = 0; r == 0 && i < n; i++) {
                cleanup_free char *dir = NULL;

                if (asprintf(&dir, "%s/", uses[i]) < 0) {
                        r = analyzer_oom(err);
                        break;
                }
                r = dir_is_main(repo, dir, err);
                if (r == 1) {
                        const char *base =
                                strrchr(uses[i], '/') ? strrchr(uses[i], '/') + 1 : uses[i];

                        r = analyzer_setf(&a->go_main_package, err, "./%s", uses[i]);
                        if (r == 0)
                                r = analyzer_setf(&a->build_command, err, "go build -o bin/%s ./%s",
                                                  base, uses[i]);
                        if (r == 0)
                                r = analyzer_setf(&a->start_command, err, "./bin/%s", base);
                        if (r == 0)
                                r = analyzer_why(a, err, "goMainPackage",
                                                 "the first module of go.work that is a main "
                                                 "package: %s",
                                                 uses[i]);
                        break;
                }
        }
        if (r == 0 && *str_or(a->start_command) == '\0')
                r = analyzer_why(a, err, "startCommand",
                                 "none: no module of go.work is a main package at its root");
        for (size_t i = 0; i < n; i++)
                free(uses[i]);
        if (r == 0) {
                a->port = DEFAULT_PORT;
                r = analyzer_port_or_default(repo, a, go_exts, NULL, DEFAULT_PORT, "go", err);
        }
        return r < 0 ? r : 1;
}

/* A lone main.go without go.mod: built as a file (GOFLAGS=-mod=mod is
 * not needed with no imports outside the standard library). */
static int detect_go_file(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        int r = analyzer_setf(&a->language, err, "go");

        if (r == 0)
                r = analyzer_why(a, err, "language", "main.go at the root (no go.mod)");
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "go");
        if (r == 0)
                r = analyzer_setf(&a->go_main_package, err, "main.go");
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "go build -o bin/app main.go");
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "no go.mod: main.go built on its own");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "./bin/app");
        if (r == 0)
                r = analyzer_port_or_default(repo, a, go_exts, NULL, DEFAULT_PORT, "go", err);
        return r < 0 ? r : 1;
}

int analyzer_detect_go(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct go_ctx c = { 0 };
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r;

        r = analyzer_repo_read(repo, "go.mod", ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        if (r == -AD_ERR_NOT_FOUND && analyzer_repo_has_file(repo, "go.work"))
                return detect_go_work(repo, a, err);
        if (r == -AD_ERR_NOT_FOUND && analyzer_repo_has_file(repo, "main.go"))
                return detect_go_file(repo, a, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        r = analyzer_parse_go_mod(&c.gm, data, len, err);
        if (r < 0)
                return ad_error_wrap(err, "go.mod");

        r = analyzer_setf(&a->language, err, "go");
        if (r == 0)
                r = analyzer_why(a, err, "language", "go.mod at the root");
        if (r == 0 && c.gm.go_version) {
                r = analyzer_setf(&a->version, err, "%s", c.gm.go_version);
                if (r == 0)
                        r = analyzer_why(a, err, "version", "the go directive of go.mod");
        } else if (r == 0) {
                r = analyzer_why(a, err, "version", "go.mod has no go directive");
        }
        if (r == 0 && c.gm.framework) {
                r = analyzer_setf(&a->framework, err, "%s", c.gm.framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "go.mod requires %s", c.gm.framework);
        }
        if (r == 0)
                r = go_main_package(repo, a, &c, err);
        if (r == 0)
                r = go_commands(repo, a, &c, err);
        if (r == 0)
                r = go_port(repo, a, &c, err);
        analyzer_go_mod_clear(&c.gm);
        free(c.pkg);
        free(c.binary);
        free(c.pkg_dir);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_go(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                   ad_error_t *err)
{
        const char *base_image, *go_image;
        cleanup_free char *build = NULL;
        const char *pkg = *ad_buildplan_str(a->go_main_package) ? a->go_main_package : ".";
        struct ad_analysis copy = *a;
        int r;

        r = ad_buildplan_use_image(images, "go", &go_image, err);
        if (r == 0)
                r = ad_buildplan_use_image(images, "base", &base_image, err);
        if (r == 0)
                r = ad_buildplan_check_path("goMainPackage", pkg, err);
        if (r < 0)
                return r;

        /* The binary must land in bin/: the final stage copies only that. */
        if (*ad_buildplan_str(a->build_command) == '\0') {
                if (asprintf(&build, "go build -o bin/app %s", pkg) < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                copy.build_command = build;
        }

        ad_buildplan_from(f, go_image, "build");
        /* Static binaries run in the base image, which has no libc dev
         * files; GOTOOLCHAIN=local stops Go >= 1.21 from downloading a
         * newer toolchain (no network here). */
        fprintf(f, "ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOPATH=/go "
                   "GOCACHE=/go/cache\n");
        ad_buildplan_trust(f, images, false);
        ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_GO);
        ad_buildplan_install_and_source(f, &copy);
        fprintf(f, "\n");
        ad_buildplan_from(f, base_image, NULL);
        fprintf(f, "COPY --from=build /app/bin/ /app/bin/\n");
        return ad_buildplan_runtime(f, a, "", err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const go_scan_exts[] = { ".go", NULL };
/* The binary runs on the base image; the go image only builds it. */
static const struct ad_buildplan_image go_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        AD_BUILDPLAN_IMAGE("go"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_go = {
        .name = "go",
        .detect = analyzer_detect_go,
        .cpu_millis = 250,
        .memory_mb = 128,
        .scan_exts = go_scan_exts,
        .plan = plan_go,
        .images = go_images,
};
