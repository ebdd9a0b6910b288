/* The builder's configuration: its table (key, type, default, bounds,
 * doc) and the reads through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/git.h"
#include "ad/names.h"
#include "builder.h"

/* Three defaults come from elsewhere and are read with them at the call:
 * the images' (ad_buildplan_images_default: the images the languages'
 * plans use), builder.extra_ca_file's ($SSL_CERT_FILE) and
 * builder.work_dir's ($TMPDIR); their rows say so (doc_def). */
const struct ad_config_key builder_config[] = {
        { "engine.socket", AD_CONFIG_STRING, "/run/podman/podman.sock", 0, 0,
          "the container engine's Docker API socket", NULL },
        { "registry.address", AD_CONFIG_STRING, "127.0.0.1:5000", 0, 0, "where images are pushed",
          NULL },
        { "registry.username", AD_CONFIG_STRING, "", 0, 0,
          "the registry account images are pushed with (HTTP Basic; also given to the engine for "
          "pushes and for a build's `FROM` of the registry); empty: none",
          "`\"\"`" },
        { "registry.password", AD_CONFIG_SECRET, "", 0, 0, "its password (never logged)",
          "`\"\"`" },
        { "builder.images.*", AD_CONFIG_STRING, NULL, 0, 0,
          "base images of generated Dockerfiles: `builder.images.<key>` for every key "
          "`adanalyzer --list-images` prints (from the language providers' table), with its "
          "default and the languages that run on it or build with it in an earlier stage",
          "`localhost/app-deployer/<name>:bookworm`" },
        { "builder.extra_ca_file", AD_CONFIG_STRING, NULL, 0, 0,
          "CA bundle given to builds (TLS-inspecting proxies); `\"\"` turns it off. "
          "Generated builds trust it in every tool: one bundle (image store + this file) "
          "in `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `PIP_CERT` (pip, Poetry, PDM, "
          "Pipenv), `UV_NATIVE_TLS=1` (uv), `CARGO_HTTP_CAINFO`, `GIT_SSL_CAINFO`, "
          "`CURL_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` (npm, yarn, pnpm), `DENO_CERT`; Go "
          "reads `SSL_CERT_FILE`; Maven and Gradle a PKCS#12 truststore made from it "
          "(`JAVA_TOOL_OPTIONS=-Djavax.net.ssl.trustStore=...`). A repository's own "
          "Dockerfile gets nothing",
          "`$SSL_CERT_FILE`" },
        { "builder.mirrors.pypi", AD_CONFIG_STRING, NULL, 0, 0,
          "package index for pip (`PIP_INDEX_URL`), uv (`UV_DEFAULT_INDEX`), PDM "
          "(`PDM_PYPI_URL`), Pipenv (`PIPENV_PYPI_MIRROR`); a `/simple` URL. Poetry reads only "
          "its pyproject sources",
          "unset" },
        { "builder.mirrors.npm", AD_CONFIG_STRING, NULL, 0, 0,
          "registry for npm (`NPM_CONFIG_REGISTRY`, also pnpm), yarn 1 (`YARN_REGISTRY`), yarn "
          "berry (`YARN_NPM_REGISTRY_SERVER`), bun (`BUN_CONFIG_REGISTRY`)",
          "unset" },
        { "builder.mirrors.goproxy", AD_CONFIG_STRING, NULL, 0, 0,
          "`GOPROXY` of Go builds (e.g. `https://goproxy.corp,direct`)", "unset" },
        { "builder.mirrors.gosumdb", AD_CONFIG_STRING, NULL, 0, 0,
          "`GOSUMDB` of Go builds (e.g. `off`)", "unset" },
        { "builder.mirrors.goflags", AD_CONFIG_STRING, NULL, 0, 0,
          "extra `GOFLAGS` of Go builds (after `-trimpath`)", "unset" },
        { "builder.mirrors.maven", AD_CONFIG_STRING, NULL, 0, 0,
          "a Maven repository that mirrors everything (`<mirrorOf>*</mirrorOf>` in "
          "`/root/.m2/settings.xml` of the build stage); Gradle builds use their own "
          "repositories",
          "unset" },
        { "builder.mirrors.cargo", AD_CONFIG_STRING, NULL, 0, 0,
          "the crates.io replacement (`[source.crates-io] replace-with`): `https://...` means a "
          "sparse index, `sparse+`/`git+` prefixes are kept",
          "unset" },
        { "builder.allow_local_sources", AD_CONFIG_BOOL, "false", 0, 0, "as for the analyzer",
          NULL },
        { "builder.clone_allowlist", AD_CONFIG_STRING, NULL, 0, 0, "as for the analyzer",
          "`\"\"`" },
        { "builder.max_repo_mb", AD_CONFIG_INT, "512", 1, 65536, "a larger clone fails the build",
          NULL },
        { "builder.clone_timeout_s", AD_CONFIG_INT, "300", 1, 3600,
          "a slower clone fails the build", NULL },
        { "builder.max_context_mb", AD_CONFIG_INT, "1024", 1, 65536,
          "build context bound: the tar of the clone (`.git` left out) is streamed to the engine "
          "as it is made, and past the bound the upload is aborted (the engine builds nothing) "
          "and the step fails with \"the build context is larger than N MiB\"",
          NULL },
        { "builder.build_timeout_s", AD_CONFIG_INT, "900", 10, 86400,
          "a longer build fails the step", NULL },
        { "limits.max_build_time", AD_CONFIG_INT, "0", 0, 86400,
          "seconds a build may take on this platform: the build's deadline is the lower of "
          "this and `builder.build_timeout_s`, and a build past it fails the step naming the "
          "limit. `0`: no limit (`builder.build_timeout_s` alone)",
          NULL },
        { "builder.push_timeout_s", AD_CONFIG_INT, "600", 10, 86400, "a longer push fails the step",
          NULL },
        { "builder.build_network", AD_CONFIG_STRING, "private", 0, 0,
          "network of the build's `RUN` steps: `private` (a namespace of its own on the engine's "
          "bridge: the outside, never the host's loopback services) or `none`; the host's "
          "namespace is not an option (docs/security.md)",
          NULL },
        { "builder.build_memory_mb", AD_CONFIG_INT, "2048", 0, 1 << 20,
          "memory of a build's `RUN` steps, no swap beyond it; a step killed past it fails the "
          "build with that reason; `0`: no limit",
          NULL },
        { "builder.build_cpus", AD_CONFIG_INT, "2000", 0, 1 << 20,
          "CPU of a build, in thousandths of a core (`2000` = 2 cores); `0`: no limit", NULL },
        { "builder.build_pids_limit", AD_CONFIG_INT, "2048", 0, 1 << 22,
          "processes (and threads) a build's `RUN` steps may have at once; past it a fork fails "
          "and so does the build. Held by a cgroup the builder makes under "
          "`builder.build_cgroup` (cgroupfs, on the engine's host: the builder must run there, as "
          "root); `0`: no limit (a builder on another host than its engine)",
          NULL },
        { "builder.build_cgroup", AD_CONFIG_STRING, "app-deployer-builds", 0, 0,
          "the cgroup (under the pids hierarchy's root) each build's own cgroup is made in", NULL },
        { "builder.max_log_lines", AD_CONFIG_INT, "2000", 10, 1000000,
          "build log lines kept per deployment", NULL },
        /* 10 deliveries: with ad_bus_backoff_ms between them, about 2
         * minutes of retries, enough for an engine restart
         * (docs/reliability.md). */
        { "builder.max_attempts", AD_CONFIG_INT, "10", 1, 1000,
          "deliveries before a retryable failure (engine, registry away) fails the step: about 2 "
          "minutes of retries",
          NULL },
        { "builder.work_dir", AD_CONFIG_STRING, NULL, 0, 0,
          "build contexts: each build's clone (the context's tar is not written there, it goes "
          "straight to the engine)",
          "`$TMPDIR` or `/tmp`" },
        AD_CONFIG_END,
};

