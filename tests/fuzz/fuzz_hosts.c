/* api.allowed_hosts and the Host header (services/api/api_hosts.c): any
 * input, as a list or as a Host value, is accepted or refused, never a
 * crash or a read out of bounds; a list that parses holds valid names,
 * and each of its plain names is allowed as a Host. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct api_hosts fixed;
        static int fixed_ready;
        struct api_hosts h;
        ad_error_t err = NULL;
        char *text;

        if (size > 16384)
                return 0;
        if (!fixed_ready) {
                if (api_hosts_parse(&fixed, "api.example.com,*.corp.example", NULL) < 0)
                        abort();
                fixed_ready = 1;
        }
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        (void)api_host_allowed(&fixed, text);
        (void)api_host_allowed(NULL, text);
        if (api_hosts_parse(&h, text, &err) == 0) {
                if (h.n > API_HOSTS_MAX)
                        abort();
                for (size_t i = 0; i < h.n; i++)
                        if (strncmp(h.name[i], "*.", 2) != 0 && !api_host_allowed(&h, h.name[i]))
                                abort();
        } else if (err == NULL) {
                abort();
        }
        ad_error_release(&err);
        free(text);
        return 0;
}
