/* The repository detector: one fixture tree per rule under
 * tests/fixtures/detect/, the example apps under examples/, the parsers on
 * their own, and hostile trees (symlinks, FIFOs, oversized manifests)
 * built at run time in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad/analysis.h"
#include "ad/cleanup.h"
#include "detect.h"

#define FIXTURES AD_SOURCE_DIR "/tests/fixtures/detect/"
#define EXAMPLES AD_SOURCE_DIR "/examples/"

/* ---- helpers ------------------------------------------------------------ */

static struct ad_analysis *detect_ok(const char *dir)
{
        struct ad_analysis *a = NULL;
        ad_error_t err = NULL;
        int r = analyzer_detect(&a, dir, &err);

        if (r < 0)
                fail_msg("analyzer_detect(%s): %s", dir, ad_error_message(err));
        ad_error_release(&err);
        return a;
}

/* Returns the error kind and leaves the message in *msg (caller frees). */
static int detect_fail(const char *dir, char **msg)
{
        struct ad_analysis *a = NULL;
        ad_error_t err = NULL;
        int r = analyzer_detect(&a, dir, &err);

        assert_true(r < 0);
        assert_null(a);
        assert_non_null(err);
        assert_int_equal(-r, err->kind);
        *msg = strdup(err->msg);
        ad_error_release(&err);
        return -r;
}

/* envVars must be exactly `expected` (NULL-terminated, sorted). */
static void assert_env(const struct ad_analysis *a, const char *const *expected)
{
        size_t n = 0;

        while (expected[n])
                n++;
        for (size_t i = 0; i < a->n_env_vars && i < n; i++)
                assert_string_equal(a->env_vars[i], expected[i]);
        assert_int_equal(a->n_env_vars, n);
}

static void assert_deps(const struct ad_analysis *a, const char *const *expected)
{
        size_t n = 0;

        while (expected[n])
                n++;
        for (size_t i = 0; i < a->n_dependency_files && i < n; i++)
                assert_string_equal(a->dependency_files[i], expected[i]);
        assert_int_equal(a->n_dependency_files, n);
}

static const char *why(const struct ad_analysis *a, const char *key)
{
        const char *s = json_string_value(json_object_get(a->why, key));

        if (s == NULL)
                fail_msg("no why for %s", key);
        return s;
}

static const char *const none[] = { NULL };

/* ---- Node.js --------------------------------------------------------------- */

static void test_node_start_script(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "node-start-script");
        static const char *const deps[] = { "package.json", NULL };

        (void)state;
        /* public/index.html is there too: node wins over static. */
        assert_string_equal(a->language, "node");
        assert_string_equal(a->framework, "express");
        assert_string_equal(a->package_manager, "npm");
        assert_string_equal(a->install_command, "npm install --omit=dev");
        assert_string_equal(a->build_command, "");
        assert_string_equal(a->start_command, "npm start");
        assert_string_equal(a->version, "");
        assert_int_equal(a->port, 4000);
        assert_env(a, none);
        assert_deps(a, deps);
        assert_int_equal(a->cpu_millis, 500);
        assert_int_equal(a->memory_mb, 512);
        assert_string_equal(why(a, "startCommand"),
                            "from package.json scripts.start (\"node server.js\")");
        assert_string_equal(why(a, "port"), "from server.js: process.env.PORT fallback 4000");
}

static void test_node_main(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "node-main");

        (void)state;
        assert_string_equal(a->language, "node");
        assert_string_equal(a->framework, "");
        /* "./src/app.js" is normalised; main beats the index.js next to it. */
        assert_string_equal(a->start_command, "node src/app.js");
        assert_int_equal(a->port, 5050);
        assert_string_equal(why(a, "port"), "from src/app.js: listen(5050)");
}

static void test_node_index(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "node-index");

        (void)state;
        assert_string_equal(a->language, "node");
        assert_string_equal(a->framework, "koa");
        assert_string_equal(a->start_command, "node index.js");
        assert_string_equal(a->version, "v20.11.1"); /* .nvmrc */
        /* listen(process.env.PORT) with no fallback: the default. */
        assert_int_equal(a->port, 3000);
        assert_string_equal(why(a, "port"), "no port found in the code: node default 3000");
}

static void test_node_yarn(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "node-yarn");
        static const char *const deps[] = { "package.json", "yarn.lock", NULL };
        static const char *const env[] = { "NEXT_PUBLIC_GREETING", NULL };

        (void)state;
        assert_string_equal(a->framework, "next");
        assert_string_equal(a->package_manager, "yarn");
        /* A build script keeps the devDependencies. */
        assert_string_equal(a->install_command, "yarn install --frozen-lockfile");
        assert_string_equal(a->build_command, "yarn run build");
        assert_string_equal(a->start_command, "yarn start");
        assert_string_equal(a->version, ">=18.17");
        assert_int_equal(a->port, 3000);
        assert_int_equal(a->memory_mb, 1024); /* next */
        assert_deps(a, deps);
        assert_env(a, env);
}

