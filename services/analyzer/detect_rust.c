/* Rust: Cargo.toml at the root.  The binary is default-run, else the one
 * named like the package, else the only [[bin]]; a workspace deploys its
 * only member with a binary. */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define RUST_PORT 8080
#define MAX_LIST 64

static const char *const rust_exts[] = { ".rs", NULL };

static const char *const rust_frameworks[] = { "actix-web", "axum", "rocket", "warp", "poem" };

void analyzer_cargo_clear(struct analyzer_cargo *c)
{
        free(c->name);
        free(c->default_run);
        free(c->rust_version);
        for (size_t i = 0; i < c->n_bins; i++)
                free(c->bins[i]);
        free(c->bins);
        for (size_t i = 0; i < c->n_members; i++)
                free(c->members[i]);
        free(c->members);
        free(c->framework);
        *c = (struct analyzer_cargo){ 0 };
}

static int push(char ***v, size_t *n, char *s, ad_error_t *err)
{
        char **nv;

        if (s == NULL)
                return analyzer_oom(err);
        if (*n >= MAX_LIST) {
                free(s);
                return 0;
        }
        nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (nv == NULL) {
                free(s);
                return analyzer_oom(err);
        }
        *v = nv;
        (*v)[(*n)++] = s;
        return 0;
}

/* The quoted strings of an array, from `p` to its `]` (possibly on later
 * lines); returns where scanning stopped. */
static const char *string_array(const char *p, const char *end, char ***v, size_t *n, int *r,
                                ad_error_t *err)
{
        while (p < end && *p != ']' && *r == 0) {
                if (*p == '#') {
                        const char *eol = memchr(p, '\n', (size_t)(end - p));

                        p = eol ? eol : end;
                        continue;
                }
                if (*p == '"' || *p == '\'') {
                        const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));

                        if (q == NULL)
                                return end;
                        if (q - p - 1 > 0 && q - p - 1 <= 128)
                                *r = push(v, n, strndup(p + 1, (size_t)(q - p - 1)), err);
                        p = q + 1;
                        continue;
                }
                p++;
        }
        return p < end ? p + 1 : end;
}

int analyzer_parse_cargo(struct analyzer_cargo *out, const char *data, size_t len, ad_error_t *err)
{
        enum { OTHER, PACKAGE, BIN, WORKSPACE, DEPS } section = OTHER;
        struct analyzer_cargo c = { 0 };
        const char *p = data, *end = data + len;
        int r = 0;

        while (p < end && r == 0) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                char *v;

                while (p < le && (*p == ' ' || *p == '\t'))
                        p++;
                if (p < le && *p == '[') {
                        size_t n = (size_t)(le - p);

                        section = n >= 9 && memcmp(p, "[package]", 9) == 0          ? PACKAGE
                                  : n >= 7 && memcmp(p, "[[bin]]", 7) == 0          ? BIN
                                  : n >= 11 && memcmp(p, "[workspace]", 11) == 0    ? WORKSPACE
                                  : n >= 14 && memcmp(p, "[dependencies]", 14) == 0 ? DEPS
                                                                                    : OTHER;
                } else if (section == PACKAGE && (v = analyzer_toml_string(p, le, "name", 128))) {
                        free(c.name);
                        c.name = v;
                } else if (section == PACKAGE &&
                           (v = analyzer_toml_string(p, le, "default-run", 128))) {
                        free(c.default_run);
                        c.default_run = v;
                } else if (section == PACKAGE &&
                           (v = analyzer_toml_string(p, le, "rust-version", 128))) {
                        free(c.rust_version);
                        c.rust_version = v;
                } else if (section == BIN && (v = analyzer_toml_string(p, le, "name", 128))) {
                        r = push(&c.bins, &c.n_bins, v, err);
                } else if (section == WORKSPACE && (size_t)(le - p) > 7 &&
                           memcmp(p, "members", 7) == 0) {
                        const char *open = memchr(p, '[', (size_t)(le - p));

                        if (open) {
                                p = string_array(open + 1, end, &c.members, &c.n_members, &r, err);
                                continue;
                        }
                } else if (section == DEPS && c.framework == NULL) {
                        for (size_t i = 0; i < AD_ARRAY_SIZE(rust_frameworks); i++) {
                                size_t n = strlen(rust_frameworks[i]);

                                if ((size_t)(le - p) > n && memcmp(p, rust_frameworks[i], n) == 0 &&
                                    (p[n] == ' ' || p[n] == '=' || p[n] == '.')) {
                                        c.framework = strdup(rust_frameworks[i]);
                                        if (c.framework == NULL)
                                                r = analyzer_oom(err);
                                        break;
                                }
                        }
                }
                p = eol ? eol + 1 : end;
        }
        if (r < 0) {
                analyzer_cargo_clear(&c);
                return r;
        }
        *out = c;
        return 0;
}

