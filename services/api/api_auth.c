/* Bearer-token authentication (api.tokens): a pre-handler hook.  With no
 * tokens configured every request is "anonymous", which the API allows
 * only when it listens on a loopback address (main.c checks). */
#include <stdio.h>
#include <string.h>

#include "api.h"

int api_auth_hook(struct api_call *call, void *ud)
{
        const struct api_tokens *tokens = ud;
        const char *name = api_tokens_match(tokens, ad_httpd_header(call->req, "Authorization"));

        /* caddy's on-demand TLS `ask` sends no token (api_domains.c). */
        if (name == NULL && strcmp(call->route, "domains_allowed") == 0)
                return 0;
        if (name == NULL) {
                ad_httpd_reply_error(call->reply, 401, "unauthorized",
                                     "send Authorization: Bearer <token> with a token this API "
                                     "knows (api.tokens); adctl sends $ADCTL_TOKEN");
                return -1;
        }
        snprintf(call->principal, sizeof(call->principal), "%s", name);
        return 0;
}

bool api_bind_is_loopback(const char *bind)
{
        return bind == NULL || strcmp(bind, "localhost") == 0 || strcmp(bind, "::1") == 0 ||
               strncmp(bind, "127.", 4) == 0;
}
