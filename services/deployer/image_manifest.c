/* A registry manifest's config digest: see image_manifest.h. */
#include "image_manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/digest.h"

bool image_digest_ok(const char *d)
{
        return d && strlen(d) == 7 + 64 && strncmp(d, "sha256:", 7) == 0 &&
               strspn(d + 7, "0123456789abcdef") == 64;
}

int deployer_manifest_config(const char *body, size_t len, const char *digest, char **config,
                             ad_error_t *err)
{
        unsigned char md[AD_SHA256_LEN];
        char hex[65];
        json_auto_t *m = NULL;
        const char *c;

        if (!image_digest_ok(digest))
                return ad_error_make(err, AD_ERR_INVALID, 0, "`%.80s` is not a sha256 digest",
                                     digest ? digest : "");
        ad_sha256(md, body, len);
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (strcmp(hex, digest + 7) != 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the manifest served for %s has another digest", digest);
        m = json_loadb(body, len, 0, NULL);
        c = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        if (!image_digest_ok(c))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "manifest %s names no sha256 config blob", digest);
        if ((*config = strdup(c)) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return 0;
}
