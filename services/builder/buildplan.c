/* Generated Dockerfiles: see buildplan.h for the contract. */
#include "buildplan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

/* Where the extra CA lands in the image.  /etc/ssl/certs is also a
 * directory Go's crypto/x509 scans, so Go builds trust it with no env. */
#define EXTRA_CA_PATH "/etc/ssl/certs/ad-extra-ca.pem"
#define MAX_COMMAND 4096

void ad_buildplan_images_default(struct ad_buildplan_images *images)
{
        *images = (struct ad_buildplan_images){
                .node = "localhost/app-deployer/node:bookworm",
                .python = "localhost/app-deployer/python:bookworm",
                .go = "localhost/app-deployer/go:bookworm",
                .static_site = "localhost/app-deployer/static:bookworm",
                .php = "localhost/app-deployer/php:bookworm",
                .base = "localhost/app-deployer/base:bookworm",
                .extra_ca = false,
        };
}

/* Languages with no runtime image of their own: their toolchain is
 * installed from Debian on top of the base image.  `variant` picks by
 * package manager (maven/gradle, cmake/meson); NULL matches any. */
struct toolchain {
        const char *language, *variant;
        const char *packages;
        const char *env; /* extra ENV line, or NULL */
};

static const struct toolchain toolchains[] = {
        { "ruby", NULL, "ruby-full bundler build-essential git",
          "BUNDLE_WITHOUT=development:test BUNDLE_JOBS=4 RAILS_ENV=production "
          "RACK_ENV=production" },
        { "java", "gradle", "default-jdk-headless gradle", NULL },
        { "java", NULL, "default-jdk-headless maven", NULL },
        { "rust", NULL, "cargo rustc build-essential pkg-config libssl-dev", NULL },
        { "elixir", NULL, "elixir erlang-dev erlang-xmerl build-essential git",
          "MIX_ENV=prod LANG=C.UTF-8" },
        { "cpp", "meson", "meson ninja-build g++ pkg-config", NULL },
        { "cpp", NULL, "cmake make g++ pkg-config", NULL },
        /* Not in Debian: Microsoft's install script (needs the network). */
        { "dotnet", NULL, "curl libicu72 libssl3",
          "DOTNET_CLI_TELEMETRY_OPTOUT=1 "
          "DOTNET_ROOT=/usr/share/dotnet" },
};

static const struct toolchain *toolchain_for(const char *language, const char *pm)
{
        for (size_t i = 0; i < AD_ARRAY_SIZE(toolchains); i++) {
                const struct toolchain *t = &toolchains[i];

                if (strcmp(t->language, language) != 0)
                        continue;
                if (t->variant == NULL || (pm && strcmp(t->variant, pm) == 0))
                        return t;
        }
        return NULL;
}

static const struct toolchain *toolchain_of(const char *language)
{
        return toolchain_for(language, NULL);
}

const char *ad_buildplan_image(const struct ad_buildplan_images *images, const char *language)
{
        if (language == NULL)
                return NULL;
        if (strcmp(language, "node") == 0)
                return images->node;
        if (strcmp(language, "python") == 0)
                return images->python;
        if (strcmp(language, "go") == 0)
                return images->base; /* the runtime; images->go only builds */
        if (strcmp(language, "static") == 0)
                return images->static_site;
        if (strcmp(language, "php") == 0)
                return images->php;
        if (strcmp(language, "deno") == 0)
                return images->node; /* deno comes from npm */
        if (strcmp(language, "shell") == 0 || toolchain_of(language) != NULL)
                return images->base;
        return NULL;
}

static const char *str(const char *s)
{
        return s ? s : "";
}

/* Commands go into shell-form RUN lines: a newline would start a new
 * Dockerfile instruction chosen by whoever wrote the repository. */
static int check_command(const char *what, const char *s, ad_error_t *err)
{
        if (strlen(s) > MAX_COMMAND)
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s is longer than %d bytes", what,
                                     MAX_COMMAND);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "%s contains a control character", what);
        return 0;
}

/* Paths go into COPY lines unquoted: keep them to a boring alphabet,
 * relative, and inside the context. */
static int check_path(const char *what, const char *s, ad_error_t *err)
{
        const char *p;

        if (*s == '\0' || *s == '/' || strlen(s) > 255 ||
            s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-/@+")] != '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s `%s` is not a plain relative path",
                                     what, s);
        for (p = s; p; p = strchr(p, '/')) {
                if (*p == '/')
                        p++;
                if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "%s `%s` leaves the build context", what, s);
        }
        return 0;
}

