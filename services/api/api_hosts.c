/* api.allowed_hosts and the Host header (api_hosts.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api_hosts.h"
#include "api_request.h"

/* A name of [a-z0-9.-] (lower case already), or a bracketed IPv6 literal
 * of [0-9a-f:.]; "*." in front when wildcard_ok. */
static bool name_valid(const char *s, bool wildcard_ok)
{
        size_t n = strlen(s);

        if (wildcard_ok && strncmp(s, "*.", 2) == 0) {
                s += 2;
                n -= 2;
        }
        if (n == 0 || n > API_HOST_NAME_MAX)
                return false;
        if (s[0] == '[') {
                if (n < 4 || s[n - 1] != ']')
                        return false;
                for (size_t i = 1; i + 1 < n; i++)
                        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
                                return false;
                return true;
        }
        /* One trailing dot (the root) is taken off before; another is
         * an empty label. */
        if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' ||
                      s[i] == '-'))
                        return false;
        return strstr(s, "..") == NULL;
}

int api_hosts_parse(struct api_hosts *out, const char *spec, ad_error_t *err)
{
        memset(out, 0, sizeof(*out));
        for (const char *p = spec ? spec : ""; *p;) {
                size_t n = strcspn(p, ","), b = 0, e = n;
                char shown[64], *name;

                while (b < e && isspace((unsigned char)p[b]))
                        b++;
                while (e > b && isspace((unsigned char)p[e - 1]))
                        e--;
                if (e > b) {
                        if (out->n == API_HOSTS_MAX)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.allowed_hosts: at most %d names",
                                                     API_HOSTS_MAX);
                        name = out->name[out->n];
                        if (e - b > API_HOST_NAME_MAX) {
                                api_text_excerpt(shown, sizeof(shown), p + b);
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.allowed_hosts: `%s` is longer than %d "
                                                     "characters",
                                                     shown, API_HOST_NAME_MAX);
                        }
                        for (size_t i = 0; i < e - b; i++)
                                name[i] = (char)tolower((unsigned char)p[b + i]);
                        name[e - b] = '\0';
                        if (e - b > 1 && name[e - b - 1] == '.')
                                name[e - b - 1] = '\0';
                        if (!name_valid(name, true)) {
                                api_text_excerpt(shown, sizeof(shown), name);
                                memset(name, 0, API_HOST_NAME_MAX + 1);
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "api.allowed_hosts: `%s` is not a host name "
                                                     "(api.example.com), a wildcard "
                                                     "(*.example.com) or an IP literal (no port)",
                                                     shown);
                        }
                        out->n++;
                }
                p += n;
                if (*p == ',')
                        p++;
        }
        return 0;
}

/* 127.a.b.c, each part 0-255. */
static bool loopback_v4(const char *s)
{
        unsigned parts[4];
        char tail;

        return sscanf(s, "%3u.%3u.%3u.%3u%c", &parts[0], &parts[1], &parts[2], &parts[3], &tail) ==
                       4 &&
               parts[0] == 127 && parts[1] < 256 && parts[2] < 256 && parts[3] < 256 &&
               strspn(s, "0123456789.") == strlen(s);
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n > m && strcmp(s + n - m, suffix) == 0;
}

bool api_host_allowed(const struct api_hosts *hosts, const char *host)
{
        char name[API_HOST_NAME_MAX + 1];
        const char *port;
        size_t n;

        if (host == NULL)
                return false;
        /* The name, without the port. */
        if (host[0] == '[') {
                const char *close = strchr(host, ']');

                if (close == NULL)
                        return false;
                n = (size_t)(close - host) + 1;
                port = close + 1;
        } else {
                n = strcspn(host, ":");
                port = host + n;
        }
        if (*port == ':') {
                port++;
                if (*port == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
                        return false;
        } else if (*port != '\0') {
                return false;
        }
        if (n == 0 || n > API_HOST_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                name[i] = (char)tolower((unsigned char)host[i]);
        name[n] = '\0';
        if (n > 1 && name[n - 1] == '.')
                name[n - 1] = '\0';
        if (!name_valid(name, false))
                return false;
        if (strcmp(name, "localhost") == 0 || ends_with(name, ".localhost") ||
            strcmp(name, "[::1]") == 0 || loopback_v4(name))
                return true;
        for (size_t i = 0; hosts && i < hosts->n; i++) {
                const char *h = hosts->name[i];

                if (strncmp(h, "*.", 2) == 0 ? ends_with(name, h + 1) : strcmp(name, h) == 0)
                        return true;
        }
        return false;
}
