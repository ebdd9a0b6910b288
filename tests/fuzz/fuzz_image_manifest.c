/* The deployer's reading of a registry manifest (image_manifest.c): any
 * bytes, checked against their own digest (so the JSON is read) and
 * against another one, give a config digest or an error, never a crash. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "image_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        unsigned char md[32];
        unsigned int mdlen = 0;
        char digest[8 + 64] = "sha256:";
        ad_error_t err = NULL;
        char *config = NULL;

        if (size > (1 << 20) || EVP_Digest(data, size, md, &mdlen, EVP_sha256(), NULL) != 1)
                return 0;
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(digest + 7 + 2 * i, 3, "%02x", md[i]);
        if (deployer_manifest_config((const char *)data, size, digest, &config, &err) == 0 &&
            !image_digest_ok(config))
                abort();
        free(config);
        ad_error_release(&err);
        config = NULL;
        digest[7] = digest[7] == '0' ? '1' : '0';
        if (deployer_manifest_config((const char *)data, size, digest, &config, &err) == 0)
                abort(); /* bytes that do not hash to the digest are refused */
        ad_error_release(&err);
        return 0;
}
