/* Prometheus text-format metrics (exposition format 0.0.4).
 * Metrics are process-wide and thread-safe; they live until exit. */
#ifndef AD_METRICS_H
#define AD_METRICS_H

typedef struct ad_metric ad_metric;

enum ad_metric_type { AD_METRIC_COUNTER, AD_METRIC_GAUGE, AD_METRIC_HISTOGRAM };

/* Returns the metric with this name, creating it on first use.  Names
 * follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*). */
ad_metric *ad_metric_get(enum ad_metric_type type, const char *name, const char *help);

/* labels: NULL, or a label set in Prometheus syntax: step="build" */
void ad_metric_add(ad_metric *m, const char *labels, double v);
void ad_metric_set(ad_metric *m, const char *labels, double v);
/* Histograms: seconds, buckets 5 ms .. 300 s. */
void ad_metric_observe(ad_metric *m, const char *labels, double v);

/* The whole registry in text format; the caller frees. */
char *ad_metrics_render(void);

#endif
