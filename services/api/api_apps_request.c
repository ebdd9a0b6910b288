#include "api_apps_request.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

/* A JSON object body; an empty (or all-blank) body is {} when empty_ok. */
static int load_object(json_t **out, const char *body, size_t len, bool empty_ok, ad_error_t *err)
{
        json_error_t jerr;
        json_t *root;
        size_t i = 0;

        while (body && i < len && strchr(" \t\r\n", body[i]))
                i++;
        if (body == NULL || i == len) {
                if (!empty_ok)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "the body must be a JSON object");
                *out = json_object();
                return 0;
        }
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (root == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "invalid JSON at line %d: %s",
                                     jerr.line, jerr.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return ad_error_make(err, AD_ERR_INVALID, 0, "the body must be a JSON object");
        }
        *out = root;
        return 0;
}

void api_config_patch_free(struct api_config_patch *p)
{
        if (p == NULL)
                return;
        for (size_t i = 0; i < p->n_set; i++) {
                free(p->set[i].name);
                if (p->set[i].value) {
                        explicit_bzero(p->set[i].value, strlen(p->set[i].value));
                        free(p->set[i].value);
                }
        }
        for (size_t i = 0; i < p->n_unset; i++)
                free(p->unset[i]);
        free(p->set);
        free(p->unset);
        free(p);
}

static char *value_text(json_t *v)
{
        char buf[32];

        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_integer(v)) {
                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return strdup(buf);
        }
        return strdup(json_is_true(v) ? "true" : "false");
}

int api_config_patch_parse(struct api_config_patch **out, const char *body, size_t len,
                           ad_error_t *err)
{
        struct api_config_patch *p;
        json_auto_t *root = NULL;
        const char *name;
        json_t *v;
        size_t n;
        int ret;

        ret = load_object(&root, body, len, false, err);
        if (ret < 0)
                return ret;
        n = json_object_size(root);
        if (n == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "nothing to change: give {\"NAME\": \"value\"} to set a "
                                     "variable, {\"NAME\": null} to unset it");
        if (n > AD_ENV_MAX_VARS)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "%zu variables in one change; at most %d", n, AD_ENV_MAX_VARS);
        p = calloc(1, sizeof(*p));
        if (p)
                p->set = calloc(n, sizeof(*p->set));
        if (p)
                p->unset = calloc(n, sizeof(*p->unset));
        if (p == NULL || p->set == NULL || p->unset == NULL) {
                api_config_patch_free(p);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        json_object_foreach (root, name, v) {
                char shown[80];

                if (!api_env_name_valid(name)) {
                        api_text_excerpt(shown, sizeof(shown), name);
                        api_config_patch_free(p);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "variable name \"%s\" is not valid: letters, digits "
                                             "and _, not starting with a digit",
                                             shown);
                }
                if (json_is_null(v)) {
                        p->unset[p->n_unset] = strdup(name);
                        if (p->unset[p->n_unset] == NULL)
                                goto oom;
                        p->n_unset++;
                        continue;
                }
                if (!(json_is_string(v) || json_is_integer(v) || json_is_boolean(v))) {
                        api_config_patch_free(p);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "the value of %s must be a string, a number, a "
                                             "boolean, or null to unset it",
                                             name);
                }
                if (json_is_string(v) && json_string_length(v) > AD_ENV_VALUE_MAX) {
                        api_config_patch_free(p);
                        return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                             "the value of %s is longer than %d bytes", name,
                                             AD_ENV_VALUE_MAX);
                }
                if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
                        api_config_patch_free(p);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "the value of %s contains a NUL character", name);
                }
                p->set[p->n_set].name = strdup(name);
                p->set[p->n_set].value = value_text(v);
                p->n_set++;
                if (p->set[p->n_set - 1].name == NULL || p->set[p->n_set - 1].value == NULL)
                        goto oom;
        }
        *out = p;
        return 0;
oom:
        api_config_patch_free(p);
        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
}

/* The one integer field `field` of an object, within [min, max]. */
static int int_field(json_t *root, const char *field, long min, long max, long *out,
                     ad_error_t *err)
{
        json_t *v = json_object_get(root, field);

        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "\"%s\" must be a whole number from %ld to %ld", field, min,
                                     max);
        *out = (long)json_integer_value(v);
        return 0;
}

/* Rejects any field but `allowed`. */
static int only_field(json_t *root, const char *allowed, const char *what, ad_error_t *err)
{
        const char *name;
        json_t *v;

        json_object_foreach (root, name, v) {
                char shown[80];

                if (strcmp(name, allowed) == 0)
                        continue;
                api_text_excerpt(shown, sizeof(shown), name);
                return ad_error_make(err, AD_ERR_INVALID, 0, "unknown field \"%s\": %s", shown,
                                     what);
        }
        return 0;
}

