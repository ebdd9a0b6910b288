#include "ad/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/redact.h"

struct config_entry {
        char *key;
        char *value;
        unsigned line;
};

struct ad_config {
        char *name; /* file name, for messages */
        struct config_entry *entries;
        size_t n, cap;
        char *env_cache; /* last env name looked up, for messages */
};

void ad_config_env_name(const char *key, char *buf, size_t size)
{
        size_t i = 0, j;

        if (size == 0)
                return;
        snprintf(buf, size, "AD_");
        i = strlen(buf);
        for (j = 0; key[j] && i + 1 < size; j++, i++)
                buf[i] =
                        key[j] == '.' || key[j] == '-' ? '_' : (char)toupper((unsigned char)key[j]);
        buf[i] = '\0';
}

void ad_config_free(ad_config *cfg)
{
        if (cfg == NULL)
                return;
        for (size_t i = 0; i < cfg->n; i++) {
                free(cfg->entries[i].key);
                free(cfg->entries[i].value);
        }
        free(cfg->entries);
        free(cfg->name);
        free(cfg);
}

static struct config_entry *find(const ad_config *cfg, const char *key)
{
        for (size_t i = 0; cfg && i < cfg->n; i++)
                if (strcmp(cfg->entries[i].key, key) == 0)
                        return &cfg->entries[i];
        return NULL;
}

static int add_entry(ad_config *cfg, const char *key, const char *value, unsigned line,
                     ad_error_t *err)
{
        struct config_entry *e;

        if (find(cfg, key))
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s:%u: key `%s` is set twice",
                                     cfg->name, line, key);
        if (cfg->n == cfg->cap) {
                size_t cap = cfg->cap ? cfg->cap * 2 : 16;
                e = realloc(cfg->entries, cap * sizeof(*e));
                if (e == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                cfg->entries = e;
                cfg->cap = cap;
        }
        e = &cfg->entries[cfg->n];
        e->key = strdup(key);
        e->value = strdup(value);
        e->line = line;
        if (e->key == NULL || e->value == NULL) {
                free(e->key);
                free(e->value);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        cfg->n++;
        return 0;
}

static int valid_key_part(const char *s, size_t len)
{
        if (len == 0 || len > 64)
                return 0;
        for (size_t i = 0; i < len; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
                      s[i] == '-'))
                        return 0;
        return 1;
}

static int parser_error(ad_config *cfg, yaml_parser_t *p, ad_error_t *err)
{
        return ad_error_make(err, AD_ERR_INVALID, 0, "%s:%zu:%zu: invalid YAML: %s%s%s", cfg->name,
                             p->problem_mark.line + 1, p->problem_mark.column + 1,
                             p->problem ? p->problem : "syntax error", p->context ? " " : "",
                             p->context ? p->context : "");
}

/* Walks a mapping at `prefix`; called with the MAPPING_START consumed. */
static int parse_mapping(ad_config *cfg, yaml_parser_t *p, const char *prefix, int depth,
                         ad_error_t *err)
{
        yaml_event_t ev;
        int ret;

        if (depth > AD_CONFIG_MAX_DEPTH)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "%s: key `%s` is nested deeper than %d levels", cfg->name,
                                     prefix, AD_CONFIG_MAX_DEPTH);
        for (;;) {
                char key[512];
                unsigned line;

                if (!yaml_parser_parse(p, &ev))
                        return parser_error(cfg, p, err);
                if (ev.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&ev);
                        return 0;
                }
                line = (unsigned)ev.start_mark.line + 1;
                if (ev.type != YAML_SCALAR_EVENT) {
                        yaml_event_delete(&ev);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "%s:%u: a key must be a plain name under `%s`",
                                             cfg->name, line, *prefix ? prefix : "(top)");
                }
                if (!valid_key_part((const char *)ev.data.scalar.value, ev.data.scalar.length)) {
                        ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                            "%s:%u: key `%.64s` is not valid: use lower-case "
                                            "letters, digits, `_` and `-`",
                                            cfg->name, line, (const char *)ev.data.scalar.value);
                        yaml_event_delete(&ev);
                        return ret;
                }
                snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
                         (const char *)ev.data.scalar.value);
                yaml_event_delete(&ev);

                if (!yaml_parser_parse(p, &ev))
                        return parser_error(cfg, p, err);
                line = (unsigned)ev.start_mark.line + 1;
                switch (ev.type) {
                case YAML_SCALAR_EVENT:
                        ret = add_entry(cfg, key, (const char *)ev.data.scalar.value, line, err);
                        yaml_event_delete(&ev);
                        if (ret < 0)
                                return ret;
                        break;
                case YAML_MAPPING_START_EVENT:
                        yaml_event_delete(&ev);
                        ret = parse_mapping(cfg, p, key, depth + 1, err);
                        if (ret < 0)
                                return ret;
                        break;
                case YAML_SEQUENCE_START_EVENT: {
                        /* A list of scalars becomes a comma-separated value. */
                        char *joined = NULL;
                        size_t jlen = 0;

                        yaml_event_delete(&ev);
                        for (;;) {
                                if (!yaml_parser_parse(p, &ev)) {
                                        free(joined);
                                        return parser_error(cfg, p, err);
                                }
                                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                                        yaml_event_delete(&ev);
                                        break;
                                }
                                if (ev.type != YAML_SCALAR_EVENT) {
                                        yaml_event_delete(&ev);
                                        free(joined);
                                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                                             "%s:%u: key `%s`: a list may only "
                                                             "hold plain values",
                                                             cfg->name, line, key);
                                }
                                size_t add = ev.data.scalar.length;
                                char *n = realloc(joined, jlen + add + 2);
                                if (n == NULL) {
                                        yaml_event_delete(&ev);
                                        free(joined);
                                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM,
                                                             "out of memory");
                                }
                                joined = n;
                                if (jlen)
                                        joined[jlen++] = ',';
                                memcpy(joined + jlen, ev.data.scalar.value, add);
                                jlen += add;
                                joined[jlen] = '\0';
                                yaml_event_delete(&ev);
                        }
                        ret = add_entry(cfg, key, joined ? joined : "", line, err);
                        free(joined);
                        if (ret < 0)
                                return ret;
                        break;
                }
                default:
                        yaml_event_delete(&ev);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "%s:%u: key `%s`: unsupported value (aliases and tags "
                                             "are not allowed)",
                                             cfg->name, line, key);
                }
        }
}

