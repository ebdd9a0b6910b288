/* Parsing the bodies of the /apps routes, without a server or a database
 * (the unit tests and tests/fuzz/fuzz_apps_body.c call exactly this code).
 * Every rejection is AD_ERR_INVALID (AD_ERR_TOO_LARGE for too many
 * variables) with a message a user can act on. */
#ifndef AD_API_APPS_REQUEST_H
#define AD_API_APPS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "ad/error.h"
#include "ad/names.h"
#include "api_request.h"

/* Containers of one process type: the bounds of a scale request (the
 * deployer's deployer.max_replicas may be lower: a release above it fails
 * with that reason and the current one keeps serving). */
#define API_SCALE_MAX 100

/* PATCH /apps/{name}/config: {"NAME": "value" | 123 | true, "OTHER": null}.
 * A value sets (as text, like POST /deployments env), null unsets; at
 * least one name, at most AD_ENV_MAX_VARS. */
struct api_config_patch {
        struct api_env_var *set; /* values plain text: seal before use */
        size_t n_set;
        char **unset;
        size_t n_unset;
};

int api_config_patch_parse(struct api_config_patch **out, const char *body, size_t len,
                           ad_error_t *err);
/* Wipes the values; NULL is a no-op. */
void api_config_patch_free(struct api_config_patch *p);

/* POST /apps/{name}/scale: {"web": N, "worker": M, ...}: web 1 <= N <=
 * API_SCALE_MAX (0 in *web: not given), any other process type 0 <= M <=
 * API_SCALE_MAX (0 stops it); at least one, at most API_SCALE_TYPES
 * names, each a valid process type (ad_process_name_valid), never
 * `release`.  Whether the app has those types is the caller's check. */
#define API_SCALE_TYPES 16
struct api_scale {
        uint32_t web;
        struct {
                char name[AD_PROCESS_NAME_MAX + 1];
                uint32_t replicas;
        } other[API_SCALE_TYPES];
        size_t n_other;
};
int api_scale_parse(struct api_scale *out, const char *body, size_t len, ad_error_t *err);

/* POST /apps/{name}/rollback: {"release": N} (N >= 1), or an empty body
 * or {} for the release before the current one (*release = 0). */
int api_rollback_parse(uint32_t *release, const char *body, size_t len, ad_error_t *err);

/* POST /apps/{name}/deployments: {"ref": "..."} or an empty body (*ref =
 * NULL: the app's stored ref).  The caller frees *ref. */
int api_app_deploy_parse(char **ref, const char *body, size_t len, ad_error_t *err);

/* POST /apps/{name}/domains: {"hostname": "www.example.com"}, checked and
 * normalized by ad_hostname_normalize() (lower case, no trailing dot). */
int api_domain_parse(char out[AD_HOSTNAME_MAX + 1], const char *body, size_t len, ad_error_t *err);

/* POST /apps/{name}/run: {"command": "...", "timeout_s": N}: a shell
 * command line of 1 to API_RUN_COMMAND_MAX bytes (no NUL), run by
 * /bin/sh -c; timeout_s 1 to API_RUN_TIMEOUT_MAX, 0 when not given (the
 * deployer's deployer.run_timeout_s).  The caller frees *command. */
#define API_RUN_COMMAND_MAX (16 * 1024)
#define API_RUN_TIMEOUT_MAX 86400
int api_run_parse(char **command, long *timeout_s, const char *body, size_t len, ad_error_t *err);

#endif
