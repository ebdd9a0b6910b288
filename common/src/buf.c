#include "ad/buf.h"

#include <stdlib.h>
#include <string.h>

int ad_buf_append(struct ad_buf *b, const void *data, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *d;

                while (cap < b->len + n + 1)
                        cap *= 2;
                d = realloc(b->data, cap);
                if (d == NULL)
                        return -1;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

void ad_buf_free(struct ad_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}
