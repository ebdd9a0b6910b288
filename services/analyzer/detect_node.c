/* Node.js: package.json at the root. */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define DEFAULT_PORT 3000
#define MAX_FIELD 1024

/* The first match wins: meta-frameworks before the servers they embed
 * (a Next.js app may also depend on express). */
static const struct {
        const char *dependency;
        const char *framework;
} node_frameworks[] = {
        { "next", "next" },
        { "nuxt", "nuxt" },
        { "@nestjs/core", "nestjs" },
        { "@remix-run/node", "remix" },
        { "@sveltejs/kit", "sveltekit" },
        { "astro", "astro" },
        { "express", "express" },
        { "fastify", "fastify" },
        { "koa", "koa" },
        { "@hapi/hapi", "hapi" },
        { "hono", "hono" },
};

static const char *const node_exts[] = { ".js", ".mjs", ".cjs", ".ts", ".mts", NULL };

/* Files `node X` is tried on, in order, when there is no start script. */
static const char *const node_entries[] = { "index.js", "server.js", "app.js", "main.js" };

void analyzer_package_json_clear(struct analyzer_package_json *pj)
{
        free(pj->main);
        free(pj->start_script);
        free(pj->build_script);
        free(pj->engines_node);
        free(pj->package_manager);
        free(pj->framework);
        *pj = (struct analyzer_package_json){ 0 };
}

/* Absent or null: *dst stays NULL.  Another type: AD_ERR_INVALID, since
 * npm would refuse the file too. */
static int opt_string(char **dst, const json_t *obj, const char *key, const char *what,
                      ad_error_t *err)
{
        const json_t *v = obj ? json_object_get(obj, key) : NULL;

        if (v == NULL || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return ad_error_make(err, AD_ERR_INVALID, 0, "package.json: %s is not a string",
                                     what);
        if (json_string_length(v) > MAX_FIELD)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "package.json: %s is longer than %d bytes", what, MAX_FIELD);
        *dst = strdup(json_string_value(v));
        return *dst ? 0 : analyzer_oom(err);
}

static int opt_object(const json_t **dst, const json_t *root, const char *key, ad_error_t *err)
{
        const json_t *v = json_object_get(root, key);

        *dst = NULL;
        if (v == NULL || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return ad_error_make(err, AD_ERR_INVALID, 0, "package.json: %s is not an object",
                                     key);
        *dst = v;
        return 0;
}

static const char *find_framework(const json_t *deps, const json_t *dev_deps)
{
        for (size_t i = 0; i < AD_ARRAY_SIZE(node_frameworks); i++) {
                const char *dep = node_frameworks[i].dependency;

                if ((deps && json_object_get(deps, dep)) ||
                    (dev_deps && json_object_get(dev_deps, dep)))
                        return node_frameworks[i].framework;
        }
        return NULL;
}

int analyzer_parse_package_json(struct analyzer_package_json *out, const char *data, size_t len,
                                ad_error_t *err)
{
        struct analyzer_package_json pj = { 0 };
        const json_t *scripts, *engines, *deps, *dev_deps;
        const char *framework;
        json_error_t jerr;
        json_t *root;
        int r;

        root = json_loadb(data, len, 0, &jerr);
        if (root == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "package.json: invalid JSON at line %d column %d: %s",
                                     jerr.line, jerr.column, jerr.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "package.json: the top-level value is not an object");
        }
        r = opt_object(&scripts, root, "scripts", err);
        if (r == 0)
                r = opt_object(&engines, root, "engines", err);
        if (r == 0)
                r = opt_object(&deps, root, "dependencies", err);
        if (r == 0)
                r = opt_object(&dev_deps, root, "devDependencies", err);
        if (r == 0)
                r = opt_string(&pj.main, root, "main", "main", err);
        if (r == 0)
                r = opt_string(&pj.package_manager, root, "packageManager", "packageManager", err);
        if (r == 0)
                r = opt_string(&pj.start_script, scripts, "start", "scripts.start", err);
        if (r == 0)
                r = opt_string(&pj.build_script, scripts, "build", "scripts.build", err);
        if (r == 0)
                r = opt_string(&pj.engines_node, engines, "node", "engines.node", err);
        framework = r == 0 ? find_framework(deps, dev_deps) : NULL;
        if (framework && (pj.framework = strdup(framework)) == NULL)
                r = analyzer_oom(err);
        json_decref(root);
        if (r < 0) {
                analyzer_package_json_clear(&pj);
                return r;
        }
        *out = pj;
        return 0;
}

/* The first file argument of `node [options] FILE` in a start script, so
 * the port scan looks at the real entry point first (e.g. bin/www). */