static void test_node_pnpm(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "node-pnpm");

        (void)state;
        assert_string_equal(a->framework, "fastify");
        assert_string_equal(a->package_manager, "pnpm");
        assert_string_equal(a->install_command, "pnpm install --frozen-lockfile --prod");
        assert_string_equal(a->start_command, "pnpm start");
        assert_int_equal(a->port, 8088); /* process.env.PORT ?? 8088 */
}

static void test_node_malformed_package_json(void **state)
{
        cleanup_free char *msg = NULL;

        (void)state;
        assert_int_equal(detect_fail(FIXTURES "node-malformed-package-json", &msg), AD_ERR_INVALID);
        assert_string_equal(msg, "package.json: invalid JSON at line 5 column 3: "
                                 "string or '}' expected near '}'");
}

/* ---- Python ---------------------------------------------------------------- */

static void test_python_requirements_flask(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "python-requirements-flask");
        static const char *const env[] = { "SECRET_KEY", NULL };
        static const char *const deps[] = { "requirements.txt", NULL };

        (void)state;
        assert_string_equal(a->language, "python");
        assert_string_equal(a->framework, "flask");
        assert_string_equal(a->package_manager, "pip");
        assert_string_equal(a->install_command, "python3 -m pip install -r requirements.txt");
        /* gunicorn is a dependency: it serves the app object, not app.run(). */
        assert_string_equal(a->start_command, "python3 -m gunicorn app:app --bind 0.0.0.0:$PORT");
        assert_string_equal(why(a, "startCommand"),
                            "flask under gunicorn (a production WSGI server, never the development "
                            "server): the WSGI app app:app found in app.py");
        assert_int_equal(a->port, 5001);
        assert_env(a, env);
        assert_deps(a, deps);
        assert_int_equal(a->cpu_millis, 500);
        assert_int_equal(a->memory_mb, 256);
}

static void test_python_procfile(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "python-procfile");
        static const char *const env[] = { "API_TOKEN", NULL };

        (void)state;
        assert_string_equal(a->language, "python");
        assert_string_equal(a->framework, "fastapi");
        assert_string_equal(a->start_command,
                            "python3 -m uvicorn main:api --host 0.0.0.0 --port $PORT");
        assert_string_equal(why(a, "startCommand"),
                            "from the Procfile web: line (it overrides the python default)");
        assert_int_equal(a->port, 8000);
        assert_env(a, env);
        /* Its worker: line is a process type of its own. */
        assert_int_equal(json_object_size(a->processes), 1);
        assert_string_equal(json_string_value(json_object_get(a->processes, "worker")),
                            "python3 worker.py");
        {
                json_auto_t *j = ad_analysis_to_json(a);
                cleanup_analysis struct ad_analysis *back = NULL;

                assert_int_equal(ad_analysis_from_json(&back, j, NULL), 0);
                assert_true(json_equal(back->processes, a->processes));
        }
}

static void test_python_main_only(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "python-main-only");
        static const char *const env[] = { "GREETING", NULL };

        (void)state;
        assert_string_equal(a->language, "python");
        assert_string_equal(a->framework, "");
        assert_string_equal(a->install_command, "");
        assert_string_equal(a->package_manager, "");
        assert_string_equal(a->start_command, "python3 main.py");
        assert_int_equal(a->port, 8765);
        assert_env(a, env);
        assert_deps(a, none);
}

/* ---- Go -------------------------------------------------------------------- */

static void test_go_root(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "go-root");
        static const char *const env[] = { "DATABASE_URL", NULL };

        (void)state;
        assert_string_equal(a->language, "go");
        assert_string_equal(a->version, "1.21");
        assert_string_equal(a->go_main_package, ".");
        assert_string_equal(a->install_command, ""); /* no go.sum */
        assert_string_equal(a->build_command, "go build -o bin/hello .");
        assert_string_equal(a->start_command, "./bin/hello");
        assert_int_equal(a->port, 9090); /* port = "9090" after Getenv("PORT") */
        assert_env(a, env);
        assert_int_equal(a->cpu_millis, 250);
        assert_int_equal(a->memory_mb, 128);
}

static void test_go_cmd(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "go-cmd");
        static const char *const deps[] = { "go.mod", "go.sum", NULL };
        static const char *const env[] = { "STORE_BUCKET", NULL };

        (void)state;
        assert_string_equal(a->framework, "gin");
        assert_string_equal(a->version, "1.22.1");
        assert_string_equal(a->go_main_package, "./cmd/api");
        assert_string_equal(a->install_command, "go mod download");
        assert_string_equal(a->build_command, "go build -o bin/api ./cmd/api");
        assert_string_equal(a->start_command, "./bin/api");
        assert_int_equal(a->port, 7070);
        assert_deps(a, deps);
        assert_env(a, env);
}

/* Negative of go-cmd: two commands, so the root package is built. */
static void test_go_cmd_two(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "go-cmd-two");

        (void)state;
        assert_string_equal(a->go_main_package, ".");
        assert_string_equal(a->start_command, "./bin/two");
        assert_int_equal(a->port, 8181);
        assert_string_equal(why(a, "goMainPackage"),
                            "the root is a main package: it wins over the 2 under cmd/");
}

/* ---- static, Dockerfile, Procfile, env ---------------------------------------- */

