/* The Dockerfile the builder generates for a repository without its own.
 *
 * Pure function of an analysis and the platform's base images: same input,
 * byte-identical output, so the builder's layer cache keeps working.
 *
 * What every generated Dockerfile does:
 *  - dependency manifests (analysis->dependency_files) are copied and
 *    installed before the rest of the source: an unchanged lockfile reuses
 *    the cached install layer;
 *  - the build command, if any, runs after the source is copied;
 *  - Go is built in a separate stage (CGO_ENABLED=0) and only bin/ is
 *    copied into the small base image;
 *  - a single-page app (analysis->output_dir) is built in a node stage and
 *    only its output is copied into the static image;
 *  - languages with no runtime image of their own (ruby, java, rust,
 *    elixir, cpp, dotnet) start FROM the base image and install their
 *    toolchain from Debian's archive (.NET, not in Debian, from Microsoft's
 *    installer); deno comes from npm on the node image;
 *  - the final stage sets the deployer.yaml env defaults, ENV PORT,
 *    EXPOSE, runs as USER 10001 (the images' non-root `app` user) and
 *    starts with CMD ["sh", "-c", "[release &&] exec start"].
 */
#ifndef AD_BUILDPLAN_H
#define AD_BUILDPLAN_H

#include <stdbool.h>

#include "ad/analysis.h"
#include "ad/error.h"

/* Base image names.  The strings are borrowed (the caller's config owns
 * them) and must stay valid for the duration of the call. */
struct ad_buildplan_images {
        const char *node;        /* nodejs + npm */
        const char *python;      /* python3 */
        const char *go;          /* golang-go (build stage only) */
        const char *static_site; /* serves its WORKDIR /app on $PORT by default */
        const char *php;         /* php-cli */
        const char *base;        /* Go binaries and Procfile-only apps */

        /* The build context contains `.ad-extra-ca.pem` (the operator's
         * extra CA bundle, e.g. a TLS-inspecting proxy): trust it for the
         * dependency install. */
        bool extra_ca;
};

/* The file name the builder must put in the context when extra_ca is set. */
#define AD_BUILDPLAN_EXTRA_CA_FILE ".ad-extra-ca.pem"

/* localhost/app-deployer/<lang>:bookworm, extra_ca false. */
void ad_buildplan_images_default(struct ad_buildplan_images *images);

/* The runtime image for a language (the base image for the toolchain
 * languages; "dockerfile" and unknown: NULL). */
const char *ad_buildplan_image(const struct ad_buildplan_images *images, const char *language);

/* On success *out is a NUL-terminated Dockerfile owned by the caller.
 * AD_ERR_INVALID when the analysis cannot be planned: language
 * "dockerfile" (the repository's own Dockerfile is used), no start
 * command, a port outside 1..65535, or a command/path with characters
 * that could break out of its Dockerfile instruction. */
int ad_buildplan_dockerfile(char **out, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err);

#endif