static char *script_entry(const char *script)
{
        const char *p = strstr(script, "node ");

        if (p == NULL || (p > script && !isspace((unsigned char)p[-1])))
                return NULL;
        p += 5;
        for (;;) {
                size_t n;

                p += strspn(p, " \t");
                n = strcspn(p, " \t;&|");
                if (n == 0)
                        return NULL;
                if (*p != '-') {
                        if (strncmp(p, "./", 2) == 0) {
                                p += 2;
                                n -= 2;
                        }
                        return n ? strndup(p, n) : NULL;
                }
                p += n;
        }
}

static const char *strip_dot_slash(const char *s)
{
        while (strncmp(s, "./", 2) == 0)
                s += 2;
        return s;
}

struct node_ctx {
        struct analyzer_package_json pj;
        const char *pm;
        const char *lockfile;
        char *entry; /* the file the app starts from, when known */
};

static int node_package_manager(struct analyzer_repo *repo, struct ad_analysis *a,
                                struct node_ctx *c, ad_error_t *err)
{
        static const struct {
                const char *pm, *lockfile;
        } locks[] = {
                { "pnpm", "pnpm-lock.yaml" },
                { "yarn", "yarn.lock" },
                { "npm", "package-lock.json" },
                { "npm", "npm-shrinkwrap.json" },
        };
        const char *declared = c->pj.package_manager;
        int r;

        for (size_t i = 0; i < AD_ARRAY_SIZE(locks); i++) {
                if (!analyzer_repo_has_file(repo, locks[i].lockfile))
                        continue;
                /* packageManager (corepack) beats the lockfile guess. */
                if (declared && strncmp(declared, locks[i].pm, strlen(locks[i].pm)) != 0)
                        continue;
                c->pm = locks[i].pm;
                c->lockfile = locks[i].lockfile;
                break;
        }
        if (c->pm == NULL && declared) {
                for (size_t i = 0; i < AD_ARRAY_SIZE(locks); i++)
                        if (strncmp(declared, locks[i].pm, strlen(locks[i].pm)) == 0 &&
                            declared[strlen(locks[i].pm)] == '@')
                                c->pm = locks[i].pm;
        }
        if (c->pm == NULL)
                c->pm = "npm";

        r = analyzer_setf(&a->package_manager, err, "%s", c->pm);
        if (r < 0)
                return r;
        if (declared && c->lockfile)
                return analyzer_why(a, err, "packageManager",
                                    "package.json packageManager \"%s\" and %s", declared,
                                    c->lockfile);
        if (declared)
                return analyzer_why(a, err, "packageManager", "package.json packageManager \"%s\"",
                                    declared);
        if (c->lockfile)
                return analyzer_why(a, err, "packageManager", "%s found", c->lockfile);
        return analyzer_why(a, err, "packageManager", "no lockfile: npm by default");
}

static int node_install(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                        ad_error_t *err)
{
        bool build = c->pj.build_script != NULL;
        const char *files[3];
        size_t n = 0;
        int r;

        /* Without a build step the devDependencies are dead weight in the
         * image; with one, the build usually needs them. */
        if (strcmp(c->pm, "yarn") == 0)
                r = analyzer_setf(&a->install_command, err, "yarn install%s%s",
                                  c->lockfile ? " --frozen-lockfile" : "",
                                  build ? "" : " --production");
        else if (strcmp(c->pm, "pnpm") == 0)
                r = analyzer_setf(&a->install_command, err, "pnpm install%s%s",
                                  c->lockfile ? " --frozen-lockfile" : "", build ? "" : " --prod");
        else
                r = analyzer_setf(&a->install_command, err, "npm %s%s",
                                  c->lockfile ? "ci" : "install", build ? "" : " --omit=dev");
        if (r == 0)
                r = analyzer_why(a, err, "installCommand", "%s%s",
                                 c->lockfile ? "lockfile present: reproducible install"
                                             : "no lockfile",
                                 build ? "; devDependencies kept for scripts.build"
                                       : "; no scripts.build, so devDependencies are omitted");
        if (r < 0)
                return r;

        files[n++] = "package.json";
        if (c->lockfile)
                files[n++] = c->lockfile;
        /* .npmrc carries the registry (and scope) settings the install needs. */
        if (analyzer_repo_has_file(repo, ".npmrc"))
                files[n++] = ".npmrc";
        a->dependency_files = calloc(n, sizeof(char *));
        if (a->dependency_files == NULL)
                return analyzer_oom(err);
        for (size_t i = 0; i < n; i++) {
                a->dependency_files[i] = strdup(files[i]);
                if (a->dependency_files[i] == NULL)
                        return analyzer_oom(err);
                a->n_dependency_files++;
        }

        if (build) {
                r = analyzer_setf(&a->build_command, err, "%s run build", c->pm);
                if (r == 0)
                        r = analyzer_why(a, err, "buildCommand", "package.json scripts.build");
        }
        return r;
}

