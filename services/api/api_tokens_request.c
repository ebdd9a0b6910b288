#include "api_tokens_request.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/digest.h"
#include "ad/random.h"
#include "api_request.h"

static const char *const role_names[] = { "", "viewer", "deployer", "admin", "operator" };

int api_role_parse(enum api_role *out, const char *text, ad_error_t *err)
{
        char shown[40];

        for (int r = API_ROLE_VIEWER; r <= API_ROLE_ADMIN; r++)
                if (text && strcmp(text, role_names[r]) == 0) {
                        *out = (enum api_role)r;
                        return 0;
                }
        api_text_excerpt(shown, sizeof(shown), text ? text : "");
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "unknown role `%s`: a role is admin, deployer or viewer", shown);
}

const char *api_role_name(enum api_role role)
{
        return role >= API_ROLE_NONE && role <= API_ROLE_OPERATOR ? role_names[role] : "";
}

static bool name_valid(const char *name, size_t max, const char *extra, bool lower_only)
{
        size_t n = 0;

        if (name == NULL)
                return false;
        for (; name[n]; n++) {
                unsigned char c = (unsigned char)name[n];

                if (n >= max)
                        return false;
                if (lower_only ? !(islower(c) || isdigit(c)) && !strchr(extra, c)
                               : !isalnum(c) && !strchr(extra, c))
                        return false;
        }
        return n > 0;
}

bool api_team_name_valid(const char *name)
{
        return name_valid(name, API_TEAM_NAME_MAX, "-", true) && name[0] != '-';
}

bool api_user_name_valid(const char *name)
{
        return name_valid(name, API_USER_NAME_MAX, "._@-", false);
}

bool api_key_name_valid(const char *name)
{
        return name_valid(name, API_KEY_NAME_MAX, "._-", false);
}

int api_duration_parse(long long *seconds, const char *text, ad_error_t *err)
{
        char shown[40], *end = NULL;
        long long n, unit;

        if (text && strcmp(text, "never") == 0) {
                *seconds = 0;
                return 0;
        }
        api_text_excerpt(shown, sizeof(shown), text ? text : "");
        if (text == NULL || !isdigit((unsigned char)text[0]))
                goto bad;
        errno = 0;
        n = strtoll(text, &end, 10);
        if (errno || end == NULL || end[0] == '\0' || end[1] != '\0' || n <= 0)
                goto bad;
        switch (end[0]) {
        case 's':
                unit = 1;
                break;
        case 'm':
                unit = 60;
                break;
        case 'h':
                unit = 3600;
                break;
        case 'd':
                unit = 24 * 3600;
                break;
        case 'w':
                unit = 7 * 24 * 3600;
                break;
        default:
                goto bad;
        }
        if (n > API_DURATION_MAX_S / unit)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "lifetime `%s` is longer than ten years (use never)", shown);
        *seconds = n * unit;
        return 0;
bad:
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "lifetime `%s` is not a number followed by s, m, h, d or w "
                             "(\"30d\"), nor never",
                             shown);
}

