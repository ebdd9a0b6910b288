/* FROM / COPY --from checks: see builder_from.h. */
#include "builder_from.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad/netguard.h"

#define MAX_REF 512

/* The registry part of an image reference: its first component when it
 * holds a '.' or ':' or is "localhost" (the Docker rule). */
static bool names_platform_registry(const char *ref, size_t len, const char *registry,
                                    const char *app)
{
        const char *slash = memchr(ref, '/', len);
        char reg[AD_NET_HOST_MAX + 8], host[AD_NET_HOST_MAX + 1], url[AD_NET_HOST_MAX + 32];
        unsigned port = 0, rport = 0;
        size_t rlen, nlen;
        const char *name;

        if (slash == NULL)
                return false;
        rlen = (size_t)(slash - ref);
        if (rlen == 0 || rlen >= sizeof(reg))
                return false;
        memcpy(reg, ref, rlen);
        reg[rlen] = '\0';
        if (strpbrk(reg, ".:") == NULL && strcasecmp(reg, "localhost") != 0)
                return false;
        /* The image's name: up to a tag or digest. */
        name = slash + 1;
        nlen = strcspn(name, ":@");
        if (nlen > (size_t)(ref + len - name))
                nlen = (size_t)(ref + len - name);
        if (strcasecmp(reg, registry) == 0)
                return !(strlen(app) == nlen && strncmp(name, app, nlen) == 0);
        snprintf(url, sizeof(url), "http://%s/", reg);
        if (ad_url_host_port(url, host, sizeof(host), &port, NULL) < 0)
                return false;
        snprintf(url, sizeof(url), "http://%s/", registry);
        if (ad_url_host_port(url, host + 0, sizeof(host), &rport, NULL) < 0 || port != rport)
                return false;
        snprintf(url, sizeof(url), "http://%s/", reg);
        ad_url_host_port(url, host, sizeof(host), &port, NULL);
        {
                struct sockaddr_storage ss;
                size_t hl = strlen(host);
                bool internal = strcmp(host, "localhost") == 0 ||
                                (hl > 10 && strcmp(host + hl - 10, ".localhost") == 0) ||
                                (ad_ip_literal_parse(&ss, host, hl) == 1 &&
                                 ad_addr_classify((struct sockaddr *)&ss) != AD_ADDR_PUBLIC);
                if (!internal)
                        return false;
        }
        return !(strlen(app) == nlen && strncmp(name, app, nlen) == 0);
}

static int check_line(const char *line, size_t len, unsigned lineno, const char *registry,
                      const char *app, ad_error_t *err)
{
        const char *p = line, *end = line + len;
        bool is_from;

        while (p < end && isspace((unsigned char)*p))
                p++;
        is_from = (size_t)(end - p) > 5 && strncasecmp(p, "FROM", 4) == 0 &&
                  isspace((unsigned char)p[4]);
        if (!is_from && !(((size_t)(end - p) > 5 &&
                           (strncasecmp(p, "COPY", 4) == 0 || strncasecmp(p, "ADD ", 4) == 0))))
                return 0;
        /* ADD <url> is fetched by the engine on the host, outside the
         * build's network namespace: refused (curl in a RUN step instead). */
        if (!is_from && strncasecmp(p, "ADD", 3) == 0) {
                for (const char *q = p + 4; q + 3 <= end; q++)
                        if (memcmp(q, "://", 3) == 0)
                                return ad_error_make(
                                        err, AD_ERR_INVALID, 0,
                                        "Dockerfile line %u: ADD from a URL is not allowed (it "
                                        "would be fetched from the build host's network): "
                                        "download it in a RUN step instead",
                                        lineno);
        }
        p += 4;
        while (p < end) {
                const char *tok;
                size_t tlen;

                while (p < end && isspace((unsigned char)*p))
                        p++;
                tok = p;
                while (p < end && !isspace((unsigned char)*p))
                        p++;
                tlen = (size_t)(p - tok);
                if (tlen == 0)
                        break;
                if (!is_from) {
                        if (tlen > 7 && strncasecmp(tok, "--from=", 7) == 0 &&
                            names_platform_registry(tok + 7, tlen - 7, registry, app))
                                goto refuse;
                        if (tok[0] != '-')
                                break; /* the sources: no more flags */
                        continue;
                }
                if (tok[0] == '-')
                        continue; /* --platform=... */
                if (names_platform_registry(tok, tlen, registry, app))
                        goto refuse;
                break;
        }
        return 0;
refuse:
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "Dockerfile line %u names another app's image in the platform's "
                             "registry (%.*s): builds may only use public images or this "
                             "app's own",
                             lineno, (int)(len > 200 ? 200 : len), line);
}

int builder_from_check(const char *dockerfile, const char *registry, const char *app,
                       ad_error_t *err)
{
        char *text, *p;
        unsigned lineno = 0;
        int ret = 0;

        if (dockerfile == NULL)
                return 0;
        /* Continued lines ("FROM \\\n image") read as one (line numbers
         * then count instructions). */
        text = strdup(dockerfile);
        if (text == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        for (char *c = text; (c = strstr(c, "\\\n")) != NULL;)
                c[0] = c[1] = ' ';
        p = text;
        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                lineno++;
                ret = check_line(p, len, lineno, registry, app, err);
                if (ret < 0)
                        break;
                p += len + (nl ? 1 : 0);
        }
        free(text);
        return ret;
}