static void test_static_root(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "static-root");

        (void)state;
        assert_string_equal(a->language, "static");
        assert_string_equal(a->static_root, ".");
        assert_string_equal(a->start_command, "");
        assert_int_equal(a->port, 8080);
        assert_int_equal(a->cpu_millis, 100);
        assert_int_equal(a->memory_mb, 64);
}

static void test_static_public(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "static-public");

        (void)state;
        assert_string_equal(a->language, "static");
        assert_string_equal(a->static_root, "public");
        assert_int_equal(a->port, 8080);
}

static void test_php_index(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "php-index");
        static const char *const env[] = { "PHP_GREETING", NULL };

        (void)state;
        assert_string_equal(a->language, "php");
        assert_string_equal(a->start_command, "php-serve .");
        assert_int_equal(a->port, 8080);
        assert_env(a, env);
}

/* A Procfile and nothing else: run its command on the base image. */
static void test_procfile_only(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "procfile-only");

        (void)state;
        assert_string_equal(a->language, "shell");
        assert_string_equal(a->start_command, "./serve.sh");
        assert_int_equal(a->port, 8080);
}

static void test_dockerfile_expose(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "dockerfile-expose");
        static const char *const env[] = { "API_TOKEN", NULL };

        (void)state;
        /* The Dockerfile wins over the package.json next to it. */
        assert_string_equal(a->language, "dockerfile");
        assert_true(a->has_dockerfile);
        assert_string_equal(a->dockerfile_path, "Dockerfile");
        assert_int_equal(a->port, 9000); /* the last EXPOSE, "9000/tcp" */
        assert_string_equal(a->start_command, "");
        assert_env(a, env);
}

static void test_procfile_override(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "procfile-override");

        (void)state;
        assert_string_equal(a->language, "node");
        /* Trailing blanks and the CR of a CRLF line are trimmed. */
        assert_string_equal(a->start_command, "node --max-old-space-size=256 web.js");
}

static void test_env_example_and_code(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "env-example-and-code");
        /* PORT (in .env.example and the code) is left out; node_modules,
         * comments, process.environ and mygetenv( do not count. */
        static const char *const env[] = { "APP_NAME",       "AWS_REGION", "DATABASE_URL",
                                           "DEBUG_LEVEL",    "GO_LOOKUP",  "GO_TOKEN",
                                           "PY_KEY",         "PY_OTHER",   "REDIS_URL",
                                           "SESSION_SECRET", NULL };

        (void)state;
        assert_env(a, env);
        assert_non_null(strstr(why(a, "envVars"), "PORT is left out"));
        assert_non_null(strstr(why(a, "envVars"), ".env.example"));
}

static void test_empty(void **state)
{
        cleanup_free char *msg = NULL;

        (void)state;
        assert_int_equal(detect_fail(FIXTURES "empty", &msg), AD_ERR_NOT_FOUND);
        assert_non_null(strstr(msg, "nothing to deploy in "));
        assert_non_null(strstr(msg, "no Dockerfile, package.json, requirements.txt, "
                                    "pyproject.toml, Pipfile, main.py/app.py, go.mod"));
        assert_non_null(strstr(msg, "tests/fixtures/detect/empty"));
}

static void test_unknown_language(void **state)
{
        cleanup_free char *msg = NULL;

        (void)state;
        assert_int_equal(detect_fail(FIXTURES "unknown-language", &msg), AD_ERR_NOT_FOUND);
        assert_non_null(strstr(msg, "no Dockerfile, package.json"));
}

static void test_missing_dir(void **state)
{
        cleanup_free char *msg = NULL;

        (void)state;
        assert_int_equal(detect_fail(FIXTURES "does-not-exist", &msg), AD_ERR_NOT_FOUND);
}

/* ---- the examples the demo and the e2e tests deploy ---------------------------- */

static void test_example_node_express(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(EXAMPLES "node-express");
        static const char *const deps[] = { "package.json", "package-lock.json", NULL };

        (void)state;
        assert_string_equal(a->language, "node");
        assert_string_equal(a->framework, "express");
        assert_string_equal(a->install_command, "npm ci --omit=dev");
        assert_string_equal(a->start_command, "npm start");
        assert_int_equal(a->port, 3000);
        assert_deps(a, deps);
        assert_env(a, none);
}

static void test_example_python_stdlib(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(EXAMPLES "python-stdlib");

        (void)state;
        assert_string_equal(a->language, "python");
        assert_string_equal(a->framework, "");
        assert_string_equal(a->install_command, "");
        assert_string_equal(a->start_command, "python3 app.py");
        assert_int_equal(a->port, 8000);
        assert_env(a, none);
}

static void test_example_go_stdlib(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(EXAMPLES "go-stdlib");

        (void)state;
        assert_string_equal(a->language, "go");
        assert_string_equal(a->version, "1.19");
        assert_string_equal(a->go_main_package, ".");
        assert_string_equal(a->build_command, "go build -o bin/go-stdlib .");
        assert_string_equal(a->start_command, "./bin/go-stdlib");
        assert_int_equal(a->port, 8080);
        assert_env(a, none);
}

static void test_example_static_site(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(EXAMPLES "static-site");

        (void)state;
        assert_string_equal(a->language, "static");
        assert_string_equal(a->static_root, ".");
        assert_int_equal(a->port, 8080);
}

