/* The probe server's request-head parser (common/src/probe_server.c): any
 * bytes from a client give "more", a refusal with a status, or a complete
 * GET/HEAD whose path and head length lie inside what was given, never a
 * crash or a read out of bounds.  Every prefix is parsed too, as the
 * server does while a head arrives, and a prefix never contradicts the
 * whole: once refused, refused; once done, done. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/probe_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *buf, size_t len, size_t max, enum ad_probe_head_result r,
                  const struct ad_probe_head *h)
{
        switch (r) {
        case AD_PROBE_HEAD_DONE:
                if (h->path == NULL || h->path < buf || h->path_len == 0 ||
                    h->path + h->path_len > buf + len || h->path[0] != '/' || h->head_len > len ||
                    h->head_len > max || h->head_len < 4 ||
                    memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) != 0)
                        abort();
                break;
        case AD_PROBE_HEAD_ERROR:
                if (h->code == NULL || h->message == NULL ||
                    (h->status != 400 && h->status != 405 && h->status != 413 && h->status != 431))
                        abort();
                break;
        case AD_PROBE_HEAD_MORE:
                if (len >= max)
                        abort();
                break;
        default:
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A copy of exactly size bytes: a read past it is caught. */
        char *buf = malloc(size ? size : 1);
        struct ad_probe_head h;
        enum ad_probe_head_result whole, part;
        size_t max = 512; /* small, so the bound is reached too */

        if (buf == NULL)
                return 0;
        memcpy(buf, data, size);
        whole = ad_probe_parse_head(buf, size, max, &h);
        check(buf, size, max, whole, &h);
        for (size_t n = 0; n < size && n <= max; n += 1 + n / 8) {
                part = ad_probe_parse_head(buf, n, max, &h);
                check(buf, n, max, part, &h);
                if (part != AD_PROBE_HEAD_MORE && part != whole)
                        abort();
        }
        whole = ad_probe_parse_head(buf, size, AD_PROBE_MAX_HEAD, &h);
        check(buf, size, AD_PROBE_MAX_HEAD, whole, &h);
        free(buf);
        return 0;
}
