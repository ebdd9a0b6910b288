/* The part of deployer_image_ensure (deploy.h) that reads what the
 * registry says: kept apart, without the deployer's state, for its fuzz
 * target. */
#ifndef AD_DEPLOYER_IMAGE_MANIFEST_H
#define AD_DEPLOYER_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

/* "sha256:" and 64 lowercase hex digits. */
bool image_digest_ok(const char *d);

/* The config digest ("sha256:...") a registry manifest names, once the
 * manifest's bytes are checked against `digest` (AD_ERR_INVALID when
 * they do not hash to it, or name no sha256 config). */
int deployer_manifest_config(const char *body, size_t len, const char *digest, char **config,
                             ad_error_t *err);

#endif
