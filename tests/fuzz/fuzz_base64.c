/* The base layer's strict base64 decoder (ad/base64.h), used by the API's
 * JWTs and cursors and the deployer's kubeconfig: any input, under every
 * combination of flags, decodes or is refused, never a crash or a write
 * out of bounds; and what decodes is canonical: its bytes re-encode to the
 * input (spaces dropped, padding as the input had it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *in, size_t n, unsigned flags)
{
        size_t max = AD_BASE64_DECODED_MAX(n), len, m = 0;
        unsigned char *out = malloc(max + 1);
        char *squeezed = malloc(n + 1), *again;
        int padded = 0;

        if (out == NULL || squeezed == NULL)
                goto done;
        if (ad_base64_decode(in, n, flags, out, max, &len, NULL) < 0)
                goto done;
        if (len > max)
                abort();
        for (size_t i = 0; i < n; i++) {
                if ((flags & AD_BASE64_SPACE) &&
                    (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r'))
                        continue;
                if (in[i] == '=')
                        padded = 1;
                squeezed[m++] = in[i];
        }
        squeezed[m] = '\0';
        again = malloc(ad_base64_encoded_len(len, flags) + 1);
        if (again == NULL)
                goto done;
        /* padded input re-encodes with padding; unpadded without */
        ad_base64_encode(again, out, len,
                         padded || (len % 3 == 0) ? flags : flags & ~(unsigned)AD_BASE64_PAD);
        if (strcmp(again, squeezed) != 0)
                abort();
        /* a buffer one byte short is refused, not overrun */
        if (len > 0 && ad_base64_decode(in, n, flags, out, len - 1, &m, NULL) != -AD_ERR_TOO_LARGE)
                abort();
        free(again);
done:
        free(out);
        free(squeezed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 8192)
                return 0;
        for (unsigned flags = 0; flags < 8; flags++)
                check((const char *)data, size, flags);
        return 0;
}
