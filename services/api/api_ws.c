#include "api_ws.h"

#include <openssl/evp.h>
#include <string.h>

#include "ad/digest.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

bool api_ws_accept(const char *key, char out[29])
{
        unsigned char raw[32], digest[AD_SHA1_LEN];
        char buf[64];
        size_t n = key ? strlen(key) : 0;

        /* 16 bytes in base64: 24 characters ending with "==". */
        if (n != 24 || key[22] != '=' || key[23] != '=' ||
            EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
                return false;
        memcpy(buf, key, 24);
        memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
        ad_sha1(digest, buf, 24 + sizeof(WS_GUID) - 1);
        EVP_EncodeBlock((unsigned char *)out, digest, AD_SHA1_LEN);
        return true;
}

size_t api_ws_header(unsigned char out[10], int op, uint64_t len)
{
        out[0] = (unsigned char)(0x80 | (op & 0x0f));
        if (len < 126) {
                out[1] = (unsigned char)len;
                return 2;
        }
        if (len <= 0xffff) {
                out[1] = 126;
                out[2] = (unsigned char)(len >> 8);
                out[3] = (unsigned char)len;
                return 4;
        }
        out[1] = 127;
        for (int i = 0; i < 8; i++)
                out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        return 10;
}

long api_ws_parse(const unsigned char *data, size_t len, struct api_ws_frame *f)
{
        uint64_t plen;
        size_t hdr = 2;
        const unsigned char *mask;

        if (len < 2)
                return 0;
        if ((data[0] & 0x70) || !(data[1] & 0x80))
                return -1; /* reserved bits, or a client frame not masked */
        f->fin = data[0] & 0x80;
        f->op = data[0] & 0x0f;
        plen = data[1] & 0x7f;
        if (plen == 126) {
                if (len < 4)
                        return 0;
                plen = (uint64_t)data[2] << 8 | data[3];
                hdr = 4;
        } else if (plen == 127) {
                if (len < 10)
                        return 0;
                plen = 0;
                for (int i = 0; i < 8; i++)
                        plen = plen << 8 | data[2 + i];
                hdr = 10;
        }
        if (plen > API_WS_MAX_PAYLOAD || ((f->op & 0x8) && (plen > 125 || !f->fin)))
                return -1;
        if (len < hdr + 4 + plen)
                return 0;
        mask = data + hdr;
        for (size_t i = 0; i < plen; i++)
                f->payload[i] = data[hdr + 4 + i] ^ mask[i % 4];
        f->len = (size_t)plen;
        return (long)(hdr + 4 + plen);
}
