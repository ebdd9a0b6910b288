/* The image side of the Docker Engine API, as podman 4.3 serves it:
 * /build and /images/{name}/push, both answering 200 and then streaming
 * JSON lines, with failures reported inside the stream ({"error": ...}).
 * The rest of the engine API (ping, image removal) is common/engine.h. */
#ifndef AD_BUILDER_ENGINE_H
#define AD_BUILDER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ad/error.h"

typedef void (*builder_line_fn)(const char *line, void *ud);

struct builder_build_request {
        const char *socket;
        const char *const *tags;   /* full references, NULL-terminated */
        const char *dockerfile;    /* path inside the context */
        const char *const *labels; /* "key=value", NULL-terminated */
        int context_fd;            /* the context tar, read from its start */
        int64_t timeout_ms;
        builder_line_fn on_line; /* each line of build output */
        void *ud;
        bool (*cancel)(void); /* optional: true abandons the build */
};

struct builder_build_result {
        char *image_id;     /* "sha256:..." when the engine said */
        char *error;        /* set: the build itself failed (the engine's message) */
        long layers_cached; /* steps the engine took from its cache */
        long steps;
};

/* Runs the build.  Returns 0 when the engine ran it (check res->error: a
 * failing Dockerfile is a result, not an error); AD_ERR_UNAVAILABLE /
 * AD_ERR_TIMEOUT when the engine is unreachable or too slow. */
int builder_engine_build(const struct builder_build_request *req, struct builder_build_result *res,
                         ad_error_t *err);
void builder_build_result_clear(struct builder_build_result *res);

/* Pushes name:tag (name = registry/app).  *digest (optional) receives the
 * pushed manifest's digest when the engine reports it.  A failed push is
 * AD_ERR_UNAVAILABLE (the registry is the usual cause), a missing local
 * image AD_ERR_NOT_FOUND. */
int builder_engine_push(const char *socket, const char *name, const char *tag, int64_t timeout_ms,
                        bool (*cancel)(void), char **digest, ad_error_t *err);

/* The repo:tag names of local images carrying label key=value
 * (NULL-terminated; free with ad_engine_strv_free). */
int builder_engine_images_by_label(const char *socket, const char *label, char ***tags,
                                   ad_error_t *err);

/* Finds "sha256:<64 hex>" after "digest: " in text; false when absent. */
bool builder_find_digest(const char *text, char out[72]);

#endif
