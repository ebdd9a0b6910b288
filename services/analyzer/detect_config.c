/* deployer.yaml: the repository's own settings, read with libyaml.
 *
 *   language: python          # force a provider (skips detection)
 *   app: apps/web             # monorepo: the package that is the app
 *   port: 8000
 *   start: gunicorn app:app   # start command
 *   release: ./migrate.sh     # the release phase: once per release
 *   build:
 *     install: pip install -r requirements.txt
 *     command: make assets
 *     output: dist            # a single-page app's build output
 *     dockerfile: false       # ignore the repository's Dockerfile
 *   env: { LOG_LEVEL: info }
 *   resources: { cpu: 500m, memory: 512Mi }
 *   replicas: 2
 *   autoscaling: { min: 1, max: 4, cpu: 70 }
 *   backend: kubernetes       # where it runs, when the operator allows a choice
 *
 * Unknown keys are errors (a typo must not be silently ignored), and
 * every error names the line and the key.
 */
#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ad/cleanup.h"

#define MAX_VALUE 4096
#define MAX_ENV 256

void analyzer_config_clear(struct analyzer_config *c)
{
        free(c->language);
        free(c->app_dir);
        free(c->install);
        free(c->build);
        free(c->start);
        free(c->release);
        free(c->output_dir);
        free(c->backend);
        json_decref(c->env);
        *c = (struct analyzer_config){ .use_dockerfile = -1 };
}

struct cfg_ctx {
        yaml_document_t *doc;
        struct analyzer_config *c;
        ad_error_t *err;
};

static int bad(struct cfg_ctx *x, const yaml_node_t *n, const char *key, const char *what)
{
        return ad_error_make(x->err, AD_ERR_INVALID, 0, "line %zu: %s: %s",
                             n ? n->start_mark.line + 1 : 1, *key ? key : "(top level)", what);
}

static const char *scalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_string(struct cfg_ctx *x, const yaml_node_t *n, const char *key, char **dst)
{
        const char *v = scalar(n);

        if (v == NULL)
                return bad(x, n, key, "expected a string");
        if (n->data.scalar.length > MAX_VALUE || memchr(v, '\0', n->data.scalar.length))
                return bad(x, n, key, "value too long or contains a NUL byte");
        for (const char *p = v; *p; p++)
                if ((unsigned char)*p < 0x20 && *p != '\t')
                        return bad(x, n, key, "value contains a control character");
        free(*dst);
        *dst = strdup(v);
        return *dst ? 0 : analyzer_oom(x->err);
}

static int get_uint(struct cfg_ctx *x, const yaml_node_t *n, const char *key, unsigned lo,
                    unsigned hi, unsigned *dst)
{
        const char *v = scalar(n);
        char *end = NULL;
        long long val;

        if (v == NULL || *v < '0' || *v > '9')
                return bad(x, n, key, "expected an integer");
        errno = 0;
        val = strtoll(v, &end, 10);
        if (errno || *end || val < lo || val > hi) {
                char msg[96];

                snprintf(msg, sizeof(msg), "expected an integer in %u..%u", lo, hi);
                return bad(x, n, key, msg);
        }
        *dst = (unsigned)val;
        return 0;
}

static int get_bool(struct cfg_ctx *x, const yaml_node_t *n, const char *key, int *dst)
{
        const char *v = scalar(n);

        if (v && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0))
                *dst = 1;
        else if (v && (strcmp(v, "false") == 0 || strcmp(v, "no") == 0))
                *dst = 0;
        else
                return bad(x, n, key, "expected true or false");
        return 0;
}

typedef int (*field_fn)(struct cfg_ctx *x, const yaml_node_t *v, const char *key);

struct field {
        const char *name;
        field_fn fn;
};

/* Calls the handler of each key of the mapping `map`. */
static int each_key(struct cfg_ctx *x, const yaml_node_t *map, const char *where,
                    const struct field *fields, size_t n_fields)
{
        if (map == NULL || map->type != YAML_MAPPING_NODE)
                return bad(x, map, where, "expected a mapping");
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
                const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
                const char *name = scalar(k);
                char full[160];
                size_t i;
                int r;

                if (name == NULL)
                        return bad(x, k, where, "keys must be strings");
                snprintf(full, sizeof(full), "%s%s%.100s", where, *where ? "." : "", name);
                for (i = 0; i < n_fields; i++)
                        if (strcmp(fields[i].name, name) == 0)
                                break;
                if (i == n_fields)
                        return bad(x, k, full, "unknown key");
                r = fields[i].fn(x, v, full);
                if (r < 0)
                        return r;
        }
        return 0;
}

#define STRING_FIELD(fname, member)                                                                \
        static int fname(struct cfg_ctx *x, const yaml_node_t *v, const char *key)                 \
        {                                                                                          \
                return get_string(x, v, key, &x->c->member);                                       \
        }
STRING_FIELD(f_language, language)
STRING_FIELD(f_app, app_dir)
STRING_FIELD(f_start, start)
STRING_FIELD(f_release, release)
STRING_FIELD(f_install, install)
STRING_FIELD(f_build_command, build)
STRING_FIELD(f_output, output_dir)

static int f_backend(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        const char *s = scalar(v);

        if (s == NULL || (strcmp(s, "engine") != 0 && strcmp(s, "kubernetes") != 0))
                return bad(x, v, key, "expected engine or kubernetes");
        return get_string(x, v, key, &x->c->backend);
}

static int f_port(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_uint(x, v, key, 1, 65535, &x->c->port);
}

