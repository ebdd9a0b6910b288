/* struct ad_analysis <-> JSON (the deploy.analyzed payload). */
#include "ad/analysis.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/names.h"

/* Keeps to_json and from_json in step: one table for the string fields. */
struct string_field {
        const char *key;
        size_t offset;
};

static const struct string_field string_fields[] = {
        { "language", offsetof(struct ad_analysis, language) },
        { "framework", offsetof(struct ad_analysis, framework) },
        { "version", offsetof(struct ad_analysis, version) },
        { "packageManager", offsetof(struct ad_analysis, package_manager) },
        { "installCommand", offsetof(struct ad_analysis, install_command) },
        { "buildCommand", offsetof(struct ad_analysis, build_command) },
        { "startCommand", offsetof(struct ad_analysis, start_command) },
        { "goMainPackage", offsetof(struct ad_analysis, go_main_package) },
        { "staticRoot", offsetof(struct ad_analysis, static_root) },
        { "dockerfilePath", offsetof(struct ad_analysis, dockerfile_path) },
        { "releaseCommand", offsetof(struct ad_analysis, release_command) },
        { "outputDir", offsetof(struct ad_analysis, output_dir) },
};

static char **string_slot(struct ad_analysis *a, const struct string_field *f)
{
        return (char **)((char *)a + f->offset);
}

static const char *string_value(const struct ad_analysis *a, const struct string_field *f)
{
        const char *s = *(char *const *)((const char *)a + f->offset);

        return s ? s : "";
}

