#include "ad/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One URL of a list: "scheme://user:***@rest" when it has a password. */
static void redact_one(FILE *f, const char *url, size_t len)
{
        const char *scheme = memmem(url, len, "://", 3), *at, *colon, *slash;
        size_t rest;

        if (scheme == NULL) {
                fwrite(url, 1, len, f);
                return;
        }
        scheme += 3;
        rest = len - (size_t)(scheme - url);
        slash = memchr(scheme, '/', rest);
        at = memchr(scheme, '@', rest);
        if (at == NULL || (slash && at > slash) ||
            (colon = memchr(scheme, ':', (size_t)(at - scheme))) == NULL) {
                fwrite(url, 1, len, f);
                return;
        }
        fprintf(f, "%.*s:***%.*s", (int)(colon - url), url, (int)(len - (size_t)(at - url)), at);
}

/* Every URL of a comma-separated list (NATS servers) is redacted. */
char *ad_redact_url(const char *url)
{
        char *out = NULL;
        size_t size = 0;
        FILE *f;

        if (url == NULL)
                return NULL;
        f = open_memstream(&out, &size);
        if (f == NULL)
                return NULL;
        for (const char *p = url;;) {
                size_t n = strcspn(p, ",");
                redact_one(f, p, n);
                if (p[n] == '\0')
                        break;
                fputc(',', f);
                p += n + 1;
        }
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}
