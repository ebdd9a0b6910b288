/* The Host header check (api_hosts.h): on in the anonymous loopback mode
 * (no api.tokens), where a browser tricked by DNS rebinding would
 * otherwise drive the API with every right; and in any mode once
 * api.allowed_hosts names the API's names.  A request naming another
 * host gets 421 before anything else reads it (the rate limiters and
 * authentication come after). */
#include <stdio.h>

#include "ad/log.h"
#include "api.h"
#include "api_hosts.h"

static struct api_hosts allowed;

static int host_hook(struct api_call *call, void *ud)
{
        const char *host = ad_httpd_header(call->req, "Host");
        char shown[80];

        (void)ud;
        /* A browser always sends Host; a client that sends none (HTTP/1.0)
         * is no rebinding page. */
        if (host == NULL || api_host_allowed(&allowed, host))
                return 0;
        api_text_excerpt(shown, sizeof(shown), host);
        ad_httpd_reply_error(call->reply, 421, "misdirected_request",
                             "Host `%s` is not a name of this API: it answers localhost, "
                             "127.0.0.1 and [::1] and the names of api.allowed_hosts only (a "
                             "guard against DNS rebinding); add the name you reach it by to "
                             "api.allowed_hosts",
                             shown);
        return -1;
}

int api_host_configure(struct api *api, ad_error_t *err)
{
        const char *spec = ad_config_string(api->svc.cfg, "api.allowed_hosts", "");
        int ret = api_hosts_parse(&allowed, spec, err);

        if (ret < 0)
                return ret;
        if (!api->anonymous_ok && allowed.n == 0)
                return 0;
        ad_log(AD_LOG_INFO, "checking the Host header", "allowed_hosts",
               allowed.n ? spec : "(loopback names only)", NULL);
        return api_hook_add(api, host_hook, NULL, err);
}