static int f_replicas(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_uint(x, v, key, 1, 100, &x->c->replicas);
}

static int f_dockerfile(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_bool(x, v, key, &x->c->use_dockerfile);
}

static int f_cpu(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        long m = ad_analysis_parse_cpu(scalar(v));

        if (m <= 0 || m > 64000)
                return bad(x, v, key, "expected millicores (\"500m\") or cores (\"2\")");
        x->c->cpu_millis = (unsigned)m;
        return 0;
}

static int f_memory(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        long mb = ad_analysis_parse_memory(scalar(v));

        if (mb <= 0 || mb > 256 * 1024)
                return bad(x, v, key, "expected \"<n>Mi\" or \"<n>Gi\"");
        x->c->memory_mb = (unsigned)mb;
        return 0;
}

static int f_as_min(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_uint(x, v, key, 1, 100, &x->c->autoscale_min);
}

static int f_as_max(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_uint(x, v, key, 1, 100, &x->c->autoscale_max);
}

static int f_as_cpu(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        return get_uint(x, v, key, 1, 100, &x->c->autoscale_cpu);
}

static int f_build(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        static const struct field fields[] = {
                { "install", f_install },
                { "command", f_build_command },
                { "output", f_output },
                { "dockerfile", f_dockerfile },
        };
        return each_key(x, v, key, fields, AD_ARRAY_SIZE(fields));
}

static int f_resources(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        static const struct field fields[] = { { "cpu", f_cpu }, { "memory", f_memory } };

        return each_key(x, v, key, fields, AD_ARRAY_SIZE(fields));
}

static int f_autoscaling(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        static const struct field fields[] = {
                { "min", f_as_min },
                { "max", f_as_max },
                { "cpu", f_as_cpu },
        };
        int r = each_key(x, v, key, fields, AD_ARRAY_SIZE(fields));

        if (r == 0 && x->c->autoscale_max == 0)
                return bad(x, v, key, "max is required");
        if (r == 0 && x->c->autoscale_min > x->c->autoscale_max)
                return bad(x, v, key, "min is larger than max");
        return r;
}

static bool env_name(const char *s)
{
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
                return false;
        return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] ==
                       '\0' &&
               strlen(s) <= ANALYZER_MAX_ENV_NAME;
}

static int f_env(struct cfg_ctx *x, const yaml_node_t *v, const char *key)
{
        size_t n = 0;

        if (v == NULL || v->type != YAML_MAPPING_NODE)
                return bad(x, v, key, "expected a mapping of NAME: value");
        json_decref(x->c->env);
        x->c->env = json_object();
        if (x->c->env == NULL)
                return analyzer_oom(x->err);
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
             p++) {
                const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
                const yaml_node_t *val = yaml_document_get_node(x->doc, p->value);
                const char *name = scalar(k), *value = scalar(val);

                if (name == NULL || !env_name(name))
                        return bad(x, k, key, "names must match [A-Za-z_][A-Za-z0-9_]*");
                if (value == NULL || val->data.scalar.length > MAX_VALUE ||
                    memchr(value, '\0', val->data.scalar.length))
                        return bad(x, val, key, "values must be strings of at most 4096 bytes");
                if (++n > MAX_ENV)
                        return bad(x, k, key, "more than 256 variables");
                if (json_object_set_new(x->c->env, name, json_string(value)) < 0)
                        return bad(x, val, key, "values must be valid UTF-8");
        }
        return 0;
}

static const struct field top_fields[] = {
        { "language", f_language }, { "app", f_app },
        { "port", f_port },         { "start", f_start },
        { "release", f_release },   { "build", f_build },
        { "env", f_env },           { "resources", f_resources },
        { "replicas", f_replicas }, { "autoscaling", f_autoscaling },
        { "backend", f_backend },
};

/* deployer.yaml `language:` names a provider (detect.h). */
static int check_language(struct cfg_ctx *x, const yaml_node_t *root)
{
        char names[256], why[300];
        size_t used = 0;

        if (x->c->language == NULL || analyzer_provider_find(x->c->language) != NULL)
                return 0;
        names[0] = '\0';
        for (size_t i = 0; analyzer_providers[i] && used < sizeof(names); i++)
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                                         analyzer_providers[i]->name);
        snprintf(why, sizeof(why), "unknown language (one of %s)", names);
        return bad(x, root, "language", why);
}

int analyzer_parse_config(struct analyzer_config *out, const char *data, size_t len,
                          ad_error_t *err)
{
        struct analyzer_config c = { .use_dockerfile = -1 };
        yaml_parser_t parser;
        yaml_document_t doc;
        struct cfg_ctx x = { .doc = &doc, .c = &c, .err = err };
        const yaml_node_t *root;
        int r;

        if (!yaml_parser_initialize(&parser))
                return analyzer_oom(err);
        yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
        if (!yaml_parser_load(&parser, &doc)) {
                r = ad_error_make(err, AD_ERR_INVALID, 0, "line %zu: %s%s%s",
                                  parser.problem_mark.line + 1,
                                  parser.problem ? parser.problem : "invalid YAML",
                                  parser.context ? " " : "", parser.context ? parser.context : "");
                yaml_parser_delete(&parser);
                return r;
        }
        root = yaml_document_get_root_node(&doc);
        if (root == NULL)
                r = 0; /* an empty file: nothing set */
        else
                r = each_key(&x, root, "", top_fields, AD_ARRAY_SIZE(top_fields));
        if (r == 0)
                r = check_language(&x, root);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (r < 0) {
                analyzer_config_clear(&c);
                return r;
        }
        *out = c;
        return 0;
}