static void test_example_dockerfile_app(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(EXAMPLES "dockerfile-app");

        (void)state;
        assert_string_equal(a->language, "dockerfile");
        assert_true(a->has_dockerfile);
        assert_int_equal(a->port, 8080);
}

/* ---- the JSON shape ---------------------------------------------------------------- */

static void test_json_shape_and_round_trip(void **state)
{
        cleanup_analysis struct ad_analysis *a = detect_ok(FIXTURES "env-example-and-code");
        cleanup_analysis struct ad_analysis *b = NULL;
        static const char *const keys[] = {
                "language",       "framework",    "version",      "packageManager",
                "installCommand", "buildCommand", "startCommand", "port",
                "envVars",        "resources",    "why"
        };
        ad_error_t err = NULL;
        json_t *j = ad_analysis_to_json(a), *j2;

        (void)state;
        assert_non_null(j);
        for (size_t i = 0; i < AD_ARRAY_SIZE(keys); i++)
                if (json_object_get(j, keys[i]) == NULL)
                        fail_msg("no key %s", keys[i]);
        assert_string_equal(json_string_value(json_object_get(j, "language")), "node");
        assert_int_equal(json_integer_value(json_object_get(j, "port")), 3000);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "resources"), "cpu")), "500m");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "resources"), "memory")),
                "512Mi");
        assert_true(json_is_array(json_object_get(j, "envVars")));
        assert_true(json_is_string(json_object_get(json_object_get(j, "why"), "envVars")));

        assert_int_equal(ad_analysis_from_json(&b, j, &err), 0);
        j2 = ad_analysis_to_json(b);
        assert_true(json_equal(j, j2));
        json_decref(j);
        json_decref(j2);
}

/* ---- parsers --------------------------------------------------------------------------- */

static void test_parse_package_json(void **state)
{
        struct analyzer_package_json pj = { 0 };
        ad_error_t err = NULL;
        const char *ok = "{\"main\":\"lib/x.js\",\"packageManager\":\"pnpm@8.6.0\","
                         "\"scripts\":{\"build\":\"tsc\"},"
                         "\"devDependencies\":{\"@nestjs/core\":\"1\"}}";

        (void)state;
        assert_int_equal(analyzer_parse_package_json(&pj, ok, strlen(ok), &err), 0);
        assert_string_equal(pj.main, "lib/x.js");
        assert_string_equal(pj.package_manager, "pnpm@8.6.0");
        assert_string_equal(pj.build_script, "tsc");
        assert_null(pj.start_script);
        assert_string_equal(pj.framework, "nestjs");
        analyzer_package_json_clear(&pj);

        assert_int_equal(analyzer_parse_package_json(&pj, "[1]", 3, &err), -AD_ERR_INVALID);
        assert_string_equal(err->msg, "package.json: the top-level value is not an object");
        ad_error_release(&err);

        assert_int_equal(analyzer_parse_package_json(&pj, "{\"scripts\":{\"start\":1}}", 23, &err),
                         -AD_ERR_INVALID);
        assert_string_equal(err->msg, "package.json: scripts.start is not a string");
        ad_error_release(&err);

        assert_int_equal(analyzer_parse_package_json(&pj, "", 0, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "package.json: invalid JSON at line"));
        ad_error_release(&err);
}

static void test_parse_procfile(void **state)
{
        const char *text = "# comment\nworker: python3 w.py\nrelease: ./migrate\n"
                           "web: gunicorn app:app -b :$PORT\n";
        struct analyzer_procfile pf = { 0 };
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), 0);
        assert_string_equal(pf.web, "gunicorn app:app -b :$PORT");
        assert_string_equal(pf.release, "./migrate");
        analyzer_procfile_clear(&pf);
        assert_int_equal(analyzer_parse_procfile(&pf, "webby: x\n", 9, &err), 0);
        assert_null(pf.web);
        assert_null(pf.release);
        analyzer_procfile_clear(&pf);
        assert_int_equal(analyzer_parse_procfile(&pf, "web:   \n", 8, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "empty web"));
        ad_error_release(&err);
}

/* Every entry is a process type: web and release in their slots, the
 * others in order; a hostile Procfile gets an error naming the line. */
static void test_parse_procfile_types(void **state)
{
        const char *text = "web: ./serve\nworker: python3 w.py\n# clock: no\n"
                           "clock-2 : ./tick --every 5\nnot an entry\nrelease: ./migrate\n";
        struct analyzer_procfile pf = { 0 };
        ad_error_t err = NULL;
        char big[2048];
        size_t used = 0;

        (void)state;
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), 0);
        assert_string_equal(pf.web, "./serve");
        assert_string_equal(pf.release, "./migrate");
        assert_int_equal(pf.n_procs, 2);
        assert_string_equal(pf.procs[0].name, "worker");
        assert_string_equal(pf.procs[0].command, "python3 w.py");
        assert_string_equal(pf.procs[1].name, "clock-2");
        assert_string_equal(pf.procs[1].command, "./tick --every 5");
        analyzer_procfile_clear(&pf);

        text = "web: a\nWorker: b\n";
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "line 2: process type `Worker` is not valid"));
        ad_error_release(&err);
        text = "worker_1: b\n";
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        text = "abcdefghijabcdefghijabcdefghijx: b\n"; /* 31 characters */
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        text = "worker: a\nworker: b\n";
        assert_int_equal(analyzer_parse_procfile(&pf, text, strlen(text), &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "line 2: process type `worker` is declared twice"));
        ad_error_release(&err);
        for (int i = 0; i < 17; i++)
                used += (size_t)snprintf(big + used, sizeof(big) - used, "w%d: x\n", i);
        assert_int_equal(analyzer_parse_procfile(&pf, big, used, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "line 17: more than 16 process types"));
        ad_error_release(&err);
        assert_null(pf.procs);
}

