/* Cloning repositories with libgit2, bounded in size and time.
 *
 * Accepted URLs: https://, http://, git:// and ssh-less scp forms are not
 * supported; file:// and absolute local paths only when allow_local is set
 * (tests, the demo).  Anything else is rejected before any network I/O. */
#ifndef AD_GIT_H
#define AD_GIT_H

#include <stdbool.h>
#include <stdint.h>

#include "ad/error.h"

#define AD_GIT_SHA_LEN 40

struct ad_git_limits {
        uint64_t max_bytes; /* received objects; 0: 512 MiB */
        int64_t timeout_ms; /* whole clone; 0: 5 min */
        bool allow_local;   /* file:// and local paths */
        /* Exact host:port pairs that may be reached although they are not
         * public ("127.0.0.1:9418, [::1]:8080"; ad/netguard.h).  NULL or
         * "": only public addresses. */
        const char *allowlist;
};

/* Checks the URL's shape and scheme: AD_ERR_INVALID with a message a user
 * can act on. */
int ad_git_url_check(const char *url, bool allow_local, ad_error_t *err);

/* Refuses (AD_ERR_INVALID, a message that names the address class) a URL
 * whose host is an IP literal, in any spelling, or a *.localhost name that
 * is not a public address, unless host:port is on the allowlist.  Names
 * are checked again when the clone connects (and on every redirect), to
 * the addresses they resolve to.  Local URLs pass (ad_git_url_check). */
int ad_git_url_check_host(const char *url, const char *allowlist, ad_error_t *err);

/* Clones url into dir (which must not exist) and checks out ref: a branch,
 * a tag or a commit sha; NULL or "" for the remote's default branch.
 * Writes the checked-out commit's sha.  Errors: AD_ERR_NOT_FOUND for a
 * repository or ref that does not exist, AD_ERR_TOO_LARGE / AD_ERR_TIMEOUT
 * past the limits, AD_ERR_UNAVAILABLE for network failures (in words
 * that do not tell which internal ports answer), AD_ERR_INVALID when the
 * host is or resolves to a non-public address off the allowlist, at the
 * start or on a redirect. */
int ad_git_clone(const char *url, const char *ref, const char *dir,
                 const struct ad_git_limits *limits, char sha[AD_GIT_SHA_LEN + 1], ad_error_t *err);

/* Removes a directory tree (the clone), never following symlinks. */
int ad_rmtree(const char *dir, ad_error_t *err);

#endif
