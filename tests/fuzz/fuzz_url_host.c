/* The clone guard's parsers (ad/netguard.h, ad_git_url_check_host): any
 * input as a repository URL, an IP literal or an allowlist gives an answer
 * or an error, never a crash or a read out of bounds.  A literal that
 * parses is classified; an allowlist that parses matches consistently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/git.h"
#include "ad/netguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct ad_net_allowlist al;
        char host[AD_NET_HOST_MAX + 1];
        struct sockaddr_storage ss;
        ad_error_t err = NULL;
        unsigned port;
        char *text;

        if (size > 4096)
                return 0;
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        if (ad_url_host_port(text, host, sizeof(host), &port, &err) == 0) {
                if (port == 0 || port > 65535 || strlen(host) == 0)
                        abort();
                if (ad_ip_literal_parse(&ss, host, strlen(host)) == 1)
                        (void)ad_addr_class_name(ad_addr_classify((struct sockaddr *)&ss));
        }
        ad_error_release(&err);
        ad_git_url_check(text, false, &err);
        ad_error_release(&err);
        ad_git_url_check_host(text, "127.0.0.1:9418,[::1]:80,git.local:443", &err);
        ad_error_release(&err);
        if (ad_ip_literal_parse(&ss, (const char *)data, size) == 1)
                (void)ad_addr_classify((struct sockaddr *)&ss);
        if (ad_net_allowlist_parse(&al, text, &err) == 0) {
                for (size_t i = 0; i < al.n; i++)
                        if (!ad_net_allowlist_match(&al, al.e[i].host, al.e[i].port, NULL))
                                abort(); /* every entry matches itself */
        }
        ad_error_release(&err);
        free(text);
        return 0;
}
