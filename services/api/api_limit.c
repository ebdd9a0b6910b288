/* Rate limits and the cap on log followers (docs/security.md).
 *
 * Token buckets: one per client address (checked before authentication,
 * so guessing keys is limited too) and one per API key (after it: a key
 * and the JWTs minted from it share theirs; an api.tokens operator has
 * its own by name).  A bucket holds up to `burst` requests and refills at
 * `rate` a second; a request takes one or gets 429 with Retry-After and
 * RateLimit-Limit/RateLimit-Remaining (also on the requests let through).
 * Buckets live in a fixed table (memory bounded whatever the clients):
 * a new key takes a free slot near its hash or the least recently used
 * one, which then starts full again; that only ever errs toward letting
 * a request through.  Per process: N replicas allow N times the rate. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/log.h"
#include "ad/metrics.h"
#include "api.h"

#define LIMIT_SLOTS 4096
#define LIMIT_PROBE 16
#define LIMIT_KEY_MAX 80
#define FOLLOWER_SLOTS 1024

struct bucket {
        char key[LIMIT_KEY_MAX];
        double tokens;
        int64_t last_ms;
};

struct api_limiter {
        pthread_mutex_t mu;
        const char *scope;  /* the metric label: "address", "token" */
        const char *config; /* the keys named in a 429 */
        double rate, burst;
        struct bucket slots[LIMIT_SLOTS];
};

struct follower {
        char key[LIMIT_KEY_MAX];
        int n;
};

static struct api_limiter by_address = { .mu = PTHREAD_MUTEX_INITIALIZER,
                                         .scope = "address",
                                         .config = "api.rate_limit_per_address" };
static struct api_limiter by_token = { .mu = PTHREAD_MUTEX_INITIALIZER,
                                       .scope = "token",
                                       .config = "api.rate_limit_per_token" };
static pthread_mutex_t followers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct follower followers[FOLLOWER_SLOTS];
static long max_followers;

static ad_metric *decisions;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
        decisions = ad_metric_get(AD_METRIC_COUNTER, "ad_api_ratelimit_decisions_total",
                                  "Rate limiter decisions by scope (address, token, followers) "
                                  "and decision (allowed, limited)");
}

static void count(const char *scope, bool allowed)
{
        char labels[64];

        pthread_once(&metrics_once, metrics_init);
        snprintf(labels, sizeof(labels), "scope=\"%s\",decision=\"%s\"", scope,
                 allowed ? "allowed" : "limited");
        ad_metric_add(decisions, labels, 1);
}

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

/* Takes one request from key's bucket: true when allowed; *remaining
 * and *retry_s (when refused) for the headers. */
static bool take(struct api_limiter *l, const char *key, long *remaining, long *retry_s)
{
        int64_t now = ad_monotonic_ms();
        size_t h = (size_t)(hash(key) % LIMIT_SLOTS), victim = h;
        struct bucket *b = NULL;
        bool ok;

        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < LIMIT_PROBE; i++) {
                struct bucket *s = &l->slots[(h + i) % LIMIT_SLOTS];

                if (strcmp(s->key, key) == 0) {
                        b = s;
                        break;
                }
                if (s->last_ms < l->slots[victim].last_ms)
                        victim = (h + i) % LIMIT_SLOTS;
        }
        if (b == NULL) {
                b = &l->slots[victim];
                snprintf(b->key, sizeof(b->key), "%s", key);
                b->tokens = l->burst;
                b->last_ms = now;
        }
        b->tokens = fmin(l->burst, b->tokens + (double)(now - b->last_ms) * l->rate / 1000.0);
        b->last_ms = now;
        ok = b->tokens >= 1.0;
        if (ok)
                b->tokens -= 1.0;
        *remaining = (long)floor(b->tokens);
        *retry_s = ok ? 0 : (long)ceil((1.0 - b->tokens) / l->rate);
        if (*retry_s < 1 && !ok)
                *retry_s = 1;
        pthread_mutex_unlock(&l->mu);
        return ok;
}

static int check(struct api_limiter *l, struct api_call *call, const char *key)
{
        long remaining, retry;
        bool ok;

        if (l->rate <= 0)
                return 0;
        ok = take(l, key, &remaining, &retry);
        count(l->scope, ok);
        if (!ok) {
                ad_httpd_reply_error(call->reply, 429, "rate_limited",
                                     "too many requests from this %s: at most %.0f at once and "
                                     "%.0f a second (%s); retry in %ld s",
                                     strcmp(l->scope, "token") == 0 ? "API key" : "address",
                                     l->burst, l->rate, l->config, retry);
                ad_httpd_reply_header(call->reply, "Retry-After", "%ld", retry);
        }
        /* The tighter of the two scopes is what the client sees: the token
         * check runs second and overwrites the address's. */
        call->rate_limit = (long)l->burst;
        call->rate_remaining = remaining;
        return ok ? 0 : -1;
}