static int node_start(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                      ad_error_t *err)
{
        const char *main = c->pj.main ? strip_dot_slash(c->pj.main) : NULL;
        int r;

        if (c->pj.start_script) {
                c->entry = script_entry(c->pj.start_script);
                r = analyzer_setf(&a->start_command, err, "%s start", c->pm);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "from package.json scripts.start (\"%s\")",
                                            c->pj.start_script);
        }
        /* "main" may name a file the build produces (dist/index.js). */
        if (main && *main && (analyzer_repo_has_file(repo, main) || c->pj.build_script != NULL)) {
                c->entry = strdup(main);
                if (c->entry == NULL)
                        return analyzer_oom(err);
                r = analyzer_setf(&a->start_command, err, "node %s", main);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "no scripts.start: package.json main");
        }
        for (size_t i = 0; i < AD_ARRAY_SIZE(node_entries); i++) {
                if (!analyzer_repo_has_file(repo, node_entries[i]))
                        continue;
                c->entry = strdup(node_entries[i]);
                if (c->entry == NULL)
                        return analyzer_oom(err);
                r = analyzer_setf(&a->start_command, err, "node %s", node_entries[i]);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand", "no scripts.start%s: %s exists",
                                            main ? " and main does not exist" : " or main",
                                            node_entries[i]);
        }
        return analyzer_why(a, err, "startCommand",
                            "none: package.json has no scripts.start, main names no file, and "
                            "there is no index.js, server.js, app.js or main.js");
}

static int node_version(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                        ad_error_t *err)
{
        cleanup_free char *nvmrc = NULL;
        size_t len = 0, n;
        int r;

        if (c->pj.engines_node) {
                r = analyzer_setf(&a->version, err, "%s", c->pj.engines_node);
                return r < 0 ? r : analyzer_why(a, err, "version", "package.json engines.node");
        }
        r = analyzer_repo_read(repo, ".nvmrc", 256, true, &nvmrc, &len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return analyzer_why(a, err, "version",
                                    "not declared (no engines.node or .nvmrc): the image's node");
        if (r < 0)
                return r;
        n = strspn(nvmrc, " \t");
        len = strcspn(nvmrc + n, " \t\r\n#");
        if (len == 0)
                return 0;
        r = analyzer_setf(&a->version, err, "%.*s", (int)len, nvmrc + n);
        return r < 0 ? r : analyzer_why(a, err, "version", ".nvmrc");
}

static int node_port(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                     ad_error_t *err)
{
        const char *first[] = {
                c->entry,       "server.js",     "index.js",    "app.js",  "main.js",
                "src/index.js", "src/server.js", "src/main.ts", "bin/www", NULL
        };
        cleanup_free char *why = NULL;
        unsigned port = 0;
        int r;

        if (c->entry == NULL)
                memmove(first, first + 1, sizeof(first) - sizeof(first[0]));
        r = analyzer_find_port(repo, node_exts, first, &port, &why, err);
        if (r < 0)
                return r;
        if (r == 1) {
                a->port = port;
                return analyzer_why(a, err, "port", "%s", why);
        }
        a->port = DEFAULT_PORT;
        return analyzer_why(a, err, "port", "no port found in the code: node default %d",
                            DEFAULT_PORT);
}

int analyzer_detect_node(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct node_ctx c = { 0 };
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r;

        r = analyzer_repo_read(repo, "package.json", ANALYZER_MAX_MANIFEST, false, &data, &len,
                               err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        r = analyzer_parse_package_json(&c.pj, data, len, err);
        if (r < 0)
                return r;

        r = analyzer_setf(&a->language, err, "node");
        if (r == 0)
                r = analyzer_why(a, err, "language", "package.json at the root");
        if (r == 0 && c.pj.framework) {
                r = analyzer_setf(&a->framework, err, "%s", c.pj.framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "package.json dependencies: %s",
                                         c.pj.framework);
        }
        if (r == 0)
                r = node_package_manager(repo, a, &c, err);
        if (r == 0)
                r = node_install(repo, a, &c, err);
        if (r == 0)
                r = node_start(repo, a, &c, err);
        if (r == 0)
                r = node_version(repo, a, &c, err);
        if (r == 0)
                r = node_port(repo, a, &c, err);
        analyzer_package_json_clear(&c.pj);
        free(c.entry);
        return r < 0 ? r : 1;
}
