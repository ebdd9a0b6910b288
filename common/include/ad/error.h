/* One error pattern for the whole tree (after crun's libcrun_error_t).
 *
 * A function that can fail returns a negative int and fills `*err`;
 * callers add context with ad_error_wrap().  Library errors (natsStatus,
 * CURLcode, PGresult, git_error_last(), yaml) are converted at the call
 * site, keeping the library's own text.  Library code never logs.
 *
 * Ownership: *err is allocated by ad_error_make() and must be released
 * with ad_error_release(); the cleanup_error attribute does that.
 */
#ifndef AD_ERROR_H
#define AD_ERROR_H

#include <stdarg.h>

/* Error categories: stable numbers, safe to put on the wire or in JSON. */
enum ad_error_kind {
        AD_ERR_GENERIC = 1,
        AD_ERR_INVALID = 2,     /* bad input: the caller must change it */
        AD_ERR_NOT_FOUND = 3,   /* the thing asked for does not exist */
        AD_ERR_TOO_LARGE = 4,   /* a bound was exceeded */
        AD_ERR_IO = 5,          /* system call failed (status is errno) */
        AD_ERR_UNAVAILABLE = 6, /* a dependency is down: worth retrying */
        AD_ERR_TIMEOUT = 7,     /* a deadline passed: worth retrying */
        AD_ERR_CONFLICT = 8,    /* state changed under us */
        AD_ERR_UNSUPPORTED = 9,
};

struct ad_error_s {
        int kind;   /* enum ad_error_kind */
        int status; /* errno or library status code, 0 if none */
        char *msg;
};
typedef struct ad_error_s *ad_error_t;

/* Always returns -kind, so `return ad_error_make(err, ...)` reads well.
 * A NULL `err` is allowed: the error is then dropped. */
int ad_error_make(ad_error_t *err, int kind, int status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Same, with errno appended as ": strerror(errno)". */
int ad_error_make_errno(ad_error_t *err, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to an existing error; returns -kind. */
int ad_error_wrap(ad_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when a caller may retry the operation that failed. */
int ad_error_is_retryable(const ad_error_t err);

const char *ad_error_message(const ad_error_t err);

void ad_error_release(ad_error_t *err);

#define cleanup_error __attribute__((cleanup(ad_error_release)))

#endif
