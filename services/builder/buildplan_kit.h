/* The planner's kit: what a language's plan (its provider's `plan`, in
 * services/analyzer/detect_<lang>.c) writes its Dockerfile with.
 *
 * The planner (buildplan.h, ad_buildplan_dockerfile) checks the analysis
 * (commands, paths, env, port, mirrors), writes the header line, and then
 * calls the language's plan, which picks its images by key and writes its
 * stages with these helpers: the FROM lines, the operator's CA, the
 * mirrors, the dependency layer, the final stage's tail.  A plan writes
 * nothing of its own that every language shares; what it writes is its
 * toolchain's: its ENV, its install, its build stage.
 *
 * This library (adbuildkit) is below the providers (addetect links it) and
 * includes none of the analyzer's headers; the planner's entry points
 * (adbuildplan) are above both. */
#ifndef AD_BUILDPLAN_KIT_H
#define AD_BUILDPLAN_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ad/analysis.h"
#include "ad/error.h"

/* A base image: its key (`builder.images.<key>`, e.g. "node") and its
 * name.  A provider lists its images with AD_BUILDPLAN_IMAGE("key"): the
 * platform's own image of that key (scripts/base-images.sh builds it). */
struct ad_buildplan_image {
        const char *key;
        const char *name;
};
#define AD_BUILDPLAN_IMAGE(key)                                                                    \
        {                                                                                          \
                key, "localhost/app-deployer/" key ":bookworm"                                     \
        }

/* At most this many distinct image keys over all providers
 * (test_language_providers checks they fit). */
#define AD_BUILDPLAN_MAX_IMAGES 16

/* The base images, by key, and what every build is given.  The strings
 * are borrowed (the caller's config owns them) and must stay valid for the
 * duration of the call. */
struct ad_buildplan_images {
        struct ad_buildplan_image image[AD_BUILDPLAN_MAX_IMAGES];
        size_t n_images;

        /* Package-registry mirrors (builder.mirrors.*), NULL or "": the
         * ecosystem's default registry.  URLs without quotes, spaces,
         * `$` or backslashes (checked by ad_buildplan_check_mirror). */
        struct ad_buildplan_mirrors {
                const char *pypi;    /* pip, uv, PDM, Pipenv index (a /simple URL) */
                const char *npm;     /* npm, yarn, pnpm, bun registry */
                const char *goproxy; /* GOPROXY, e.g. "https://proxy.corp,direct" */
                const char *gosumdb; /* GOSUMDB, e.g. "off" or "sum.golang.org https://..." */
                const char *goflags; /* GOFLAGS added to -trimpath, e.g. "-mod=mod" */
                const char *maven;   /* a Maven repository mirroring central (mirrorOf *) */
                const char *cargo;   /* the crates.io index replacement (sparse+https://...) */
        } mirrors;

        /* The build context contains `.ad-extra-ca.pem` (the operator's
         * extra CA bundle, e.g. a TLS-inspecting proxy): trust it for the
         * dependency install. */
        bool extra_ca;
};

/* The file name the builder must put in the context when extra_ca is set. */
#define AD_BUILDPLAN_EXTRA_CA_FILE ".ad-extra-ca.pem"

/* The name of the image `key`; NULL when no such key. */
const char *ad_buildplan_images_get(const struct ad_buildplan_images *images, const char *key);
/* Sets (or adds) the image `key`; false when the table is full. */
bool ad_buildplan_images_set(struct ad_buildplan_images *images, const char *key, const char *name);

/* 0 when `value` can be a mirror setting (see struct ad_buildplan_mirrors);
 * AD_ERR_INVALID naming `what` otherwise.  NULL and "" are valid (unset). */
int ad_buildplan_check_mirror(const char *what, const char *value, ad_error_t *err);

/* A language's plan: writes its stages to `f` (after the header line the
 * planner wrote) for an analysis the planner checked.  Negative with *err
 * set when it cannot (an image not configured, a path of the analysis
 * that is not a plain relative one). */
