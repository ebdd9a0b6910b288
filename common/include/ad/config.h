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
#include <stdio.h>

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

/* A service's configuration, declared once: each key with its type,
 * default, bounds and one line of documentation.  From these tables come
 * the unknown-key check, the typed reads (ad_config_get_*: defaults and
 * bounds are never repeated at the call), `--print-config` (every key,
 * its value and where it came from; secrets hidden), and `--config-doc`
 * (the rows of docs/configuration.md, which a test compares). */
enum ad_config_type {
        AD_CONFIG_STRING,
        AD_CONFIG_INT,
        AD_CONFIG_BOOL,
        AD_CONFIG_SECRET, /* a string never printed (keys, tokens) */
        AD_CONFIG_URL,    /* a string printed with its password hidden */
};

struct ad_config_key {
        const char *key; /* dotted; "prefix.*" declares every key under prefix */
        enum ad_config_type type;
        const char *def;     /* the default as text; NULL: none */
        long min, max;       /* AD_CONFIG_INT */
        const char *doc;     /* one line */
        const char *doc_def; /* the default as docs say it, when not `def` ("per service") */
};

/* The entry that ends a table. */
#define AD_CONFIG_END                                                                              \
        {                                                                                          \
                .key = NULL                                                                        \
        }

/* A NULL-terminated list of tables, each ending with AD_CONFIG_END. */
typedef const struct ad_config_key *const ad_config_tables[];

/* The declaration of key (exact, or under a "prefix.*" entry); NULL when
 * no table has it. */
const struct ad_config_key *ad_config_key_find(const struct ad_config_key *const *tables,
                                               const char *key);
/* Every key set in the file is declared in `tables` or listed in
 * `also_known` (NULL-terminated, may be NULL: keys of a service not yet
 * declared in a table), else "file:line: unknown key"; and every declared
 * key that is set, in the file or the environment, has a value of its type
 * within its bounds. */
int ad_config_check_tables(const ad_config *cfg, const struct ad_config_key *const *tables,
                           const char *const *also_known, ad_error_t *err);
/* Typed reads through the declaration (AD_ERR_GENERIC if key is not
 * declared with that type: a programming error, said plainly). */
int ad_config_get_int(const ad_config *cfg, const struct ad_config_key *const *tables,
                      const char *key, long *out, ad_error_t *err);
int ad_config_get_bool(const ad_config *cfg, const struct ad_config_key *const *tables,
                       const char *key, bool *out, ad_error_t *err);
/* The value, or the declared default ("" when it has none). */
const char *ad_config_get_string(const ad_config *cfg, const struct ad_config_key *const *tables,
                                 const char *key);
/* `--print-config`: "key = value  # origin" for every declared key (a
 * secret shows as "(set)" or "(unset)"). */
void ad_config_print(FILE *f, const ad_config *cfg, const struct ad_config_key *const *tables);
/* `--config-doc`: one Markdown row per declared key, as in
 * docs/configuration.md: | `key` | `default` | doc | */
void ad_config_print_doc(FILE *f, const struct ad_config_key *const *tables);

/* Writes the environment variable name for key into buf. */
void ad_config_env_name(const char *key, char *buf, size_t size);

/* Where a key's value comes from: "config.yaml:12" or "environment
 * variable AD_X", for messages.  Returns "default" when unset. */
const char *ad_config_origin(const ad_config *cfg, const char *key, char *buf, size_t size);

#endif
