/* Helpers for integration tests: the addresses of the real servers come
 * from the environment printed by scripts/stack.sh.  A missing variable
 * fails the test: integration tests are never silently skipped. */
#ifndef AD_TEST_STACK_H
#define AD_TEST_STACK_H

#include <stdio.h>
#include <stdlib.h>

static inline const char *stack_env(const char *name)
{
        const char *v = getenv(name);

        if (v == NULL || *v == '\0') {
                fprintf(stderr,
                        "%s is not set: start the stack with `scripts/stack.sh up` and "
                        "`source .stack/env` (scripts/test.sh does both)\n",
                        name);
                exit(1);
        }
        return v;
}

#endif
