/* The smaller providers: .NET (*.csproj), Elixir (mix.exs), Deno
 * (deno.json) and C/C++ (CMake, Meson). */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

static const char *const plain_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789._-";

/* The text of <tag>...</tag> in `data`, or NULL. */
static char *xml_tag(const char *data, const char *tag)
{
        char open[64];
        const char *p, *e;

        snprintf(open, sizeof(open), "<%s>", tag);
        p = strstr(data, open);
        if (p == NULL)
                return NULL;
        p += strlen(open);
        e = strchr(p, '<');
        if (e == NULL || e == p || e - p > 128)
                return NULL;
        return strndup(p, (size_t)(e - p));
}

/* ---- .NET -------------------------------------------------------------- */

int analyzer_detect_dotnet(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        const char *proj = analyzer_find_suffix(repo, ".csproj", 2);
        cleanup_free char *data = NULL;
        cleanup_free char *assembly = NULL;
        cleanup_free char *tfm = NULL;
        cleanup_free char *name = NULL;
        const char *base;
        size_t len = 0;
        int r;

        if (proj == NULL)
                proj = analyzer_find_suffix(repo, ".fsproj", 2);
        if (proj == NULL)
                return 0;
        r = analyzer_repo_read(repo, proj, ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        if (r < 0)
                return r;
        assembly = xml_tag(data, "AssemblyName");
        tfm = xml_tag(data, "TargetFramework");
        base = strrchr(proj, '/') ? strrchr(proj, '/') + 1 : proj;
        name = assembly && strspn(assembly, plain_chars) == strlen(assembly)
                       ? strdup(assembly)
                       : strndup(base, strlen(base) - 7);
        if (name == NULL)
                return analyzer_oom(err);
        if (strspn(name, plain_chars) != strlen(name))
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s: unusual project name", proj);
        r = analyzer_setf(&a->language, err, "dotnet");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s", proj);
        if (r == 0 && strstr(data, "Microsoft.NET.Sdk.Web")) {
                r = analyzer_setf(&a->framework, err, "aspnetcore");
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s uses Microsoft.NET.Sdk.Web",
                                         proj);
        }
        if (r == 0 && tfm && strspn(tfm, plain_chars) == strlen(tfm)) {
                r = analyzer_setf(&a->version, err, "%s", tfm);
                if (r == 0)
                        r = analyzer_why(a, err, "version", "%s TargetFramework", proj);
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "dotnet");
        if (r == 0)
                r = analyzer_setf(&a->install_command, err, "dotnet restore %s", proj);
        if (r == 0)
                r = analyzer_why(a, err, "installCommand", "NuGet packages of %s", proj);
        if (r == 0)
                r = analyzer_setf(&a->build_command, err,
                                  "dotnet publish %s -c Release -o out --no-restore", proj);
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "a Release publish into out/");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err,
                                  "ASPNETCORE_URLS=http://0.0.0.0:$PORT dotnet out/%s.dll", name);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand", "out/%s.dll (%s), Kestrel bound to $PORT",
                                 name, assembly ? "AssemblyName" : "named after the project file");
        a->port = 8080;
        if (r == 0)
                r = analyzer_why(a, err, "port", "ASPNETCORE_URLS listens on $PORT: default 8080");
        return r < 0 ? r : 1;
}

/* ---- Elixir ------------------------------------------------------------- */

int analyzer_detect_elixir(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        static const char *const deps[] = { "mix.exs", "mix.lock", NULL };
        cleanup_free char *data = NULL;
        const char *v;
        bool phoenix;
        size_t len = 0;
        int r = analyzer_repo_read(repo, "mix.exs", ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        phoenix = strstr(data, "{:phoenix,") != NULL;
        r = analyzer_setf(&a->language, err, "elixir");
        if (r == 0)
                r = analyzer_why(a, err, "language", "mix.exs at the root");
        if (r == 0 && phoenix) {
                r = analyzer_setf(&a->framework, err, "phoenix");
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "mix.exs depends on :phoenix");
        }
        v = strstr(data, "elixir: \"");
        if (r == 0 && v) {
                v += 9;
                len = strcspn(v, "\"\n");
                if (len > 0 && len < 32) {
                        r = analyzer_setf(&a->version, err, "%.*s", (int)len, v);
                        if (r == 0)
                                r = analyzer_why(a, err, "version", "mix.exs elixir:");
                }
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "mix");
        if (r == 0)
                r = analyzer_setf(&a->install_command, err,
                                  "mix local.hex --force && mix local.rebar --force && "
                                  "mix deps.get --only prod");
        if (r == 0)
                r = analyzer_why(a, err, "installCommand", "mix deps of the prod environment");
        if (r == 0)
                r = analyzer_set_deps(repo, a, deps, true, err);
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "mix compile%s",
                                  phoenix && analyzer_repo_has_dir(repo, "assets")
                                          ? " && mix assets.deploy"
                                          : "");
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "MIX_ENV=prod compile%s",
                                 phoenix ? " (and Phoenix assets)" : "");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "%s",
                                  phoenix ? "mix phx.server" : "mix run --no-halt");
        if (r == 0)
                r = analyzer_why(a, err, "startCommand", "%s",
                                 phoenix ? "Phoenix: mix phx.server (PORT is read by "
                                           "config/runtime.exs)"
                                         : "a mix app: mix run --no-halt");
        a->port = 4000;
        if (r == 0)
                r = analyzer_why(a, err, "port", "Phoenix's default 4000, passed as $PORT");
        return r < 0 ? r : 1;
}

