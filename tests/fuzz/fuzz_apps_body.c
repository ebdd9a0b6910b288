/* The /apps bodies as adapi parses them (config patch, scale, rollback,
 * app deploy, custom domain, one-off run) and the host name rules of a {host} path
 * segment: any input is accepted or rejected with a message, never a
 * crash or a leak, and what is accepted keeps the parsers' promises. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/names.h"
#include "api_apps_request.h"

/* What a normalized host name promises: 1..253 characters of a-z, 0-9,
 * '-' and '.', labels of 1..63 not starting or ending with '-', at least
 * two, the last not all digits. */
static void check_host(const char *h)
{
        size_t n = strlen(h), label = 0, labels = 1;
        bool digits = true;

        if (n == 0 || n > AD_HOSTNAME_MAX || h[0] == '.' || h[n - 1] == '.' || h[0] == '-' ||
            h[n - 1] == '-')
                abort();
        for (size_t i = 0; i < n; i++) {
                if (h[i] == '.') {
                        if (label == 0 || h[i - 1] == '-' || h[i + 1] == '-')
                                abort();
                        labels++;
                        label = 0;
                        digits = true;
                        continue;
                }
                if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-'))
                        abort();
                if (++label > 63)
                        abort();
                digits = digits && h[i] >= '0' && h[i] <= '9';
        }
        if (labels < 2 || digits)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct api_config_patch *patch = NULL;
        ad_error_t err = NULL;
        uint32_t n = 0;
        char *ref = NULL;
        char *text;

        /* The server hands the parsers a NUL-terminated body of body_len. */
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        if (api_config_patch_parse(&patch, text, size, &err) == 0) {
                if (patch->n_set + patch->n_unset == 0 ||
                    patch->n_set + patch->n_unset > AD_ENV_MAX_VARS)
                        abort();
                for (size_t i = 0; i < patch->n_set; i++)
                        if (!api_env_name_valid(patch->set[i].name) ||
                            strlen(patch->set[i].value) > AD_ENV_VALUE_MAX)
                                abort();
                for (size_t i = 0; i < patch->n_unset; i++)
                        if (!api_env_name_valid(patch->unset[i]))
                                abort();
                api_config_patch_free(patch);
        } else if (err == NULL || patch != NULL) {
                abort();
        }
        ad_error_release(&err);

        {
                struct api_scale sc;

                if (api_scale_parse(&sc, text, size, &err) == 0) {
                        if (sc.web > API_SCALE_MAX || sc.n_other > API_SCALE_TYPES ||
                            (sc.web == 0 && sc.n_other == 0))
                                abort();
                        for (size_t i = 0; i < sc.n_other; i++)
                                if (sc.other[i].replicas > API_SCALE_MAX ||
                                    !ad_process_name_valid(sc.other[i].name,
                                                           strlen(sc.other[i].name)))
                                        abort();
                }
        }
        ad_error_release(&err);
        if (api_rollback_parse(&n, text, size, &err) == 0 && n > INT32_MAX)
                abort();
        ad_error_release(&err);
        if (api_app_deploy_parse(&ref, text, size, &err) == 0 && ref && *ref && !api_ref_valid(ref))
                abort();
        free(ref);
        ad_error_release(&err);

        {
                char *command = NULL;
                long timeout_s = -1;

                if (api_run_parse(&command, &timeout_s, text, size, &err) == 0 &&
                    (command == NULL || *command == '\0' || strlen(command) > API_RUN_COMMAND_MAX ||
                     timeout_s < 0 || timeout_s > API_RUN_TIMEOUT_MAX))
                        abort();
                free(command);
                ad_error_release(&err);
        }
        {
                char host[AD_HOSTNAME_MAX + 1], again[AD_HOSTNAME_MAX + 1];

                if (api_domain_parse(host, text, size, &err) == 0)
                        check_host(host);
                ad_error_release(&err);
                /* The raw bytes as a path segment; a normalized name is
                 * its own normal form. */
                if (ad_hostname_normalize(host, text, size, &err) == 0) {
                        check_host(host);
                        if (ad_hostname_normalize(again, host, strlen(host), NULL) < 0 ||
                            strcmp(again, host) != 0)
                                abort();
                } else if (err == NULL) {
                        abort();
                }
                ad_error_release(&err);
        }
        free(text);
        return 0;
}