static const struct ad_config_key *const tables[] = { builder_config, ad_service_secrets_config,
                                                      NULL };

static int check_registry(const char *r, ad_error_t *err)
{
        /* host[:port], no scheme and no path: it prefixes image names. */
        if (*r == '\0' || strlen(r) > 200 || strchr(r, '/') != NULL ||
            r[strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")] !=
                    '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `registry.address`: expected host:port, got `%s`", r);
        return 0;
}

/* builder.mirrors.<name>: package-registry mirrors for generated builds. */
static int load_mirrors(struct ad_buildplan_mirrors *m, const ad_config *cfg, ad_error_t *err)
{
        const struct {
                const char *key;
                const char **out;
        } keys[] = {
                { "builder.mirrors.pypi", &m->pypi },
                { "builder.mirrors.npm", &m->npm },
                { "builder.mirrors.goproxy", &m->goproxy },
                { "builder.mirrors.gosumdb", &m->gosumdb },
                { "builder.mirrors.goflags", &m->goflags },
                { "builder.mirrors.maven", &m->maven },
                { "builder.mirrors.cargo", &m->cargo },
        };

        for (size_t i = 0; i < AD_ARRAY_SIZE(keys); i++) {
                *keys[i].out = ad_config_get_string(cfg, tables, keys[i].key);
                if (ad_buildplan_check_mirror(keys[i].key, *keys[i].out, err) < 0)
                        return -AD_ERR_INVALID;
        }
        return 0;
}

int builder_config_load(struct builder_config *c, const ad_config *cfg, ad_error_t *err)
{
        const char *ssl = getenv("SSL_CERT_FILE");
        long repo_mb, clone_s, build_s, push_s, context_mb, max_build_s;
        int ret;

        memset(c, 0, sizeof(*c));
        ret = ad_config_get_bool(cfg, tables, "builder.allow_local_sources",
                                 &c->allow_local_sources, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.max_repo_mb", &repo_mb, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.clone_timeout_s", &clone_s, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.max_log_lines", &c->max_log_lines,
                                        err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.build_timeout_s", &build_s, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "limits.max_build_time", &max_build_s, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.push_timeout_s", &push_s, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.max_attempts", &c->max_attempts, err);
        if (ret == 0)
                ret = ad_config_get_int(cfg, tables, "builder.max_context_mb", &context_mb, err);
        if (ret == 0 && *ad_config_get_string(cfg, tables, "secrets.key"))
                ret = ad_secret_keyring_parse(
                        &c->keys, ad_config_get_string(cfg, tables, "secrets.key"),
                        ad_config_get_string(cfg, tables, "secrets.old_keys"), err);
        if (ret < 0)
                return ret;
        c->max_repo_bytes = (uint64_t)repo_mb * 1024 * 1024;
        c->clone_timeout_ms = (int64_t)clone_s * 1000;
        /* The platform's quota, when lower, is the build's deadline. */
        c->build_timeout_key = "builder.build_timeout_s";
        if (max_build_s > 0 && max_build_s < build_s) {
                build_s = max_build_s;
                c->build_timeout_key = "limits.max_build_time";
        }
        c->build_timeout_ms = (int64_t)build_s * 1000;
        c->push_timeout_ms = (int64_t)push_s * 1000;
        c->max_context_bytes = (uint64_t)context_mb * 1024 * 1024;

        /* Default: the host's bundle, which trusts what the host trusts
         * (e.g. a TLS-inspecting proxy); "" turns it off. */
        c->extra_ca_file = ad_config_string(cfg, "builder.extra_ca_file", ssl ? ssl : "");

        ad_buildplan_images_default(&c->images);
        /* builder.images.<key> for each image a language's plan uses
         * (their providers list them: services/analyzer/detect_<lang>.c). */
        for (size_t i = 0; i < c->images.n_images; i++) {
                struct ad_buildplan_image *img = &c->images.image[i];
                char key[64];

                snprintf(key, sizeof(key), "builder.images.%s", img->key);
                img->name = ad_config_string(cfg, key, img->name);
        }
        ret = load_mirrors(&c->images.mirrors, cfg, err);
        if (ret < 0)
                return ret;

        c->work_dir = ad_config_string(cfg, "builder.work_dir", getenv("TMPDIR"));
        if (c->work_dir == NULL || *c->work_dir == '\0')
                c->work_dir = "/tmp";
        if (c->work_dir[0] != '/')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `builder.work_dir`: expected an absolute path, got `%s`",
                                     c->work_dir);
        {
                long mem_mb, cpu_millis;
                ret = ad_config_get_int(cfg, tables, "builder.build_memory_mb", &mem_mb, err);
                if (ret == 0)
                        ret = ad_config_get_int(cfg, tables, "builder.build_cpus", &cpu_millis,
                                                err);
                if (ret < 0)
                        return ret;
                c->build_memory_bytes = (uint64_t)mem_mb * 1024 * 1024;
                c->build_cpu_millis = cpu_millis;
                ret = ad_config_get_int(cfg, tables, "builder.build_pids_limit",
                                        &c->build_pids_limit, err);
                if (ret < 0)
                        return ret;
        }
        c->build_cgroup = ad_config_get_string(cfg, tables, "builder.build_cgroup");
        if (c->build_cgroup[0] == '\0' || c->build_cgroup[0] == '/' ||
            c->build_cgroup[strspn(c->build_cgroup, "abcdefghijklmnopqrstuvwxyz"
                                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")] !=
                    '\0' ||
            c->build_cgroup[0] == '.')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `builder.build_cgroup`: expected a name of letters, "
                                     "digits, `_`, `.`, `-`, got `%s`",
                                     c->build_cgroup);
        c->build_network = ad_config_get_string(cfg, tables, "builder.build_network");
        if (strcmp(c->build_network, "private") != 0 && strcmp(c->build_network, "none") != 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `builder.build_network`: expected `private` or `none` "
                                     "(never the host's), got `%s`",
                                     c->build_network);
        c->clone_allowlist = ad_config_get_string(cfg, tables, "builder.clone_allowlist");
        if (ad_git_url_check_host("https://example.com/x", c->clone_allowlist, err) < 0)
                return ad_error_wrap(err, "key `builder.clone_allowlist`");
        c->engine_socket = ad_config_get_string(cfg, tables, "engine.socket");
        c->registry = ad_config_get_string(cfg, tables, "registry.address");
        c->registry_username = ad_config_get_string(cfg, tables, "registry.username");
        c->registry_password = ad_config_get_string(cfg, tables, "registry.password");
        return check_registry(c->registry, err);
}