/* ---- Deno --------------------------------------------------------------- */

int analyzer_detect_deno(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        static const char *const configs[] = { "deno.json", "deno.jsonc" };
        static const char *const entries[] = { "main.ts",   "main.js",  "mod.ts",
                                               "server.ts", "index.ts", "src/main.ts" };
        static const char *const exts[] = { ".ts", ".js", ".tsx", NULL };
        cleanup_free char *data = NULL;
        const char *cfg = NULL;
        json_t *root = NULL;
        size_t len = 0;
        int r = -AD_ERR_NOT_FOUND;

        for (size_t i = 0; i < AD_ARRAY_SIZE(configs) && r == -AD_ERR_NOT_FOUND; i++) {
                cfg = configs[i];
                r = analyzer_repo_read(repo, cfg, ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        }
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        /* deno.jsonc may hold comments: then tasks are not read. */
        root = json_loadb(data, len, 0, NULL);
        r = analyzer_setf(&a->language, err, "deno");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", cfg);
        if (r == 0 && json_is_string(json_object_get(json_object_get(root, "tasks"), "start"))) {
                r = analyzer_setf(&a->start_command, err, "deno task start");
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand", "%s tasks.start", cfg);
        } else {
                for (size_t i = 0; r == 0 && i < AD_ARRAY_SIZE(entries); i++) {
                        if (!analyzer_repo_has_file(repo, entries[i]))
                                continue;
                        r = analyzer_setf(&a->start_command, err, "deno run --allow-all %s",
                                          entries[i]);
                        if (r == 0)
                                r = analyzer_why(a, err, "startCommand",
                                                 "no tasks.start: %s exists", entries[i]);
                        break;
                }
        }
        json_decref(root);
        if (r == 0 && analyzer_repo_has_file(repo, "deno.lock")) {
                r = analyzer_setf(&a->install_command, err, "deno install");
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand", "deno.lock: cache the modules");
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "deno");
        if (r == 0)
                r = analyzer_port_or_default(repo, a, exts, NULL, 8000, "deno", err);
        return r < 0 ? r : 1;
}

/* ---- C/C++ -------------------------------------------------------------- */

/* The first NAME of `<fn>(NAME` (add_executable / executable('NAME'). */
static char *first_target(const char *data, const char *fn)
{
        const char *p = strstr(data, fn);
        size_t n;

        if (p == NULL)
                return NULL;
        p += strlen(fn);
        p += strspn(p, " \t\n\"'");
        n = strspn(p, plain_chars);
        if (n == 0 || n > 64 || *p == '-' || *p == '.')
                return NULL;
        return strndup(p, n);
}

int analyzer_detect_cpp(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        cleanup_free char *target = NULL;
        const char *file = "CMakeLists.txt";
        bool meson = false;
        size_t len = 0;
        int r = analyzer_repo_read(repo, file, ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r == -AD_ERR_NOT_FOUND) {
                file = "meson.build";
                meson = true;
                r = analyzer_repo_read(repo, file, ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        }
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        target = first_target(data, meson ? "executable(" : "add_executable(");
        r = analyzer_setf(&a->language, err, "cpp");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", file);
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "%s", meson ? "meson" : "cmake");
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "%s",
                                  meson ? "meson setup build --buildtype=release && "
                                          "meson compile -C build"
                                        : "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
                                          "cmake --build build -j");
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "a release build of %s into build/", file);
        if (r == 0 && target) {
                r = analyzer_setf(&a->start_command, err, "./build/%s", target);
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand", "the first %s in %s",
                                         meson ? "executable()" : "add_executable()", file);
        } else if (r == 0) {
                r = analyzer_why(a, err, "startCommand",
                                 "none: no executable target in %s (add a Procfile)", file);
        }
        if (r == 0) {
                static const char *const exts[] = { ".c", ".cc", ".cpp", NULL };

                r = analyzer_port_or_default(repo, a, exts, NULL, 8080, "cpp", err);
        }
        return r < 0 ? r : 1;
}

/* The Dockerfiles the builder generates for these languages (their
 * plans, written with services/builder/buildplan_kit.h).  .NET, Elixir
 * and C/C++ have no runtime image of their own: their toolchains come from
 * Debian's archive on the base image (.NET, not in Debian, from
 * Microsoft's installer). */

