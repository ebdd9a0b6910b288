#include "ad/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METRICS 128
#define MAX_SERIES 64

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                  2.5,   5,    10,    30,   60,  120,  300 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
        char *labels; /* "" for none */
        double value; /* counter/gauge value, histogram sum */
        unsigned long long count;
        unsigned long long bucket[NBUCKETS];
};

struct ad_metric {
        enum ad_metric_type type;
        char *name, *help;
        struct series series[MAX_SERIES];
        size_t nseries;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ad_metric metrics[MAX_METRICS];
static size_t nmetrics;

ad_metric *ad_metric_get(enum ad_metric_type type, const char *name, const char *help)
{
        ad_metric *m = NULL;

        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < nmetrics; i++)
                if (strcmp(metrics[i].name, name) == 0) {
                        m = &metrics[i];
                        goto out;
                }
        if (nmetrics < MAX_METRICS) {
                m = &metrics[nmetrics++];
                m->type = type;
                m->name = strdup(name);
                m->help = strdup(help ? help : "");
        }
out:
        pthread_mutex_unlock(&lock);
        return m;
}

/* Called with the lock held.  A full metric drops new label sets rather
 * than grow without bound. */
static struct series *series_for(ad_metric *m, const char *labels)
{
        if (labels == NULL)
                labels = "";
        for (size_t i = 0; i < m->nseries; i++)
                if (strcmp(m->series[i].labels, labels) == 0)
                        return &m->series[i];
        if (m->nseries == MAX_SERIES)
                return NULL;
        m->series[m->nseries].labels = strdup(labels);
        if (m->series[m->nseries].labels == NULL)
                return NULL;
        return &m->series[m->nseries++];
}

void ad_metric_add(ad_metric *m, const char *labels, double v)
{
        struct series *s;

        if (m == NULL)
                return;
        pthread_mutex_lock(&lock);
        if ((s = series_for(m, labels)))
                s->value += v;
        pthread_mutex_unlock(&lock);
}

void ad_metric_set(ad_metric *m, const char *labels, double v)
{
        struct series *s;

        if (m == NULL)
                return;
        pthread_mutex_lock(&lock);
        if ((s = series_for(m, labels)))
                s->value = v;
        pthread_mutex_unlock(&lock);
}

void ad_metric_observe(ad_metric *m, const char *labels, double v)
{
        struct series *s;

        if (m == NULL)
                return;
        pthread_mutex_lock(&lock);
        if ((s = series_for(m, labels))) {
                s->value += v;
                s->count++;
                for (size_t b = 0; b < NBUCKETS; b++)
                        if (v <= buckets[b])
                                s->bucket[b]++;
        }
        pthread_mutex_unlock(&lock);
}

static void put_labels(FILE *f, const char *labels, const char *extra)
{
        int has = labels && *labels;

        if (!has && !extra)
                return;
        fprintf(f, "{%s%s%s}", has ? labels : "", has && extra ? "," : "", extra ? extra : "");
}

char *ad_metrics_render(void)
{
        static const char *const types[] = { "counter", "gauge", "histogram" };
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        if (f == NULL)
                return NULL;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < nmetrics; i++) {
                ad_metric *m = &metrics[i];

                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                        types[m->type]);
                for (size_t j = 0; j < m->nseries; j++) {
                        struct series *s = &m->series[j];

                        if (m->type != AD_METRIC_HISTOGRAM) {
                                fputs(m->name, f);
                                put_labels(f, s->labels, NULL);
                                fprintf(f, " %.17g\n", s->value);
                                continue;
                        }
                        for (size_t b = 0; b < NBUCKETS; b++) {
                                char le[32];
                                snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
                                fprintf(f, "%s_bucket", m->name);
                                put_labels(f, s->labels, le);
                                fprintf(f, " %llu\n", s->bucket[b]);
                        }
                        fprintf(f, "%s_bucket", m->name);
                        put_labels(f, s->labels, "le=\"+Inf\"");
                        fprintf(f, " %llu\n%s_sum", s->count, m->name);
                        put_labels(f, s->labels, NULL);
                        fprintf(f, " %.17g\n%s_count", s->value, m->name);
                        put_labels(f, s->labels, NULL);
                        fprintf(f, " %llu\n", s->count);
                }
        }
        pthread_mutex_unlock(&lock);
        fclose(f);
        return out;
}