static void free_strv(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void ad_analysis_free(struct ad_analysis *a)
{
        if (a == NULL)
                return;
        for (size_t i = 0; i < AD_ARRAY_SIZE(string_fields); i++)
                free(*string_slot(a, &string_fields[i]));
        free_strv(a->env_vars, a->n_env_vars);
        free_strv(a->dependency_files, a->n_dependency_files);
        free(a->backend);
        json_decref(a->env);
        json_decref(a->processes);
        json_decref(a->why);
        free(a);
}

static json_t *strv_to_json(char *const *v, size_t n)
{
        json_t *arr = json_array();

        if (arr == NULL)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (json_array_append_new(arr, json_string(v[i])) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static json_t *resources_to_json(const struct ad_analysis *a)
{
        char cpu[32], mem[32];

        snprintf(cpu, sizeof(cpu), "%um", a->cpu_millis);
        snprintf(mem, sizeof(mem), "%uMi", a->memory_mb);
        return json_pack("{s:s, s:s}", "cpu", cpu, "memory", mem);
}

/* string_fields[0..N_MAIN_STRINGS) come first in the JSON, the rest after
 * the numbers: the order a human reads `adanalyzer detect` output in. */
#define N_MAIN_STRINGS 7

static int set_string(json_t *j, const struct ad_analysis *a, size_t i)
{
        return json_object_set_new(j, string_fields[i].key,
                                   json_string(string_value(a, &string_fields[i])));
}

json_t *ad_analysis_to_json(const struct ad_analysis *a)
{
        json_t *j = json_object();
        int r = 0;

        if (j == NULL)
                return NULL;
        for (size_t i = 0; i < N_MAIN_STRINGS; i++)
                r |= set_string(j, a, i);
        r |= json_object_set_new(j, "port", json_integer(a->port));
        r |= json_object_set_new(j, "envVars", strv_to_json(a->env_vars, a->n_env_vars));
        r |= json_object_set_new(j, "resources", resources_to_json(a));
        r |= json_object_set_new(j, "dependencyFiles",
                                 strv_to_json(a->dependency_files, a->n_dependency_files));
        for (size_t i = N_MAIN_STRINGS; i < AD_ARRAY_SIZE(string_fields); i++)
                r |= set_string(j, a, i);
        r |= json_object_set_new(j, "hasDockerfile", json_boolean(a->has_dockerfile));
        r |= json_object_set_new(j, "replicas", json_integer(a->replicas ? a->replicas : 1));
        if (a->autoscale_max > 0)
                r |= json_object_set_new(j, "autoscaling",
                                         json_pack("{s:I, s:I, s:I}", "min",
                                                   (json_int_t)a->autoscale_min, "max",
                                                   (json_int_t)a->autoscale_max, "cpuPercent",
                                                   (json_int_t)a->autoscale_cpu));
        if (a->backend && *a->backend)
                r |= json_object_set_new(j, "backend", json_string(a->backend));
        r |= json_object_set_new(j, "env", a->env ? json_deep_copy(a->env) : json_object());
        if (json_object_size(a->processes) > 0)
                r |= json_object_set_new(j, "processes", json_deep_copy(a->processes));
        r |= json_object_set_new(j, "why", a->why ? json_deep_copy(a->why) : json_object());
        if (r != 0) {
                /* json_object_set_new() fails only on allocation (or a NULL
                 * value from a failed constructor above). */
                json_decref(j);
                return NULL;
        }
        return j;
}

/* "processes": { name: command } with valid names and commands of 1 to
 * 4096 bytes without NUL, at most AD_PROCESSES_MAX of them. */
static int processes_from_json(json_t **out, const json_t *v, ad_error_t *err)
{
        const char *k;
        json_t *c;

        *out = NULL;
        if (v == NULL || json_is_null(v))
                return 0;
        if (!json_is_object(v) || json_object_size(v) > AD_PROCESSES_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "analysis: processes must be an object of at most %d "
                                     "process types",
                                     AD_PROCESSES_MAX);
        json_object_foreach ((json_t *)v, k, c) {
                if (!ad_process_name_valid(k, strlen(k)) || strcmp(k, "web") == 0 ||
                    strcmp(k, "release") == 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "analysis: process type `%.40s` is not valid", k);
                if (!json_is_string(c) || json_string_length(c) == 0 ||
                    json_string_length(c) > 4096 ||
                    strlen(json_string_value(c)) != json_string_length(c))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "analysis: the command of process type %s must be "
                                             "1 to 4096 bytes of text",
                                             k);
        }
        *out = json_deep_copy(v);
        return *out ? 0 : ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
}

/* The largest quantity accepted, in millicores or MiB, after any scaling:
 * a value written back as "<n>m" or "<n>Mi" must parse again. */
#define QUANTITY_MAX (INT_MAX / 1024)

/* Parses "<digits><suffix>"; *suffix points past the digits.  -1 on junk. */
static long parse_quantity(const char *s, const char **suffix)
{
        char *end = NULL;
        long v;

        if (s == NULL || *s < '0' || *s > '9')
                return -1;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || v > QUANTITY_MAX)
                return -1;
        *suffix = end;
        return v;
}

long ad_analysis_parse_cpu(const char *s)
{
        const char *suffix;
        long v = parse_quantity(s, &suffix);

        /* Kubernetes notation: "500m" millicores, "2" whole cores. */
        if (v < 0)
                return -1;
        if (strcmp(suffix, "m") == 0)
                return v;
        if (*suffix == '\0' && v <= QUANTITY_MAX / 1000)
                return v * 1000;
        return -1;
}

long ad_analysis_parse_memory(const char *s)
{
        const char *suffix;
        long v = parse_quantity(s, &suffix);

        if (v < 0)
                return -1;
        if (strcmp(suffix, "Mi") == 0)
                return v;
        /* "1Gi" is common enough in hand-written overrides to accept. */
        if (strcmp(suffix, "Gi") == 0 && v <= QUANTITY_MAX / 1024)
                return v * 1024;
        return -1;
}

static int strv_from_json(char ***out, size_t *n_out, const json_t *arr, const char *key,
                          ad_error_t *err)
{
        char **v = NULL;
        size_t n;

        if (arr == NULL) {
                *out = NULL;
                *n_out = 0;
                return 0;
        }
        if (!json_is_array(arr))
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s: not an array", key);
        n = json_array_size(arr);
        v = calloc(n + 1, sizeof(*v));
        if (v == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(arr, i));

                if (s == NULL || (v[i] = strdup(s)) == NULL) {
                        free_strv(v, i);
                        return ad_error_make(err, AD_ERR_INVALID, 0, "%s[%zu]: not a string", key,
                                             i);
                }
        }
        *out = v;
        *n_out = n;
        return 0;
}

/* An optional integer in lo..hi; absent: *dst = lo. */
static int uint_from_json(unsigned *dst, const json_t *v, const char *key, unsigned lo, unsigned hi,
                          ad_error_t *err)
{
        json_int_t n;

        if (v == NULL || json_is_null(v)) {
                *dst = lo;
                return 0;
        }
        n = json_integer_value(v);
        if (!json_is_integer(v) || n < (json_int_t)lo || n > (json_int_t)hi)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "analysis: %s is not an integer in %u..%u", key, lo, hi);
        *dst = (unsigned)n;
        return 0;
}

