/* The bearer credential of an Authorization header and, when it has a
 * JWT's shape, its verification (api_jwt.c: base64url, the JSON header,
 * the key id, the HMAC, libjwt's claims), and api.jwt_keys.  Any input is
 * refused with a message or accepted with claims that keep the
 * verifier's promises, never a crash or a leak; a token signed here
 * verifies. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds (tests/fuzz/corpus/fuzz_jwt) are signed with these keys
 * for this instant. */
#define NOW 1800000000L

static struct api_jwt_keys keys;

static void setup(void)
{
        struct api_jwt_claims c = { .role = API_ROLE_DEPLOYER }, back;
        char *token = NULL;
        long exp;

        if (api_jwt_keys_parse(&keys,
                               "k2:fuzz-secret-two-0123456789abcdef0123,"
                               "k1:fuzz-secret-one-0123456789abcdef0123",
                               NULL) < 0 ||
            keys.n != 2)
                abort();
        strcpy(keys.issuer, "app-deployer");
        strcpy(keys.audience, "app-deployer-api");
        keys.ttl_s = 900;
        strcpy(c.key_id, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        strcpy(c.team_id, "1b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11");
        strcpy(c.team, "red");
        strcpy(c.sub, "red/ci");
        if (api_jwt_sign(&keys, &c, NOW, &token, &exp, NULL) < 0 || exp != NOW + 900 ||
            api_jwt_verify(&keys, token, NOW, &back, NULL) < 0 ||
            strcmp(back.key_id, c.key_id) != 0 || back.role != API_ROLE_DEPLOYER ||
            strcmp(back.kid, "k2") != 0 || api_jwt_verify(&keys, token, exp, &back, NULL) == 0)
                abort();
        free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool ready;
        struct api_jwt_claims c;
        struct api_jwt_keys parsed;
        ad_error_t err = NULL;
        const char *cred;
        char *text;

        if (!ready) {
                setup();
                ready = true;
        }
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        cred = api_bearer_credential(text);
        if (cred && (*cred == '\0' || *cred == ' '))
                abort();
        if (cred == NULL)
                cred = text;
        if (api_jwt_verify(&keys, cred, NOW, &c, &err) == 0) {
                if (!api_jwt_looks_like(cred) || !ad_uuid_valid(c.key_id) ||
                    !ad_uuid_valid(c.team_id) || !api_team_name_valid(c.team) ||
                    c.role < API_ROLE_VIEWER || c.role > API_ROLE_ADMIN || c.exp <= NOW ||
                    (strcmp(c.kid, "k1") != 0 && strcmp(c.kid, "k2") != 0))
                        abort();
        } else if (err == NULL) {
                abort();
        }
        ad_error_release(&err);

        if (api_jwt_keys_parse(&parsed, text, &err) == 0) {
                for (size_t i = 0; i < parsed.n; i++)
                        if (parsed.key[i].len < API_JWT_SECRET_MIN || parsed.key[i].kid[0] == '\0')
                                abort();
        } else if (err == NULL) {
                abort();
        }
        ad_error_release(&err);
        free(text);
        return 0;
}
