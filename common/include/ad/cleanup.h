/* Scoped cleanup helpers (systemd/crun style) and explicit hand-over. */
#ifndef AD_CLEANUP_H
#define AD_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ad_freep(void *p)
{
        free(*(void **)p);
}
static inline void ad_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
static inline void ad_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define cleanup_free __attribute__((cleanup(ad_freep)))
#define cleanup_close __attribute__((cleanup(ad_closep)))
#define cleanup_fclose __attribute__((cleanup(ad_fclosep)))

/* Returns *p and sets it to NULL: ownership moves to the caller. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _ptr_ = (p);                                                         \
                (p) = NULL;                                                                        \
                _ptr_;                                                                             \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

#define AD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
