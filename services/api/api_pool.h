/* A small pool of PostgreSQL connections shared by the API's connection
 * threads.  A libpq connection is used by one thread at a time: a handler
 * borrows one, uses it, and gives it back.  Connections are opened on
 * demand up to the pool's size; a caller waits (bounded) when all are
 * lent out. */
#ifndef AD_API_POOL_H
#define AD_API_POOL_H

#include <stdint.h>

#include "ad/db.h"
#include "ad/error.h"

struct api_pool;

int api_pool_new(struct api_pool **out, const char *conninfo, unsigned size, ad_error_t *err);

/* Closes every connection; all must have been given back.  NULL is a no-op. */
void api_pool_free(struct api_pool *pool);

/* Borrows a connection, waiting up to wait_ms for one to come back.
 * AD_ERR_UNAVAILABLE when PostgreSQL cannot be reached, AD_ERR_TIMEOUT
 * when the pool stays exhausted. */
int api_pool_get(struct api_pool *pool, ad_db **out, int64_t wait_ms, ad_error_t *err);

/* Gives a connection back; one left inside a transaction is rolled back,
 * a broken one is closed.  NULL is a no-op. */
void api_pool_put(struct api_pool *pool, ad_db *db);

#endif
