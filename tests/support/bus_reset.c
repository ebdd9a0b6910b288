/* ad_test_bus_reset: gives an integration test a clean bus on the shared
 * stack: purges the DEPLOY stream and deletes the services' durable
 * consumers, so services started by the test see only the test's own
 * events, not what earlier tests left in the stream. */
#include <stdio.h>
#include <stdlib.h>

#include "ad/bus.h"

int main(void)
{
        static const char *const durables[] = {
                "analyzer",
                "builder",
                "builder-compensate",
                "provisioner",
                "provisioner-compensate",
                "deployer",
                "deployer-compensate",
                "coordinator",
        };
        const char *url = getenv("AD_NATS_URL");
        ad_error_t err = NULL;
        ad_bus *bus = NULL;
        jsErrCode jerr = 0;

        if (url == NULL) {
                fprintf(stderr, "ad_test_bus_reset: AD_NATS_URL is not set\n");
                return 1;
        }
        if (ad_bus_connect(&bus, url, "bus_reset", &err) < 0 ||
            ad_bus_ensure_stream(bus, 1, &err) < 0) {
                fprintf(stderr, "ad_test_bus_reset: %s\n", ad_error_message(err));
                return 1;
        }
        for (size_t i = 0; i < sizeof(durables) / sizeof(durables[0]); i++)
                js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durables[i], NULL, NULL);
        if (js_PurgeStream(ad_bus_js(bus), AD_STREAM_NAME, NULL, &jerr) != NATS_OK) {
                fprintf(stderr, "ad_test_bus_reset: cannot purge the stream (%d)\n", (int)jerr);
                ad_bus_close(bus);
                return 1;
        }
        ad_bus_close(bus);
        return 0;
}
