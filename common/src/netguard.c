/* Address classes, IP literals and the clone allowlist: see ad/netguard.h. */
#include "ad/netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct v4_range {
        uint32_t net;
        int bits;
        enum ad_addr_class cls;
};

/* Most specific first is not needed: the ranges do not overlap. */
static const struct v4_range v4_ranges[] = {
        { 0x00000000u, 8, AD_ADDR_UNSPECIFIED }, /* 0.0.0.0/8 "this network" */
        { 0x7f000000u, 8, AD_ADDR_LOOPBACK },    /* 127/8 */
        { 0x0a000000u, 8, AD_ADDR_PRIVATE },     /* 10/8 */
        { 0x64400000u, 10, AD_ADDR_PRIVATE },    /* 100.64/10 carrier-grade NAT */
        { 0xa9fe0000u, 16, AD_ADDR_LINK_LOCAL }, /* 169.254/16, cloud metadata */
        { 0xac100000u, 12, AD_ADDR_PRIVATE },    /* 172.16/12 */
        { 0xc0000000u, 24, AD_ADDR_RESERVED },   /* 192.0.0/24 IETF */
        { 0xc0000200u, 24, AD_ADDR_RESERVED },   /* 192.0.2/24 documentation */
        { 0xc0a80000u, 16, AD_ADDR_PRIVATE },    /* 192.168/16 */
        { 0xc6120000u, 15, AD_ADDR_RESERVED },   /* 198.18/15 benchmarking */
        { 0xc6336400u, 24, AD_ADDR_RESERVED },   /* 198.51.100/24 documentation */
        { 0xcb007100u, 24, AD_ADDR_RESERVED },   /* 203.0.113/24 documentation */
        { 0xe0000000u, 4, AD_ADDR_MULTICAST },   /* 224/4 */
        { 0xf0000000u, 4, AD_ADDR_RESERVED },    /* 240/4 and broadcast */
};

static enum ad_addr_class classify_v4(uint32_t a)
{
        for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
                uint32_t mask = 0xffffffffu << (32 - v4_ranges[i].bits);
                if ((a & mask) == v4_ranges[i].net)
                        return v4_ranges[i].cls;
        }
        return AD_ADDR_PUBLIC;
}

static uint32_t be32_at(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != 0)
                        return false;
        return true;
}

static enum ad_addr_class classify_v6(const uint8_t b[16])
{
        static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

        if (all_zero(b, 15))
                return b[15] == 0   ? AD_ADDR_UNSPECIFIED
                       : b[15] == 1 ? AD_ADDR_LOOPBACK
                                    : AD_ADDR_RESERVED;
        /* ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated):
         * the kernel connects to the IPv4 address. */
        if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
                return classify_v4(be32_at(b + 12));
        if (all_zero(b, 12))
                return classify_v4(be32_at(b + 12)) == AD_ADDR_PUBLIC
                               ? AD_ADDR_RESERVED
                               : classify_v4(be32_at(b + 12));
        /* 64:ff9b::/96: a NAT64 gateway would connect to the IPv4 address. */
        if (memcmp(b, nat64, 12) == 0)
                return classify_v4(be32_at(b + 12));
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
                return AD_ADDR_PRIVATE; /* 64:ff9b:1::/48 local NAT64 */
        /* 2002::/16 6to4 carries an IPv4 address in bits 16..47. */
        if (b[0] == 0x20 && b[1] == 0x02) {
                enum ad_addr_class c = classify_v4(be32_at(b + 2));
                return c == AD_ADDR_PUBLIC ? AD_ADDR_RESERVED : c;
        }
        if (b[0] == 0xff)
                return AD_ADDR_MULTICAST;
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
                return AD_ADDR_LINK_LOCAL; /* fe80::/10 */
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
                return AD_ADDR_PRIVATE; /* fec0::/10 site-local, deprecated */
        if ((b[0] & 0xfe) == 0xfc)
                return AD_ADDR_PRIVATE; /* fc00::/7 unique local */
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
                return AD_ADDR_RESERVED; /* 2001:db8::/32 documentation */
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
                return AD_ADDR_RESERVED; /* 2001::/32 Teredo: hides its IPv4 */
        if (b[0] == 0x01 && all_zero(b + 1, 7))
                return AD_ADDR_RESERVED; /* 100::/64 discard */
        return AD_ADDR_PUBLIC;
}

