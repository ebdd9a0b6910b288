/* bench_accept: the API's accept rate for POST /deployments.  N client
 * threads, each with its own keep-alive connection (libcurl), post
 * deployment requests back to back for D seconds (after a 1 s warm-up
 * that is not counted), with the bearer credential given; prints one line
 * of key=value figures: requests, errors (any status but 202), rate (per
 * second), p50 and p99 latency (ms).
 *
 *   bench_accept URL CREDENTIAL CLIENTS SECONDS [APP_PREFIX]
 *
 * Client i deploys app APP_PREFIX-i (default bench-accept-i) again and
 * again; a refused request's status is reported (first_error=).
 *
 * bench/accept.sh runs it against a real adapi and PostgreSQL, next to
 * pgbench (docs/benchmarks.md). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLIENTS 256
#define MAX_SAMPLES (1 << 20)

struct client {
        pthread_t thread;
        int n;
        const char *url, *auth, *prefix;
        long first_error;
        double start, warm, end; /* seconds, CLOCK_MONOTONIC */
        double *lat;             /* ms, counted requests only */
        size_t n_lat, errors;
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
        (void)p;
        (void)ud;
        return size * n;
}

static void *run(void *arg)
{
        struct client *c = arg;
        CURL *h = curl_easy_init();
        struct curl_slist *hdr = NULL;
        char body[256], url[1024];
        unsigned long i = 0;

        if (h == NULL)
                return NULL;
        snprintf(url, sizeof(url), "%s/deployments", c->url);
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        hdr = curl_slist_append(hdr, c->auth);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        for (;;) {
                double t0 = now(), t1;
                long status = 0;

                if (t0 >= c->end)
                        break;
                /* One app per client: each request is a new deployment of it. */
                snprintf(body, sizeof(body),
                         "{\"repo_url\":\"https://example.com/acme/bench.git\",\"name\":"
                         "\"%s-%d\",\"ref\":\"r%lu\"}",
                         c->prefix, c->n, i++);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                if (curl_easy_perform(h) == CURLE_OK)
                        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                t1 = now();
                if (t0 < c->warm)
                        continue;
                if (status != 202) {
                        if (c->errors++ == 0)
                                c->first_error = status;
                } else if (c->n_lat < MAX_SAMPLES)
                        c->lat[c->n_lat++] = (t1 - t0) * 1000.0;
        }
        curl_slist_free_all(hdr);
        curl_easy_cleanup(h);
        return NULL;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        static struct client clients[MAX_CLIENTS];
        char auth[1024];
        int n;
        double secs, start;
        size_t total = 0, errors = 0, k = 0;
        long first_error = 0;
        double *all;

        if ((argc != 5 && argc != 6) || (n = atoi(argv[3])) < 1 || n > MAX_CLIENTS ||
            (secs = atof(argv[4])) <= 0) {
                fprintf(stderr,
                        "usage: bench_accept URL CREDENTIAL CLIENTS(1-%d) SECONDS [APP_PREFIX]\n",
                        MAX_CLIENTS);
                return 2;
        }
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        start = now();
        for (int i = 0; i < n; i++) {
                clients[i] = (struct client){ .n = i,
                                              .url = argv[1],
                                              .auth = auth,
                                              .prefix = argc == 6 ? argv[5] : "bench-accept" };
                clients[i].warm = start + 1.0;
                clients[i].end = start + 1.0 + secs;
                clients[i].lat = malloc(MAX_SAMPLES * sizeof(double));
                if (clients[i].lat == NULL ||
                    pthread_create(&clients[i].thread, NULL, run, &clients[i]) != 0) {
                        fprintf(stderr, "bench_accept: cannot start client %d\n", i);
                        return 1;
                }
        }
        for (int i = 0; i < n; i++) {
                pthread_join(clients[i].thread, NULL);
                total += clients[i].n_lat;
                if (clients[i].errors && !errors)
                        first_error = clients[i].first_error;
                errors += clients[i].errors;
        }
        all = malloc((total ? total : 1) * sizeof(double));
        if (all == NULL)
                return 1;
        for (int i = 0; i < n; i++) {
                memcpy(all + k, clients[i].lat, clients[i].n_lat * sizeof(double));
                k += clients[i].n_lat;
                free(clients[i].lat);
        }
        qsort(all, total, sizeof(double), cmp);
        printf("requests=%zu errors=%zu first_error=%ld rate=%.0f p50_ms=%.2f p99_ms=%.2f\n", total,
               errors, first_error, (double)total / secs, total ? all[total / 2] : 0.0,
               total ? all[(size_t)((double)total * 0.99)] : 0.0);
        free(all);
        curl_global_cleanup();
        return errors ? 1 : 0;
}
