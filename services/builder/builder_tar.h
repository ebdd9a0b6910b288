/* A ustar (POSIX.1-1988 + pax long names) writer for build contexts.
 *
 * The directory is hostile input (a user's repository), so the writer:
 *  - never follows a symlink: links are archived as links, and a link whose
 *    target is absolute or climbs out of the directory is left out;
 *  - skips .git directories, sockets, fifos and devices;
 *  - is bounded in bytes, entries and depth (AD_ERR_TOO_LARGE past them).
 * Entries are sorted and carry a fixed mtime, uid/gid 0: the same tree
 * gives the same archive, so the engine's layer cache keys stay stable.
 */
#ifndef AD_BUILDER_TAR_H
#define AD_BUILDER_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "ad/error.h"

#define BUILDER_TAR_MAX_DEPTH 64
#define BUILDER_TAR_MAX_ENTRIES 200000
/* 2000-01-01T00:00:00Z: the mtime of every entry. */
#define BUILDER_TAR_MTIME 946684800L

struct builder_tar_stats {
        uint64_t bytes; /* archive size */
        size_t files, dirs, symlinks;
        size_t skipped; /* special files and links leaving the tree */
};

/* Writes the archive of dir's contents (names relative to dir) to out_fd.
 * max_bytes bounds the archive. */
int builder_tar_dir(int out_fd, const char *dir, uint64_t max_bytes,
                    struct builder_tar_stats *stats, ad_error_t *err);

#endif
