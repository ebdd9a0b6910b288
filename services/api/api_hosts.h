/* The Host header check against DNS rebinding (api.allowed_hosts): a web
 * page whose name an attacker points at 127.0.0.1 reaches a loopback API
 * from the victim's browser, but its requests carry the page's own name
 * in Host.  The API answers only the names it is known by.  Pure parsing,
 * without a server: the unit tests and tests/fuzz/fuzz_hosts.c call
 * exactly this code. */
#ifndef AD_API_HOSTS_H
#define AD_API_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define API_HOSTS_MAX 32
#define API_HOST_NAME_MAX 255

/* api.allowed_hosts: comma-separated names (`api.example.com`), wildcards
 * for every name under one (`*.example.com`), IPv4 literals or bracketed
 * IPv6 literals (`[fd00::1]`); case-insensitive, no port.  The loopback
 * names (localhost and *.localhost, 127.0.0.0/8, [::1]) are always
 * allowed and need not be listed. */
struct api_hosts {
        char name[API_HOSTS_MAX][API_HOST_NAME_MAX + 1];
        size_t n;
};
int api_hosts_parse(struct api_hosts *out, const char *spec, ad_error_t *err);

/* Whether host (a Host header's value: name, name:port, [v6]:port) names
 * a loopback name or one of hosts.  A malformed value is not allowed. */
bool api_host_allowed(const struct api_hosts *hosts, const char *host);

#endif