enum ad_addr_class ad_addr_classify(const struct sockaddr *sa)
{
        if (sa == NULL)
                return AD_ADDR_RESERVED;
        if (sa->sa_family == AF_INET)
                return classify_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
        if (sa->sa_family == AF_INET6)
                return classify_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
        return AD_ADDR_RESERVED;
}

const char *ad_addr_class_name(enum ad_addr_class c)
{
        switch (c) {
        case AD_ADDR_PUBLIC:
                return "a public address";
        case AD_ADDR_LOOPBACK:
                return "a loopback address";
        case AD_ADDR_PRIVATE:
                return "a private address";
        case AD_ADDR_LINK_LOCAL:
                return "a link-local address";
        case AD_ADDR_MULTICAST:
                return "a multicast address";
        case AD_ADDR_UNSPECIFIED:
                return "an unspecified address";
        case AD_ADDR_RESERVED:
                break;
        }
        return "a reserved address";
}

int ad_ip_literal_parse(struct sockaddr_storage *out, const char *host, size_t len)
{
        char buf[AD_NET_HOST_MAX + 2];
        struct in_addr a4;
        struct in6_addr a6;

        if (len == 0 || len > AD_NET_HOST_MAX)
                return 0;
        memcpy(buf, host, len);
        buf[len] = '\0';
        /* The resolver ignores one trailing dot on a numeric name. */
        if (len > 1 && buf[len - 1] == '.')
                buf[len - 1] = '\0';
        memset(out, 0, sizeof(*out));
        if (strchr(buf, ':') != NULL) {
                if (inet_pton(AF_INET6, buf, &a6) != 1)
                        return 0;
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
                s6->sin6_family = AF_INET6;
                s6->sin6_addr = a6;
                return 1;
        }
        /* inet_aton takes what getaddrinfo takes: 127.1, 2130706433,
         * 0x7f.0.0.1, 0177.0.0.1.  It stops at whitespace, which a URL
         * host never holds (checked before), but be exact anyway. */
        if (buf[strspn(buf, "0123456789abcdefABCDEFxX.")] != '\0' || inet_aton(buf, &a4) == 0)
                return 0;
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        s4->sin_family = AF_INET;
        s4->sin_addr = a4;
        return 1;
}

static bool has_prefix(const char *s, const char *prefix)
{
        return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int parse_port(const char *s, size_t len, unsigned *port)
{
        unsigned v = 0;

        if (len == 0 || len > 5)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -1;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -1;
        *port = v;
        return 0;
}

/* host (with [v6] brackets) and an optional :port within s[0..len). */
static int split_host_port(const char *s, size_t len, const char **host, size_t *host_len,
                           const char **port, size_t *port_len)
{
        const char *colon;

        *port = NULL;
        *port_len = 0;
        if (len > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', len);
                if (close == NULL)
                        return -1;
                *host = s + 1;
                *host_len = (size_t)(close - s) - 1;
                if ((size_t)(close - s) + 1 < len) {
                        if (close[1] != ':')
                                return -1;
                        *port = close + 2;
                        *port_len = len - (size_t)(close - s) - 2;
                }
                return 0;
        }
        colon = memchr(s, ':', len);
        *host = s;
        *host_len = colon ? (size_t)(colon - s) : len;
        if (colon) {
                *port = colon + 1;
                *port_len = len - (size_t)(colon - s) - 1;
        }
        return 0;
}

static int copy_host(char *dst, size_t size, const char *src, size_t len)
{
        if (len == 0 || len >= size || len > AD_NET_HOST_MAX)
                return -1;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)src[i];
                if (c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == '[' || c == ']')
                        return -1;
                dst[i] = (char)tolower(c);
        }
        dst[len] = '\0';
        return 0;
}

