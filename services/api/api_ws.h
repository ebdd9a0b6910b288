/* The little of WebSocket (RFC 6455) the API speaks: the handshake's
 * accept key, server-to-client text frames, and the client's frames read
 * (close, ping, and anything else skipped), for GET /apps/{name}/logs.
 * The frame reader is a parser of what a client sends: bounded, fuzzed
 * (tests/fuzz/fuzz_ws_frame.c). */
#ifndef API_WS_H
#define API_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_WS_OP_TEXT 0x1
#define API_WS_OP_CLOSE 0x8
#define API_WS_OP_PING 0x9
#define API_WS_OP_PONG 0xA
/* The biggest client frame payload read (control frames are at most 125
 * bytes; a client has nothing else to send on this route). */
#define API_WS_MAX_PAYLOAD 4096

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: false when the
 * key is not 16 bytes in base64. out holds 29 bytes. */
bool api_ws_accept(const char *key, char out[29]);

/* The header of an unmasked, final server frame of `len` bytes with
 * opcode op; returns its length (2, 4 or 10). */
size_t api_ws_header(unsigned char out[10], int op, uint64_t len);

struct api_ws_frame {
        int op;
        bool fin;
        unsigned char payload[API_WS_MAX_PAYLOAD];
        size_t len;
};

/* Reads one client frame from data[0..len): returns the bytes it took
 * (> 0) with *f filled and unmasked, 0 when more bytes are needed, -1 when
 * the frame is not acceptable (not masked, reserved bits, payload over
 * API_WS_MAX_PAYLOAD, a control frame over 125 bytes or fragmented). */
long api_ws_parse(const unsigned char *data, size_t len, struct api_ws_frame *f);

#endif
