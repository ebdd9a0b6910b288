/* Base64 (RFC 4648), both alphabets, one strict decoder for the tree: the
 * API's JWTs and page cursors (base64url, unpadded) and the deployer's
 * kubeconfig data and Kubernetes Secrets (standard, padded, wrapped).  In
 * the base layer: no dependencies.
 *
 * Strict means one text per byte string: a character outside the chosen
 * alphabet, a length no encoding produces (4k+1 characters), padding that
 * does not end the text at a multiple of 4, and non-zero unused bits in the
 * last character (`QQ` and `QR` would both be "A") are all refused, so a
 * decoded value re-encodes to the text it came from (the fuzz target
 * checks that). */
#ifndef AD_BASE64_H
#define AD_BASE64_H

#include <stddef.h>

#include "ad/error.h"

enum ad_base64_flags {
        /* The URL-safe alphabet ('-' and '_' for 62 and 63) instead of the
         * standard one ('+' and '/'). */
        AD_BASE64_URL = 1u << 0,
        /* Encode: pad with '=' to a multiple of 4.  Decode: accept that
         * padding (its absence too); without the flag a '=' is refused. */
        AD_BASE64_PAD = 1u << 1,
        /* Decode: skip ASCII spaces, tabs and line ends anywhere (PEM data
         * wrapped in a YAML file). */
        AD_BASE64_SPACE = 1u << 2,
};

/* The characters ad_base64_encode() writes for n bytes, without the NUL. */
size_t ad_base64_encoded_len(size_t n, unsigned flags);

/* Encodes n bytes of in into out, which holds ad_base64_encoded_len() + 1
 * bytes; NUL-terminated.  Returns the length written, without the NUL. */
size_t ad_base64_encode(char *out, const void *in, size_t n, unsigned flags);

/* The most bytes n characters can decode to: a safe size for out. */
#define AD_BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 2)

/* Decodes n characters of in (no NUL needed) into out, at most max bytes;
 * *len is the decoded length.  Returns 0, or -AD_ERR_INVALID with the
 * offset and the reason in *err (NULL drops it), or -AD_ERR_TOO_LARGE when
 * the bytes would not fit in max.  Never writes past out + max; on
 * failure, out may hold a part of the bytes. */
int ad_base64_decode(const char *in, size_t n, unsigned flags, void *out, size_t max, size_t *len,
                     ad_error_t *err);

#endif