bool api_key_looks_valid(const char *key)
{
        if (key == NULL || strncmp(key, API_KEY_PREFIX, 4) != 0 ||
            strnlen(key, API_KEY_LEN + 1) != API_KEY_LEN)
                return false;
        for (size_t i = 4; i < API_KEY_LEN; i++)
                if (!isdigit((unsigned char)key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
                        return false;
        return true;
}

void api_key_hash(const char *key, char hash[65])
{
        unsigned char md[AD_SHA256_LEN];

        ad_sha256(md, key, strlen(key));
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(hash + 2 * i, 3, "%02x", md[i]);
}

int api_key_generate(char key[API_KEY_LEN + 1], char hash[65], ad_error_t *err)
{
        unsigned char raw[32];

        if (ad_random_bytes(raw, sizeof(raw)) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, errno, "no random bytes for a key");
        snprintf(key, API_KEY_LEN + 1, "%s", API_KEY_PREFIX);
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(key + 4 + 2 * i, 3, "%02x", raw[i]);
        explicit_bzero(raw, sizeof(raw));
        api_key_hash(key, hash);
        return 0;
}

/* A string field into out (size bytes) checked by valid(); absent is "". */
static int string_field(json_t *root, const char *field, char *out, size_t size,
                        bool (*valid)(const char *), const char *rule, ad_error_t *err)
{
        json_t *v = json_object_get(root, field);
        char shown[80];

        out[0] = '\0';
        if (v == NULL)
                return 0;
        if (!json_is_string(v))
                return ad_error_make(err, AD_ERR_INVALID, 0, "`%s` must be a string", field);
        api_text_excerpt(shown, sizeof(shown), json_string_value(v));
        if (strlen(json_string_value(v)) >= size || !valid(json_string_value(v)))
                return ad_error_make(err, AD_ERR_INVALID, 0, "`%s` is `%s`: %s", field, shown,
                                     rule);
        snprintf(out, size, "%s", json_string_value(v));
        return 0;
}

/* body as a JSON object (into *root, the caller's to release) whose
 * fields are all among known[0..n), named in known_text for the error. */
static int object_body(json_t **root, const char *body, size_t len, const char *const *known,
                       size_t n, const char *known_text, ad_error_t *err)
{
        json_error_t jerr;
        const char *k;
        json_t *v;

        *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (*root == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "invalid JSON at line %d: %s",
                                     jerr.line, jerr.text);
        if (!json_is_object(*root)) {
                json_decref(*root);
                *root = NULL;
                return ad_error_make(err, AD_ERR_INVALID, 0, "the body must be a JSON object");
        }
        json_object_foreach (*root, k, v) {
                bool ok = false;
                char shown[64];

                for (size_t i = 0; i < n; i++)
                        ok = ok || strcmp(k, known[i]) == 0;
                if (ok)
                        continue;
                api_text_excerpt(shown, sizeof(shown), k);
                json_decref(*root);
                *root = NULL;
                return ad_error_make(err, AD_ERR_INVALID, 0, "unknown field `%s` (known: %s)",
                                     shown, known_text);
        }
        return 0;
}

/* The required "role" field. */
static int role_field(json_t *root, enum api_role *role, ad_error_t *err)
{
        json_t *v = json_object_get(root, "role");

        if (v == NULL || !json_is_string(v))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "`role` is required: admin, deployer or viewer");
        return api_role_parse(role, json_string_value(v), err);
}

int api_token_create_parse(struct api_token_create *out, const char *body, size_t len,
                           ad_error_t *err)
{
        static const char *const known[] = { "name", "role", "expires_in", "team", "user" };
        json_t *root, *v;
        int ret;

        memset(out, 0, sizeof(*out));
        ret = object_body(&root, body, len, known, sizeof(known) / sizeof(known[0]),
                          "name, role, expires_in, team, user", err);
        if (ret < 0)
                return ret;
        ret = string_field(root, "name", out->name, sizeof(out->name), api_key_name_valid,
                           "a key name is 1 to 63 of A-Z a-z 0-9 . _ -", err);
        if (ret == 0 && out->name[0] == '\0')
                ret = ad_error_make(err, AD_ERR_INVALID, 0, "`name` is required (the key's name)");
        if (ret == 0)
                ret = string_field(root, "team", out->team, sizeof(out->team), api_team_name_valid,
                                   "a team name is 1 to 63 of a-z 0-9 -", err);
        if (ret == 0)
                ret = string_field(root, "user", out->user, sizeof(out->user), api_user_name_valid,
                                   "a user name is 1 to 63 of A-Z a-z 0-9 . _ @ -", err);
        if (ret == 0)
                ret = role_field(root, &out->role, err);
        if (ret < 0)
                goto out;
        v = json_object_get(root, "expires_in");
        out->ttl_s = API_KEY_DEFAULT_TTL_S;
        if (v && !json_is_string(v))
                ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                    "`expires_in` must be a string such as \"30d\" or \"never\"");
        else if (v)
                ret = api_duration_parse(&out->ttl_s, json_string_value(v), err);
out:
        json_decref(root);
        return ret;
}

int api_member_parse(struct api_member *out, const char *body, size_t len, bool with_user,
                     ad_error_t *err)
{
        static const char *const known[] = { "role", "user" };
        json_t *root;
        int ret;

        memset(out, 0, sizeof(*out));
        ret = object_body(&root, body, len, known, with_user ? 2 : 1,
                          with_user ? "user, role" : "role; the user is the path's", err);
        if (ret < 0)
                return ret;
        if (with_user) {
                ret = string_field(root, "user", out->user, sizeof(out->user), api_user_name_valid,
                                   "a user name is 1 to 63 of A-Z a-z 0-9 . _ @ -", err);
                if (ret == 0 && out->user[0] == '\0')
                        ret = ad_error_make(err, AD_ERR_INVALID, 0,
                                            "`user` is required (the member's user name)");
        }
        if (ret == 0)
                ret = role_field(root, &out->role, err);
        json_decref(root);
        return ret;
}
