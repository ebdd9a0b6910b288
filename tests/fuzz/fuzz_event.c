/* Protobuf envelopes from the bus: garbage is rejected, never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ad/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ad_envelope *env = NULL;
        ad_error_t err = NULL;

        if (ad_event_unpack(&env, data, size, &err) == 0) {
                uint8_t *buf = NULL;
                size_t len = 0;

                /* What decodes must encode again. */
                ad_event_kind(env);
                if (ad_event_pack(env, &buf, &len, &err) == 0)
                        free(buf);
                ad_event_free(env);
        }
        ad_error_release(&err);
        return 0;
}
