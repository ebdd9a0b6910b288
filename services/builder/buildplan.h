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
 *  - Rust and Java build in their own stage (the rust and java images);
 *    the final stage holds the executables of target/release, or the
 *    jars of target/ and build/libs, on the base or jre image;
 *  - with an extra CA, one combined bundle and every tool's variable for
 *    it (pip, uv, Poetry, PDM, Pipenv, requests, Go, Cargo, git, curl,
 *    npm/yarn/pnpm/bun, Deno) and, for Java, a PKCS#12 truststore made
 *    from it (JAVA_TOOL_OPTIONS, so Maven and Gradle use it);
 *  - mirrors (images->mirrors) go in as each tool's own settings, in the
 *    build stage;
 *  - other languages with no runtime image of their own (ruby, elixir,
 *    cpp, dotnet) start FROM the base image and install their
 *    toolchain from Debian's archive (.NET, not in Debian, from Microsoft's
 *    installer); deno comes from npm on the node image;
 *  - the final stage sets the deployer.yaml env defaults, ENV PORT,
 *    EXPOSE, runs as USER 10001 (the images' non-root `app` user) and
 *    starts with CMD ["sh", "-c", "[release &&] exec start"].
 */
#ifndef AD_BUILDPLAN_H
#define AD_BUILDPLAN_H

#include "buildplan_kit.h"

/* Each language's part (its images, its stages) is its provider's, next
 * to its detector: services/analyzer/detect_<lang>.c, `plan` and
 * `images` of struct analyzer_provider.  These entry points find it by
 * the analysis's `language`. */

/* Every image key a provider uses, each with its default name
 * (localhost/app-deployer/<key>:bookworm); extra_ca false, no mirrors. */
void ad_buildplan_images_default(struct ad_buildplan_images *images);

/* Prints the images of ad_buildplan_images_default, one line each in the
 * table's order: its key, its default name, the languages whose apps run
 * on it (it is the first of their images) and the languages that build
 * with it in another stage, tab-separated (a space between names, "-"
 * for none):
 *
 *   go<TAB>localhost/app-deployer/go:bookworm<TAB>-<TAB>go
 *
 * `adanalyzer --list-images`; scripts/base-images.sh builds these keys.
 * -1 when out fails. */
int ad_buildplan_images_list(FILE *out);

/* The runtime image for a language: the first of its provider's images
 * (the base image for the toolchain languages; "dockerfile" and unknown:
 * NULL). */
const char *ad_buildplan_image(const struct ad_buildplan_images *images, const char *language);

/* On success *out is a NUL-terminated Dockerfile owned by the caller.
 * AD_ERR_INVALID when the analysis cannot be planned: language
 * "dockerfile" (the repository's own Dockerfile is used), no start
 * command, a port outside 1..65535, or a command/path with characters
 * that could break out of its Dockerfile instruction. */
int ad_buildplan_dockerfile(char **out, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err);

#endif
