#include "ad/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/digest.h"
#include "ad/random.h"

void ad_uuid_v4(char out[AD_UUID_LEN + 1])
{
        unsigned char b[16];

        /* No entropy source at all: fall back rather than fail; ids only
         * need to be unique. */
        if (ad_random_bytes(b, sizeof(b)) < 0)
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (unsigned char)random();
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(out, AD_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
}

bool ad_uuid_valid(const char *s)
{
        if (s == NULL || strlen(s) != AD_UUID_LEN)
                return false;
        for (int i = 0; i < AD_UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                             (s[i] >= 'A' && s[i] <= 'F'))) {
                        return false;
                }
        }
        return true;
}

void ad_uuid_derive(char out[AD_UUID_LEN + 1], const char *base, const char *salt)
{
        unsigned char md[AD_SHA256_LEN];
        char buf[512];
        int n = snprintf(buf, sizeof(buf), "%s/%s", base, salt);

        ad_sha256(md, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
        md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
        snprintf(out, AD_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
                 md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
                 md[12], md[13], md[14], md[15]);
}