static unsigned dockerfile_port(const char *text)
{
        struct analyzer_dockerfile df = { 0 };
        ad_error_t err = NULL;
        unsigned port;

        assert_int_equal(analyzer_parse_dockerfile(&df, text, strlen(text), &err), 0);
        port = df.port;
        analyzer_dockerfile_clear(&df);
        return port;
}

static void test_parse_dockerfile(void **state)
{
        (void)state;
        assert_int_equal(dockerfile_port("FROM x\nEXPOSE 3000\nEXPOSE 4000 5000\n"), 4000);
        assert_int_equal(dockerfile_port("from x\nexpose 8000-8010/udp\n"), 8000);
        assert_int_equal(dockerfile_port("FROM x\nEXPOSE \\\n  7000\n"), 7000);
        assert_int_equal(dockerfile_port("FROM x\nENV PORT=5000\nEXPOSE $PORT\n"), 5000);
        assert_int_equal(dockerfile_port("FROM x\nARG PORT=6000\nEXPOSE ${PORT}/tcp\n"), 6000);
        assert_int_equal(dockerfile_port("FROM x\n# EXPOSE 1234\nCMD x\n"), 0);
        assert_int_equal(dockerfile_port("FROM x\nEXPOSE 99999\n"), 0);
        assert_int_equal(dockerfile_port("FROM x\nEXPOSE\n"), 0);
}

static void test_parse_go_mod(void **state)
{
        const char *text = "// c\nmodule github.com/acme/api // comment\n\ngo 1.22.0\n"
                           "toolchain go1.22.5\nrequire (\n\tgolang.org/x/net v0.1.0\n"
                           "\tgithub.com/labstack/echo/v4 v4.12.0\n)\n";
        struct analyzer_go_mod gm = { 0 };
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(analyzer_parse_go_mod(&gm, text, strlen(text), &err), 0);
        assert_string_equal(gm.module, "github.com/acme/api");
        assert_string_equal(gm.go_version, "1.22.0");
        assert_string_equal(gm.framework, "echo");
        analyzer_go_mod_clear(&gm);
        assert_int_equal(
                analyzer_parse_go_mod(&gm, "require github.com/go-chi/chi/v5 v5\n", 35, &err), 0);
        assert_string_equal(gm.framework, "chi");
        assert_null(gm.module);
        analyzer_go_mod_clear(&gm);
}

static void test_parse_python_deps(void **state)
{
        const char *req = "-r base.txt\n# flask\n  Django>=4.2 ; python_version>'3'\n"
                          "gunicorn\n--index-url https://x\n\n";
        const char *pyproject = "[project]\nname = \"x\"\nrequires-python = \">=3.11\"\n"
                                "dependencies = [\n  \"FastAPI>=0.110\", 'uvicorn[standard]',\n]\n"
                                "[tool.other]\ndependencies = [\"flask\"]\n";
        const char *poetry = "[tool.poetry.dependencies]\npython = \"^3.12\"\nflask = \"^3\"\n";
        struct analyzer_python_deps d = { 0 };
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(analyzer_parse_requirements(&d, req, strlen(req), &err), 0);
        assert_string_equal(d.framework, "django");
        assert_int_equal(d.n_deps, 2);
        assert_true(d.has_gunicorn);
        analyzer_python_deps_clear(&d);

        assert_int_equal(analyzer_parse_pyproject(&d, pyproject, strlen(pyproject), &err), 0);
        assert_string_equal(d.framework, "fastapi");
        assert_string_equal(d.python_version, ">=3.11");
        assert_int_equal(d.n_deps, 2);
        assert_true(d.has_uvicorn);
        analyzer_python_deps_clear(&d);

        assert_int_equal(analyzer_parse_pyproject(&d, poetry, strlen(poetry), &err), 0);
        assert_string_equal(d.framework, "flask");
        assert_string_equal(d.python_version, "^3.12");
        analyzer_python_deps_clear(&d);
}

