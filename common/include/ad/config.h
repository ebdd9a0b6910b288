/* Configuration: a config.yaml read with libyaml, every key overridable by
 * an environment variable.
 *
 * Nested mappings flatten to dotted keys: `nats: {url: X}` is "nats.url".
 * The environment variable for a key is AD_ + the key upper-cased with dots
 * turned into underscores: "nats.url" -> AD_NATS_URL.  The environment wins
 * over the file.  Every error names where the value came from: the file,
 * line and key, or the environment variable.
 */
#ifndef AD_CONFIG_H
#define AD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define AD_CONFIG_MAX_BYTES (1024 * 1024)
#define AD_CONFIG_MAX_DEPTH 8

typedef struct ad_config ad_config;

/* path NULL or "" gives an empty configuration (environment only).  A path
 * that does not exist is an error. */
int ad_config_load(ad_config **out, const char *path, ad_error_t *err);

/* Parses YAML text; `name` is used in error messages. */
int ad_config_load_string(ad_config **out, const char *name, const char *text, size_t len,
                          ad_error_t *err);

void ad_config_free(ad_config *cfg);

/* Rejects keys in the file that are not in `known` (NULL-terminated; an
 * entry ending in ".*" accepts any key under that prefix), so a typo is
 * reported instead of silently ignored. */
int ad_config_check_known(const ad_config *cfg, const char *const *known, ad_error_t *err);

/* The value for key (environment first), or def when unset. */
const char *ad_config_string(const ad_config *cfg, const char *key, const char *def);

int ad_config_int(const ad_config *cfg, const char *key, long def, long min, long max, long *out,
                  ad_error_t *err);

int ad_config_bool(const ad_config *cfg, const char *key, bool def, bool *out, ad_error_t *err);

/* Writes the environment variable name for key into buf. */
void ad_config_env_name(const char *key, char *buf, size_t size);

/* Where a key's value comes from: "config.yaml:12" or "environment
 * variable AD_X", for messages.  Returns "default" when unset. */
const char *ad_config_origin(const ad_config *cfg, const char *key, char *buf, size_t size);

#endif