typedef int ad_buildplan_fn(FILE *f, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err);

/* Writes the header line, checks the analysis, then calls `plan` (NULL:
 * AD_ERR_UNSUPPORTED "no build plan for language"): ad_buildplan_dockerfile
 * with the language's plan found (buildplan.h). */
int ad_buildplan_generate(char **out, const struct ad_analysis *a,
                          const struct ad_buildplan_images *images, ad_buildplan_fn *plan,
                          ad_error_t *err);

/* ---- For the plans ---------------------------------------------------- */

static inline const char *ad_buildplan_str(const char *s)
{
        return s ? s : "";
}

/* *image = the image `key`, checked: AD_ERR_INVALID "no <key> image
 * configured" when unset or "", or when its name has whitespace. */
int ad_buildplan_use_image(const struct ad_buildplan_images *images, const char *key,
                           const char **image, ad_error_t *err);
/* AD_ERR_INVALID naming `what` unless `s` is a plain relative path inside
 * the context (it goes into COPY lines unquoted). */
int ad_buildplan_check_path(const char *what, const char *s, ad_error_t *err);
int ad_buildplan_check_image(const char *what, const char *s, ad_error_t *err);

/* FROM image [AS stage], as root in /app. */
void ad_buildplan_from(FILE *f, const char *image, const char *stage);
/* The operator's extra CA for every tool of the build (no-op without
 * images->extra_ca); `java` adds the JVM's truststore. */
void ad_buildplan_trust(FILE *f, const struct ad_buildplan_images *images, bool java);

/* The ecosystems whose mirrors a stage reads (bit flags). */
enum ad_buildplan_ecosystem {
        AD_BUILDPLAN_ECO_NPM = 1,
        AD_BUILDPLAN_ECO_PYPI = 2,
        AD_BUILDPLAN_ECO_GO = 4,
        AD_BUILDPLAN_ECO_MAVEN = 8,
        AD_BUILDPLAN_ECO_CARGO = 16,
};
/* Each configured mirror of `eco` as its tools read it. */
void ad_buildplan_mirrors(FILE *f, const struct ad_buildplan_images *images, unsigned eco);
/* Manifests, install, source, build command (the install layer is reused
 * until a manifest changes). */
void ad_buildplan_install_and_source(FILE *f, const struct ad_analysis *a);
/* The final stage's tail: env defaults, ENV <extra_env>PORT, EXPOSE,
 * USER 10001, CMD. */
int ad_buildplan_runtime(FILE *f, const struct ad_analysis *a, const char *extra_env,
                         ad_error_t *err);
/* A one-stage plan on `image` (`what`: its key, for the error): the
 * install and source, or only the directory `src` when not "." (a static
 * site's root). */
int ad_buildplan_simple(FILE *f, const struct ad_analysis *a, const char *what, const char *image,
                        const char *src, ad_error_t *err);
/* A compiled language's final stage: the build stage's /ad-out/ in /app
 * on `image`. */
int ad_buildplan_final(FILE *f, const struct ad_analysis *a, const char *image, ad_error_t *err);
/* A compiled language's dependency layer: the manifests, the install and
 * `warm` against the stand-in source `stub` makes, best effort. */
void ad_buildplan_warm_deps(FILE *f, const struct ad_analysis *a, const char *stub,
                            const char *warm);

/* A language with no runtime image of its own: its toolchain from
 * Debian's archive on the base image. */
struct ad_buildplan_toolchain {
        const char *packages; /* apt-get install ... */
        const char *env;      /* an extra ENV line, or NULL */
        /* Written after the packages' install, or NULL (.NET: its installer). */
        void (*after_install)(FILE *f, const struct ad_analysis *a);
};
int ad_buildplan_toolchain(FILE *f, const struct ad_analysis *a,
                           const struct ad_buildplan_images *images,
                           const struct ad_buildplan_toolchain *t, ad_error_t *err);

#endif
