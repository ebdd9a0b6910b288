/* config.yaml parser: any input gives a configuration or an error, never
 * a crash, a leak or a read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "ad/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const known[] = { "nats.url", "builder.*", NULL };
        ad_config *cfg = NULL;
        ad_error_t err = NULL;
        long v;
        bool b;

        if (ad_config_load_string(&cfg, "fuzz.yaml", (const char *)data, size, &err) == 0) {
                ad_config_check_known(cfg, known, &err);
                ad_error_release(&err);
                ad_config_string(cfg, "nats.url", NULL);
                ad_config_int(cfg, "nats.url", 0, 0, 10, &v, &err);
                ad_error_release(&err);
                ad_config_bool(cfg, "builder.x", false, &b, &err);
                ad_config_free(cfg);
        }
        ad_error_release(&err);
        return 0;
}
