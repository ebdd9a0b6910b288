/* The pids limit of a build (builder.build_pids_limit).  podman 4.3's
 * /build has no pids parameter; it does take a cgroupparent, which (with
 * the cgroupfs manager) is the very cgroup runc puts each RUN step in and
 * removes after it.  So the builder makes a cgroup of its own for the
 * build, <hierarchy>/<builder.build_cgroup>/<name>, with pids.max, and
 * hands the engine <name>/run below it: every step's processes count
 * against the limit, which outlives the steps.  Needs the engine on this
 * host and write access to its cgroupfs (root).  cgroup v1 (the pids
 * hierarchy) and v2 (the unified one). */
#ifndef AD_BUILDER_CGROUP_H
#define AD_BUILDER_CGROUP_H

#include <limits.h>
#include <stdbool.h>

#include "ad/error.h"

struct builder_cgroup {
        char dir[PATH_MAX]; /* .../<base>/<name>: holds pids.max */
        char parent[256];   /* "/<base>/<name>/run": the engine's cgroupparent */
        char base[128], name[128];
        long refused_at_start; /* pids.events "max" when made */
        long limit;
        bool made;
};

/* Makes the build's cgroup with pids.max = limit (an existing one, left by
 * an earlier attempt, is reused).  AD_ERR_UNSUPPORTED when there is no
 * pids controller, AD_ERR_GENERIC (errno) when it cannot be made. */
int builder_cgroup_make(struct builder_cgroup *cg, const char *base, const char *name, long limit,
                        ad_error_t *err);

/* Forks refused by the limit since builder_cgroup_make (at least 1 when
 * the count is lost but the peak reached the limit); 0 when none. */
long builder_cgroup_refused(const struct builder_cgroup *cg);

/* Removes the build's cgroup from every hierarchy the engine made it in
 * (best effort; a cgroup still holding processes stays). */
void builder_cgroup_remove(struct builder_cgroup *cg);

#endif
