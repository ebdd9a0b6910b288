/* The API's WebSocket frame reader and handshake key (services/api/api_ws.c):
 * any bytes from a client give a frame, "more needed" or a refusal, never a
 * crash or a read out of bounds; a frame never claims more bytes than it
 * was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct api_ws_frame f;
        char key[64], accept[29];
        size_t off = 0;
        long used;

        while (off < size && (used = api_ws_parse(data + off, size - off, &f)) > 0) {
                if ((size_t)used > size - off || f.len > API_WS_MAX_PAYLOAD)
                        abort();
                off += (size_t)used;
        }
        if (size < sizeof(key)) {
                memcpy(key, data, size);
                key[size] = '\0';
                if (api_ws_accept(key, accept) && strlen(accept) != 28)
                        abort();
        }
        return 0;
}
