/* container.c: a release's container by name, made once per deployment.
 * A redelivered deploy step finds the container an earlier attempt of the
 * same deployment made and reuses it; anything else of that name (another
 * deployment's, another image's, a stopped web container) goes first. */
#ifndef AD_DEPLOYER_CONTAINER_H
#define AD_DEPLOYER_CONTAINER_H

#include <stdbool.h>

#include "deploy.h"

enum container_reuse {
        /* Only a running one (a web or process container): a stopped one
         * is removed and made again. */
        CONTAINER_REUSE_RUNNING,
        /* One in any state (the release phase's: an exited one keeps its
         * result; a created one is started). */
        CONTAINER_REUSE_ANY,
};

/* The container spec->name of deployment `dep`, started: *out is what
 * inspect says of it (with its published host port when spec has a
 * container port), *reused whether an earlier attempt had made it.  A
 * container this call made and could not start is removed unless the
 * error is retryable (the redelivery then finds it). */
int container_ensure(struct deployer *dp, const struct ad_container_spec *spec, const char *dep,
                     enum container_reuse reuse, struct ad_container *out, bool *reused,
                     ad_error_t *err);

#endif
