/* A growable byte buffer, NUL-terminated once anything was appended (the
 * HTTP bodies, engine JSON lines and log pages it holds are text).  Bounds
 * are the caller's: each says what "too large" means for its input, before
 * it appends.  In the base layer: no dependencies. */
#ifndef AD_BUF_H
#define AD_BUF_H

#include <stddef.h>

struct ad_buf {
        char *data;
        size_t len, cap;
};

/* Appends n bytes of data, growing by doubling from 4 KiB.  Returns 0, or
 * -1 when out of memory (the buffer is left as it was). */
int ad_buf_append(struct ad_buf *b, const void *data, size_t n);
/* Frees the bytes and empties b; a NULL data is fine. */
void ad_buf_free(struct ad_buf *b);

#endif