static bool plain(const char *s)
{
        return *s && *s != '-' &&
               s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_-")] == '\0';
}

/* The binary of one crate; NULL when it has none (a library). */
static const char *crate_binary(struct analyzer_repo *repo, const struct analyzer_cargo *c,
                                const char *dir, const char **why)
{
        cleanup_free char *main_rs = NULL;

        if (c->default_run) {
                *why = "[package] default-run";
                return c->default_run;
        }
        for (size_t i = 0; i < c->n_bins; i++)
                if (c->name && strcmp(c->bins[i], c->name) == 0) {
                        *why = "the [[bin]] named like the package";
                        return c->bins[i];
                }
        if (c->n_bins >= 1 && !c->name) {
                *why = "the first [[bin]]";
                return c->bins[0];
        }
        if (asprintf(&main_rs, "%ssrc/main.rs", dir) < 0)
                return NULL;
        if (c->name && analyzer_repo_has_file(repo, main_rs)) {
                *why = "src/main.rs: the binary is named after the package";
                return c->name;
        }
        if (c->n_bins >= 1) {
                *why = "the first [[bin]]";
                return c->bins[0];
        }
        return NULL;
}

static int read_cargo(struct analyzer_repo *repo, const char *path, struct analyzer_cargo *c,
                      ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r = analyzer_repo_read(repo, path, ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r < 0)
                return r;
        return analyzer_parse_cargo(c, data, len, err);
}

/* A workspace: its only member with a binary. */
static int rust_workspace(struct analyzer_repo *repo, struct ad_analysis *a,
                          const struct analyzer_cargo *root, char **bin, ad_error_t *err)
{
        size_t found = 0;
        int r = 0;

        for (size_t i = 0; i < root->n_members && r == 0; i++) {
                struct analyzer_cargo m = { 0 };
                cleanup_free char *path = NULL;
                cleanup_free char *dir = NULL;
                const char *why = NULL, *b;

                if (strchr(root->members[i], '*') || strstr(root->members[i], ".."))
                        continue;
                if (asprintf(&path, "%s/Cargo.toml", root->members[i]) < 0 ||
                    asprintf(&dir, "%s/", root->members[i]) < 0)
                        return analyzer_oom(err);
                r = read_cargo(repo, path, &m, err);
                if (r == -AD_ERR_NOT_FOUND) {
                        r = 0;
                        continue;
                }
                b = r == 0 ? crate_binary(repo, &m, dir, &why) : NULL;
                if (b && plain(b) && found++ == 0) {
                        free(*bin);
                        *bin = strdup(b);
                        if (*bin == NULL)
                                r = analyzer_oom(err);
                        else
                                r = analyzer_why(a, err, "startCommand", "workspace member %s: %s",
                                                 root->members[i], why);
                        if (r == 0 && m.framework)
                                r = analyzer_setf(&a->framework, err, "%s", m.framework);
                }
                analyzer_cargo_clear(&m);
        }
        if (r == 0 && found > 1)
                r = analyzer_why(a, err, "startCommand",
                                 "%zu workspace members have binaries: the first (%s) is run; "
                                 "set deployer.yaml start to choose",
                                 found, *bin);
        return r;
}

