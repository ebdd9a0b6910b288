/* What adapi parses about keys and teams (api_tokens_request.c, and the
 * Authorization header against api.tokens): the POST /tokens body, a
 * lifetime, a role, the members' bodies, names, a key's shape.  Any input is accepted or
 * rejected with a message, never a crash or a leak, and what is accepted
 * keeps the parsers' promises. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"
#include "api_tokens_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct api_tokens tokens;
        static bool tokens_ready;
        struct api_token_create req;
        ad_error_t err = NULL;
        enum api_role role;
        long long s = -1;
        char *text;

        if (!tokens_ready) {
                /* The SHA-256 of "secret". */
                if (api_tokens_parse(
                            &tokens,
                            "ops:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
                            NULL) < 0)
                        abort();
                tokens_ready = true;
        }
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        if (api_token_create_parse(&req, text, size, &err) == 0) {
                if (!api_key_name_valid(req.name) || req.role < API_ROLE_VIEWER ||
                    req.role > API_ROLE_ADMIN || req.ttl_s < 0 || req.ttl_s > API_DURATION_MAX_S ||
                    (req.team[0] && !api_team_name_valid(req.team)) ||
                    (req.user[0] && !api_user_name_valid(req.user)))
                        abort();
        } else if (err == NULL) {
                abort();
        }
        ad_error_release(&err);
        /* The members' bodies (POST and PATCH /teams/{team}/members). */
        for (int with_user = 0; with_user < 2; with_user++) {
                struct api_member m;

                if (api_member_parse(&m, text, size, with_user, &err) == 0) {
                        if (m.role < API_ROLE_VIEWER || m.role > API_ROLE_ADMIN ||
                            (with_user ? !api_user_name_valid(m.user) : m.user[0] != '\0'))
                                abort();
                } else if (err == NULL) {
                        abort();
                }
                ad_error_release(&err);
        }

        if (api_duration_parse(&s, text, &err) == 0 && (s < 0 || s > API_DURATION_MAX_S))
                abort();
        ad_error_release(&err);
        if (api_role_parse(&role, text, &err) == 0 && strcmp(api_role_name(role), text) != 0)
                abort();
        ad_error_release(&err);
        if (api_key_looks_valid(text) && strlen(text) != API_KEY_LEN)
                abort();
        (void)api_team_name_valid(text);
        (void)api_user_name_valid(text);
        {
                const char *who = api_tokens_match(&tokens, text);

                if (who && strcmp(who, "ops") != 0)
                        abort();
        }
        free(text);
        return 0;
}
