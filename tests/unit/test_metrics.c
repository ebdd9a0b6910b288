/* Prometheus text format output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/metrics.h"

static void test_counter_gauge_histogram(void **state)
{
        ad_metric *c = ad_metric_get(AD_METRIC_COUNTER, "ad_events_total", "Events handled.");
        ad_metric *g = ad_metric_get(AD_METRIC_GAUGE, "ad_inflight", "In flight.");
        ad_metric *h = ad_metric_get(AD_METRIC_HISTOGRAM, "ad_step_seconds", "Step time.");
        char *text;

        (void)state;
        assert_ptr_equal(c, ad_metric_get(AD_METRIC_COUNTER, "ad_events_total", "x"));
        ad_metric_add(c, "subject=\"deploy.built\"", 1);
        ad_metric_add(c, "subject=\"deploy.built\"", 2);
        ad_metric_add(c, NULL, 5);
        ad_metric_set(g, NULL, 4);
        ad_metric_set(g, NULL, 2);
        ad_metric_observe(h, "step=\"build\"", 0.3);
        ad_metric_observe(h, "step=\"build\"", 7);
        text = ad_metrics_render();
        assert_non_null(text);
        assert_non_null(strstr(text, "# TYPE ad_events_total counter\n"));
        assert_non_null(strstr(text, "ad_events_total{subject=\"deploy.built\"} 3\n"));
        assert_non_null(strstr(text, "\nad_events_total 5\n"));
        assert_non_null(strstr(text, "# TYPE ad_inflight gauge\nad_inflight 2\n"));
        assert_non_null(strstr(text, "ad_step_seconds_bucket{step=\"build\",le=\"0.5\"} 1\n"));
        assert_non_null(strstr(text, "ad_step_seconds_bucket{step=\"build\",le=\"10\"} 2\n"));
        assert_non_null(strstr(text, "ad_step_seconds_bucket{step=\"build\",le=\"+Inf\"} 2\n"));
        assert_non_null(strstr(text, "ad_step_seconds_sum{step=\"build\"} 7.2999999999999998\n"));
        assert_non_null(strstr(text, "ad_step_seconds_count{step=\"build\"} 2\n"));
        free(text);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_counter_gauge_histogram),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