static int check_image(const char *what, const char *s, ad_error_t *err)
{
        if (s == NULL || *s == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "no %s image configured", what);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p <= ' ' || *p == 0x7f)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "%s image name `%s` contains whitespace", what, s);
        return 0;
}

static int cmp_cstr(const void *x, const void *y)
{
        return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int check_env(const struct ad_analysis *a, ad_error_t *err)
{
        const char *key;
        json_t *v;

        if (a->env == NULL)
                return 0;
        if (!json_is_object(a->env))
                return ad_error_make(err, AD_ERR_INVALID, 0, "env is not an object");
        json_object_foreach (a->env, key, v) {
                if (!((*key >= 'A' && *key <= 'Z') || (*key >= 'a' && *key <= 'z') ||
                      *key == '_') ||
                    key[strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789_")] != '\0')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "env name `%.64s` is not [A-Za-z_][A-Za-z0-9_]*", key);
                if (!json_is_string(v))
                        return ad_error_make(err, AD_ERR_INVALID, 0, "env %s is not a string", key);
                if (check_command(key, json_string_value(v), err) < 0)
                        return -AD_ERR_INVALID;
        }
        return 0;
}

static int check_analysis(const struct ad_analysis *a, ad_error_t *err)
{
        int r;

        if (a->port == 0 || a->port > 65535)
                return ad_error_make(err, AD_ERR_INVALID, 0, "port %u is outside 1..65535",
                                     a->port);
        r = check_command("installCommand", str(a->install_command), err);
        if (r == 0)
                r = check_command("buildCommand", str(a->build_command), err);
        if (r == 0)
                r = check_command("startCommand", str(a->start_command), err);
        if (r == 0)
                r = check_command("releaseCommand", str(a->release_command), err);
        if (r == 0)
                r = check_env(a, err);
        for (size_t i = 0; r == 0 && i < a->n_dependency_files; i++)
                r = check_path("dependency file", a->dependency_files[i], err);
        return r;
}

/* `exec` replaces sh with the app, so the app is PID 1 and receives the
 * SIGTERM of a stop instead of sh swallowing it.  Only safe for a single simple command: with
 * `a && b` exec would drop b, and `VAR=x exec cmd` is the only valid order
 * for assignments. */
static bool can_exec(const char *cmd)
{
        size_t first_word = strcspn(cmd, " \t");

        if (strncmp(cmd, "exec ", 5) == 0)
                return false;
        if (strpbrk(cmd, ";&|()`\n") != NULL)
                return false;
        return memchr(cmd, '=', first_word) == NULL;
}

static int emit_cmd(FILE *f, const char *release, const char *start, ad_error_t *err)
{
        cleanup_free char *full = NULL;
        cleanup_free char *dumped = NULL;
        json_t *arr;

        /* The release command (migrations) runs before every start and
         * stops the start when it fails, as Heroku's release phase does. */
        if (asprintf(&full, "%s%s%s%s", *release ? release : "", *release ? " && " : "",
                     can_exec(start) ? "exec " : "", start) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        /* The exec form is a JSON array: let jansson do the quoting. */
        arr = json_pack("[s,s,s]", "sh", "-c", full);
        if (arr)
                dumped = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (dumped == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        fprintf(f, "CMD %s\n", dumped);
        return 0;
}

/* The final stage's tail, identical for every language. */
/* deployer.yaml env: defaults baked into the image (the deployment's own
 * env vars still override them).  Quoted, with `$` escaped so Docker does
 * not substitute; names and values were checked by check_env. */
static void emit_env_defaults(FILE *f, const struct ad_analysis *a)
{
        const char **keys;
        size_t n = json_object_size(a->env), i = 0;
        const char *key;
        json_t *v;

        if (n == 0 || (keys = calloc(n, sizeof(*keys))) == NULL)
                return;
        json_object_foreach (a->env, key, v)
                keys[i++] = key;
        qsort(keys, n, sizeof(*keys), cmp_cstr); /* byte-identical output */
        for (i = 0; i < n; i++) {
                const char *val = json_string_value(json_object_get(a->env, keys[i]));

                fprintf(f, "ENV %s=\"", keys[i]);
                for (const char *p = val; p && *p; p++) {
                        if (*p == '"' || *p == '\\' || *p == '$')
                                fputc('\\', f);
                        fputc(*p, f);
                }
                fprintf(f, "\"\n");
        }
        free(keys);
}

static int emit_runtime(FILE *f, const struct ad_analysis *a, const char *extra_env,
                        ad_error_t *err)
{
        emit_env_defaults(f, a);
        fprintf(f, "ENV %sPORT=%u\n", extra_env, a->port);
        fprintf(f, "EXPOSE %u\n", a->port);
        fprintf(f, "# Never run the app as root: 10001 is the images' `app` user.\n");
        fprintf(f, "USER 10001\n");
        if (*str(a->start_command) == '\0')
                return 0; /* static: the image's own CMD serves /app */
        return emit_cmd(f, str(a->release_command), a->start_command, err);
}

static void emit_extra_ca(FILE *f, const struct ad_buildplan_images *images)
{
        if (!images->extra_ca)
                return;
        fprintf(f, "# The operator's extra CA (e.g. a TLS-inspecting proxy) for the install.\n");
        fprintf(f, "COPY %s %s\n", AD_BUILDPLAN_EXTRA_CA_FILE, EXTRA_CA_PATH);
}

/* Manifests first, install, then the source: the install layer is reused
 * until a manifest changes.  Without manifests the install needs the
 * source (e.g. `pip install .`), so it runs after the copy. */
static void emit_install_and_source(FILE *f, const struct ad_analysis *a)
{
        const char *install = str(a->install_command);

        if (*install != '\0' && a->n_dependency_files > 0) {
                fprintf(f, "COPY");
                for (size_t i = 0; i < a->n_dependency_files; i++)
                        fprintf(f, " %s", a->dependency_files[i]);
                fprintf(f, " ./\n");
                fprintf(f, "RUN %s\n", install);
                fprintf(f, "COPY . .\n");
        } else {
                fprintf(f, "COPY . .\n");
                if (*install != '\0')
                        fprintf(f, "RUN %s\n", install);
        }
        if (*str(a->build_command) != '\0')
                fprintf(f, "RUN %s\n", a->build_command);
}

static void emit_from(FILE *f, const char *image, const char *stage)
{
        fprintf(f, "FROM %s%s%s\n", image, stage ? " AS " : "", stage ? stage : "");
        /* Build steps run as root whatever the image's default user is;
         * the app itself runs as 10001 (see emit_runtime). */
        fprintf(f, "USER root\n");
        fprintf(f, "WORKDIR /app\n");
}

static int plan_node(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        const char *pm = str(a->package_manager);
        int r = check_image("node", images->node, err);

        if (r < 0)
                return r;
        emit_from(f, images->node, *str(a->output_dir) ? "build" : NULL);
        if (images->extra_ca) {
                emit_extra_ca(f, images);
                fprintf(f, "ENV NODE_EXTRA_CA_CERTS=%s\n", EXTRA_CA_PATH);
        }
        /* The image ships npm only (Debian's nodejs + npm). */
        if (strcmp(pm, "yarn") == 0 && strstr(str(a->install_command), "--immutable"))
                /* Yarn berry: corepack (bundled with node >= 16.9) or the
                 * npm package that provides the yarn 1 launcher, which
                 * defers to the repository's .yarn/releases. */
                fprintf(f, "RUN corepack enable 2>/dev/null || npm install -g --no-audit "
                           "--no-fund yarn\n");
        else if (strcmp(pm, "yarn") == 0 || strcmp(pm, "pnpm") == 0 || strcmp(pm, "bun") == 0)
                fprintf(f,
                        "RUN command -v %s >/dev/null || npm install -g --no-audit --no-fund %s\n",
                        pm, pm);
        emit_install_and_source(f, a);
        if (*str(a->output_dir) != '\0') {
                /* A single-page app: node only builds it; the static image
                 * serves what the build wrote, with no node at run time. */
                r = check_image("static", images->static_site, err);
                if (r == 0)
                        r = check_path("outputDir", a->output_dir, err);
                if (r < 0)
                        return r;
                fprintf(f, "\n");
                emit_from(f, images->static_site, NULL);
                fprintf(f, "COPY --from=build /app/%s/ ./\n", a->output_dir);
                return emit_runtime(f, a, "", err);
        }
        /* NODE_ENV only now: set before the install it would make npm skip
         * the devDependencies the build step needs. */
        return emit_runtime(f, a, "NODE_ENV=production ", err);
}

static int plan_python(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        int r = check_image("python", images->python, err);

        if (r < 0)
                return r;
        emit_from(f, images->python, NULL);
        fprintf(f, "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n");
        if (*str(a->install_command) != '\0') {
                /* Debian marks its python3 externally managed (PEP 668); the
                 * image is the app's alone, so installing system-wide is
                 * what we want. */
                fprintf(f, "ENV PIP_NO_CACHE_DIR=1 PIP_BREAK_SYSTEM_PACKAGES=1 "
                           "PIP_DISABLE_PIP_VERSION_CHECK=1\n");
                if (images->extra_ca) {
                        emit_extra_ca(f, images);
                        /* pip does not read the system store: give it the
                         * system bundle plus the extra CA. */
                        fprintf(f,
                                "RUN cat /etc/ssl/certs/ca-certificates.crt %s "
                                "> /etc/ssl/certs/ad-ca-bundle.pem 2>/dev/null || "
                                "cp %s /etc/ssl/certs/ad-ca-bundle.pem\n",
                                EXTRA_CA_PATH, EXTRA_CA_PATH);
                        fprintf(f, "ENV PIP_CERT=/etc/ssl/certs/ad-ca-bundle.pem\n");
                }
        }
        {
                const char *pm = str(a->package_manager);

                /* uv, Poetry, PDM and Pipenv install into /app/.venv: put it
                 * first on PATH so python3 and its console scripts are the
                 * venv's at build and at run time. */
                if (strcmp(pm, "uv") == 0 || strcmp(pm, "poetry") == 0 || strcmp(pm, "pdm") == 0 ||
                    strcmp(pm, "pipenv") == 0)
                        fprintf(f, "ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH "
                                   "POETRY_VIRTUALENVS_IN_PROJECT=true PIPENV_VENV_IN_PROJECT=1 "
                                   "UV_PROJECT_ENVIRONMENT=/app/.venv\n");
        }
        emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

static int plan_go(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                   ad_error_t *err)
{
        cleanup_free char *build = NULL;
        const char *pkg = *str(a->go_main_package) ? a->go_main_package : ".";
        struct ad_analysis copy = *a;
        int r;

        r = check_image("go", images->go, err);
        if (r == 0)
                r = check_image("base", images->base, err);
        if (r == 0)
                r = check_path("goMainPackage", pkg, err);
        if (r < 0)
                return r;

        /* The binary must land in bin/: the final stage copies only that. */
        if (*str(a->build_command) == '\0') {
                if (asprintf(&build, "go build -o bin/app %s", pkg) < 0)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                copy.build_command = build;
        }

        emit_from(f, images->go, "build");
        /* Static binaries run in the base image, which has no libc dev
         * files; GOTOOLCHAIN=local stops Go >= 1.21 from downloading a
         * newer toolchain (no network here). */
        fprintf(f, "ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOPATH=/go "
                   "GOCACHE=/go/cache\n");
        emit_extra_ca(f, images);
        emit_install_and_source(f, &copy);
        fprintf(f, "\n");
        emit_from(f, images->base, NULL);
        fprintf(f, "COPY --from=build /app/bin/ /app/bin/\n");
        return emit_runtime(f, a, "", err);
}

static int plan_simple(FILE *f, const struct ad_analysis *a, const char *what, const char *image,
                       const char *src, ad_error_t *err)
{
        int r = check_image(what, image, err);

        if (r == 0 && src != NULL)
                r = check_path("staticRoot", src, err);
        if (r < 0)
                return r;
        emit_from(f, image, NULL);
        if (src != NULL && strcmp(src, ".") != 0)
                fprintf(f, "COPY %s/ ./\n", src);
        else
                emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

/* A combined CA bundle (system + extra) for toolchains that take one file. */
static void emit_ca_bundle(FILE *f, const struct ad_buildplan_images *images)
{
        if (!images->extra_ca)
                return;
        emit_extra_ca(f, images);
        fprintf(f,
                "RUN cat /etc/ssl/certs/ca-certificates.crt %s > /etc/ssl/certs/ad-ca-bundle.pem "
                "2>/dev/null || cp %s /etc/ssl/certs/ad-ca-bundle.pem\n",
                EXTRA_CA_PATH, EXTRA_CA_PATH);
        fprintf(f,
                "ENV SSL_CERT_FILE=/etc/ssl/certs/ad-ca-bundle.pem "
                "CARGO_HTTP_CAINFO=/etc/ssl/certs/ad-ca-bundle.pem "
                "NODE_EXTRA_CA_CERTS=%s\n",
                EXTRA_CA_PATH);
}

/* The .NET channel from "net8.0" (TargetFramework); 8.0 by default. */
static void dotnet_channel(const char *version, char *buf, size_t size)
{
        const char *v = strncmp(version, "net", 3) == 0 ? version + 3 : version;

        if (*v >= '1' && *v <= '9' && strspn(v, "0123456789.") == strlen(v) && strlen(v) < 8)
                snprintf(buf, size, "%s", v);
        else
                snprintf(buf, size, "8.0");
}

static int plan_toolchain(FILE *f, const struct ad_analysis *a,
                          const struct ad_buildplan_images *images, ad_error_t *err)
{
        const struct toolchain *t = toolchain_for(a->language, str(a->package_manager));
        int r = check_image("base", images->base, err);

        if (r < 0)
                return r;
        emit_from(f, images->base, NULL);
        fprintf(f, "# No %s runtime image: the toolchain comes from Debian's archive.\n",
                a->language);
        fprintf(f,
                "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
                "apt-get install -y -q --no-install-recommends %s && "
                "rm -rf /var/lib/apt/lists/*\n",
                t->packages);
        if (strcmp(a->language, "dotnet") == 0) {
                char channel[16];

                dotnet_channel(str(a->version), channel, sizeof(channel));
                fprintf(f, "# .NET is not in Debian: Microsoft's installer (needs dot.net).\n");
                fprintf(f,
                        "RUN curl -fsSL https://dot.net/v1/dotnet-install.sh | bash -s -- "
                        "--channel %s --install-dir /usr/share/dotnet && "
                        "ln -s /usr/share/dotnet/dotnet /usr/local/bin/dotnet\n",
                        channel);
        }
        if (t->env)
                fprintf(f, "ENV %s\n", t->env);
        emit_ca_bundle(f, images);
        emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

static int plan_deno(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        int r = check_image("node", images->node, err);

        if (r < 0)
                return r;
        emit_from(f, images->node, NULL);
        emit_ca_bundle(f, images);
        fprintf(f, "# Deno is not in Debian: the npm package ships its binary.\n");
        fprintf(f, "RUN npm install -g --no-audit --no-fund deno\n");
        fprintf(f, "ENV DENO_DIR=/app/.deno\n");
        emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

static int plan_php(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                    ad_error_t *err)
{
        int r = check_image("php", images->php, err);

        if (r < 0)
                return r;
        emit_from(f, images->php, NULL);
        if (strcmp(str(a->package_manager), "composer") == 0) {
                /* The php image has php-cli only: composer and the
                 * extensions most packages need come from Debian. */
                fprintf(f, "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
                           "apt-get install -y -q --no-install-recommends composer unzip "
                           "php-xml php-mbstring php-curl php-zip && "
                           "rm -rf /var/lib/apt/lists/*\n");
                emit_ca_bundle(f, images);
        }
        emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

int ad_buildplan_dockerfile(char **out, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err)
{
        cleanup_free char *buf = NULL;
        size_t len = 0;
        const char *lang = str(a->language);
        FILE *f;
        int r;

        if (strcmp(lang, "dockerfile") == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the repository's own Dockerfile is used");
        if (*str(a->start_command) == '\0' && strcmp(lang, "static") != 0 &&
            *str(a->output_dir) == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "no start command for this %s app: add a Procfile "
                                     "`web:` line, a deployer.yaml `start:`%s",
                                     *lang ? lang : "unknown",
                                     strcmp(lang, "node") == 0 ? " or scripts.start" : "");
        r = check_analysis(a, err);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &len);
        if (f == NULL)
                return ad_error_make_errno(err, errno, "open_memstream");
        fprintf(f, "# Generated by app-deployer from the repository analysis (%s%s%s).\n", lang,
                *str(a->framework) ? ", " : "", str(a->framework));

        if (strcmp(lang, "node") == 0)
                r = plan_node(f, a, images, err);
        else if (strcmp(lang, "python") == 0)
                r = plan_python(f, a, images, err);
        else if (strcmp(lang, "go") == 0)
                r = plan_go(f, a, images, err);
        else if (strcmp(lang, "static") == 0)
                r = plan_simple(f, a, "static", images->static_site,
                                *str(a->static_root) ? a->static_root : ".", err);
        else if (strcmp(lang, "php") == 0)
                r = plan_php(f, a, images, err);
        else if (strcmp(lang, "shell") == 0)
                r = plan_simple(f, a, "base", images->base, NULL, err);
        else if (strcmp(lang, "deno") == 0)
                r = plan_deno(f, a, images, err);
        else if (toolchain_of(lang) != NULL)
                r = plan_toolchain(f, a, images, err);
        else
                r = ad_error_make(err, AD_ERR_UNSUPPORTED, 0, "no build plan for language `%s`",
                                  lang);

        if (fclose(f) != 0 && r == 0)
                r = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (r < 0)
                return r;
        *out = TAKE_PTR(buf);
        return 0;
}
