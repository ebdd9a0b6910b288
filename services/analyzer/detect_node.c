/* Node.js: package.json at the root.
 *
 * Railpack's rules, in order: the package manager from packageManager or
 * the lockfile; the app package of a workspace; a single-page app (Vite,
 * Create React App, Angular, static Astro/SvelteKit) is built with node and
 * served as static files; otherwise scripts.start, a framework's own
 * production server, main, then index.js/server.js/app.js/main.js. */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define DEFAULT_PORT 3000
#define SPA_PORT 8080
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
        { "@react-router/dev", "react-router" },
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

static const struct {
        const char *dependency;
        unsigned flag;
} node_dep_flags[] = {
        { "vite", NODE_DEP_VITE },
        { "react-scripts", NODE_DEP_REACT_SCRIPTS },
        { "@angular/core", NODE_DEP_ANGULAR },
        { "@sveltejs/adapter-node", NODE_DEP_SVELTE_ADAPTER_NODE },
        { "@sveltejs/adapter-static", NODE_DEP_SVELTE_ADAPTER_STATIC },
        { "@astrojs/node", NODE_DEP_ASTRO_NODE },
        { "@remix-run/serve", NODE_DEP_REMIX_SERVE },
        { "typescript", NODE_DEP_TYPESCRIPT },
};

#define MAX_WORKSPACES 64

void analyzer_package_json_clear(struct analyzer_package_json *pj)
{
        free(pj->name);
        free(pj->main);
        free(pj->start_script);
        free(pj->start_prod_script);
        free(pj->build_script);
        free(pj->engines_node);
        free(pj->package_manager);
        free(pj->framework);
        for (size_t i = 0; i < pj->n_workspaces; i++)
                free(pj->workspaces[i]);
        free(pj->workspaces);
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

static bool has_dep(const json_t *deps, const json_t *dev_deps, const char *dep)
{
        return (deps && json_object_get(deps, dep)) || (dev_deps && json_object_get(dev_deps, dep));
}

static const char *find_framework(const json_t *deps, const json_t *dev_deps)
{
        for (size_t i = 0; i < AD_ARRAY_SIZE(node_frameworks); i++)
                if (has_dep(deps, dev_deps, node_frameworks[i].dependency))
                        return node_frameworks[i].framework;
        return NULL;
}

/* "workspaces": a list of package globs, or { "packages": [...] } (yarn 1). */
static int parse_workspaces(struct analyzer_package_json *pj, const json_t *root, ad_error_t *err)
{
        const json_t *w = json_object_get(root, "workspaces");
        const json_t *item;
        size_t i;

        if (json_is_object(w))
                w = json_object_get(w, "packages");
        if (w == NULL || json_is_null(w))
                return 0;
        if (!json_is_array(w))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "package.json: workspaces is not an array");
        pj->workspaces = calloc(MAX_WORKSPACES, sizeof(char *));
        if (pj->workspaces == NULL)
                return analyzer_oom(err);
        json_array_foreach (w, i, item) {
                if (pj->n_workspaces >= MAX_WORKSPACES)
                        break;
                if (!json_is_string(item) || json_string_length(item) > 256)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "package.json: workspaces[%zu] is not a short string",
                                             i);
                pj->workspaces[pj->n_workspaces] = strdup(json_string_value(item));
                if (pj->workspaces[pj->n_workspaces] == NULL)
                        return analyzer_oom(err);
                pj->n_workspaces++;
        }
        return 0;
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

        /* jansson bounds nesting (JSON_PARSER_MAX_DEPTH) and rejects
         * invalid UTF-8 itself. */
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
                r = opt_string(&pj.name, root, "name", "name", err);
        if (r == 0)
                r = opt_string(&pj.main, root, "main", "main", err);
        if (r == 0)
                r = opt_string(&pj.package_manager, root, "packageManager", "packageManager", err);
        if (r == 0)
                r = opt_string(&pj.start_script, scripts, "start", "scripts.start", err);
        if (r == 0)
                r = opt_string(&pj.start_prod_script, scripts, "start:prod", "scripts.start:prod",
                               err);
        if (r == 0)
                r = opt_string(&pj.build_script, scripts, "build", "scripts.build", err);
        if (r == 0)
                r = opt_string(&pj.engines_node, engines, "node", "engines.node", err);
        if (r == 0)
                r = parse_workspaces(&pj, root, err);
        for (size_t i = 0; r == 0 && i < AD_ARRAY_SIZE(node_dep_flags); i++)
                if (has_dep(deps, dev_deps, node_dep_flags[i].dependency))
                        pj.deps |= node_dep_flags[i].flag;
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
        struct analyzer_package_json root; /* the repository's package.json */
        struct analyzer_package_json app;  /* the app's (a workspace package) */
        bool in_workspace;                 /* app is a workspace package */
        char *app_dir;                     /* "apps/web/" or "" */
        const char *pm;
        const char *lockfile;
        bool berry;      /* yarn 2+ */
        char *entry;     /* the file the app starts from, when known */
        const char *spa; /* the single-page-app framework, or NULL */
        char *output_dir;
};

static const struct analyzer_package_json *app_pj(const struct node_ctx *c)
{
        return c->in_workspace ? &c->app : &c->root;
}

