/* The /apps bodies as adapi parses them (config patch, scale, rollback,
 * app deploy): any input is accepted or rejected with a message, never a
 * crash or a leak, and what is accepted keeps the parsers' promises. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_apps_request.h"

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

        if (api_scale_parse(&n, text, size, &err) == 0 && (n < 1 || n > API_SCALE_MAX))
                abort();
        ad_error_release(&err);
        if (api_rollback_parse(&n, text, size, &err) == 0 && n > INT32_MAX)
                abort();
        ad_error_release(&err);
        if (api_app_deploy_parse(&ref, text, size, &err) == 0 && ref && *ref && !api_ref_valid(ref))
                abort();
        free(ref);
        ad_error_release(&err);
        free(text);
        return 0;
}