static void test_scan_port(void **state)
{
        static const struct {
                const char *code;
                unsigned port; /* 0: no match */
        } cases[] = {
                { "app.listen(3000)", 3000 },
                { "server.listen( 8081, () => {})", 8081 },
                { "const port = process.env.PORT || '4001';", 4001 },
                { "port := os.Getenv(\"PORT\")\nif port == \"\" {\n port = \"8082\"\n}", 8082 },
                { "app.run(host='0.0.0.0', port=5000)", 5000 },
                { "int(os.environ.get('PORT', '8001'))", 8001 },
                { "http.ListenAndServe(\":8083\", nil)", 8083 },
                { "http.ListenAndServe(\"0.0.0.0:8084\", nil)", 8084 },
                { "HTTPServer(('0.0.0.0', 8085), H)", 8085 },
                /* negatives */
                { "DB_PORT = 5432", 0 },
                { "redis.connect(\"localhost:6379\")", 0 },
                { "db = {port: 5432}", 0 },
                { "if port == 80 {}", 0 },
                { "socket.connect((\"db\", 5432))", 0 },
                { "relisten(3000)", 0 },
                { "app.listen(70000)", 0 },
                { "port = 3000.5", 0 },
                { "", 0 },
        };

        (void)state;
        for (size_t i = 0; i < AD_ARRAY_SIZE(cases); i++) {
                unsigned port = 0;
                bool found = analyzer_scan_port(&port, NULL, cases[i].code, strlen(cases[i].code));

                if (found != (cases[i].port != 0) || (found && port != cases[i].port))
                        fail_msg("`%s`: expected %u, got %s %u", cases[i].code, cases[i].port,
                                 found ? "port" : "nothing", port);
        }
}

static void test_scan_env(void **state)
{
        const char *code = "process.env.A1 process.env[ \"B_2\" ] os.environ['C'] "
                           "os.environ.get(\"D\", 1) os.getenv('E') os.Getenv(\"F\") "
                           "process.env.PORT myprocess.env.X mygetenv(\"Y\") os.getenv(name) "
                           "process.env[\"bad-name\"] process.env.A1";
        static const char *const expected[] = { "A1", "B_2", "C", "D", "E", "F" };
        struct analyzer_strset set = { 0 };
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(analyzer_scan_env(&set, code, strlen(code), &err), 0);
        analyzer_strset_sort(&set);
        assert_int_equal(set.n, AD_ARRAY_SIZE(expected));
        for (size_t i = 0; i < set.n; i++)
                assert_string_equal(set.v[i], expected[i]);
        analyzer_strset_clear(&set);
}

/* ---- hostile trees, built in a temporary directory ------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path); /* on a symlink: the link, never its target */
}

static int tmp_setup(void **state)
{
        char *dir = strdup("/tmp/test_detect.XXXXXX");

        if (dir == NULL || mkdtemp(dir) == NULL)
                return -1;
        *state = dir;
        return 0;
}

static int tmp_teardown(void **state)
{
        char *dir = *state;

        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
        return 0;
}