int analyzer_detect_rust(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        struct analyzer_cargo c = { 0 };
        cleanup_free char *bin = NULL;
        const char *why = NULL, *b;
        int r = read_cargo(repo, "Cargo.toml", &c, err);

        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return ad_error_wrap(err, "Cargo.toml");
        r = analyzer_setf(&a->language, err, "rust");
        if (r == 0)
                r = analyzer_why(a, err, "language", "Cargo.toml at the root");
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "cargo");
        b = r == 0 ? crate_binary(repo, &c, "", &why) : NULL;
        if (r == 0 && b && plain(b)) {
                bin = strdup(b);
                r = bin ? analyzer_why(a, err, "startCommand", "%s%s", why,
                                       c.n_bins > 1 ? " (of several binaries)" : "")
                        : analyzer_oom(err);
        } else if (r == 0 && c.n_members > 0) {
                r = rust_workspace(repo, a, &c, &bin, err);
        }
        if (r == 0 && c.framework)
                r = analyzer_setf(&a->framework, err, "%s", c.framework);
        if (r == 0 && a->framework && *a->framework)
                r = analyzer_why(a, err, "framework", "Cargo.toml [dependencies]");
        if (r == 0 && c.rust_version) {
                r = analyzer_setf(&a->version, err, "%s", c.rust_version);
                if (r == 0)
                        r = analyzer_why(a, err, "version", "Cargo.toml rust-version");
        }
        /* A single crate: its manifests alone key the dependency layer
         * (the builder stands an empty main in for src/ there).  A
         * workspace needs every member's manifest: no early layer. */
        if (r == 0 && c.n_members == 0) {
                static const char *const deps[] = { "Cargo.toml", "Cargo.lock", NULL };

                r = analyzer_set_deps(repo, a, deps, true, err);
                if (r == 0)
                        r = analyzer_setf(&a->install_command, err, "cargo fetch%s",
                                          analyzer_repo_has_file(repo, "Cargo.lock") ? " --locked"
                                                                                     : "");
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand",
                                         "the crates of %s fetched and compiled in their own "
                                         "cached layer",
                                         analyzer_repo_has_file(repo, "Cargo.lock") ? "Cargo.lock"
                                                                                    : "Cargo.toml");
        } else if (r == 0) {
                r = analyzer_why(a, err, "installCommand",
                                 "none: a workspace; cargo build fetches the crates");
        }
        if (r == 0 && bin) {
                r = analyzer_setf(&a->build_command, err, "cargo build --release --bin %s", bin);
                if (r == 0)
                        r = analyzer_setf(&a->start_command, err, "./target/release/%s", bin);
        } else if (r == 0) {
                r = analyzer_setf(&a->build_command, err, "cargo build --release");
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand", "none: no binary target found");
        }
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "release build%s%s", bin ? " of " : "",
                                 bin ? bin : "");
        if (r == 0)
                r = analyzer_port_or_default(repo, a, rust_exts, NULL, RUST_PORT, "rust", err);
        analyzer_cargo_clear(&c);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_rust(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        const char *base_image, *rust_image;
        int r = ad_buildplan_use_image(images, "rust", &rust_image, err);

        if (r == 0)
                r = ad_buildplan_use_image(images, "base", &base_image, err);
        if (r < 0)
                return r;
        ad_buildplan_from(f, rust_image, "build");
        fprintf(f, "ENV CARGO_HOME=/cargo CARGO_TERM_COLOR=never CARGO_NET_RETRY=5\n");
        ad_buildplan_trust(f, images, false);
        ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_CARGO);
        if (a->n_dependency_files > 0 && *ad_buildplan_str(a->install_command) != '\0')
                /* The crates compile against an empty main in the cached
                 * layer; the real source then rebuilds only the app. */
                ad_buildplan_warm_deps(f, a,
                                       "mkdir -p src && echo 'fn main() {}' > src/main.rs && ",
                                       "cargo build --release");
        fprintf(f, "COPY . .\n");
        /* Newer than the stand-in's build, whatever the checkout's times. */
        fprintf(f, "RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + && %s\n",
                *ad_buildplan_str(a->build_command) ? a->build_command : "cargo build --release");
        /* Only the executables: the final image holds the binaries alone. */
        fprintf(f, "RUN mkdir -p /ad-out/target/release && find target/release -maxdepth 1 "
                   "-type f -perm -u+x -exec cp {} /ad-out/target/release/ \\;\n");
        return ad_buildplan_final(f, a, base_image, err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const rust_scan_exts[] = { ".rs", NULL };
/* The executables run on the base image; the rust image only builds them. */
static const struct ad_buildplan_image rust_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        AD_BUILDPLAN_IMAGE("rust"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_rust = {
        .name = "rust",
        .detect = analyzer_detect_rust,
        .cpu_millis = 250,
        .memory_mb = 128,
        .scan_exts = rust_scan_exts,
        .plan = plan_rust,
        .images = rust_images,
};
