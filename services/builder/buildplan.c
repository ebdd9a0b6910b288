/* Generated Dockerfiles: see buildplan.h for the contract. */
#include "buildplan.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

/* Where the extra CA lands in the image.  /etc/ssl/certs is also a
 * directory Go's crypto/x509 scans, so Go builds trust it with no env. */
#define EXTRA_CA_PATH "/etc/ssl/certs/ad-extra-ca.pem"
/* The system bundle plus the extra CA: tools that take one file get it. */
#define CA_BUNDLE_PATH "/etc/ssl/certs/ad-ca-bundle.pem"
/* The same certificates for the JVM (PKCS#12, password "changeit"). */
#define TRUSTSTORE_PATH "/etc/ssl/certs/ad-truststore.p12"
#define MAX_COMMAND 4096
#define MAX_MIRROR 512

void ad_buildplan_images_default(struct ad_buildplan_images *images)
{
        *images = (struct ad_buildplan_images){
                .node = "localhost/app-deployer/node:bookworm",
                .python = "localhost/app-deployer/python:bookworm",
                .go = "localhost/app-deployer/go:bookworm",
                .static_site = "localhost/app-deployer/static:bookworm",
                .php = "localhost/app-deployer/php:bookworm",
                .base = "localhost/app-deployer/base:bookworm",
                .rust = "localhost/app-deployer/rust:bookworm",
                .java = "localhost/app-deployer/java:bookworm",
                .jre = "localhost/app-deployer/jre:bookworm",
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

/* The JVM reads no PEM bundle: a single-file Java program (java >= 11
 * runs a .java source directly) turns the combined bundle into a PKCS#12
 * truststore in one JVM start (keytool would take one start per
 * certificate). */
static const char truststore_java[] =
        "import java.io.*;import java.security.KeyStore;import java.security.cert.*;"
        "class T{public static void main(String[] a)throws Exception{"
        "KeyStore k=KeyStore.getInstance(\"PKCS12\");k.load(null,null);int i=0;"
        "for(Certificate c:CertificateFactory.getInstance(\"X.509\")"
        ".generateCertificates(new FileInputStream(a[0])))k.setCertificateEntry(\"ad\"+i++,c);"
        "try(OutputStream o=new FileOutputStream(a[1])){k.store(o,\"changeit\".toCharArray());}}}";

/* The operator's extra CA (e.g. a TLS-inspecting proxy) for every tool
 * of the build: one bundle (the image's system store plus the extra CA,
 * PEM blocks only) and each tool's own variable for it.  `java` adds the
 * truststore and the JVM options that make Maven and Gradle use it. */
static void emit_trust(FILE *f, const struct ad_buildplan_images *images, bool java)
{
        if (!images->extra_ca)
                return;
        fprintf(f, "# The operator's extra CA (e.g. a TLS-inspecting proxy) for the install.\n");
        fprintf(f, "COPY %s %s\n", AD_BUILDPLAN_EXTRA_CA_FILE, EXTRA_CA_PATH);
        fprintf(f,
                "RUN cat /etc/ssl/certs/ca-certificates.crt %s 2>/dev/null | sed -n "
                "'/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p' > %s\n",
                EXTRA_CA_PATH, CA_BUNDLE_PATH);
        fprintf(f,
                "ENV SSL_CERT_FILE=%s REQUESTS_CA_BUNDLE=%s PIP_CERT=%s CURL_CA_BUNDLE=%s "
                "GIT_SSL_CAINFO=%s CARGO_HTTP_CAINFO=%s NODE_EXTRA_CA_CERTS=%s DENO_CERT=%s "
                "UV_NATIVE_TLS=1\n",
                CA_BUNDLE_PATH, CA_BUNDLE_PATH, CA_BUNDLE_PATH, CA_BUNDLE_PATH, CA_BUNDLE_PATH,
                CA_BUNDLE_PATH, CA_BUNDLE_PATH, CA_BUNDLE_PATH);
        if (!java)
                return;
        fprintf(f,
                "RUN mkdir -p /tmp/ad-ts && printf '%%s' '%s' > /tmp/ad-ts/T.java && "
                "java /tmp/ad-ts/T.java %s %s && rm -rf /tmp/ad-ts\n",
                truststore_java, CA_BUNDLE_PATH, TRUSTSTORE_PATH);
        fprintf(f,
                "ENV JAVA_TOOL_OPTIONS=\"-Djavax.net.ssl.trustStore=%s "
                "-Djavax.net.ssl.trustStoreType=PKCS12 "
                "-Djavax.net.ssl.trustStorePassword=changeit\"\n",
                TRUSTSTORE_PATH);
}

static bool set(const char *s)
{
        return s != NULL && *s != '\0';
}

int ad_buildplan_check_mirror(const char *what, const char *value, ad_error_t *err)
{
        if (!set(value))
                return 0;
        if (strlen(value) > MAX_MIRROR)
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s is longer than %d bytes", what,
                                     MAX_MIRROR);
        /* It goes into ENV lines, a quoted printf argument and XML. */
        if (value[strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789:/._~%@+=,?- ")] != '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "%s `%.64s` has a character outside "
                                     "[A-Za-z0-9:/._~%%@+=,?- ]",
                                     what, value);
        return 0;
}

static int check_mirrors(const struct ad_buildplan_mirrors *m, ad_error_t *err)
{
        const struct {
                const char *what, *value;
        } all[] = {
                { "mirrors.pypi", m->pypi },       { "mirrors.npm", m->npm },
                { "mirrors.goproxy", m->goproxy }, { "mirrors.gosumdb", m->gosumdb },
                { "mirrors.goflags", m->goflags }, { "mirrors.maven", m->maven },
                { "mirrors.cargo", m->cargo },
        };

        for (size_t i = 0; i < AD_ARRAY_SIZE(all); i++)
                if (ad_buildplan_check_mirror(all[i].what, all[i].value, err) < 0)
                        return -AD_ERR_INVALID;
        return 0;
}

enum ecosystem { ECO_NPM = 1, ECO_PYPI = 2, ECO_GO = 4, ECO_MAVEN = 8, ECO_CARGO = 16 };

/* Each configured mirror as the tools of `eco` read it.  Build stage
 * only for Go, Rust and Java (the final stage starts afresh). */
static void emit_mirrors(FILE *f, const struct ad_buildplan_images *images, unsigned eco)
{
        const struct ad_buildplan_mirrors *m = &images->mirrors;

        if ((eco & ECO_NPM) && set(m->npm))
                fprintf(f,
                        "ENV NPM_CONFIG_REGISTRY=\"%s\" YARN_REGISTRY=\"%s\" "
                        "YARN_NPM_REGISTRY_SERVER=\"%s\" BUN_CONFIG_REGISTRY=\"%s\"\n",
                        m->npm, m->npm, m->npm, m->npm);
        if ((eco & ECO_PYPI) && set(m->pypi))
                fprintf(f,
                        "ENV PIP_INDEX_URL=\"%s\" UV_DEFAULT_INDEX=\"%s\" PDM_PYPI_URL=\"%s\" "
                        "PIPENV_PYPI_MIRROR=\"%s\"\n",
                        m->pypi, m->pypi, m->pypi, m->pypi);
        if ((eco & ECO_GO) && set(m->goproxy))
                fprintf(f, "ENV GOPROXY=\"%s\"\n", m->goproxy);
        if ((eco & ECO_GO) && set(m->gosumdb))
                fprintf(f, "ENV GOSUMDB=\"%s\"\n", m->gosumdb);
        if ((eco & ECO_GO) && set(m->goflags))
                fprintf(f, "ENV GOFLAGS=\"-trimpath %s\"\n", m->goflags);
        if ((eco & ECO_MAVEN) && set(m->maven))
                fprintf(f,
                        "RUN mkdir -p /root/.m2 && printf '<settings><mirrors><mirror><id>"
                        "ad-mirror</id><mirrorOf>*</mirrorOf><url>%%s</url></mirror></mirrors>"
                        "</settings>\\n' '%s' > /root/.m2/settings.xml\n",
                        m->maven);
        if ((eco & ECO_CARGO) && set(m->cargo))
                fprintf(f,
                        "RUN mkdir -p \"$CARGO_HOME\" && printf '[source.crates-io]\\n"
                        "replace-with = \"ad-mirror\"\\n[source.ad-mirror]\\nregistry = "
                        "\"%%s\"\\n' '%s%s' >> \"$CARGO_HOME/config.toml\"\n",
                        strncmp(m->cargo, "sparse+", 7) == 0 || strncmp(m->cargo, "git+", 4) == 0
                                ? ""
                                : "sparse+",
                        m->cargo);
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
        emit_trust(f, images, false);
        emit_mirrors(f, images, ECO_NPM);
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
                emit_trust(f, images, false);
                emit_mirrors(f, images, ECO_PYPI);
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
        emit_trust(f, images, false);
        emit_mirrors(f, images, ECO_GO);
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

/* The final stage of a compiled language: what the build stage left in
 * /ad-out/ (nothing else of it) lands in /app on `image`. */
static int emit_final(FILE *f, const struct ad_analysis *a, const char *image, ad_error_t *err)
{
        fprintf(f, "\n");
        emit_from(f, image, NULL);
        fprintf(f, "COPY --from=build /ad-out/ /app/\n");
        return emit_runtime(f, a, "", err);
}

/* The dependency layer of a compiled language: the manifests alone, the
 * install (a download), then `warm` against a stand-in source, best
 * effort: a failure there leaves the work to the real build, which says
 * why.  Reused until a manifest changes. */
static void emit_warm_deps(FILE *f, const struct ad_analysis *a, const char *stub, const char *warm)
{
        fprintf(f, "COPY");
        for (size_t i = 0; i < a->n_dependency_files; i++)
                fprintf(f, " %s", a->dependency_files[i]);
        fprintf(f, " ./\n");
        fprintf(f,
                "RUN %s(%s%s%s) || echo 'dependency layer incomplete: the build below "
                "fetches the rest'%s\n",
                stub ? stub : "", str(a->install_command), *warm ? " && " : "", warm,
                stub ? "; rm -rf src" : "");
}

static int plan_rust(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        int r = check_image("rust", images->rust, err);

        if (r == 0)
                r = check_image("base", images->base, err);
        if (r < 0)
                return r;
        emit_from(f, images->rust, "build");
        fprintf(f, "ENV CARGO_HOME=/cargo CARGO_TERM_COLOR=never CARGO_NET_RETRY=5\n");
        emit_trust(f, images, false);
        emit_mirrors(f, images, ECO_CARGO);
        if (a->n_dependency_files > 0 && *str(a->install_command) != '\0')
                /* The crates compile against an empty main in the cached
                 * layer; the real source then rebuilds only the app. */
                emit_warm_deps(f, a, "mkdir -p src && echo 'fn main() {}' > src/main.rs && ",
                               "cargo build --release");
        fprintf(f, "COPY . .\n");
        /* Newer than the stand-in's build, whatever the checkout's times. */
        fprintf(f, "RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + && %s\n",
                *str(a->build_command) ? a->build_command : "cargo build --release");
        /* Only the executables: the final image holds the binaries alone. */
        fprintf(f, "RUN mkdir -p /ad-out/target/release && find target/release -maxdepth 1 "
                   "-type f -perm -u+x -exec cp {} /ad-out/target/release/ \\;\n");
        return emit_final(f, a, images->base, err);
}

static int plan_java(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        int r = check_image("java", images->java, err);

        if (r == 0)
                r = check_image("jre", images->jre, err);
        if (r < 0)
                return r;
        emit_from(f, images->java, "build");
        if (strncmp(str(a->build_command), "gradle ", 7) == 0)
                /* No wrapper: Debian's Gradle (the java image has Maven only). */
                fprintf(f, "RUN command -v gradle >/dev/null || { export "
                           "DEBIAN_FRONTEND=noninteractive && apt-get update -q && apt-get "
                           "install -y -q --no-install-recommends gradle && rm -rf "
                           "/var/lib/apt/lists/*; }\n");
        emit_trust(f, images, true);
        emit_mirrors(f, images, ECO_MAVEN);
        if (a->n_dependency_files > 0 && *str(a->install_command) != '\0')
                emit_warm_deps(f, a, NULL, "");
        fprintf(f, "COPY . .\n");
        if (*str(a->build_command) != '\0')
                fprintf(f, "RUN %s\n", a->build_command);
        /* The jars Maven (target/) or Gradle (build/libs/) wrote. */
        fprintf(f, "RUN mkdir -p /ad-out/target /ad-out/build/libs && "
                   "{ cp target/*.jar /ad-out/target/ 2>/dev/null; "
                   "cp build/libs/*.jar /ad-out/build/libs/ 2>/dev/null; "
                   "ls /ad-out/target/*.jar >/dev/null 2>&1 || "
                   "ls /ad-out/build/libs/*.jar >/dev/null 2>&1 || "
                   "{ echo 'the build wrote no jar to target/ or build/libs/' >&2; exit 1; }; }\n");
        return emit_final(f, a, images->jre, err);
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
        if (t == NULL)
                return ad_error_make(err, AD_ERR_UNSUPPORTED, 0, "no toolchain for language `%s`",
                                     a->language);
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
        emit_trust(f, images, false);
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
        emit_trust(f, images, false);
        emit_mirrors(f, images, ECO_NPM);
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
                emit_trust(f, images, false);
        }
        emit_install_and_source(f, a);
        return emit_runtime(f, a, "", err);
}

static int plan_static(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        return plan_simple(f, a, "static", images->static_site,
                           *str(a->static_root) ? a->static_root : ".", err);
}

static int plan_shell(FILE *f, const struct ad_analysis *a,
                      const struct ad_buildplan_images *images, ad_error_t *err)
{
        return plan_simple(f, a, "base", images->base, NULL, err);
}

/* Each language the builder plans a Dockerfile for (the analysis's
 * `language`, from the analyzer's providers: services/analyzer/detect.h):
 * the image its app runs on, and its plan.  A language with no row gets
 * "no build plan" (AD_ERR_UNSUPPORTED). */
struct plan_language {
        const char *name;
        size_t runtime; /* offsetof the runtime image in struct ad_buildplan_images */
        int (*plan)(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                    ad_error_t *err);
};

#define IMAGE(field) offsetof(struct ad_buildplan_images, field)

static const struct plan_language plan_languages[] = {
        { "node", IMAGE(node), plan_node },
        { "python", IMAGE(python), plan_python },
        /* Compiled: images->go, ->rust, ->java only build; the binary runs
         * on the base image, the jar on the JRE. */
        { "go", IMAGE(base), plan_go },
        { "rust", IMAGE(base), plan_rust },
        { "java", IMAGE(jre), plan_java },
        { "static", IMAGE(static_site), plan_static },
        { "php", IMAGE(php), plan_php },
        { "deno", IMAGE(node), plan_deno }, /* deno comes from npm */
        { "shell", IMAGE(base), plan_shell },
        /* No runtime image of their own: a toolchain from Debian (toolchains[]). */
        { "ruby", IMAGE(base), plan_toolchain },
        { "elixir", IMAGE(base), plan_toolchain },
        { "cpp", IMAGE(base), plan_toolchain },
        { "dotnet", IMAGE(base), plan_toolchain },
};

static const struct plan_language *plan_language(const char *name)
{
        for (size_t i = 0; name && i < AD_ARRAY_SIZE(plan_languages); i++)
                if (strcmp(plan_languages[i].name, name) == 0)
                        return &plan_languages[i];
        return NULL;
}

const char *ad_buildplan_image(const struct ad_buildplan_images *images, const char *language)
{
        const struct plan_language *lp = plan_language(language);

        return lp ? *(const char *const *)((const char *)images + lp->runtime) : NULL;
}

int ad_buildplan_dockerfile(char **out, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err)
{
        cleanup_free char *buf = NULL;
        size_t len = 0;
        const char *lang = str(a->language);
        const struct plan_language *lp;
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
        if (r == 0)
                r = check_mirrors(&images->mirrors, err);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &len);
        if (f == NULL)
                return ad_error_make_errno(err, errno, "open_memstream");
        fprintf(f, "# Generated by app-deployer from the repository analysis (%s%s%s).\n", lang,
                *str(a->framework) ? ", " : "", str(a->framework));

        lp = plan_language(lang);
        if (lp)
                r = lp->plan(f, a, images, err);
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
