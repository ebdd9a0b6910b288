/* The builder's configuration keys and their defaults. */
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/git.h"
#include "ad/names.h"
#include "builder.h"

const char *const builder_config_keys[] = {
        "builder.allow_local_sources",
        "builder.clone_allowlist",
        "builder.build_network",
        "builder.build_memory_mb",
        "builder.build_cpus",
        "builder.max_repo_mb",
        "builder.clone_timeout_s",
        "builder.extra_ca_file",
        "builder.images.*",
        "builder.mirrors.*",
        "builder.max_log_lines",
        "builder.build_timeout_s",
        "builder.push_timeout_s",
        "builder.max_attempts",
        "builder.max_context_mb",
        "builder.work_dir",
        "engine.socket",
        "registry.address",
        NULL,
};

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
                *keys[i].out = ad_config_string(cfg, keys[i].key, "");
                if (ad_buildplan_check_mirror(keys[i].key, *keys[i].out, err) < 0)
                        return -AD_ERR_INVALID;
        }
        return 0;
}

int builder_config_load(struct builder_config *c, const ad_config *cfg, ad_error_t *err)
{
        const char *ssl = getenv("SSL_CERT_FILE");
        long repo_mb, clone_s, build_s, push_s, context_mb;
        int ret;

        memset(c, 0, sizeof(*c));
        ret = ad_config_bool(cfg, "builder.allow_local_sources", false, &c->allow_local_sources,
                             err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.max_repo_mb", 512, 1, 65536, &repo_mb, err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.clone_timeout_s", 300, 1, 3600, &clone_s, err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.max_log_lines", 2000, 10, 1000000,
                                    &c->max_log_lines, err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.build_timeout_s", 900, 10, 86400, &build_s, err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.push_timeout_s", 600, 10, 86400, &push_s, err);
        /* 10 deliveries: with ad_bus_backoff_ms between them, about 2 minutes
         * of retries, enough for an engine restart (docs/reliability.md). */
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.max_attempts", 10, 1, 1000, &c->max_attempts,
                                    err);
        if (ret == 0)
                ret = ad_config_int(cfg, "builder.max_context_mb", 1024, 1, 65536, &context_mb,
                                    err);
        if (ret < 0)
                return ret;
        c->max_repo_bytes = (uint64_t)repo_mb * 1024 * 1024;
        c->clone_timeout_ms = (int64_t)clone_s * 1000;
        c->build_timeout_ms = (int64_t)build_s * 1000;
        c->push_timeout_ms = (int64_t)push_s * 1000;
        c->max_context_bytes = (uint64_t)context_mb * 1024 * 1024;

        /* Default: the host's bundle, which trusts what the host trusts
         * (e.g. a TLS-inspecting proxy); "" turns it off. */
        c->extra_ca_file = ad_config_string(cfg, "builder.extra_ca_file", ssl ? ssl : "");

        ad_buildplan_images_default(&c->images);
        c->images.node = ad_config_string(cfg, "builder.images.node", c->images.node);
        c->images.python = ad_config_string(cfg, "builder.images.python", c->images.python);
        c->images.go = ad_config_string(cfg, "builder.images.go", c->images.go);
        c->images.static_site =
                ad_config_string(cfg, "builder.images.static", c->images.static_site);
        c->images.php = ad_config_string(cfg, "builder.images.php", c->images.php);
        c->images.base = ad_config_string(cfg, "builder.images.base", c->images.base);
        c->images.rust = ad_config_string(cfg, "builder.images.rust", c->images.rust);
        c->images.java = ad_config_string(cfg, "builder.images.java", c->images.java);
        c->images.jre = ad_config_string(cfg, "builder.images.jre", c->images.jre);
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
                ret = ad_config_int(cfg, "builder.build_memory_mb", 2048, 0, 1 << 20, &mem_mb, err);
                if (ret == 0)
                        ret = ad_config_int(cfg, "builder.build_cpus", 2000, 0, 1 << 20,
                                            &cpu_millis, err);
                if (ret < 0)
                        return ret;
                c->build_memory_bytes = (uint64_t)mem_mb * 1024 * 1024;
                c->build_cpu_millis = cpu_millis;
        }
        c->build_network = ad_config_string(cfg, "builder.build_network", "private");
        if (strcmp(c->build_network, "private") != 0 && strcmp(c->build_network, "none") != 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `builder.build_network`: expected `private` or `none` "
                                     "(never the host's), got `%s`",
                                     c->build_network);
        c->clone_allowlist = ad_config_string(cfg, "builder.clone_allowlist", "");
        if (ad_git_url_check_host("https://example.com/x", c->clone_allowlist, err) < 0)
                return ad_error_wrap(err, "key `builder.clone_allowlist`");
        c->engine_socket = ad_config_string(cfg, "engine.socket", "/run/podman/podman.sock");
        c->registry = ad_config_string(cfg, "registry.address", "127.0.0.1:5000");
        return check_registry(c->registry, err);
}