static void write_file(const char *dir, const char *name, const char *content, size_t len)
{
        cleanup_free char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void link_to(const char *target, const char *dir, const char *name)
{
        cleanup_free char *path = NULL;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(symlink(target, path), 0);
}

static void make_dir(const char *dir, const char *name)
{
        cleanup_free char *path = NULL;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(mkdir(path, 0755), 0);
}

#define OUTSIDE FIXTURES "symlink-outside/outside"

static void test_symlink_outside(void **state)
{
        const char *dir = *state;
        struct ad_analysis *a;
        static const char *const env[] = { "INSIDE_VAR", NULL };
        const char *html = "<p>inside</p>\n";
        const char *js = "export const name = process.env.INSIDE_VAR;\n";

        write_file(dir, "index.html", html, strlen(html));
        write_file(dir, "config.js", js, strlen(js));
        /* Each of these would change the analysis if it were followed. */
        link_to(OUTSIDE "/package.json", dir, "package.json");
        link_to(OUTSIDE "/Procfile", dir, "Procfile");
        link_to(OUTSIDE "/secret.js", dir, "leak.js");
        link_to(OUTSIDE, dir, "lib");
        link_to("/etc/passwd", dir, ".env.example");

        a = detect_ok(dir);
        assert_string_equal(a->language, "static");
        assert_string_equal(a->start_command, "");
        assert_env(a, env); /* no LEAKED_SECRET, nothing from /etc/passwd */
        ad_analysis_free(a);
}

static void test_symlink_only(void **state)
{
        const char *dir = *state;
        cleanup_free char *msg = NULL;

        /* index.html and public/ both only as symlinks: nothing to place. */
        link_to(OUTSIDE "/public/index.html", dir, "index.html");
        link_to(OUTSIDE "/public", dir, "public");
        assert_int_equal(detect_fail(dir, &msg), AD_ERR_NOT_FOUND);
}

static void test_fifo_is_not_read(void **state)
{
        const char *dir = *state;
        cleanup_free char *path = NULL;
        cleanup_free char *path2 = NULL;
        struct ad_analysis *a;

        /* Opening a FIFO for reading would block forever without O_NONBLOCK. */
        write_file(dir, "index.html", "<p>x</p>", 8);
        assert_true(asprintf(&path, "%s/package.json", dir) > 0);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_true(asprintf(&path2, "%s/app.js", dir) > 0);
        assert_int_equal(mkfifo(path2, 0644), 0);
        a = detect_ok(dir);
        assert_string_equal(a->language, "static");
        ad_analysis_free(a);
}

static void test_package_json_too_large(void **state)
{
        const char *dir = *state;
        size_t len = ANALYZER_MAX_MANIFEST + 1;
        cleanup_free char *big = malloc(len);
        cleanup_free char *msg = NULL;

        assert_non_null(big);
        memset(big, ' ', len);
        big[0] = '{';
        big[len - 1] = '}';
        write_file(dir, "package.json", big, len);
        assert_int_equal(detect_fail(dir, &msg), AD_ERR_TOO_LARGE);
        assert_non_null(strstr(msg, "package.json"));
}

static void test_depth_limit(void **state)
{
        const char *dir = *state;
        char rel[PATH_MAX] = "";
        struct ad_analysis *a;
        static const char *const env[] = { "SHALLOW", NULL };
        const char *shallow = "process.env.SHALLOW";
        const char *deep = "process.env.TOO_DEEP";

        write_file(dir, "index.html", "<p>x</p>", 8);
        write_file(dir, "a.js", shallow, strlen(shallow));
        for (int i = 0; i < ANALYZER_MAX_DEPTH + 3; i++) {
                strcat(rel, i ? "/d" : "d");
                make_dir(dir, rel);
        }
        strcat(rel, "/deep.js");
        write_file(dir, rel, deep, strlen(deep));
        a = detect_ok(dir);
        assert_env(a, env);
        assert_non_null(strstr(why(a, "resources"), "+ file(s)")); /* walk truncated */
        ad_analysis_free(a);
}

/* Manifests that are symlinks (to files outside the repository) are not
 * there for the detector, whatever their name; a symlinked Staticfile
 * root is refused. */
static void test_symlinked_manifests_ignored(void **state)
{
        const char *dir = *state;
        struct ad_analysis *a;
        ad_error_t err = NULL;

        link_to("/etc/passwd", dir, "deployer.yaml");
        link_to("/etc/passwd", dir, "Gemfile");
        link_to("/etc/passwd", dir, "Cargo.toml");
        link_to("/etc/passwd", dir, "pom.xml");
        link_to("/etc", dir, "public");
        write_file(dir, "Staticfile", "root: public\n", 13);
        assert_int_equal(analyzer_detect(&a, dir, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "Staticfile: root public is not a directory"));
        ad_error_release(&err);
}

static void test_parse_cargo(void **state)
{
        struct analyzer_cargo c = { 0 };
        ad_error_t err = NULL;
        const char *t = "[package]\nname = \"a\"\n[[bin]]\nname = \"x\"\n[[bin]]\nname = 'y'\n"
                        "[workspace]\nmembers = [\"m1\", # c\n \"m2\"]\n[dependencies]\n"
                        "rocket = { version = \"0.5\" }\n";

        (void)state;
        assert_int_equal(analyzer_parse_cargo(&c, t, strlen(t), &err), 0);
        assert_string_equal(c.name, "a");
        assert_int_equal(c.n_bins, 2);
        assert_string_equal(c.bins[1], "y");
        assert_int_equal(c.n_members, 2);
        assert_string_equal(c.members[1], "m2");
        assert_string_equal(c.framework, "rocket");
        analyzer_cargo_clear(&c);
        /* An unterminated array or string ends the parse, not the process. */
        assert_int_equal(analyzer_parse_cargo(&c, "[workspace]\nmembers = [\"a", 24, &err), 0);
        analyzer_cargo_clear(&c);
}

static void test_parse_pom_gemfile_composer(void **state)
{
        struct analyzer_pom p = { 0 };
        struct analyzer_gemfile g = { 0 };
        struct analyzer_composer c = { 0 };
        ad_error_t err = NULL;
        const char *pom = "<project><dependencies><dependency><artifactId>inner</artifactId>"
                          "</dependency></dependencies><artifactId>top</artifactId>"
                          "<version>1.0</version><packaging>jar</packaging></project>";
        const char *gem = "source 'x'\nruby \"3.3.0\"\n  gem 'sinatra', '~> 4'\n# gem 'rails'\n";
        const char *composer = "{\"require\":{\"php\":\">=8.1\",\"ext-json\":\"*\","
                               "\"slim/slim\":\"4\"}}";

        (void)state;
        assert_int_equal(analyzer_parse_pom(&p, pom, strlen(pom), &err), 0);
        assert_string_equal(p.artifact_id, "top"); /* not the dependency's */
        assert_string_equal(p.version, "1.0");
        assert_false(p.spring_boot);
        analyzer_pom_clear(&p);
        assert_int_equal(analyzer_parse_pom(&p, "</x>", 4, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "closing tag"));
        ad_error_release(&err);

        assert_int_equal(analyzer_parse_gemfile(&g, gem, strlen(gem), &err), 0);
        assert_string_equal(g.ruby_version, "3.3.0");
        assert_true(g.sinatra);
        assert_false(g.rails); /* commented out */
        assert_int_equal(g.n_gems, 1);
        analyzer_gemfile_clear(&g);

        assert_int_equal(analyzer_parse_composer(&c, composer, strlen(composer), &err), 0);
        assert_string_equal(c.php_version, ">=8.1");
        assert_true(c.slim);
        assert_int_equal(c.n_require, 1);
        analyzer_composer_clear(&c);
        assert_int_equal(analyzer_parse_composer(&c, "{", 1, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(err->msg, "composer.json: invalid JSON at line 1"));
        ad_error_release(&err);
}

static void config_fails(const char *yaml, const char *msg)
{
        struct analyzer_config c = { 0 };
        ad_error_t err = NULL;

        assert_int_equal(analyzer_parse_config(&c, yaml, strlen(yaml), &err), -AD_ERR_INVALID);
        if (strcmp(err->msg, msg) != 0)
                fail_msg("`%s` != `%s`", err->msg, msg);
        ad_error_release(&err);
}

static void test_parse_config(void **state)
{
        struct analyzer_config c = { 0 };
        ad_error_t err = NULL;
        const char *ok = "port: 8000\nbuild:\n  dockerfile: false\n  output: out\n"
                         "env:\n  A: \"1\"\n  B: two\nresources: {cpu: \"2\", memory: 256Mi}\n";

        (void)state;
        assert_int_equal(analyzer_parse_config(&c, ok, strlen(ok), &err), 0);
        assert_int_equal(c.port, 8000);
        assert_int_equal(c.use_dockerfile, 0);
        assert_string_equal(c.output_dir, "out");
        assert_string_equal(json_string_value(json_object_get(c.env, "B")), "two");
        assert_int_equal(c.cpu_millis, 2000);
        assert_int_equal(c.memory_mb, 256);
        assert_null(c.backend); /* not named: the platform's */
        analyzer_config_clear(&c);
        assert_int_equal(analyzer_parse_config(&c, "backend: kubernetes\n", 20, &err), 0);
        assert_string_equal(c.backend, "kubernetes");
        analyzer_config_clear(&c);
        assert_int_equal(analyzer_parse_config(&c, "", 0, &err), 0); /* empty: nothing set */
        analyzer_config_clear(&c);

        config_fails("port: 70000\n", "line 1: port: expected an integer in 1..65535");
        config_fails("a: 1\n", "line 1: a: unknown key");
        config_fails("- 1\n", "line 1: (top level): expected a mapping");
        config_fails("resources:\n  cpu: lots\n",
                     "line 2: resources.cpu: expected millicores (\"500m\") or cores (\"2\")");
        config_fails("env:\n  9X: y\n", "line 2: env: names must match [A-Za-z_][A-Za-z0-9_]*");
        config_fails("start: \"a\\nb\"\n", "line 1: start: value contains a control character");
        config_fails("backend: nomad\n", "line 1: backend: expected engine or kubernetes");
        config_fails("backend: [kubernetes]\n", "line 1: backend: expected engine or kubernetes");
        config_fails("autoscaling:\n  min: 5\n  max: 2\n",
                     "line 2: autoscaling: min is larger than max");
        config_fails("replicas: 1\nreplicas: [\n", "line 3: did not find expected node content "
                                                   "while parsing a flow node");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_node_start_script),
                cmocka_unit_test(test_node_main),
                cmocka_unit_test(test_node_index),
                cmocka_unit_test(test_node_yarn),
                cmocka_unit_test(test_node_pnpm),
                cmocka_unit_test(test_node_malformed_package_json),
                cmocka_unit_test(test_python_requirements_flask),
                cmocka_unit_test(test_python_procfile),
                cmocka_unit_test(test_python_main_only),
                cmocka_unit_test(test_go_root),
                cmocka_unit_test(test_go_cmd),
                cmocka_unit_test(test_go_cmd_two),
                cmocka_unit_test(test_static_root),
                cmocka_unit_test(test_static_public),
                cmocka_unit_test(test_php_index),
                cmocka_unit_test(test_procfile_only),
                cmocka_unit_test(test_dockerfile_expose),
                cmocka_unit_test(test_procfile_override),
                cmocka_unit_test(test_env_example_and_code),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_unknown_language),
                cmocka_unit_test(test_missing_dir),
                cmocka_unit_test(test_example_node_express),
                cmocka_unit_test(test_example_python_stdlib),
                cmocka_unit_test(test_example_go_stdlib),
                cmocka_unit_test(test_example_static_site),
                cmocka_unit_test(test_example_dockerfile_app),
                cmocka_unit_test(test_json_shape_and_round_trip),
                cmocka_unit_test(test_parse_package_json),
                cmocka_unit_test(test_parse_procfile),
                cmocka_unit_test(test_parse_procfile_types),
                cmocka_unit_test(test_parse_dockerfile),
                cmocka_unit_test(test_parse_go_mod),
                cmocka_unit_test(test_parse_python_deps),
                cmocka_unit_test(test_scan_port),
                cmocka_unit_test(test_scan_env),
                cmocka_unit_test_setup_teardown(test_symlink_outside, tmp_setup, tmp_teardown),
                cmocka_unit_test_setup_teardown(test_symlink_only, tmp_setup, tmp_teardown),
                cmocka_unit_test_setup_teardown(test_fifo_is_not_read, tmp_setup, tmp_teardown),
                cmocka_unit_test_setup_teardown(test_package_json_too_large, tmp_setup,
                                                tmp_teardown),
                cmocka_unit_test_setup_teardown(test_depth_limit, tmp_setup, tmp_teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_manifests_ignored, tmp_setup,
                                                tmp_teardown),
                cmocka_unit_test(test_parse_cargo),
                cmocka_unit_test(test_parse_pom_gemfile_composer),
                cmocka_unit_test(test_parse_config),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
