/* A release's container by name, made once per deployment: see
 * container.h. */
#include "container.h"

#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

static bool reusable(const struct ad_container *c, const struct ad_container_spec *spec,
                     const char *dep, enum container_reuse reuse)
{
        if (strcmp(c->deployment, dep) != 0 || strcmp(c->image, spec->image) != 0)
                return false;
        if (reuse == CONTAINER_REUSE_ANY)
                return true;
        return c->running && (spec->container_port == 0 || c->host_port != 0);
}

/* Started and inspected; a container without the host port its spec
 * publishes is an error. */
static int start_and_inspect(struct deployer *dp, const struct ad_container_spec *spec,
                             const char *id, struct ad_container *out, ad_error_t *err)
{
        int ret = ad_engine_container_start(dp->engine, id, err);

        if (ret == 0)
                ret = ad_engine_container_inspect(dp->engine, id, out, err);
        if (ret == 0 && spec->container_port && out->host_port == 0) {
                ad_container_clear(out);
                ret = ad_error_make(err, AD_ERR_GENERIC, 0,
                                    "container %s: the engine published no host port", spec->name);
        }
        return ret;
}

int container_ensure(struct deployer *dp, const struct ad_container_spec *spec, const char *dep,
                     enum container_reuse reuse, struct ad_container *out, bool *reused,
                     ad_error_t *err)
{
        bool name_held = false;

        for (int attempt = 0; attempt < 3; attempt++) {
                cleanup_error ad_error_t lerr = NULL;
                cleanup_free char *id = NULL;
                struct ad_container c = { 0 };
                int ret;

                ret = ad_engine_container_inspect(dp->engine, spec->name, &c, &lerr);
                if (ret == 0) {
                        if (reusable(&c, spec, dep, reuse)) {
                                *reused = true;
                                if (c.state == NULL || strcmp(c.state, "created") != 0) {
                                        *out = c;
                                        return 0;
                                }
                                /* Made, never started (the attempt died
                                 * between the two). */
                                id = TAKE_PTR(c.id);
                                ad_container_clear(&c);
                                return start_and_inspect(dp, spec, id, out, err);
                        }
                        ret = ad_engine_container_remove(dp->engine, c.id, true, &lerr);
                        ad_container_clear(&c);
                        if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                                /* A container whose start the engine died in
                                 * (podman service killed) can fail to be
                                 * removed ("device or resource busy", 500)
                                 * yet be gone: look again; if it stays, a
                                 * later delivery tries again. */
                                if (attempt < 2)
                                        continue;
                                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "%s",
                                                     ad_error_message(lerr));
                        }
                        ad_error_release(&lerr);
                } else if (ret != -AD_ERR_NOT_FOUND) {
                        if (err)
                                *err = TAKE_PTR(lerr);
                        return ret;
                }
                ad_error_release(&lerr);
                if (name_held) {
                        /* The name was taken, yet no container has it: the
                         * engine died while creating one (podman service
                         * killed), leaving the store's record of the name
                         * without the engine's.  Removing the name frees
                         * it (podman removes such a record by name). */
                        ret = ad_engine_container_remove(dp->engine, spec->name, true, &lerr);
                        if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                                if (err)
                                        *err = TAKE_PTR(lerr);
                                return ret;
                        }
                        ad_error_release(&lerr);
                }
                ret = ad_engine_container_create(dp->engine, spec, &id, &lerr);
                if (ret == -AD_ERR_CONFLICT) {
                        /* A concurrent attempt made it, or a dead one left
                         * the name behind: look again. */
                        name_held = true;
                        continue;
                }
                if (ret < 0) {
                        if (err)
                                *err = TAKE_PTR(lerr);
                        return ret;
                }
                *reused = false;
                ret = start_and_inspect(dp, spec, id, out, err);
                if (ret < 0 && !ad_error_is_retryable(err ? *err : NULL))
                        ad_engine_container_remove(dp->engine, id, true, NULL);
                return ret;
        }
        return ad_error_make(err, AD_ERR_CONFLICT, 0,
                             "container %s: created and removed concurrently, giving up",
                             spec->name);
}