int api_scale_parse(struct api_scale *out, const char *body, size_t len, ad_error_t *err)
{
        json_auto_t *root = NULL;
        struct api_scale sc = { 0 };
        const char *name;
        json_t *v;
        int ret;

        ret = load_object(&root, body, len, false, err);
        if (ret < 0)
                return ret;
        if (json_object_size(root) == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "give the replicas of a process type: {\"web\": N, "
                                     "\"worker\": M}");
        if (json_object_size(root) > API_SCALE_TYPES)
                return ad_error_make(err, AD_ERR_INVALID, 0, "at most %d process types",
                                     API_SCALE_TYPES);
        json_object_foreach (root, name, v) {
                char shown[80];
                long n = 0;

                if (strcmp(name, "web") == 0) {
                        ret = int_field(root, "web", 1, API_SCALE_MAX, &n, err);
                        if (ret < 0)
                                return ret;
                        sc.web = (uint32_t)n;
                        continue;
                }
                api_text_excerpt(shown, sizeof(shown), name);
                if (!ad_process_name_valid(name, strlen(name)) || strcmp(name, "release") == 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "\"%s\" is not a process type that can be scaled "
                                             "(a Procfile name: lower-case letters, digits and "
                                             "'-'; `release` runs once per release)",
                                             shown);
                ret = int_field(root, name, 0, API_SCALE_MAX, &n, err);
                if (ret < 0)
                        return ret;
                snprintf(sc.other[sc.n_other].name, sizeof(sc.other[0].name), "%s", name);
                sc.other[sc.n_other++].replicas = (uint32_t)n;
        }
        *out = sc;
        return 0;
}

int api_rollback_parse(uint32_t *release, const char *body, size_t len, ad_error_t *err)
{
        json_auto_t *root = NULL;
        long n = 0;
        int ret;

        ret = load_object(&root, body, len, true, err);
        if (ret == 0)
                ret = only_field(root, "release", "give {\"release\": N} or no body", err);
        if (ret == 0 && json_object_get(root, "release"))
                ret = int_field(root, "release", 1, INT32_MAX, &n, err);
        if (ret < 0)
                return ret;
        *release = (uint32_t)n;
        return 0;
}

int api_app_deploy_parse(char **ref, const char *body, size_t len, ad_error_t *err)
{
        json_auto_t *root = NULL;
        json_t *v;
        int ret;

        ret = load_object(&root, body, len, true, err);
        if (ret == 0)
                ret = only_field(root, "ref",
                                 "give {\"ref\": \"branch, tag or commit\"} or no body", err);
        if (ret < 0)
                return ret;
        v = json_object_get(root, "ref");
        if (v == NULL) {
                *ref = NULL;
                return 0;
        }
        if (!json_is_string(v) || json_string_length(v) > AD_REF_MAX ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            (*json_string_value(v) && !api_ref_valid(json_string_value(v))))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "\"ref\" must be a branch, tag or commit name (at most %d "
                                     "characters)",
                                     AD_REF_MAX);
        *ref = strdup(json_string_value(v));
        if (*ref == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return 0;
}

int api_domain_parse(char out[AD_HOSTNAME_MAX + 1], const char *body, size_t len, ad_error_t *err)
{
        json_auto_t *root = NULL;
        json_t *v;
        int ret;

        ret = load_object(&root, body, len, false, err);
        if (ret == 0)
                ret = only_field(root, "hostname", "give {\"hostname\": \"www.example.com\"}", err);
        if (ret < 0)
                return ret;
        v = json_object_get(root, "hostname");
        if (!json_is_string(v))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "\"hostname\" is required: a host name such as "
                                     "www.example.com");
        ret = ad_hostname_normalize(out, json_string_value(v), json_string_length(v), err);
        if (ret < 0)
                return ad_error_wrap(err, "\"hostname\"");
        return 0;
}

int api_run_parse(char **command, long *timeout_s, const char *body, size_t len, ad_error_t *err)
{
        json_auto_t *root = NULL;
        const char *name;
        json_t *v;
        long t = 0;
        int ret;

        ret = load_object(&root, body, len, false, err);
        if (ret < 0)
                return ret;
        json_object_foreach (root, name, v) {
                char shown[80];

                if (strcmp(name, "command") == 0 || strcmp(name, "timeout_s") == 0)
                        continue;
                api_text_excerpt(shown, sizeof(shown), name);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "unknown field \"%s\": give {\"command\": \"...\"} and "
                                     "optionally \"timeout_s\"",
                                     shown);
        }
        v = json_object_get(root, "command");
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > API_RUN_COMMAND_MAX ||
            strlen(json_string_value(v)) != json_string_length(v))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "\"command\" must be a command line of 1 to %d bytes (no "
                                     "NUL), run by /bin/sh -c",
                                     API_RUN_COMMAND_MAX);
        if (json_object_get(root, "timeout_s") &&
            (ret = int_field(root, "timeout_s", 1, API_RUN_TIMEOUT_MAX, &t, err)) < 0)
                return ret;
        *command = strdup(json_string_value(v));
        if (*command == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        *timeout_s = t;
        return 0;
}
