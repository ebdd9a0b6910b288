/* Random bytes from the kernel (getrandom(2)), for nonces, tokens and
 * keys.  In the base layer.
 *
 * ad_random_use_kernel_for_openssl() makes OpenSSL's RAND_bytes (and so
 * every library in the process that asks it: cnats seeds its NUIDs with
 * it, libpq its SCRAM nonces) read the kernel's generator too, through
 * OpenSSL's RAND_set_rand_method.  OpenSSL 3's own generator seeds itself
 * from the same source, but setting it up builds the default provider's
 * method tables: about 2 MiB of every service that needs no other part of
 * OpenSSL (docs/benchmarks.md).  Each service calls it at start-up, before
 * any thread. */
#ifndef AD_RANDOM_H
#define AD_RANDOM_H

#include <stddef.h>

/* Fills buf; 0, or -1 with errno set when the kernel gives nothing. */
int ad_random_bytes(void *buf, size_t len);
/* 0, or -1 when OpenSSL refused the method (its own generator stays). */
int ad_random_use_kernel_for_openssl(void);

#endif
