#include "ad/names.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool ad_app_name_valid(const char *name)
{
        size_t n;

        if (name == NULL)
                return false;
        n = strlen(name);
        if (n == 0 || n > AD_APP_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
                      name[i] == '-'))
                        return false;
        return true;
}

int ad_hostname_normalize(char out[AD_HOSTNAME_MAX + 1], const char *in, size_t len,
                          ad_error_t *err)
{
        char buf[AD_HOSTNAME_MAX + 1];
        size_t label = 0, labels = 1;
        bool last_digits = true;

        if (in == NULL || len == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "the host name is empty");
        if (in[len - 1] == '.')
                len--; /* the absolute form names the same host */
        if (len == 0 || len > AD_HOSTNAME_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0, "a host name has 1 to %d characters",
                                     AD_HOSTNAME_MAX);
        for (size_t i = 0; i < len; i++) {
                char c = (char)tolower((unsigned char)in[i]);

                if (c == '.') {
                        if (label == 0 || buf[i - 1] == '-')
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "host name labels must be 1 to 63 "
                                                     "characters, not ending with '-'");
                        labels++;
                        label = 0;
                        last_digits = true;
                        buf[i] = c;
                        continue;
                }
                if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "a host name has only letters, digits, '-' and '.' "
                                             "(character %zu is not one)",
                                             i + 1);
                if (c == '-' && label == 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "host name labels must not start with '-'");
                if (++label > 63)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "host name labels have at most 63 characters");
                last_digits = last_digits && isdigit((unsigned char)c);
                buf[i] = c;
        }
        if (label == 0 || buf[len - 1] == '-')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "host name labels must be 1 to 63 characters, not ending "
                                     "with '-'");
        if (labels < 2)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "give a fully qualified host name such as www.example.com");
        if (last_digits)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "an IP address is not a host name: give a DNS name");
        buf[len] = '\0';
        memcpy(out, buf, len + 1);
        return 0;
}

int ad_app_name_from_url(char out[AD_APP_NAME_MAX + 1], const char *url, ad_error_t *err)
{
        const char *end, *start;
        size_t n = 0;

        if (url == NULL || *url == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "empty repository URL");
        end = url + strlen(url);
        while (end > url && end[-1] == '/')
                end--;
        if (end - url >= 4 && strncmp(end - 4, ".git", 4) == 0)
                end -= 4;
        start = end;
        while (start > url && start[-1] != '/' && start[-1] != ':')
                start--;
        for (const char *p = start; p < end && n < AD_APP_NAME_MAX; p++) {
                char c = (char)tolower((unsigned char)*p);
                if (!(islower((unsigned char)c) || isdigit((unsigned char)c)))
                        c = '-';
                /* No leading dash and no runs of dashes. */
                if (c == '-' && (n == 0 || out[n - 1] == '-'))
                        continue;
                out[n++] = c;
        }
        while (n > 0 && out[n - 1] == '-')
                n--;
        out[n] = '\0';
        if (n == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "cannot derive an app name from `%s`: give one with \"name\"",
                                     url);
        return 0;
}

void ad_name_network(char *out, size_t size, const char *app)
{
        snprintf(out, size, "ad-%s", app);
}

bool ad_process_name_valid(const char *s, size_t n)
{
        if (s == NULL || n == 0 || n > AD_PROCESS_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z') ||
            s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

void ad_name_process_type(char out[AD_PROCESS_NAME_MAX + 1], const char *container, const char *app)
{
        size_t skip = strlen("ad-") + strlen(app) + 1 + 12;
        const char *rest = strlen(container) > skip ? container + skip : "", *last;

        snprintf(out, AD_PROCESS_NAME_MAX + 1, "web");
        if (rest[0] != '-' || (last = strrchr(rest, '-')) == rest)
                return;
        if ((size_t)(last - rest - 1) <= AD_PROCESS_NAME_MAX &&
            ad_process_name_valid(rest + 1, (size_t)(last - rest - 1)))
                snprintf(out, AD_PROCESS_NAME_MAX + 1, "%.*s", (int)(last - rest - 1), rest + 1);
}

void ad_name_deployment_hex(char out[AD_DEPLOYMENT_HEX_LEN + 1], const char *deployment_id)
{
        size_t n = 0;

        for (const char *p = deployment_id; *p && n < AD_DEPLOYMENT_HEX_LEN; p++)
                if (*p != '-')
                        out[n++] = *p;
        out[n] = '\0';
}

void ad_name_container(char *out, size_t size, const char *app, const char *deployment_id)
{
        char hex[AD_DEPLOYMENT_HEX_LEN + 1];

        ad_name_deployment_hex(hex, deployment_id);
        snprintf(out, size, "ad-%s-%s", app, hex);
}

void ad_name_route(char *out, size_t size, const char *app)
{
        snprintf(out, size, "ad-route-%s", app);
}

void ad_name_image(char *out, size_t size, const char *registry, const char *app, const char *tag)
{
        snprintf(out, size, "%s/%s:%s", registry, app, tag);
}
