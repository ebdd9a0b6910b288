/* Where connections made on a user's behalf may go.
 *
 * A repository URL is hostile input: its host may name (or resolve to, or
 * redirect to) the platform's own services on loopback, the cloud metadata
 * endpoint on a link-local address, or anything on a private network.
 * These helpers classify addresses, read IP literals in every spelling the
 * resolver accepts (127.1, 2130706433, 0x7f.0.0.1, 017700000001, [::1],
 * [::ffff:127.0.0.1]) and hold the operator's allowlist of exact host:port
 * pairs that may be reached anyway (the demo's and the tests' git server).
 *
 * The authority is the check at connect time (ad/git.h pins the clone to
 * the addresses it checked); the URL check is the early, clear refusal. */
#ifndef AD_NETGUARD_H
#define AD_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ad/error.h"

enum ad_addr_class {
        AD_ADDR_PUBLIC = 0,
        AD_ADDR_LOOPBACK,
        AD_ADDR_PRIVATE, /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 */
        AD_ADDR_LINK_LOCAL,
        AD_ADDR_MULTICAST,
        AD_ADDR_UNSPECIFIED,
        AD_ADDR_RESERVED, /* broadcast, documentation, benchmarking, 240/4 */
};

/* The class of an AF_INET or AF_INET6 address (IPv4 embedded in IPv6,
 * mapped, compatible, NAT64 or 6to4, is classified as IPv4).  Anything
 * else is AD_ADDR_RESERVED. */
enum ad_addr_class ad_addr_classify(const struct sockaddr *sa);

/* "a loopback address", "a private address"... for messages. */
const char *ad_addr_class_name(enum ad_addr_class c);

/* Parses host (len bytes, brackets already removed for IPv6) as an IP
 * literal the way the resolver would: 1 and *out filled when it is one,
 * 0 when it is a name. */
int ad_ip_literal_parse(struct sockaddr_storage *out, const char *host, size_t len);

/* Host and port of an http://, https:// or git:// URL (userinfo skipped,
 * IPv6 brackets removed, the scheme's port when none is given). */
int ad_url_host_port(const char *url, char *host, size_t host_size, unsigned *port,
                     ad_error_t *err);

#define AD_NET_ALLOW_MAX 32
#define AD_NET_HOST_MAX 253

struct ad_net_allow {
        char host[AD_NET_HOST_MAX + 1]; /* lower case, no brackets */
        unsigned port;
        bool is_addr;
        struct sockaddr_storage addr; /* when is_addr */
};

struct ad_net_allowlist {
        size_t n;
        struct ad_net_allow e[AD_NET_ALLOW_MAX];
};

/* "host:port, [v6]:port, ...": exact pairs, a port in every entry, no
 * wildcards.  NULL or "" is the empty list.  AD_ERR_INVALID with the bad
 * entry quoted. */
int ad_net_allowlist_parse(struct ad_net_allowlist *out, const char *spec, ad_error_t *err);

/* True when a connection to host:port (as written, or the address it
 * resolved to, addr may be NULL) is on the list. */
bool ad_net_allowlist_match(const struct ad_net_allowlist *al, const char *host, unsigned port,
                            const struct sockaddr *addr);

#endif
