/* POST /deployments bodies and list cursors, as adapi parses them: any
 * input is accepted or rejected with a message, never a crash or a leak. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct api_deploy_request *req = NULL;
        struct api_cursor cursor;
        ad_error_t err = NULL;
        const char *code = NULL;
        char *text;

        /* The server hands the parser a NUL-terminated body of body_len. */
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        /* With and without local sources: two paths through the URL check. */
        for (int allow_local = 0; allow_local <= 1; allow_local++) {
                if (api_deploy_request_parse(&req, text, size, allow_local, &code, &err) == 0) {
                        /* What is accepted is what the service relies on. */
                        if (!ad_app_name_valid(req->app) || req->ref == NULL ||
                            req->n_env > AD_ENV_MAX_VARS)
                                abort();
                        for (size_t i = 0; i < req->n_env; i++)
                                if (!api_env_name_valid(req->env[i].name) ||
                                    strlen(req->env[i].value) > AD_ENV_VALUE_MAX)
                                        abort();
                        {
                                /* The Idempotency-Key comparison's fingerprint. */
                                struct ad_secret_key key;
                                char digest[API_ENV_DIGEST_LEN + 1];

                                struct ad_secret_keyring ring;
                                bool same = false;

                                memset(&key, 0, sizeof(key));

                                if (api_deploy_request_env_digest(req, &key, digest, NULL) < 0 ||
                                    strlen(digest) != (req->n_env ? API_ENV_DIGEST_LEN : 0))
                                        abort();
                                /* A fingerprint matches its own request. */
                                ad_secret_keyring_of(&ring, &key);
                                if (api_deploy_request_env_same(req, &ring, digest, &same, NULL) <
                                            0 ||
                                    !same)
                                        abort();
                        }
                        api_deploy_request_free(req);
                        req = NULL;
                } else if (code == NULL || ad_error_message(err) == NULL) {
                        abort();
                }
                ad_error_release(&err);
        }

        /* Cursors and limits come from the query string. */
        if (api_cursor_decode(&cursor, text, &err) == 0) {
                char *again = api_cursor_encode(&cursor);
                struct api_cursor back;

                if (again == NULL || api_cursor_decode(&back, again, NULL) < 0 ||
                    back.created_us != cursor.created_us || strcmp(back.id, cursor.id) != 0)
                        abort();
                free(again);
        }
        ad_error_release(&err);
        {
                long limit;

                if (api_limit_parse(text, 20, 100, &limit, &err) == 0 && (limit < 1 || limit > 100))
                        abort();
                ad_error_release(&err);
        }
        api_content_type_is_json(text);
        api_ref_valid(text);
        {
                /* An Authorization header against a token table, and the
                 * input as an api.tokens setting. */
                static struct api_tokens tokens;
                static bool loaded;
                struct api_tokens parsed;

                if (!loaded)
                        loaded = api_tokens_parse(&tokens,
                                                  "ci:1ec1c26b50d5d3c58d9583181af8076655fe00756bf"
                                                  "7285940ba3670f99fcba0",
                                                  NULL) == 0;
                if (api_tokens_match(&tokens, text) != NULL && strcmp(text, "Bearer s3cret") != 0 &&
                    strncasecmp(text, "bearer ", 7) != 0)
                        abort();
                if (api_tokens_parse(&parsed, text, &err) == 0 && parsed.n > API_TOKENS_MAX)
                        abort();
                ad_error_release(&err);
        }
        free(text);
        return 0;
}