int api_limit_address_hook(struct api_call *call, void *ud)
{
        char key[LIMIT_KEY_MAX];

        (void)ud;
        snprintf(key, sizeof(key), "a:%s", call->req->remote_ip);
        return check(&by_address, call, key);
}

/* The caller's identity for the per-token limits: its API key (JWTs
 * included), an operator's name; none for the anonymous mode. */
static bool token_key(const struct api_call *call, char *key, size_t size)
{
        if (call->key_id[0])
                return snprintf(key, size, "k:%s", call->key_id) > 0;
        if (call->role == API_ROLE_OPERATOR && call->api->anonymous_ok)
                return false;
        return snprintf(key, size, "o:%s", call->principal) > 0;
}

int api_limit_token_hook(struct api_call *call, void *ud)
{
        char key[LIMIT_KEY_MAX];

        (void)ud;
        if (!token_key(call, key, sizeof(key)))
                return 0;
        return check(&by_token, call, key);
}

void api_limit_headers(struct api_call *call)
{
        if (call->rate_limit <= 0)
                return;
        ad_httpd_reply_header(call->reply, "RateLimit-Limit", "%ld", call->rate_limit);
        ad_httpd_reply_header(call->reply, "RateLimit-Remaining", "%ld", call->rate_remaining);
}

int api_limit_configure(struct api *api, ad_error_t *err)
{
        long tr, tb, ar, ab;
        int ret;

        ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.rate_limit_per_token", &tr,
                                err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.rate_burst_per_token",
                                        &tb, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.rate_limit_per_address",
                                        &ar, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables, "api.rate_burst_per_address",
                                        &ab, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables,
                                        "api.max_followers_per_token", &max_followers, err);
        if (ret == 0)
                ret = ad_config_get_int(api->svc.cfg, api->svc.tables,
                                        "api.follower_idle_timeout_s", &api->follower_idle_s, err);
        if (ret < 0)
                return ret;
        by_token.rate = (double)tr;
        by_token.burst = (double)tb;
        by_address.rate = (double)ar;
        by_address.burst = (double)ab;
        ad_log(AD_LOG_INFO, "rate limits", "per_token", tr ? "on" : "off", "per_address",
               ar ? "on" : "off", NULL);
        return 0;
}

int api_limit_follower_acquire(struct api_call *call, char key[API_FOLLOWER_KEY_MAX])
{
        struct follower *free_slot = NULL, *f = NULL;

        key[0] = '\0';
        if (max_followers <= 0 || !token_key(call, key, API_FOLLOWER_KEY_MAX)) {
                key[0] = '\0';
                return 0;
        }
        pthread_mutex_lock(&followers_mu);
        for (size_t i = 0; i < FOLLOWER_SLOTS && f == NULL; i++) {
                if (followers[i].n > 0 && strcmp(followers[i].key, key) == 0)
                        f = &followers[i];
                else if (followers[i].n == 0 && free_slot == NULL)
                        free_slot = &followers[i];
        }
        if (f == NULL && free_slot) {
                f = free_slot;
                snprintf(f->key, sizeof(f->key), "%s", key);
        }
        if (f == NULL || f->n >= max_followers) {
                pthread_mutex_unlock(&followers_mu);
                count("followers", false);
                ad_httpd_reply_error(call->reply, 429, "too_many_followers",
                                     "this API key follows %ld log streams already "
                                     "(api.max_followers_per_token): close one and retry",
                                     max_followers);
                ad_httpd_reply_header(call->reply, "Retry-After", "5");
                key[0] = '\0';
                return -1;
        }
        f->n++;
        pthread_mutex_unlock(&followers_mu);
        count("followers", true);
        return 0;
}

void api_limit_follower_release(const char *key)
{
        if (key == NULL || key[0] == '\0')
                return;
        pthread_mutex_lock(&followers_mu);
        for (size_t i = 0; i < FOLLOWER_SLOTS; i++)
                if (followers[i].n > 0 && strcmp(followers[i].key, key) == 0) {
                        followers[i].n--;
                        break;
                }
        pthread_mutex_unlock(&followers_mu);
}
