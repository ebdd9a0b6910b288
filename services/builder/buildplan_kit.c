/* The planner's kit: the checks and the stages every generated Dockerfile
 * shares (see buildplan.h for the contract, buildplan_kit.h for the API). */
#include "buildplan_kit.h"

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

static const char *str(const char *s)
{
        return ad_buildplan_str(s);
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
int ad_buildplan_check_path(const char *what, const char *s, ad_error_t *err)
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

int ad_buildplan_check_image(const char *what, const char *s, ad_error_t *err)
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
                r = ad_buildplan_check_path("dependency file", a->dependency_files[i], err);
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

/* The release command (migrations) is not in CMD: the deployer runs it
 * once per release in a container of its own before the release's
 * containers start (deploy.built's release_command, Heroku's release
 * phase), not in every web container at each start. */
static int emit_cmd(FILE *f, const char *start, ad_error_t *err)
{
        cleanup_free char *full = NULL;
        cleanup_free char *dumped = NULL;
        json_t *arr;

        if (asprintf(&full, "%s%s", can_exec(start) ? "exec " : "", start) < 0)
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

int ad_buildplan_runtime(FILE *f, const struct ad_analysis *a, const char *extra_env,
                         ad_error_t *err)
{
        emit_env_defaults(f, a);
        fprintf(f, "ENV %sPORT=%u\n", extra_env, a->port);
        fprintf(f, "EXPOSE %u\n", a->port);
        fprintf(f, "# Never run the app as root: 10001 is the images' `app` user.\n");
        fprintf(f, "USER 10001\n");
        if (*str(a->start_command) == '\0')
                return 0; /* static: the image's own CMD serves /app */
        return emit_cmd(f, a->start_command, err);
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
void ad_buildplan_trust(FILE *f, const struct ad_buildplan_images *images, bool java)
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

/* Each configured mirror as the tools of `eco` read it.  Build stage
 * only for Go, Rust and Java (the final stage starts afresh). */
void ad_buildplan_mirrors(FILE *f, const struct ad_buildplan_images *images, unsigned eco)
{
        const struct ad_buildplan_mirrors *m = &images->mirrors;

        if ((eco & AD_BUILDPLAN_ECO_NPM) && set(m->npm))
                fprintf(f,
                        "ENV NPM_CONFIG_REGISTRY=\"%s\" YARN_REGISTRY=\"%s\" "
                        "YARN_NPM_REGISTRY_SERVER=\"%s\" BUN_CONFIG_REGISTRY=\"%s\"\n",
                        m->npm, m->npm, m->npm, m->npm);
        if ((eco & AD_BUILDPLAN_ECO_PYPI) && set(m->pypi))
                fprintf(f,
                        "ENV PIP_INDEX_URL=\"%s\" UV_DEFAULT_INDEX=\"%s\" PDM_PYPI_URL=\"%s\" "
                        "PIPENV_PYPI_MIRROR=\"%s\"\n",
                        m->pypi, m->pypi, m->pypi, m->pypi);
        if ((eco & AD_BUILDPLAN_ECO_GO) && set(m->goproxy))
                fprintf(f, "ENV GOPROXY=\"%s\"\n", m->goproxy);
        if ((eco & AD_BUILDPLAN_ECO_GO) && set(m->gosumdb))
                fprintf(f, "ENV GOSUMDB=\"%s\"\n", m->gosumdb);
        if ((eco & AD_BUILDPLAN_ECO_GO) && set(m->goflags))
                fprintf(f, "ENV GOFLAGS=\"-trimpath %s\"\n", m->goflags);
        if ((eco & AD_BUILDPLAN_ECO_MAVEN) && set(m->maven))
                fprintf(f,
                        "RUN mkdir -p /root/.m2 && printf '<settings><mirrors><mirror><id>"
                        "ad-mirror</id><mirrorOf>*</mirrorOf><url>%%s</url></mirror></mirrors>"
                        "</settings>\\n' '%s' > /root/.m2/settings.xml\n",
                        m->maven);
        if ((eco & AD_BUILDPLAN_ECO_CARGO) && set(m->cargo))
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
void ad_buildplan_install_and_source(FILE *f, const struct ad_analysis *a)
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

void ad_buildplan_from(FILE *f, const char *image, const char *stage)
{
        fprintf(f, "FROM %s%s%s\n", image, stage ? " AS " : "", stage ? stage : "");
        /* Build steps run as root whatever the image's default user is;
         * the app itself runs as 10001 (see ad_buildplan_runtime). */
        fprintf(f, "USER root\n");
        fprintf(f, "WORKDIR /app\n");
}

int ad_buildplan_simple(FILE *f, const struct ad_analysis *a, const char *what, const char *image,
                        const char *src, ad_error_t *err)
{
        int r = ad_buildplan_check_image(what, image, err);

        if (r == 0 && src != NULL)
                r = ad_buildplan_check_path("staticRoot", src, err);
        if (r < 0)
                return r;
        ad_buildplan_from(f, image, NULL);
        if (src != NULL && strcmp(src, ".") != 0)
                fprintf(f, "COPY %s/ ./\n", src);
        else
                ad_buildplan_install_and_source(f, a);
        return ad_buildplan_runtime(f, a, "", err);
}

/* The final stage of a compiled language: what the build stage left in
 * /ad-out/ (nothing else of it) lands in /app on `image`. */
int ad_buildplan_final(FILE *f, const struct ad_analysis *a, const char *image, ad_error_t *err)
{
        fprintf(f, "\n");
        ad_buildplan_from(f, image, NULL);
        fprintf(f, "COPY --from=build /ad-out/ /app/\n");
        return ad_buildplan_runtime(f, a, "", err);
}

/* The dependency layer of a compiled language: the manifests alone, the
 * install (a download), then `warm` against a stand-in source, best
 * effort: a failure there leaves the work to the real build, which says
 * why.  Reused until a manifest changes. */
void ad_buildplan_warm_deps(FILE *f, const struct ad_analysis *a, const char *stub,
                            const char *warm)
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

const char *ad_buildplan_images_get(const struct ad_buildplan_images *images, const char *key)
{
        for (size_t i = 0; key && i < images->n_images && i < AD_BUILDPLAN_MAX_IMAGES; i++)
                if (strcmp(images->image[i].key, key) == 0)
                        return images->image[i].name;
        return NULL;
}

bool ad_buildplan_images_set(struct ad_buildplan_images *images, const char *key, const char *name)
{
        for (size_t i = 0; i < images->n_images && i < AD_BUILDPLAN_MAX_IMAGES; i++)
                if (strcmp(images->image[i].key, key) == 0) {
                        images->image[i].name = name;
                        return true;
                }
        if (images->n_images >= AD_BUILDPLAN_MAX_IMAGES)
                return false;
        images->image[images->n_images++] = (struct ad_buildplan_image){ key, name };
        return true;
}

int ad_buildplan_use_image(const struct ad_buildplan_images *images, const char *key,
                           const char **image, ad_error_t *err)
{
        *image = ad_buildplan_images_get(images, key);
        return ad_buildplan_check_image(key, *image, err);
}

int ad_buildplan_toolchain(FILE *f, const struct ad_analysis *a,
                           const struct ad_buildplan_images *images,
                           const struct ad_buildplan_toolchain *t, ad_error_t *err)
{
        const char *base;
        int r = ad_buildplan_use_image(images, "base", &base, err);

        if (r < 0)
                return r;
        if (t == NULL)
                return ad_error_make(err, AD_ERR_UNSUPPORTED, 0, "no toolchain for language `%s`",
                                     str(a->language));
        ad_buildplan_from(f, base, NULL);
        fprintf(f, "# No %s runtime image: the toolchain comes from Debian's archive.\n",
                a->language);
        fprintf(f,
                "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
                "apt-get install -y -q --no-install-recommends %s && "
                "rm -rf /var/lib/apt/lists/*\n",
                t->packages);
        if (t->after_install)
                t->after_install(f, a);
        if (t->env)
                fprintf(f, "ENV %s\n", t->env);
        ad_buildplan_trust(f, images, false);
        ad_buildplan_install_and_source(f, a);
        return ad_buildplan_runtime(f, a, "", err);
}

int ad_buildplan_generate(char **out, const struct ad_analysis *a,
                          const struct ad_buildplan_images *images, ad_buildplan_fn *plan,
                          ad_error_t *err)
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
        if (r == 0)
                r = check_mirrors(&images->mirrors, err);
        if (r < 0)
                return r;

        f = open_memstream(&buf, &len);
        if (f == NULL)
                return ad_error_make_errno(err, errno, "open_memstream");
        fprintf(f, "# Generated by app-deployer from the repository analysis (%s%s%s).\n", lang,
                *str(a->framework) ? ", " : "", str(a->framework));

        if (plan)
                r = plan(f, a, images, err);
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
