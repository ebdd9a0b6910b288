#include "api_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 64

struct api_pool {
        pthread_mutex_t lock;
        pthread_cond_t returned; /* signalled when a connection comes back */
        char *conninfo;
        unsigned size;   /* at most this many connections exist */
        unsigned opened; /* connections that exist: idle + lent out */
        unsigned n_idle;
        ad_db *idle[POOL_MAX];
};

int api_pool_new(struct api_pool **out, const char *conninfo, unsigned size, ad_error_t *err)
{
        struct api_pool *pool;
        pthread_condattr_t ca;

        if (size == 0 || size > POOL_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the database pool size must be 1 to %d", POOL_MAX);
        pool = calloc(1, sizeof(*pool));
        if (pool == NULL || (pool->conninfo = strdup(conninfo)) == NULL) {
                free(pool);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        pool->size = size;
        pthread_mutex_init(&pool->lock, NULL);
        /* Waits are measured on the monotonic clock: a clock step must
         * not make a request wait an hour. */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&pool->returned, &ca);
        pthread_condattr_destroy(&ca);
        *out = pool;
        return 0;
}

void api_pool_free(struct api_pool *pool)
{
        if (pool == NULL)
                return;
        for (unsigned i = 0; i < pool->n_idle; i++)
                ad_db_close(pool->idle[i]);
        pthread_cond_destroy(&pool->returned);
        pthread_mutex_destroy(&pool->lock);
        free(pool->conninfo);
        free(pool);
}

int api_pool_get(struct api_pool *pool, ad_db **out, int64_t wait_ms, ad_error_t *err)
{
        struct timespec deadline;
        ad_db *db = NULL;
        int ret;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += wait_ms / 1000;
        deadline.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }

        pthread_mutex_lock(&pool->lock);
        while (pool->n_idle == 0 && pool->opened >= pool->size) {
                if (pthread_cond_timedwait(&pool->returned, &pool->lock, &deadline) == ETIMEDOUT) {
                        unsigned size = pool->size;

                        pthread_mutex_unlock(&pool->lock);
                        return ad_error_make(err, AD_ERR_TIMEOUT, 0,
                                             "all %u database connections stayed busy for %lld ms",
                                             size, (long long)wait_ms);
                }
        }
        if (pool->n_idle > 0) {
                *out = pool->idle[--pool->n_idle];
                pthread_mutex_unlock(&pool->lock);
                return 0;
        }
        /* Reserve the slot, then connect without holding the lock. */
        pool->opened++;
        pthread_mutex_unlock(&pool->lock);

        ret = ad_db_connect(&db, pool->conninfo, err);
        if (ret < 0) {
                pthread_mutex_lock(&pool->lock);
                pool->opened--;
                pthread_cond_signal(&pool->returned);
                pthread_mutex_unlock(&pool->lock);
                return ret;
        }
        *out = db;
        return 0;
}

void api_pool_put(struct api_pool *pool, ad_db *db)
{
        PGconn *conn;
        bool keep;

        if (db == NULL)
                return;
        conn = ad_db_conn(db);
        /* A handler that returned early inside a transaction must not hand
         * its half-done work to the next borrower. */
        if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
                ad_db_rollback(db);
                if (PQtransactionStatus(conn) != PQTRANS_IDLE)
                        PQclear(PQexec(conn, "ROLLBACK"));
        }
        keep = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;

        pthread_mutex_lock(&pool->lock);
        if (keep && pool->n_idle < POOL_MAX) {
                pool->idle[pool->n_idle++] = db;
                db = NULL;
        } else {
                pool->opened--;
        }
        pthread_cond_signal(&pool->returned);
        pthread_mutex_unlock(&pool->lock);
        ad_db_close(db);
}
