/* A build's working directory: the clone (which is the build context),
 * the Dockerfile to use in it and the operator's extra CA.
 *
 *   <work_dir>/adbuilder-XXXXXX/src          the clone at the event's sha
 *
 * The context goes to the engine as a tar made while it is uploaded
 * (builder_stream.h), never as a file here.
 * Everything goes with builder_context_destroy(). */
#ifndef AD_BUILDER_CONTEXT_H
#define AD_BUILDER_CONTEXT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ad/analysis.h"
#include "ad/error.h"
#include "ad/git.h"
#include "builder.h"

/* Where a generated Dockerfile goes in the context. */
#define BUILDER_GENERATED_DOCKERFILE ".ad-Dockerfile"
#define BUILDER_MAX_CA_BYTES (4 * 1024 * 1024)

struct builder_context {
        char root[1024]; /* work_dir paths are short */
        char src[PATH_MAX];
        char sha[AD_GIT_SHA_LEN + 1];
        char *dockerfile; /* relative to src */
        bool generated;   /* planned from the analysis */
        bool extra_ca;    /* .ad-extra-ca.pem is in the context */
};

int builder_context_create(struct builder_context *ctx, const char *work_dir, ad_error_t *err);

/* Clones url at sha into src (ad_git_clone's errors). */
int builder_context_clone(struct builder_context *ctx, const char *url, const char *sha,
                          const struct builder_config *cfg, ad_error_t *err);

/* Picks the repository's own Dockerfile (has_dockerfile) or writes the
 * planned one, with the extra CA next to it.  AD_ERR_INVALID /
 * AD_ERR_UNSUPPORTED / AD_ERR_NOT_FOUND when no build can be planned.
 * *warning (optional, caller frees) tells about an unreadable CA file. */
int builder_context_dockerfile(struct builder_context *ctx, const struct ad_analysis *a,
                               const struct builder_config *cfg, char **warning, ad_error_t *err);

/* Removes the working directory; safe on a partly made context. */
void builder_context_destroy(struct builder_context *ctx);

#endif
