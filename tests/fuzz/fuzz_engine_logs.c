/* The deployer's reader of the engine's followed log stream
 * (ad_engine_log_reader, ad/engine.h): any bytes, fed whole and then in
 * chunks cut where the first byte says, give the same lines, each at most
 * AD_ENGINE_LOG_LINE_MAX long, never a crash or a read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
        size_t lines;
        size_t bytes;
};

static void on_line(const struct ad_engine_log_line *l, void *ud)
{
        struct count *c = ud;

        if (l->len > AD_ENGINE_LOG_LINE_MAX || strlen(l->text) != l->len || l->ts_ns < 0)
                abort();
        c->lines++;
        c->bytes += l->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct ad_engine_log_reader r;
        struct count whole = { 0 }, cut = { 0 };
        size_t step;

        if (size < 1 || size > 1 << 20)
                return 0;
        step = (size_t)data[0] % 7 + 1;
        data++;
        size--;
        ad_engine_log_reader_init(&r, on_line, &whole);
        ad_engine_log_reader_feed(&r, (const char *)data, size);
        ad_engine_log_reader_end(&r);
        ad_engine_log_reader_init(&r, on_line, &cut);
        for (size_t i = 0; i < size; i += step)
                ad_engine_log_reader_feed(&r, (const char *)data + i,
                                          size - i < step ? size - i : step);
        ad_engine_log_reader_end(&r);
        if (whole.lines != cut.lines || whole.bytes != cut.bytes)
                abort();
        (void)ad_engine_parse_rfc3339_ns((const char *)data, size);
        return 0;
}