static int parse_document(ad_config *cfg, yaml_parser_t *p, ad_error_t *err)
{
        yaml_event_t ev;
        int ret = 0, seen_root = 0;

        for (;;) {
                if (!yaml_parser_parse(p, &ev))
                        return parser_error(cfg, p, err);
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        yaml_event_delete(&ev);
                        return 0;
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (seen_root) {
                                yaml_event_delete(&ev);
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "%s: only one YAML document is allowed",
                                                     cfg->name);
                        }
                        break;
                case YAML_MAPPING_START_EVENT:
                        seen_root = 1;
                        yaml_event_delete(&ev);
                        ret = parse_mapping(cfg, p, "", 1, err);
                        if (ret < 0)
                                return ret;
                        continue;
                case YAML_SCALAR_EVENT:
                        /* An empty document parses as one empty scalar. */
                        if (ev.data.scalar.length == 0 && !seen_root) {
                                seen_root = 1;
                                break;
                        }
                        /* fall through */
                default:
                        ret = ad_error_make(
                                err, AD_ERR_INVALID, 0,
                                "%s:%zu: the top level must be a mapping of keys to values",
                                cfg->name, ev.start_mark.line + 1);
                        yaml_event_delete(&ev);
                        return ret;
                }
                yaml_event_delete(&ev);
        }
}

