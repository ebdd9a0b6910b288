/* The sealed-value parser (ad/secret.h): any input as a sealed value is
 * taken apart or refused, and opening it with a key ring gives the plain
 * text or an error, never a crash or a read out of bounds.  Inputs that
 * open (the seeds, sealed under the key below for app "shop", variable
 * "DB_PASSWORD") open only as that variable; every input also survives a
 * seal/open round trip as a plain value.  As a repository URL, any input
 * is opened or refused (ad_secret_url_open), and one with a password
 * survives a seal/open round trip with nothing of the password left in
 * its sealed form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ad/secret.h"

#define FUZZ_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define FUZZ_OLD "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct ad_secret_keyring ring;
        static int ready;
        struct ad_sealed s;
        ad_error_t err = NULL;
        char *text, *plain = NULL, *sealed = NULL;

        if (!ready) {
                if (ad_secret_keyring_parse(&ring, FUZZ_KEY, FUZZ_OLD, NULL) < 0)
                        abort();
                ready = 1;
        }
        if (size > 128 * 1024)
                return 0;
        text = malloc(size + 1);
        if (text == NULL)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        if (ad_sealed_parse(&s, text, &err) == 0) {
                if ((s.version != 1 && s.version != 2) || s.raw_len < 28 ||
                    (s.version == 2 && strlen(s.key_id) != AD_SECRET_KEY_ID_LEN))
                        abort();
                ad_sealed_clear(&s);
        } else if (err == NULL) {
                abort();
        }
        ad_error_release(&err);
        if (ad_secret_open(&plain, &ring, "shop", "DB_PASSWORD", text, &err) == 0) {
                char *again = NULL;

                /* v2 values are bound: not as another variable. */
                if (strncmp(text, AD_SECRET_PREFIX_V2, strlen(AD_SECRET_PREFIX_V2)) == 0 &&
                    ad_secret_open(&again, &ring, "shop", "DB_PASSWORD2", text, NULL) == 0)
                        abort();
                free(again);
                free(plain);
        } else if (err == NULL || plain != NULL) {
                abort();
        }
        ad_error_release(&err);

        if (size <= AD_SECRET_MAX_PLAIN && strlen(text) == size) {
                if (ad_secret_seal(&sealed, &ring.keys[0], "shop", "X", text, NULL) < 0 ||
                    !ad_secret_is_current(sealed, &ring.keys[0]) ||
                    ad_secret_open(&plain, &ring, "shop", "X", sealed, NULL) < 0 ||
                    strcmp(plain, text) != 0)
                        abort();
                free(plain);
                free(sealed);
        }
        plain = NULL;
        if (ad_secret_url_open(&plain, &ring, "shop", text, &err) == 0)
                free(plain);
        else if (err == NULL || plain != NULL)
                abort();
        ad_error_release(&err);
        plain = NULL;
        sealed = NULL;
        if (strlen(text) == size && size <= AD_SECRET_MAX_PLAIN && !ad_secret_url_is_sealed(text)) {
                if (ad_secret_url_seal(&sealed, &ring.keys[0], "shop", text, NULL) < 0 ||
                    ad_secret_url_open(&plain, &ring, "shop", sealed, NULL) < 0 ||
                    strcmp(plain, text) != 0 ||
                    ad_secret_url_has_password(text) != ad_secret_url_is_sealed(sealed))
                        abort();
                /* A password of 16 or more characters without '%' cannot
                 * be a chance run of the sealed form's fixed parts: it is
                 * not found in it. */
                {
                        /* The userinfo as the library reads it: up to the
                         * first of / ? #, the password between the first
                         * ':' and the last '@'. */
                        const char *a = strstr(text, "://");
                        size_t n = a ? strcspn(a + 3, "/?#") : 0;
                        const char *at = a ? memrchr(a + 3, '@', n) : NULL;
                        const char *colon = at ? memchr(a + 3, ':', (size_t)(at - a - 3)) : NULL;

                        if (colon && at - colon - 1 >= 16 &&
                            !memchr(colon, '%', (size_t)(at - colon))) {
                                /* In the sealed URL's password (the rest of
                                 * the URL is copied as it is). */
                                const char *sa = strstr(sealed, "://") + 3;
                                const char *sat = memrchr(sa, '@', strcspn(sa, "/?#"));
                                const char *sc = sat ? memchr(sa, ':', (size_t)(sat - sa)) : NULL;
                                char *pw = strndup(colon + 1, (size_t)(at - colon - 1));
                                char *ui = sc ? strndup(sc + 1, (size_t)(sat - sc - 1)) : NULL;

                                if (pw && ui && strstr(ui, pw))
                                        abort();
                                free(pw);
                                free(ui);
                        }
                }
                free(plain);
                free(sealed);
        }
        free(text);
        return 0;
}
