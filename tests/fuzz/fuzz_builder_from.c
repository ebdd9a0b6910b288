/* The builder's FROM / COPY --from check: any Dockerfile text gives an
 * answer or an error, never a crash or a read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder_from.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ad_error_t err = NULL;
        char *text;

        if (size > 65536)
                return 0;
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        builder_from_check(text, "127.0.0.1:5000", "app", &err);
        ad_error_release(&err);
        builder_from_check(text, "[::1]:5000", "app", &err);
        ad_error_release(&err);
        free(text);
        return 0;
}