int ad_config_load_string(ad_config **out, const char *name, const char *text, size_t len,
                          ad_error_t *err)
{
        ad_config *cfg;
        yaml_parser_t parser;
        int ret;

        if (len > AD_CONFIG_MAX_BYTES)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "%s: larger than %d bytes", name,
                                     AD_CONFIG_MAX_BYTES);
        cfg = calloc(1, sizeof(*cfg));
        if (cfg == NULL || (cfg->name = strdup(name)) == NULL) {
                free(cfg);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        if (!yaml_parser_initialize(&parser)) {
                ad_config_free(cfg);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot initialize YAML parser");
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        ret = parse_document(cfg, &parser, err);
        yaml_parser_delete(&parser);
        if (ret < 0) {
                ad_config_free(cfg);
                return ret;
        }
        *out = cfg;
        return 0;
}

int ad_config_load(ad_config **out, const char *path, ad_error_t *err)
{
        cleanup_fclose FILE *f = NULL;
        cleanup_free char *buf = NULL;
        struct stat st;
        size_t n;

        if (path == NULL || *path == '\0')
                return ad_config_load_string(out, "(no config file)", "", 0, err);
        f = fopen(path, "re");
        if (f == NULL)
                return ad_error_make_errno(err, errno, "cannot open config file %s", path);
        if (fstat(fileno(f), &st) < 0)
                return ad_error_make_errno(err, errno, "cannot stat %s", path);
        if (!S_ISREG(st.st_mode))
                return ad_error_make(err, AD_ERR_INVALID, 0, "%s: not a regular file", path);
        if (st.st_size > AD_CONFIG_MAX_BYTES)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "%s: larger than %d bytes", path,
                                     AD_CONFIG_MAX_BYTES);
        buf = malloc((size_t)st.st_size + 1);
        if (buf == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        n = fread(buf, 1, (size_t)st.st_size, f);
        if (ferror(f))
                return ad_error_make_errno(err, errno, "cannot read %s", path);
        buf[n] = '\0';
        return ad_config_load_string(out, path, buf, n, err);
}

static int key_is_known(const char *key, const char *const *known)
{
        for (size_t i = 0; known[i]; i++) {
                size_t l = strlen(known[i]);
                if (l >= 2 && strcmp(known[i] + l - 2, ".*") == 0) {
                        if (strncmp(key, known[i], l - 1) == 0)
                                return 1;
                } else if (strcmp(key, known[i]) == 0) {
                        return 1;
                }
        }
        return 0;
}

int ad_config_check_known(const ad_config *cfg, const char *const *known, ad_error_t *err)
{
        for (size_t i = 0; i < cfg->n; i++)
                if (!key_is_known(cfg->entries[i].key, known))
                        return ad_error_make(err, AD_ERR_INVALID, 0, "%s:%u: unknown key `%s`",
                                             cfg->name, cfg->entries[i].line, cfg->entries[i].key);
        return 0;
}

const char *ad_config_string(const ad_config *cfg, const char *key, const char *def)
{
        char env[256];
        const char *v;
        struct config_entry *e;

        ad_config_env_name(key, env, sizeof(env));
        v = getenv(env);
        if (v != NULL)
                return v;
        e = find(cfg, key);
        return e ? e->value : def;
}

const char *ad_config_origin(const ad_config *cfg, const char *key, char *buf, size_t size)
{
        char env[256];
        struct config_entry *e;

        ad_config_env_name(key, env, sizeof(env));
        if (getenv(env)) {
                snprintf(buf, size, "environment variable %s", env);
                return buf;
        }
        e = find(cfg, key);
        if (e) {
                snprintf(buf, size, "%s:%u", cfg->name, e->line);
                return buf;
        }
        return "default";
}

int ad_config_int(const ad_config *cfg, const char *key, long def, long min, long max, long *out,
                  ad_error_t *err)
{
        const char *v = ad_config_string(cfg, key, NULL);
        char origin[300], *end;
        long n;

        if (v == NULL) {
                *out = def;
                return 0;
        }
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end != '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "%s: key `%s`: expected an integer, got `%.40s`",
                                     ad_config_origin(cfg, key, origin, sizeof(origin)), key, v);
        if (n < min || n > max)
                return ad_error_make(
                        err, AD_ERR_INVALID, 0, "%s: key `%s`: %ld is out of range [%ld, %ld]",
                        ad_config_origin(cfg, key, origin, sizeof(origin)), key, n, min, max);
        *out = n;
        return 0;
}

int ad_config_bool(const ad_config *cfg, const char *key, bool def, bool *out, ad_error_t *err)
{
        const char *v = ad_config_string(cfg, key, NULL);
        char origin[300];

        if (v == NULL) {
                *out = def;
                return 0;
        }
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") ||
            !strcasecmp(v, "on")) {
                *out = true;
                return 0;
        }
        if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
            !strcasecmp(v, "off")) {
                *out = false;
                return 0;
        }
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "%s: key `%s`: expected true or false, got `%.40s`",
                             ad_config_origin(cfg, key, origin, sizeof(origin)), key, v);
}

const struct ad_config_key *ad_config_key_find(const struct ad_config_key *const *tables,
                                               const char *key)
{
        for (size_t t = 0; tables && tables[t]; t++)
                for (const struct ad_config_key *k = tables[t]; k->key; k++) {
                        const char *known[2] = { k->key, NULL };

                        if (key_is_known(key, known))
                                return k;
                }
        return NULL;
}

static const char *type_name(enum ad_config_type t)
{
        switch (t) {
        case AD_CONFIG_INT:
                return "an integer";
        case AD_CONFIG_BOOL:
                return "a boolean";
        default:
                return "a string";
        }
}

/* The declaration of key with type t, or an error naming the mismatch. */
static const struct ad_config_key *declared(const struct ad_config_key *const *tables,
                                            const char *key, enum ad_config_type t, ad_error_t *err)
{
        const struct ad_config_key *k = ad_config_key_find(tables, key);
        bool string_like = t == AD_CONFIG_STRING;

        if (k == NULL) {
                ad_error_make(err, AD_ERR_GENERIC, 0, "config key `%s` is read but not declared",
                              key);
                return NULL;
        }
        if (k->type != t &&
            !(string_like && (k->type == AD_CONFIG_SECRET || k->type == AD_CONFIG_URL))) {
                ad_error_make(err, AD_ERR_GENERIC, 0,
                              "config key `%s` is declared as %s but read as %s", key,
                              type_name(k->type), type_name(t));
                return NULL;
        }
        return k;
}

