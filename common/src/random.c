/* RAND_METHOD is deprecated in OpenSSL 3 but still the one way to give a
 * process's RAND_bytes another source; see ad/random.h. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "ad/random.h"

#include <errno.h>
#include <openssl/rand.h>
#include <sys/random.h>

int ad_random_bytes(void *buf, size_t len)
{
        unsigned char *p = buf;
        size_t got = 0;

        while (got < len) {
                ssize_t n = getrandom(p + got, len - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                got += (size_t)n;
        }
        return 0;
}

static int kernel_bytes(unsigned char *buf, int num)
{
        return num >= 0 && ad_random_bytes(buf, (size_t)num) == 0 ? 1 : 0;
}

/* The kernel's generator is seeded once the machine has booted far
 * enough; getrandom(2) waits until then, so it is always ready. */
static int kernel_status(void)
{
        return 1;
}

/* Nothing to seed or mix in: the kernel keeps its own pool. */
static int kernel_seed(const void *buf, int num)
{
        (void)buf;
        (void)num;
        return 1;
}

static int kernel_add(const void *buf, int num, double entropy)
{
        (void)buf;
        (void)num;
        (void)entropy;
        return 1;
}

static const RAND_METHOD kernel_method = {
        .seed = kernel_seed,
        .bytes = kernel_bytes,
        .add = kernel_add,
        .pseudorand = kernel_bytes,
        .status = kernel_status,
};

int ad_random_use_kernel_for_openssl(void)
{
        return RAND_set_rand_method(&kernel_method) == 1 ? 0 : -1;
}