static bool is_yarn_berry(struct analyzer_repo *repo, const char *declared)
{
        cleanup_free char *lock = NULL;
        size_t len = 0;

        if (declared && strncmp(declared, "yarn@", 5) == 0)
                return declared[5] >= '2' && declared[5] <= '9';
        if (analyzer_repo_has_file(repo, ".yarnrc.yml"))
                return true;
        /* Berry lockfiles are YAML with a __metadata block near the top. */
        if (analyzer_repo_read(repo, "yarn.lock", 4096, true, &lock, &len, NULL) == 0)
                return strstr(lock, "__metadata:") != NULL;
        return false;
}

static int node_package_manager(struct analyzer_repo *repo, struct ad_analysis *a,
                                struct node_ctx *c, ad_error_t *err)
{
        static const struct {
                const char *pm, *lockfile;
        } locks[] = {
                { "bun", "bun.lockb" },         { "bun", "bun.lock" },
                { "pnpm", "pnpm-lock.yaml" },   { "yarn", "yarn.lock" },
                { "npm", "package-lock.json" }, { "npm", "npm-shrinkwrap.json" },
        };
        const char *declared = c->root.package_manager;
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
        c->berry = strcmp(c->pm, "yarn") == 0 && is_yarn_berry(repo, declared);

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
                return analyzer_why(a, err, "packageManager", "%s found%s", c->lockfile,
                                    c->berry ? " (yarn 2+: .yarnrc.yml or a berry lockfile)" : "");
        return analyzer_why(a, err, "packageManager", "no lockfile: npm by default");
}

/* ---- workspaces ---------------------------------------------------------- */

static int read_pj(struct analyzer_repo *repo, const char *path, struct analyzer_package_json *pj,
                   ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r = analyzer_repo_read(repo, path, ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r < 0)
                return r;
        r = analyzer_parse_package_json(pj, data, len, err);
        /* The root's messages already say "package.json: ...". */
        if (r < 0 && strcmp(path, "package.json") != 0)
                return ad_error_wrap(err, "%.*s", (int)(strlen(path) - 13), path);
        return r;
}

/* Workspace patterns of pnpm-workspace.yaml: `  - 'apps/NAME'` lines. */
static int pnpm_workspaces(struct analyzer_repo *repo, struct analyzer_package_json *pj,
                           ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r = analyzer_repo_read(repo, "pnpm-workspace.yaml", 64 * 1024, false, &data, &len, err);
        char *save = NULL;

        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        pj->workspaces = calloc(MAX_WORKSPACES, sizeof(char *));
        if (pj->workspaces == NULL)
                return analyzer_oom(err);
        for (char *line = strtok_r(data, "\n", &save); line && pj->n_workspaces < MAX_WORKSPACES;
             line = strtok_r(NULL, "\n", &save)) {
                char *p = line + strspn(line, " \t");
                size_t n;

                if (*p != '-')
                        continue;
                p++;
                p += strspn(p, " \t\"'");
                n = strcspn(p, "\"' \t\r#");
                if (n == 0 || *p == '!')
                        continue;
                pj->workspaces[pj->n_workspaces] = strndup(p, n);
                if (pj->workspaces[pj->n_workspaces] == NULL)
                        return analyzer_oom(err);
                pj->n_workspaces++;
        }
        return 0;
}

/* Expands "apps/ *" (a star) and "apps/web" into package directories that hold a
 * package.json, calling `fn` on each; stops when fn returns non-zero. */
static int each_workspace(struct analyzer_repo *repo, const struct analyzer_package_json *root,
                          int (*fn)(struct analyzer_repo *, const char *, void *), void *arg,
                          ad_error_t *err)
{
        for (size_t i = 0; i < root->n_workspaces; i++) {
                cleanup_free char *pattern = strdup(strip_dot_slash(root->workspaces[i]));
                size_t n;
                int r = 0;

                if (pattern == NULL)
                        return analyzer_oom(err);
                n = strlen(pattern);
                while (n > 0 && pattern[n - 1] == '/')
                        pattern[--n] = '\0';
                if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0) {
                        char **dirs = NULL;
                        size_t nd = 0;

                        pattern[n - 2] = '\0';
                        if (strchr(pattern, '*'))
                                continue; /* two-star globs: not followed */
                        r = analyzer_repo_list_dirs(repo, pattern, &dirs, &nd, err);
                        for (size_t j = 0; r == 0 && j < nd; j++) {
                                cleanup_free char *dir = NULL;

                                if (asprintf(&dir, "%s/%s", pattern, dirs[j]) < 0)
                                        r = analyzer_oom(err);
                                else
                                        r = fn(repo, dir, arg);
                        }
                        for (size_t j = 0; j < nd; j++)
                                free(dirs[j]);
                        free(dirs);
                } else if (!strchr(pattern, '*') && n > 0) {
                        r = fn(repo, pattern, arg);
                }
                if (r != 0)
                        return r;
        }
        return 0;
}

struct ws_pick {
        char *dir;         /* the single candidate, or NULL */
        size_t with_start; /* packages with a start script */
        size_t servers;    /* packages with a server framework */
        char *server_dir;
        ad_error_t *err;
};

