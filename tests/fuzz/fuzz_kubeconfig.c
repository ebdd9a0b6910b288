/* The deployer's kubeconfig parser (services/deployer/k8s_client.c): any
 * input gives the context's credentials or an error, never a crash, a
 * leak or a read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "k8s_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct k8s_kubeconfig kc;
        ad_error_t err = NULL;

        if (k8s_kubeconfig_parse(&kc, (const char *)data, size, NULL, &err) == 0)
                k8s_kubeconfig_clear(&kc);
        ad_error_release(&err);
        if (k8s_kubeconfig_parse(&kc, (const char *)data, size, "other", &err) == 0)
                k8s_kubeconfig_clear(&kc);
        ad_error_release(&err);
        return 0;
}