static int parse_default_int(const struct ad_config_key *k, long *out, ad_error_t *err)
{
        char *end;

        errno = 0;
        *out = k->def ? strtol(k->def, &end, 10) : 0;
        if (k->def && (errno || end == k->def || *end))
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "config key `%s`: declared default `%s` is not an integer",
                                     k->key, k->def);
        return 0;
}

int ad_config_get_int(const ad_config *cfg, const struct ad_config_key *const *tables,
                      const char *key, long *out, ad_error_t *err)
{
        const struct ad_config_key *k = declared(tables, key, AD_CONFIG_INT, err);
        long def;

        if (k == NULL || parse_default_int(k, &def, err) < 0)
                return -AD_ERR_GENERIC;
        return ad_config_int(cfg, key, def, k->min, k->max, out, err);
}

int ad_config_get_bool(const ad_config *cfg, const struct ad_config_key *const *tables,
                       const char *key, bool *out, ad_error_t *err)
{
        const struct ad_config_key *k = declared(tables, key, AD_CONFIG_BOOL, err);

        if (k == NULL)
                return -AD_ERR_GENERIC;
        return ad_config_bool(cfg, key, k->def && strcmp(k->def, "true") == 0, out, err);
}

const char *ad_config_get_string(const ad_config *cfg, const struct ad_config_key *const *tables,
                                 const char *key)
{
        const struct ad_config_key *k = ad_config_key_find(tables, key);

        return ad_config_string(cfg, key, k && k->def ? k->def : "");
}

/* Checks the value of one declared key that is set. */
static int check_value(const ad_config *cfg, const struct ad_config_key *k, const char *key,
                       ad_error_t *err)
{
        long n;
        bool b;

        if (k->type == AD_CONFIG_INT) {
                long def;

                if (parse_default_int(k, &def, err) < 0)
                        return -AD_ERR_GENERIC;
                return ad_config_int(cfg, key, def, k->min, k->max, &n, err);
        }
        if (k->type == AD_CONFIG_BOOL)
                return ad_config_bool(cfg, key, false, &b, err);
        return 0;
}

int ad_config_check_tables(const ad_config *cfg, const struct ad_config_key *const *tables,
                           const char *const *also_known, ad_error_t *err)
{
        for (size_t i = 0; i < cfg->n; i++) {
                const struct ad_config_key *k = ad_config_key_find(tables, cfg->entries[i].key);

                if (k == NULL && also_known && key_is_known(cfg->entries[i].key, also_known))
                        continue;
                if (k == NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0, "%s:%u: unknown key `%s`",
                                             cfg->name, cfg->entries[i].line, cfg->entries[i].key);
                if (check_value(cfg, k, cfg->entries[i].key, err) < 0)
                        return -AD_ERR_INVALID;
        }
        /* Set in the environment only (prefix families are checked when
         * read: their members are not known in advance). */
        for (size_t t = 0; tables && tables[t]; t++)
                for (const struct ad_config_key *k = tables[t]; k->key; k++) {
                        size_t l = strlen(k->key);

                        if (l >= 2 && strcmp(k->key + l - 2, ".*") == 0)
                                continue;
                        if (check_value(cfg, k, k->key, err) < 0)
                                return -AD_ERR_INVALID;
                }
        return 0;
}

void ad_config_print(FILE *f, const ad_config *cfg, const struct ad_config_key *const *tables)
{
        for (size_t t = 0; tables && tables[t]; t++)
                for (const struct ad_config_key *k = tables[t]; k->key; k++) {
                        const char *v = ad_config_string(cfg, k->key, NULL);
                        char origin[300];

                        if (k->type == AD_CONFIG_SECRET) {
                                fprintf(f, "%s = %s", k->key, v && *v ? "(set)" : "(unset)");
                        } else if (k->type == AD_CONFIG_URL) {
                                char *shown = ad_redact_url(v ? v : (k->def ? k->def : ""));

                                fprintf(f, "%s = %s", k->key, shown ? shown : "(hidden)");
                                free(shown);
                        } else
                                fprintf(f, "%s = %s", k->key,
                                        v ? v : (k->def ? k->def : (k->doc_def ? k->doc_def : "")));
                        fprintf(f, "  # %s\n",
                                ad_config_origin(cfg, k->key, origin, sizeof(origin)));
                }
}

void ad_config_print_doc(FILE *f, const struct ad_config_key *const *tables)
{
        for (size_t t = 0; tables && tables[t]; t++)
                for (const struct ad_config_key *k = tables[t]; k->key; k++) {
                        if (k->doc_def)
                                fprintf(f, "| `%s` | %s | %s |\n", k->key, k->doc_def, k->doc);
                        else if (k->def && *k->def)
                                fprintf(f, "| `%s` | `%s` | %s |\n", k->key, k->def, k->doc);
                        else
                                fprintf(f, "| `%s` | none | %s |\n", k->key, k->doc);
                }
}
