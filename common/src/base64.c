#include "ad/base64.h"

#include <stdint.h>

static const char std_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ad_base64_encoded_len(size_t n, unsigned flags)
{
        if (flags & AD_BASE64_PAD)
                return (n + 2) / 3 * 4;
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t ad_base64_encode(char *out, const void *in, size_t n, unsigned flags)
{
        const char *t = flags & AD_BASE64_URL ? url_alphabet : std_alphabet;
        const unsigned char *p = in;
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16;

                if (i + 1 < n)
                        v |= (uint32_t)p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                out[o++] = t[(v >> 18) & 63];
                out[o++] = t[(v >> 12) & 63];
                if (i + 1 < n)
                        out[o++] = t[(v >> 6) & 63];
                else if (flags & AD_BASE64_PAD)
                        out[o++] = '=';
                if (i + 2 < n)
                        out[o++] = t[v & 63];
                else if (flags & AD_BASE64_PAD)
                        out[o++] = '=';
        }
        out[o] = '\0';
        return o;
}

/* The value of c in the chosen alphabet, or -1 (the other alphabet's two
 * characters included: one text per byte string). */
static int value(unsigned char c, unsigned flags)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == (flags & AD_BASE64_URL ? '-' : '+'))
                return 62;
        if (c == (flags & AD_BASE64_URL ? '_' : '/'))
                return 63;
        return -1;
}

static int is_space(unsigned char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ad_base64_decode(const char *in, size_t n, unsigned flags, void *out, size_t max, size_t *len,
                     ad_error_t *err)
{
        unsigned char *o = out;
        size_t chars = 0, pad = 0, w = 0;
        uint32_t acc = 0;
        int bits = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)in[i];
                int v;

                if ((flags & AD_BASE64_SPACE) && is_space(c))
                        continue;
                if (c == '=' && (flags & AD_BASE64_PAD)) {
                        pad++;
                        continue;
                }
                v = value(c, flags);
                if (v < 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "base64: invalid character at offset %zu", i);
                if (pad)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "base64: data after the padding at offset %zu", i);
                chars++;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (w >= max)
                                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                                     "base64: more than %zu bytes", max);
                        o[w++] = (unsigned char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (chars % 4 == 1)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "base64: truncated (%zu characters: a last group of one)",
                                     chars);
        if (pad && (chars % 4 == 0 || chars % 4 + pad != 4))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "base64: %zu padding characters after %zu characters", pad,
                                     chars);
        if (acc != 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "base64: non-zero unused bits in the last character");
        *len = w;
        return 0;
}