int ad_analysis_from_json(struct ad_analysis **out, const json_t *j, ad_error_t *err)
{
        struct ad_analysis *a = NULL;
        const json_t *v;
        json_int_t port;
        int r;

        if (!json_is_object(j))
                return ad_error_make(err, AD_ERR_INVALID, 0, "analysis: not a JSON object");
        a = calloc(1, sizeof(*a));
        if (a == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");

        for (size_t i = 0; i < AD_ARRAY_SIZE(string_fields); i++) {
                const char *key = string_fields[i].key;
                const char *s = "";

                v = json_object_get(j, key);
                if (v != NULL && !json_is_null(v)) {
                        s = json_string_value(v);
                        if (s == NULL) {
                                r = ad_error_make(err, AD_ERR_INVALID, 0,
                                                  "analysis: %s is not a string", key);
                                goto fail;
                        }
                }
                *string_slot(a, &string_fields[i]) = strdup(s);
                if (*string_slot(a, &string_fields[i]) == NULL) {
                        r = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                        goto fail;
                }
        }

        v = json_object_get(j, "port");
        port = v ? json_integer_value(v) : 0;
        if ((v && !json_is_integer(v)) || port < 0 || port > 65535) {
                r = ad_error_make(err, AD_ERR_INVALID, 0,
                                  "analysis: port is not an integer in 0..65535");
                goto fail;
        }
        a->port = (unsigned)port;

        r = strv_from_json(&a->env_vars, &a->n_env_vars, json_object_get(j, "envVars"),
                           "analysis: envVars", err);
        if (r < 0)
                goto fail;
        r = strv_from_json(&a->dependency_files, &a->n_dependency_files,
                           json_object_get(j, "dependencyFiles"), "analysis: dependencyFiles", err);
        if (r < 0)
                goto fail;

        v = json_object_get(j, "resources");
        if (v != NULL) {
                long cpu = ad_analysis_parse_cpu(json_string_value(json_object_get(v, "cpu")));
                long mem =
                        ad_analysis_parse_memory(json_string_value(json_object_get(v, "memory")));

                if (cpu < 0 || mem < 0) {
                        r = ad_error_make(err, AD_ERR_INVALID, 0,
                                          "analysis: resources must be {\"cpu\": \"<n>m\", "
                                          "\"memory\": \"<n>Mi\"}");
                        goto fail;
                }
                a->cpu_millis = (unsigned)cpu;
                a->memory_mb = (unsigned)mem;
        }

        a->has_dockerfile = json_is_true(json_object_get(j, "hasDockerfile"));
        r = uint_from_json(&a->replicas, json_object_get(j, "replicas"), "replicas", 1, 1000, err);
        v = json_object_get(j, "autoscaling");
        if (r == 0 && v != NULL && !json_is_object(v))
                r = ad_error_make(err, AD_ERR_INVALID, 0, "analysis: autoscaling is not an object");
        if (r == 0 && v != NULL)
                r = uint_from_json(&a->autoscale_min, json_object_get(v, "min"), "autoscaling.min",
                                   0, 1000, err);
        if (r == 0 && v != NULL)
                r = uint_from_json(&a->autoscale_max, json_object_get(v, "max"), "autoscaling.max",
                                   0, 1000, err);
        if (r == 0 && v != NULL)
                r = uint_from_json(&a->autoscale_cpu, json_object_get(v, "cpuPercent"),
                                   "autoscaling.cpuPercent", 0, 100, err);
        v = json_object_get(j, "backend");
        if (r == 0 && v != NULL) {
                const char *b = json_string_value(v);

                if (b == NULL || (strcmp(b, "engine") != 0 && strcmp(b, "kubernetes") != 0))
                        r = ad_error_make(err, AD_ERR_INVALID, 0,
                                          "analysis: backend must be \"engine\" or \"kubernetes\"");
                else if ((a->backend = strdup(b)) == NULL)
                        r = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        if (r < 0)
                goto fail;
        v = json_object_get(j, "env");
        if (v != NULL && !json_is_object(v)) {
                r = ad_error_make(err, AD_ERR_INVALID, 0, "analysis: env is not an object");
                goto fail;
        }
        a->env = v ? json_deep_copy(v) : json_object();
        if (a->env == NULL) {
                r = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                goto fail;
        }
        r = processes_from_json(&a->processes, json_object_get(j, "processes"), err);
        if (r < 0)
                goto fail;
        v = json_object_get(j, "why");
        a->why = json_is_object(v) ? json_deep_copy(v) : json_object();
        if (a->why == NULL) {
                r = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                goto fail;
        }
        *out = a;
        return 0;
fail:
        ad_analysis_free(a);
        return r;
}