/* The .NET channel from "net8.0" (TargetFramework); 8.0 by default. */
static void dotnet_channel(const char *version, char *buf, size_t size)
{
        const char *v = strncmp(version, "net", 3) == 0 ? version + 3 : version;

        if (*v >= '1' && *v <= '9' && strspn(v, "0123456789.") == strlen(v) && strlen(v) < 8)
                snprintf(buf, size, "%s", v);
        else
                snprintf(buf, size, "8.0");
}

static void dotnet_install(FILE *f, const struct ad_analysis *a)
{
        char channel[16];

        dotnet_channel(ad_buildplan_str(a->version), channel, sizeof(channel));
        fprintf(f, "# .NET is not in Debian: Microsoft's installer (needs dot.net).\n");
        fprintf(f,
                "RUN curl -fsSL https://dot.net/v1/dotnet-install.sh | bash -s -- "
                "--channel %s --install-dir /usr/share/dotnet && "
                "ln -s /usr/share/dotnet/dotnet /usr/local/bin/dotnet\n",
                channel);
}

/* Not in Debian: Microsoft's install script (needs the network). */
static const struct ad_buildplan_toolchain dotnet_toolchain = {
        .packages = "curl libicu72 libssl3",
        .env = "DOTNET_CLI_TELEMETRY_OPTOUT=1 "
               "DOTNET_ROOT=/usr/share/dotnet",
        .after_install = dotnet_install,
};

static const struct ad_buildplan_toolchain elixir_toolchain = {
        .packages = "elixir erlang-dev erlang-xmerl build-essential git",
        .env = "MIX_ENV=prod LANG=C.UTF-8",
};

/* By build system: meson, or CMake (anything else). */
static const struct ad_buildplan_toolchain cpp_meson_toolchain = {
        .packages = "meson ninja-build g++ pkg-config",
};
static const struct ad_buildplan_toolchain cpp_cmake_toolchain = {
        .packages = "cmake make g++ pkg-config",
};

static int plan_dotnet(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        return ad_buildplan_toolchain(f, a, images, &dotnet_toolchain, err);
}

static int plan_elixir(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        return ad_buildplan_toolchain(f, a, images, &elixir_toolchain, err);
}

static int plan_cpp(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                    ad_error_t *err)
{
        bool meson = strcmp(ad_buildplan_str(a->package_manager), "meson") == 0;

        return ad_buildplan_toolchain(f, a, images,
                                      meson ? &cpp_meson_toolchain : &cpp_cmake_toolchain, err);
}

/* Deno is not in Debian: the npm package on the node image. */
static int plan_deno(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        const char *node_image;
        int r = ad_buildplan_use_image(images, "node", &node_image, err);

        if (r < 0)
                return r;
        ad_buildplan_from(f, node_image, NULL);
        ad_buildplan_trust(f, images, false);
        ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_NPM);
        fprintf(f, "# Deno is not in Debian: the npm package ships its binary.\n");
        fprintf(f, "RUN npm install -g --no-audit --no-fund deno\n");
        fprintf(f, "ENV DENO_DIR=/app/.deno\n");
        ad_buildplan_install_and_source(f, a);
        return ad_buildplan_runtime(f, a, "", err);
}

/* The languages this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const dotnet_scan_exts[] = { ".cs", NULL };
static const struct ad_buildplan_image dotnet_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_dotnet = {
        .name = "dotnet",
        .detect = analyzer_detect_dotnet,
        .cpu_millis = 500,
        .memory_mb = 512,
        .scan_exts = dotnet_scan_exts,
        .plan = plan_dotnet,
        .images = dotnet_images,
};
static const char *const elixir_scan_exts[] = { ".ex", ".exs", NULL };
static const struct ad_buildplan_image elixir_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_elixir = {
        .name = "elixir",
        .detect = analyzer_detect_elixir,
        .cpu_millis = 500,
        .memory_mb = 512,
        .scan_exts = elixir_scan_exts,
        .plan = plan_elixir,
        .images = elixir_images,
};
static const char *const deno_scan_exts[] = { ".ts", ".js", ".mjs", ".tsx", ".jsx", NULL };
/* deno comes from npm, on the node image. */
static const struct ad_buildplan_image deno_images[] = {
        AD_BUILDPLAN_IMAGE("node"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_deno = {
        .name = "deno",
        .detect = analyzer_detect_deno,
        .cpu_millis = 250,
        .memory_mb = 256,
        .scan_exts = deno_scan_exts,
        .plan = plan_deno,
        .images = deno_images,
};
static const char *const cpp_scan_exts[] = { ".c", ".cc", ".cpp", NULL };
static const struct ad_buildplan_image cpp_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_cpp = {
        .name = "cpp",
        .detect = analyzer_detect_cpp,
        .cpu_millis = 250,
        .memory_mb = 128,
        .scan_exts = cpp_scan_exts,
        .plan = plan_cpp,
        .images = cpp_images,
};
