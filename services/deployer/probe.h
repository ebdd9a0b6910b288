/* HTTP probes of a release: its own published port (the health check) and
 * the ingress (is the route serving it?).  libcurl directly, because the
 * answer's AD_CADDY_DEPLOYMENT_HEADER matters here, not only its status. */
#ifndef AD_PROBE_H
#define AD_PROBE_H

#include <stdbool.h>

struct probe_result {
        bool answered;       /* an HTTP answer came (any status) */
        long status;         /* its status */
        char deployment[64]; /* its X-Ad-Deployment header, "" if none */
        char detail[256];    /* "HTTP 503" or the transport error, for humans */
};

/* GET url (Host: host when given) within timeout_ms; never fails: the
 * outcome is in *res. */
void probe_get(const char *url, const char *host, long timeout_ms, struct probe_result *res);

#endif