static int ws_visit(struct analyzer_repo *repo, const char *dir, void *arg)
{
        struct ws_pick *w = arg;
        struct analyzer_package_json pj = { 0 };
        cleanup_free char *path = NULL;
        int r;

        if (asprintf(&path, "%s/package.json", dir) < 0)
                return analyzer_oom(w->err);
        r = read_pj(repo, path, &pj, w->err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        if (pj.start_script) {
                if (w->with_start++ == 0)
                        w->dir = strdup(dir);
        }
        if (pj.framework && w->servers++ == 0)
                w->server_dir = strdup(dir);
        analyzer_package_json_clear(&pj);
        return 0;
}

/* The root package starts something itself: scripts.start, an existing
 * main, or one of the usual entry files (as Railpack starts it). */
static bool root_runs_itself(struct analyzer_repo *repo, const struct analyzer_package_json *pj)
{
        if (pj->start_script)
                return true;
        if (pj->main && *strip_dot_slash(pj->main) &&
            analyzer_repo_has_file(repo, strip_dot_slash(pj->main)))
                return true;
        for (size_t i = 0; i < AD_ARRAY_SIZE(node_entries); i++)
                if (analyzer_repo_has_file(repo, node_entries[i]))
                        return true;
        return false;
}

/* Which workspace package is the app: deployer.yaml `app:`, else the
 * only one with a start script, else the only one with a framework. */
static int node_workspace(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                          ad_error_t *err)
{
        struct ws_pick w = { .err = err };
        const char *chosen = NULL, *why = NULL;
        cleanup_free char *path = NULL;
        int r = 0;

        if (repo->config.app_dir == NULL && root_runs_itself(repo, &c->root))
                return 0; /* the root is the app */
        if (c->root.n_workspaces == 0)
                r = pnpm_workspaces(repo, &c->root, err);
        if (r < 0)
                return r;
        if (repo->config.app_dir) {
                chosen = strip_dot_slash(repo->config.app_dir);
                why = "deployer.yaml app";
        } else if (c->root.n_workspaces > 0) {
                r = each_workspace(repo, &c->root, ws_visit, &w, err);
                if (r == 0 && w.with_start == 1) {
                        chosen = w.dir;
                        why = "the only workspace package with scripts.start";
                } else if (r == 0 && w.with_start == 0 && w.servers == 1) {
                        chosen = w.server_dir;
                        why = "the only workspace package with a server framework";
                }
        }
        if (r == 0 && chosen &&
            chosen[strspn(chosen, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._@/-")] != '\0')
                r = ad_error_make(err, AD_ERR_INVALID, 0,
                                  "%s: the app directory `%.64s` has characters a command "
                                  "line would interpret",
                                  why, chosen);
        if (r == 0 && chosen) {
                size_t n = strlen(chosen);

                while (n > 0 && chosen[n - 1] == '/')
                        n--;
                if (asprintf(&path, "%.*s/package.json", (int)n, chosen) < 0 ||
                    asprintf(&c->app_dir, "%.*s/", (int)n, chosen) < 0)
                        r = analyzer_oom(err);
                if (r == 0)
                        r = read_pj(repo, path, &c->app, err);
                if (r == -AD_ERR_NOT_FOUND)
                        r = ad_error_make(err, AD_ERR_INVALID, 0, "%s: no %s", why, path);
                if (r == 0) {
                        c->in_workspace = true;
                        r = analyzer_why(a, err, "appDir", "%.*s: %s", (int)n, chosen, why);
                }
        } else if (r == 0 && c->root.n_workspaces > 0) {
                r = analyzer_why(a, err, "appDir",
                                 "workspaces, but %zu packages have scripts.start: the root is "
                                 "deployed (set deployer.yaml app: to pick one)",
                                 w.with_start);
        }
        free(w.dir);
        free(w.server_dir);
        return r;
}

/* ---- single-page apps ------------------------------------------------------ */

/* Start scripts that only run a dev server: a SPA with one of these is
 * still served as static files. */
static bool dev_server_script(const char *s)
{
        static const char *const dev[] = { "vite",          "vite dev",
                                           "vite preview",  "react-scripts start",
                                           "ng serve",      "astro dev",
                                           "astro preview", "svelte-kit dev" };

        if (s == NULL)
                return true;
        for (size_t i = 0; i < AD_ARRAY_SIZE(dev); i++)
                if (strcmp(s, dev[i]) == 0)
                        return true;
        return false;
}

/* `outDir: 'build'` in a vite/astro config, or `--outDir x` in the build script. */
static char *out_dir_from(const char *text, const char *key)
{
        const char *p = text ? strstr(text, key) : NULL;
        size_t n;

        if (p == NULL)
                return NULL;
        p += strlen(key);
        p += strspn(p, " \t:=");
        /* A config file must give a string literal (outDir: resolve(...)
         * is not followed); a script's --outDir may be bare. */
        if (*p == '"' || *p == '\'' || *p == '`')
                p++;
        else if (key[0] != '-')
                return NULL;
        n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/");
        while (n > 0 && p[n - 1] == '/')
                n--;
        if (n == 0 || n > 128 || strstr(p, "..") == p)
                return NULL;
        return strndup(p, n);
}

static int read_in_app(struct analyzer_repo *repo, struct node_ctx *c, const char *name,
                       char **data, ad_error_t *err)
{
        cleanup_free char *path = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s%s", c->app_dir ? c->app_dir : "", name) < 0)
                return analyzer_oom(err);
        r = analyzer_repo_read(repo, path, ANALYZER_MAX_SCAN_FILE, true, data, &len, err);
        return r == -AD_ERR_NOT_FOUND ? 0 : r;
}

static int vite_out_dir(struct analyzer_repo *repo, struct node_ctx *c, bool *has_config,
                        char **out, ad_error_t *err)
{
        static const char *const configs[] = { "vite.config.ts", "vite.config.js",
                                               "vite.config.mjs", "vite.config.mts" };

        *has_config = false;
        for (size_t i = 0; i < AD_ARRAY_SIZE(configs); i++) {
                cleanup_free char *data = NULL;
                int r = read_in_app(repo, c, configs[i], &data, err);

                if (r < 0)
                        return r;
                if (data == NULL)
                        continue;
                *has_config = true;
                *out = out_dir_from(data, "outDir");
                break;
        }
        if (*out == NULL)
                *out = out_dir_from(app_pj(c)->build_script, "--outDir");
        if (*out == NULL)
                *out = strdup("dist");
        return *out ? 0 : analyzer_oom(err);
}

/* angular.json: projects.<first>.architect.build.options.outputPath; the
 * application builder (Angular 17+) writes into <outputPath>/browser. */
static int angular_out_dir(struct analyzer_repo *repo, struct node_ctx *c, char **out,
                           ad_error_t *err)
{
        cleanup_free char *data = NULL;
        const char *project = NULL, *path = NULL, *builder = NULL;
        json_t *root, *projects, *build, *v;
        int r = read_in_app(repo, c, "angular.json", &data, err);

        if (r < 0)
                return r;
        root = data ? json_loads(data, 0, NULL) : NULL;
        projects = json_object_get(root, "projects");
        if (json_is_object(projects)) {
                void *it = json_object_iter(projects);

                project = it ? json_object_iter_key(it) : NULL;
                v = it ? json_object_iter_value(it) : NULL;
                build = json_object_get(json_object_get(v, "architect"), "build");
                builder = json_string_value(json_object_get(build, "builder"));
                path = json_string_value(
                        json_object_get(json_object_get(build, "options"), "outputPath"));
        }
        if (path && strlen(path) < 128 && !strstr(path, ".."))
                r = asprintf(out, "%s%s", strip_dot_slash(path),
                             builder && strstr(builder, ":application") ? "/browser" : "");
        else if (project && strlen(project) < 64 && !strchr(project, '/') && !strstr(project, ".."))
                r = asprintf(out, "dist/%s%s", project,
                             builder && strstr(builder, ":application") ? "/browser" : "");
        else
                r = (*out = strdup("dist")) ? 0 : -1;
        json_decref(root);
        return r < 0 ? analyzer_oom(err) : 0;
}

/* Railpack's rule: Vite, CRA, Angular, static Astro or SvelteKit with the
 * static adapter, a build script, and no start script of its own. */
static int node_spa(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                    ad_error_t *err)
{
        const struct analyzer_package_json *pj = app_pj(c);
        const char *fw = pj->framework ? pj->framework : "";
        bool vite_config = false;
        char *out = NULL;
        int r = 0;

        if (pj->build_script == NULL || !dev_server_script(pj->start_script) ||
            repo->config.start || repo->procfile.web)
                return 0;
        if (strcmp(fw, "astro") == 0 && !(pj->deps & NODE_DEP_ASTRO_NODE)) {
                c->spa = "astro";
                cleanup_free char *cfg = NULL;

                r = read_in_app(repo, c, "astro.config.mjs", &cfg, err);
                if (r == 0 && cfg && strstr(cfg, "output: 'server'"))
                        c->spa = NULL;
                out = c->spa ? out_dir_from(cfg, "outDir") : NULL;
                if (c->spa && out == NULL && (out = strdup("dist")) == NULL)
                        r = analyzer_oom(err);
        } else if (strcmp(fw, "react-router") == 0) {
                /* React Router v7 framework mode: `ssr: false` prerenders a
                 * SPA into build/client. */
                static const char *const cfgs[] = { "react-router.config.ts",
                                                    "react-router.config.js" };

                for (size_t i = 0; r == 0 && i < AD_ARRAY_SIZE(cfgs) && !c->spa; i++) {
                        cleanup_free char *cfg = NULL;

                        r = read_in_app(repo, c, cfgs[i], &cfg, err);
                        if (r == 0 && cfg && strstr(cfg, "ssr: false"))
                                c->spa = "react-router";
                }
                if (c->spa && (out = strdup("build/client")) == NULL)
                        r = analyzer_oom(err);
        } else if (strcmp(fw, "sveltekit") == 0) {
                if (pj->deps & NODE_DEP_SVELTE_ADAPTER_STATIC) {
                        c->spa = "sveltekit";
                        if ((out = strdup("build")) == NULL)
                                r = analyzer_oom(err);
                }
        } else if (*fw && strcmp(fw, "vite") != 0) {
                return 0; /* a server framework that happens to use vite */
        } else if (pj->deps & NODE_DEP_ANGULAR) {
                c->spa = "angular";
                r = angular_out_dir(repo, c, &out, err);
        } else if (pj->deps & NODE_DEP_REACT_SCRIPTS) {
                c->spa = "create-react-app";
                if ((out = strdup("build")) == NULL)
                        r = analyzer_oom(err);
        } else if (pj->deps & NODE_DEP_VITE) {
                r = vite_out_dir(repo, c, &vite_config, &out, err);
                if (r == 0 && (vite_config || strstr(pj->build_script, "vite build")))
                        c->spa = "vite";
        }
        if (r < 0 || c->spa == NULL) {
                free(out);
                return r;
        }
        /* The build runs in the app's directory: so does its output. */
        r = asprintf(&c->output_dir, "%s%s", c->app_dir ? c->app_dir : "", out);
        free(out);
        if (r < 0)
                return analyzer_oom(err);
        r = analyzer_setf(&a->output_dir, err, "%s", c->output_dir);
        if (r == 0)
                r = analyzer_setf(&a->framework, err, "%s", c->spa);
        if (r == 0)
                r = analyzer_why(a, err, "framework",
                                 "single-page app (%s): built by scripts.build, no server start "
                                 "script",
                                 c->spa);
        if (r == 0)
                r = analyzer_why(a, err, "outputDir",
                                 "%s build output, served as static files by the static image",
                                 c->spa);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "none: the static image serves %s on $PORT", c->output_dir);
        if (r == 0) {
                a->port = SPA_PORT;
                r = analyzer_why(a, err, "port", "the static image listens on $PORT: default %d",
                                 SPA_PORT);
        }
        return r;
}

/* ---- commands -------------------------------------------------------------- */

/* `<pm> run <script>` for the app, in its workspace when there is one. */
static int run_script(char **dst, const struct node_ctx *c, const char *script, ad_error_t *err)
{
        const char *name = c->app.name;
        size_t dl = c->app_dir ? strlen(c->app_dir) : 0;
        bool plain_name =
                name && name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789@/._-")] == '\0';

        if (!c->in_workspace)
                return analyzer_setf(dst, err, "%s%s%s", c->pm,
                                     strcmp(script, "start") == 0 ? " " : " run ", script);
        if (strcmp(c->pm, "npm") == 0)
                return analyzer_setf(dst, err, "npm run %s --workspace %.*s", script, (int)(dl - 1),
                                     c->app_dir);
        if (strcmp(c->pm, "yarn") == 0 && plain_name)
                return analyzer_setf(dst, err, "yarn workspace %s run %s", name, script);
        if (strcmp(c->pm, "pnpm") == 0 && plain_name)
                return analyzer_setf(dst, err, "pnpm --filter %s run %s", name, script);
        return analyzer_setf(dst, err, "cd %.*s && %s run %s", (int)(dl - 1), c->app_dir, c->pm,
                             script);
}

static int node_install(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                        ad_error_t *err)
{
        const struct analyzer_package_json *pj = app_pj(c);
        bool build = pj->build_script != NULL || c->root.build_script != NULL;
        const char *files[5];
        size_t n = 0;
        int r;

        /* Without a build step the devDependencies are dead weight in the
         * image; with one, the build usually needs them.  A workspace
         * install needs every package.json: no early copy. */
        if (strcmp(c->pm, "yarn") == 0 && c->berry)
                r = analyzer_setf(&a->install_command, err, "yarn install%s",
                                  c->lockfile ? " --immutable" : "");
        else if (strcmp(c->pm, "yarn") == 0)
                r = analyzer_setf(&a->install_command, err, "yarn install%s%s",
                                  c->lockfile ? " --frozen-lockfile" : "",
                                  build ? "" : " --production");
        else if (strcmp(c->pm, "pnpm") == 0)
                r = analyzer_setf(&a->install_command, err, "pnpm install%s%s",
                                  c->lockfile ? " --frozen-lockfile" : "", build ? "" : " --prod");
        else if (strcmp(c->pm, "bun") == 0)
                r = analyzer_setf(&a->install_command, err, "bun install%s%s",
                                  c->lockfile ? " --frozen-lockfile" : "",
                                  build ? "" : " --production");
        else
                r = analyzer_setf(&a->install_command, err, "npm %s%s",
                                  c->lockfile ? "ci" : "install", build ? "" : " --omit=dev");
        if (r == 0)
                r = analyzer_why(
                        a, err, "installCommand", "%s%s%s",
                        c->lockfile ? "lockfile present: reproducible install" : "no lockfile",
                        c->berry ? "; yarn 2+ keeps devDependencies"
                        : build  ? "; devDependencies kept for scripts.build"
                                 : "; no scripts.build, so devDependencies are omitted",
                        c->root.n_workspaces ? "; workspaces installed from the root" : "");
        if (r < 0)
                return r;

        if (c->root.n_workspaces == 0) {
                files[n++] = "package.json";
                if (c->lockfile)
                        files[n++] = c->lockfile;
                /* .npmrc carries the registry (and scope) settings. */
                if (analyzer_repo_has_file(repo, ".npmrc"))
                        files[n++] = ".npmrc";
                if (c->berry && analyzer_repo_has_file(repo, ".yarnrc.yml"))
                        files[n++] = ".yarnrc.yml";
        }
        files[n] = NULL;
        r = analyzer_set_deps(repo, a, files, false, err);
        if (r < 0)
                return r;

        if (c->root.build_script && (c->in_workspace || pj->build_script == NULL)) {
                /* turbo/nx style: the root builds every package. */
                r = analyzer_setf(&a->build_command, err, "%s run build", c->pm);
                if (r == 0)
                        r = analyzer_why(a, err, "buildCommand",
                                         "package.json scripts.build at the root");
        } else if (pj->build_script) {
                r = run_script(&a->build_command, c, "build", err);
                if (r == 0)
                        r = analyzer_why(a, err, "buildCommand", "%spackage.json scripts.build",
                                         c->in_workspace ? c->app_dir : "");
        }
        return r;
}

/* `npx next start` with the package manager's own runner. */
static int pm_exec(char **dst, const struct node_ctx *c, const char *cmd, ad_error_t *err)
{
        const char *runner = strcmp(c->pm, "pnpm") == 0   ? "pnpm exec"
                             : strcmp(c->pm, "yarn") == 0 ? "yarn"
                             : strcmp(c->pm, "bun") == 0  ? "bunx"
                                                          : "npx";
        size_t dl = c->app_dir ? strlen(c->app_dir) : 0;

        if (dl)
                return analyzer_setf(dst, err, "cd %.*s && %s %s", (int)(dl - 1), c->app_dir,
                                     runner, cmd);
        return analyzer_setf(dst, err, "%s %s", runner, cmd);
}

static int in_app_dir(char **dst, const struct node_ctx *c, const char *cmd, ad_error_t *err)
{
        size_t dl = c->app_dir ? strlen(c->app_dir) : 0;

        if (dl)
                return analyzer_setf(dst, err, "cd %.*s && %s", (int)(dl - 1), c->app_dir, cmd);
        return analyzer_setf(dst, err, "%s", cmd);
}

/* A Bun app (its lockfile says so) with no start script: Bun runs
 * TypeScript itself, so `bun <entry>`: package.json main, else the usual
 * entry files, .ts first. */
static int bun_start(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                     const char *dir, const char *main, ad_error_t *err)
{
        static const char *const entries[] = { "index.ts",     "index.js",     "server.ts",
                                               "server.js",    "app.ts",       "main.ts",
                                               "src/index.ts", "src/server.ts" };
        const char *found = NULL;
        cleanup_free char *cmd = NULL;
        int r;

        for (size_t i = 0; i <= AD_ARRAY_SIZE(entries) && found == NULL; i++) {
                const char *name = i == 0 ? main : entries[i - 1];
                cleanup_free char *path = NULL;

                if (name == NULL || *name == '\0' ||
                    name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789._-/")] != '\0')
                        continue;
                if (asprintf(&path, "%s%s", dir, name) < 0)
                        return analyzer_oom(err);
                if (!analyzer_repo_has_file(repo, path))
                        continue;
                found = name;
                free(c->entry);
                c->entry = TAKE_PTR(path);
        }
        if (found == NULL)
                return analyzer_why(a, err, "startCommand",
                                    "none: a Bun app with no scripts.start, no main file and "
                                    "no index.ts, index.js, server.ts, app.ts or main.ts");
        if (asprintf(&cmd, "bun %s", found) < 0)
                return analyzer_oom(err);
        r = in_app_dir(&a->start_command, c, cmd, err);
        return r < 0 ? r
                     : analyzer_why(a, err, "startCommand",
                                    "a Bun app (bun lockfile) with no scripts.start: bun runs "
                                    "%s%s directly",
                                    found, found == main ? " (package.json main)" : "");
}

/* Next.js with `output: "standalone"` (next.config.*) and no start script
 * of its own but `next start`: the self-contained server the build writes
 * to .next/standalone (`next start` refuses that output).  The build then
 * copies the static assets beside it, as Next's docs say to. */
static int next_standalone(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                           bool *done, ad_error_t *err)
{
        static const char *const configs[] = { "next.config.js", "next.config.mjs",
                                               "next.config.ts", "next.config.cjs" };
        const struct analyzer_package_json *pj = app_pj(c);
        const char *config = NULL;
        int r;

        *done = false;
        if (pj->framework == NULL || strcmp(pj->framework, "next") != 0 ||
            (c->app_dir && *c->app_dir) || a->build_command == NULL || *a->build_command == '\0' ||
            (pj->start_script && strcmp(pj->start_script, "next start") != 0))
                return 0;
        for (size_t i = 0; i < AD_ARRAY_SIZE(configs) && config == NULL; i++) {
                cleanup_free char *data = NULL;
                size_t len = 0;

                r = analyzer_repo_read(repo, configs[i], ANALYZER_MAX_SCAN_FILE, true, &data, &len,
                                       err);
                if (r == -AD_ERR_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                if (strstr(data, "standalone"))
                        config = configs[i];
        }
        if (config == NULL)
                return 0;
        r = analyzer_setf(&a->build_command, err,
                          "%s && cp -r .next/static .next/standalone/.next/ && "
                          "{ [ ! -d public ] || cp -r public .next/standalone/; }",
                          a->build_command);
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand",
                                 "the build, then Next's static assets copied beside the "
                                 "standalone server");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err,
                                  "HOSTNAME=0.0.0.0 node .next/standalone/server.js");
        if (r < 0)
                return r;
        *done = true;
        return analyzer_why(a, err, "startCommand",
                            "Next.js with output \"standalone\" (%s): its own server, "
                            ".next/standalone/server.js (reads $PORT; HOSTNAME so that it "
                            "listens on every interface)",
                            config);
}

/* Frameworks whose production server is known without a start script. */
static int framework_start(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                           bool *done, ad_error_t *err)
{
        const struct analyzer_package_json *pj = app_pj(c);
        const char *fw = pj->framework ? pj->framework : "";
        const char *why = NULL;
        int r = 0;

        *done = false;
        if (strcmp(fw, "next") == 0) {
                r = pm_exec(&a->start_command, c, "next start", err);
                why = "Next.js without scripts.start: next start (reads $PORT)";
        } else if (strcmp(fw, "nuxt") == 0) {
                r = in_app_dir(&a->start_command, c, "node .output/server/index.mjs", err);
                why = "Nuxt without scripts.start: the Nitro server in .output (reads $PORT)";
        } else if (strcmp(fw, "remix") == 0 && (pj->deps & NODE_DEP_REMIX_SERVE)) {
                cleanup_free char *path = NULL;
                bool classic;

                if (asprintf(&path, "%sremix.config.js", c->app_dir ? c->app_dir : "") < 0)
                        return analyzer_oom(err);
                classic = analyzer_repo_has_file(repo, path);
                r = pm_exec(&a->start_command, c,
                            classic ? "remix-serve build/index.js"
                                    : "remix-serve ./build/server/index.js",
                            err);
                why = "Remix without scripts.start: remix-serve of the build";
        } else if (strcmp(fw, "react-router") == 0) {
                r = pm_exec(&a->start_command, c, "react-router-serve ./build/server/index.js",
                            err);
                why = "React Router framework mode without scripts.start: react-router-serve of "
                      "the server build";
        } else if (strcmp(fw, "sveltekit") == 0 && (pj->deps & NODE_DEP_SVELTE_ADAPTER_NODE)) {
                r = in_app_dir(&a->start_command, c, "node build", err);
                why = "SvelteKit with adapter-node: node build";
        } else if (strcmp(fw, "astro") == 0 && (pj->deps & NODE_DEP_ASTRO_NODE)) {
                r = in_app_dir(&a->start_command, c, "HOST=0.0.0.0 node ./dist/server/entry.mjs",
                               err);
                why = "Astro with @astrojs/node: the standalone server";
        } else if (strcmp(fw, "nestjs") == 0 && pj->build_script) {
                r = in_app_dir(&a->start_command, c, "node dist/main", err);
                why = "NestJS without scripts.start: node dist/main (nest build's output)";
        }
        if (r < 0 || why == NULL)
                return r;
        *done = true;
        return analyzer_why(a, err, "startCommand", "%s", why);
}

static int node_start(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                      ad_error_t *err)
{
        const struct analyzer_package_json *pj = app_pj(c);
        const char *main = pj->main ? strip_dot_slash(pj->main) : NULL;
        const char *dir = c->app_dir ? c->app_dir : "";
        bool done;
        int r;

        if (c->output_dir)
                return 0; /* the static image serves the SPA */
        r = next_standalone(repo, a, c, &done, err);
        if (r < 0 || done)
                return r;
        /* NestJS: start is `nest start` (compiles at boot, needs the CLI);
         * start:prod runs the build output. */
        if (pj->start_prod_script && pj->framework && strcmp(pj->framework, "nestjs") == 0) {
                r = run_script(&a->start_command, c, "start:prod", err);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "NestJS: package.json scripts.start:prod (\"%s\") "
                                            "runs the build output",
                                            pj->start_prod_script);
        }
        if (pj->start_script) {
                char *entry = script_entry(pj->start_script);

                if (entry && asprintf(&c->entry, "%s%s", dir, entry) < 0)
                        c->entry = NULL;
                free(entry);
                r = run_script(&a->start_command, c, "start", err);
                return r < 0 ? r
                             : analyzer_why(a, err, "startCommand",
                                            "from %spackage.json scripts.start (\"%s\")", dir,
                                            pj->start_script);
        }
        r = framework_start(repo, a, c, &done, err);
        if (r < 0 || done)
                return r;
        if (c->pm && strcmp(c->pm, "bun") == 0)
                return bun_start(repo, a, c, dir, main, err);
        /* "main" may name a file the build produces (dist/index.js). */
        if (main && *main) {
                cleanup_free char *path = NULL;

                if (asprintf(&path, "%s%s", dir, main) < 0)
                        return analyzer_oom(err);
                if (analyzer_repo_has_file(repo, path) || pj->build_script != NULL) {
                        c->entry = TAKE_PTR(path);
                        r = in_app_dir(&a->start_command, c, "node ", err);
                        if (r == 0)
                                r = analyzer_setf(&a->start_command, err, "%s%s", a->start_command,
                                                  main);
                        return r < 0 ? r
                                     : analyzer_why(a, err, "startCommand",
                                                    "no scripts.start: package.json main");
                }
        }
        for (size_t i = 0; i < AD_ARRAY_SIZE(node_entries); i++) {
                cleanup_free char *path = NULL;
                cleanup_free char *cmd = NULL;

                if (asprintf(&path, "%s%s", dir, node_entries[i]) < 0 ||
                    asprintf(&cmd, "node %s", node_entries[i]) < 0)
                        return analyzer_oom(err);
                if (!analyzer_repo_has_file(repo, path))
                        continue;
                c->entry = TAKE_PTR(path);
                r = in_app_dir(&a->start_command, c, cmd, err);
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
        static const char *const files[] = { ".nvmrc", ".node-version" };
        const char *engines =
                app_pj(c)->engines_node ? app_pj(c)->engines_node : c->root.engines_node;
        int r;

        if (engines) {
                r = analyzer_setf(&a->version, err, "%s", engines);
                return r < 0 ? r : analyzer_why(a, err, "version", "package.json engines.node");
        }
        for (size_t i = 0; i < AD_ARRAY_SIZE(files); i++) {
                cleanup_free char *v = NULL;

                r = analyzer_read_version_file(repo, files[i], &v, err);
                if (r < 0)
                        return r;
                if (v == NULL)
                        continue;
                r = analyzer_setf(&a->version, err, "%s", v);
                return r < 0 ? r : analyzer_why(a, err, "version", "%s", files[i]);
        }
        return analyzer_why(a, err, "version",
                            "not declared (no engines.node, .nvmrc or .node-version): the "
                            "image's node");
}

static int node_port(struct analyzer_repo *repo, struct ad_analysis *a, struct node_ctx *c,
                     ad_error_t *err)
{
        static const char *const names[] = { "server.js",   "index.js",     "app.js",
                                             "main.js",     "src/index.js", "src/server.js",
                                             "src/main.ts", "bin/www" };
        const char *first[AD_ARRAY_SIZE(names) + 2] = { 0 };
        char *paths[AD_ARRAY_SIZE(names)] = { 0 };
        const char *fw = app_pj(c)->framework ? app_pj(c)->framework : "";
        size_t n = 0;
        int r;

        if (c->output_dir)
                return 0;
        /* Meta-frameworks read $PORT and default to 3000: a port in their
         * code would be a dev server's or an API's they call. */
        if (strcmp(fw, "next") == 0 || strcmp(fw, "nuxt") == 0 || strcmp(fw, "remix") == 0 ||
            strcmp(fw, "sveltekit") == 0 || strcmp(fw, "astro") == 0 ||
            strcmp(fw, "react-router") == 0) {
                a->port = DEFAULT_PORT;
                return analyzer_why(a, err, "port", "%s reads $PORT: default %d", fw, DEFAULT_PORT);
        }
        if (c->entry)
                first[n++] = c->entry;
        for (size_t i = 0; i < AD_ARRAY_SIZE(names); i++) {
                if (asprintf(&paths[i], "%s%s", c->app_dir ? c->app_dir : "", names[i]) < 0) {
                        r = analyzer_oom(err);
                        goto out;
                }
                first[n++] = paths[i];
        }
        r = analyzer_port_or_default(repo, a, node_exts, first, DEFAULT_PORT, "node", err);
out:
        for (size_t i = 0; i < AD_ARRAY_SIZE(names); i++)
                free(paths[i]);
        return r;
}

int analyzer_detect_node(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct node_ctx c = { 0 };
        int r;

        r = read_pj(repo, "package.json", &c.root, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;

        r = analyzer_setf(&a->language, err, "node");
        if (r == 0)
                r = analyzer_why(a, err, "language", "package.json at the root");
        if (r == 0)
                r = node_workspace(repo, a, &c, err);
        if (r == 0 && app_pj(&c)->framework) {
                r = analyzer_setf(&a->framework, err, "%s", app_pj(&c)->framework);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%spackage.json dependencies: %s",
                                         c.app_dir ? c.app_dir : "", app_pj(&c)->framework);
        }
        if (r == 0)
                r = node_package_manager(repo, a, &c, err);
        if (r == 0)
                r = node_spa(repo, a, &c, err);
        if (r == 0)
                r = node_install(repo, a, &c, err);
        if (r == 0)
                r = node_start(repo, a, &c, err);
        if (r == 0)
                r = node_version(repo, a, &c, err);
        if (r == 0)
                r = node_port(repo, a, &c, err);
        analyzer_package_json_clear(&c.root);
        analyzer_package_json_clear(&c.app);
        free(c.app_dir);
        free(c.entry);
        free(c.output_dir);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_node(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        const char *node_image, *static_image;
        const char *pm = ad_buildplan_str(a->package_manager);
        int r = ad_buildplan_use_image(images, "node", &node_image, err);

        if (r < 0)
                return r;
        ad_buildplan_from(f, node_image, *ad_buildplan_str(a->output_dir) ? "build" : NULL);
        ad_buildplan_trust(f, images, false);
        ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_NPM);
        /* The image ships npm only (Debian's nodejs + npm). */
        if (strcmp(pm, "yarn") == 0 && strstr(ad_buildplan_str(a->install_command), "--immutable"))
                /* Yarn berry: corepack (bundled with node >= 16.9) or the
                 * npm package that provides the yarn 1 launcher, which
                 * defers to the repository's .yarn/releases. */
                fprintf(f, "RUN corepack enable 2>/dev/null || npm install -g --no-audit "
                           "--no-fund yarn\n");
        else if (strcmp(pm, "yarn") == 0 || strcmp(pm, "pnpm") == 0 || strcmp(pm, "bun") == 0)
                fprintf(f,
                        "RUN command -v %s >/dev/null || npm install -g --no-audit --no-fund %s\n",
                        pm, pm);
        ad_buildplan_install_and_source(f, a);
        if (*ad_buildplan_str(a->output_dir) != '\0') {
                /* A single-page app: node only builds it; the static image
                 * serves what the build wrote, with no node at run time. */
                r = ad_buildplan_use_image(images, "static", &static_image, err);
                if (r == 0)
                        r = ad_buildplan_check_path("outputDir", a->output_dir, err);
                if (r < 0)
                        return r;
                fprintf(f, "\n");
                ad_buildplan_from(f, static_image, NULL);
                fprintf(f, "COPY --from=build /app/%s/ ./\n", a->output_dir);
                return ad_buildplan_runtime(f, a, "", err);
        }
        /* NODE_ENV only now: set before the install it would make npm skip
         * the devDependencies the build step needs. */
        return ad_buildplan_runtime(f, a, "NODE_ENV=production ", err);
}

/* node runs the app; a single-page app (outputDir) only builds on it and
 * runs on the static image. */

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const node_scan_exts[] = { ".js",  ".mjs", ".cjs", ".ts",
                                              ".mts", ".jsx", ".tsx", NULL };
static const struct ad_buildplan_image node_images[] = {
        AD_BUILDPLAN_IMAGE("node"),
        AD_BUILDPLAN_IMAGE("static"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_node = {
        .name = "node",
        .detect = analyzer_detect_node,
        .cpu_millis = 500,
        .memory_mb = 512,
        .scan_exts = node_scan_exts,
        .plan = plan_node,
        .images = node_images,
};
