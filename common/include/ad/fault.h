/* Named fault points, compiled in for tests only.
 *
 * A build with the CMake option AD_FAULT_POINTS=ON defines
 * AD_FAULT_POINTS; without it both macros cost nothing (AD_FAULT is an
 * empty statement, AD_FAULT_ERR the constant 0).
 *
 * When compiled in, faults are armed by the environment variable AD_FAULT,
 * read once per process: a comma-separated list of
 *
 *   NAME[@WHERE]:ACTION[:N[:COUNT]]
 *
 *   NAME    the point, e.g. step.after_effect, outbox.after_publish,
 *           coordinator.after_commit, engine.call, api.start (the API's
 *           set-up after the service runtime started)
 *   WHERE   only hits whose qualifier is WHERE count (the step for
 *           step.after_effect, the subject for outbox.after_publish and
 *           coordinator.after_commit); none: every hit counts
 *   ACTION  crash: _exit(137) at once, like SIGKILL (no cleanup, no flush)
 *           fail:  the point fails with an AD_ERR_UNAVAILABLE error
 *                  (points that cannot fail, AD_FAULT, ignore it)
 *           stall: the point sleeps 2 s, then goes on (a slow step made
 *                  slow on purpose, to open a window a test must see shut)
 *   N       the first hit that acts (default 1)
 *   COUNT   how many hits from the Nth act (default 1)
 *
 * e.g. AD_FAULT=step.after_effect@provision:crash,engine.call:fail:3:2
 * Before acting, a point writes one JSON line on stderr: "fault injected".
 */
#ifndef AD_FAULT_H
#define AD_FAULT_H

#include "ad/error.h"

#ifdef AD_FAULT_POINTS

/* Returns 0, or (action fail) -AD_ERR_UNAVAILABLE with err filled; does
 * not return for crash.  where may be NULL. */
int ad_fault_hit(const char *name, const char *where, ad_error_t *err);

/* Forgets the faults read from AD_FAULT and reads them again (tests). */
void ad_fault_reset(void);

#define AD_FAULT(name, where) ((void)ad_fault_hit((name), (where), NULL))
#define AD_FAULT_ERR(name, where, err) ad_fault_hit((name), (where), (err))

#else

#define AD_FAULT(name, where) ((void)0)
#define AD_FAULT_ERR(name, where, err) 0

#endif

#endif