int ad_url_host_port(const char *url, char *host, size_t host_size, unsigned *port, ad_error_t *err)
{
        static const struct {
                const char *scheme;
                unsigned port;
        } schemes[] = { { "https://", 443 }, { "http://", 80 }, { "git://", 9418 } };
        const char *auth = NULL, *end, *at, *h, *p;
        size_t h_len, p_len;
        unsigned def = 0;

        if (url == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0, "no repository URL");
        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
                if (has_prefix(url, schemes[i].scheme)) {
                        auth = url + strlen(schemes[i].scheme);
                        def = schemes[i].port;
                        break;
                }
        if (auth == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "only https://, http:// and git:// URLs name a host");
        end = auth + strcspn(auth, "/?#");
        at = memrchr(auth, '@', (size_t)(end - auth));
        if (at)
                auth = at + 1;
        if (split_host_port(auth, (size_t)(end - auth), &h, &h_len, &p, &p_len) < 0 ||
            copy_host(host, host_size, h, h_len) < 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "the URL has an invalid host");
        *port = def;
        if (p != NULL && parse_port(p, p_len, port) < 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "the URL has an invalid port");
        return 0;
}

int ad_net_allowlist_parse(struct ad_net_allowlist *out, const char *spec, ad_error_t *err)
{
        const char *s = spec ? spec : "";

        memset(out, 0, sizeof(*out));
        while (*s) {
                const char *end, *h, *p;
                size_t len, h_len, p_len;
                struct ad_net_allow *e;

                s += strspn(s, " \t,");
                if (*s == '\0')
                        break;
                end = s + strcspn(s, ",");
                len = (size_t)(end - s);
                while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                        len--;
                if (out->n == AD_NET_ALLOW_MAX)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "more than %d allowlist entries", AD_NET_ALLOW_MAX);
                e = &out->e[out->n];
                if (split_host_port(s, len, &h, &h_len, &p, &p_len) < 0 || p == NULL ||
                    copy_host(e->host, sizeof(e->host), h, h_len) < 0 ||
                    parse_port(p, p_len, &e->port) < 0 || strchr(e->host, '*') != NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "allowlist entry `%.*s`: expected host:port or "
                                             "[ipv6]:port (exact, no wildcard)",
                                             (int)(len > 80 ? 80 : len), s);
                e->is_addr = ad_ip_literal_parse(&e->addr, e->host, strlen(e->host)) == 1;
                out->n++;
                s = end;
        }
        return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
        if (a->ss_family != b->sa_family)
                return false;
        if (b->sa_family == AF_INET)
                return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
        if (b->sa_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                              &((const struct sockaddr_in6 *)b)->sin6_addr,
                              sizeof(struct in6_addr)) == 0;
        return false;
}

bool ad_net_allowlist_match(const struct ad_net_allowlist *al, const char *host, unsigned port,
                            const struct sockaddr *addr)
{
        struct sockaddr_storage lit;
        bool host_is_addr = false;

        if (al == NULL)
                return false;
        if (host != NULL)
                host_is_addr = ad_ip_literal_parse(&lit, host, strlen(host)) == 1;
        for (size_t i = 0; i < al->n; i++) {
                const struct ad_net_allow *e = &al->e[i];

                if (e->port != port)
                        continue;
                if (host != NULL && strcasecmp(e->host, host) == 0)
                        return true;
                if (e->is_addr && host_is_addr && same_addr(&e->addr, (struct sockaddr *)&lit))
                        return true;
                if (e->is_addr && addr != NULL && same_addr(&e->addr, addr))
                        return true;
        }
        return false;
}
