/* Credentials in repository URLs sealed in place (ad/secret.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/secret.h"

#define SEALED_ENC "sealed%3A"

/* The password's span in url: [*start, *end) between the userinfo's
 * first ':' and its '@'.  false when the URL has none. */
static bool password_span(const char *url, size_t *start, size_t *end)
{
        const char *auth = strstr(url ? url : "", "://"), *at, *colon;
        size_t n;

        if (auth == NULL)
                return false;
        auth += 3;
        n = strcspn(auth, "/?#");
        at = memrchr(auth, '@', n);
        if (at == NULL)
                return false;
        colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon == NULL)
                return false;
        *start = (size_t)(colon + 1 - url);
        *end = (size_t)(at - url);
        return true;
}

bool ad_secret_url_has_password(const char *url)
{
        size_t s, e;

        return password_span(url, &s, &e);
}

bool ad_secret_url_is_sealed(const char *url)
{
        size_t s, e;

        return password_span(url, &s, &e) && e - s > strlen(SEALED_ENC) &&
               strncmp(url + s, SEALED_ENC, strlen(SEALED_ENC)) == 0;
}

/* url with [s, e) replaced by mid. */
static int splice(char **out, const char *url, size_t s, size_t e, const char *mid, ad_error_t *err)
{
        size_t n = strlen(url), m = strlen(mid);
        char *r = malloc(n - (e - s) + m + 1);

        if (r == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        /* The three pieces, the last with url's terminating NUL. */
        memcpy(r, url, s);
        memcpy(r + s, mid, m);
        memcpy(r + s + m, url + e, n - e);
        r[n - (e - s) + m] = '\0';
        *out = r;
        return 0;
}

int ad_secret_url_seal(char **out, const struct ad_secret_key *key, const char *app,
                       const char *url, ad_error_t *err)
{
        char *plain = NULL, *sealed = NULL, *enc = NULL;
        size_t s, e, n = 0;
        int ret;

        if (!password_span(url, &s, &e) || ad_secret_url_is_sealed(url))
                return splice(out, url, 0, 0, "", err);
        plain = strndup(url + s, e - s);
        if (plain == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = ad_secret_seal(&sealed, key, app, AD_SECRET_URL_NAME, plain, err);
        explicit_bzero(plain, e - s);
        free(plain);
        if (ret < 0)
                return ret;
        /* Every byte but [A-Za-z0-9] percent-encoded: ':', '/', '+', '='
         * would end or split the userinfo. */
        enc = malloc(strlen(sealed) * 3 + 1);
        if (enc == NULL) {
                free(sealed);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        for (const char *p = sealed; *p; p++)
                n += (size_t)(isalnum((unsigned char)*p)
                                      ? snprintf(enc + n, 2, "%c", *p)
                                      : snprintf(enc + n, 4, "%%%02X", (unsigned char)*p));
        free(sealed);
        ret = splice(out, url, s, e, enc, err);
        free(enc);
        return ret;
}

static int hex(char c)
{
        return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* The password of url, [s, e), percent-decoded (malloc'd; NULL: out of
 * memory). */
static char *decoded_password(const char *url, size_t s, size_t e)
{
        char *sealed = malloc(e - s + 1);
        size_t n = 0;

        if (sealed == NULL)
                return NULL;
        for (size_t i = s; i < e; i++) {
                if (url[i] == '%' && i + 2 < e && isxdigit((unsigned char)url[i + 1]) &&
                    isxdigit((unsigned char)url[i + 2])) {
                        sealed[n++] = (char)(hex(url[i + 1]) * 16 + hex(url[i + 2]));
                        i += 2;
                } else {
                        sealed[n++] = url[i];
                }
        }
        sealed[n] = '\0';
        return sealed;
}

bool ad_secret_url_is_current(const char *url, const struct ad_secret_key *key)
{
        char *sealed;
        size_t s, e;
        bool current;

        if (!ad_secret_url_is_sealed(url) || !password_span(url, &s, &e) ||
            (sealed = decoded_password(url, s, e)) == NULL)
                return false;
        current = ad_secret_is_current(sealed, key);
        free(sealed);
        return current;
}

int ad_secret_url_open(char **out, const struct ad_secret_keyring *ring, const char *app,
                       const char *url, ad_error_t *err)
{
        char *sealed = NULL, *plain = NULL;
        size_t s, e;
        int ret;

        if (!ad_secret_url_is_sealed(url))
                return splice(out, url, 0, 0, "", err);
        if (ring == NULL || ring->n == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the repository URL holds a sealed credential and this "
                                     "service has no secrets.key to open it");
        password_span(url, &s, &e);
        sealed = decoded_password(url, s, e);
        if (sealed == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = ad_secret_open(&plain, ring, app, AD_SECRET_URL_NAME, sealed, err);
        free(sealed);
        if (ret < 0)
                return ad_error_wrap(err, "the repository URL's credential does not open");
        ret = splice(out, url, s, e, plain, err);
        explicit_bzero(plain, strlen(plain));
        free(plain);
        return ret;
}
