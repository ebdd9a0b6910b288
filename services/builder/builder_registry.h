/* The registry's HTTP API v2 (the CNCF distribution registry), plain HTTP
 * on the platform's own registry.  Images are <registry>/<app>:<tag>.
 *
 * Errors: registry unreachable or answering 5xx AD_ERR_UNAVAILABLE; an
 * unknown repository, tag or digest AD_ERR_NOT_FOUND. */
#ifndef AD_BUILDER_REGISTRY_H
#define AD_BUILDER_REGISTRY_H

#include "ad/error.h"

/* The registry's account (HTTP Basic) for every call below; NULL or ""
 * user: none.  Set once at start-up; AD_ERR_INVALID when too long. */
int builder_registry_credentials(const char *user, const char *password, ad_error_t *err);

/* The manifest digest ("sha256:...") that app:ref points at (caller frees). */
int builder_registry_digest(const char *registry, const char *app, const char *ref, char **digest,
                            ad_error_t *err);

/* The value of `label` in the image config of app:ref; *value is NULL when
 * the image has no such label. */
int builder_registry_label(const char *registry, const char *app, const char *ref,
                           const char *label, char **value, ad_error_t *err);

/* Points tag `to` at the manifest of `from` (same digest, no upload). */
int builder_registry_retag(const char *registry, const char *app, const char *from, const char *to,
                           ad_error_t *err);

/* Deletes the manifest (every tag pointing at it goes with it).  Already
 * gone is a success (idempotent); a registry without delete enabled is
 * AD_ERR_UNSUPPORTED. */
int builder_registry_delete(const char *registry, const char *app, const char *digest,
                            ad_error_t *err);

#endif
