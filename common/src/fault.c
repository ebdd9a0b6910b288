/* Named fault points (see ad/fault.h).  Compiled to nothing unless
 * AD_FAULT_POINTS is defined. */
#include "ad/fault.h"

#ifdef AD_FAULT_POINTS

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAULT_MAX 16
#define FAULT_NAME_MAX 64
#define FAULT_WHERE_MAX 96
#define FAULT_STALL_S 2

struct fault {
        char name[FAULT_NAME_MAX];
        char where[FAULT_WHERE_MAX]; /* empty: any */
        bool crash;
        bool stall;
        unsigned long first, count;
        atomic_ulong hits;
};

static struct fault faults[FAULT_MAX];
static size_t nfaults;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static bool parse_ulong(const char *s, unsigned long *out)
{
        char *end = NULL;
        unsigned long v;

        if (s == NULL || *s == '\0')
                return false;
        v = strtoul(s, &end, 10);
        if (*end != '\0' || v == 0)
                return false;
        *out = v;
        return true;
}

/* NAME[@WHERE]:ACTION[:N[:COUNT]]; false when malformed. */
static bool parse_one(char *spec, struct fault *f)
{
        char *save = NULL;
        char *name = strtok_r(spec, ":", &save);
        char *action = strtok_r(NULL, ":", &save);
        char *n = strtok_r(NULL, ":", &save);
        char *count = strtok_r(NULL, ":", &save);
        char *at;

        if (name == NULL || action == NULL || strtok_r(NULL, ":", &save) != NULL)
                return false;
        at = strchr(name, '@');
        if (at) {
                *at++ = '\0';
                if (strlen(at) >= sizeof(f->where))
                        return false;
                strcpy(f->where, at);
        }
        if (*name == '\0' || strlen(name) >= sizeof(f->name))
                return false;
        strcpy(f->name, name);
        if (strcmp(action, "crash") == 0)
                f->crash = true;
        else if (strcmp(action, "stall") == 0)
                f->stall = true;
        else if (strcmp(action, "fail") != 0)
                return false;
        f->first = 1;
        f->count = 1;
        if (n && !parse_ulong(n, &f->first))
                return false;
        if (count && !parse_ulong(count, &f->count))
                return false;
        atomic_init(&f->hits, 0);
        return true;
}

static void load(void)
{
        const char *env = getenv("AD_FAULT");
        char *copy, *save = NULL;

        nfaults = 0;
        if (env == NULL || *env == '\0')
                return;
        copy = strdup(env);
        if (copy == NULL)
                return;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                struct fault f = { 0 };

                if (nfaults == FAULT_MAX || !parse_one(tok, &f)) {
                        /* A test that arms a fault it did not mean is a
                         * broken test: say so loudly and stop. */
                        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"bad AD_FAULT entry\"}\n");
                        _exit(2);
                }
                memcpy(faults[nfaults].name, f.name, sizeof(f.name));
                memcpy(faults[nfaults].where, f.where, sizeof(f.where));
                faults[nfaults].crash = f.crash;
                faults[nfaults].stall = f.stall;
                faults[nfaults].first = f.first;
                faults[nfaults].count = f.count;
                atomic_init(&faults[nfaults].hits, 0);
                nfaults++;
        }
        free(copy);
}

void ad_fault_reset(void)
{
        load();
}

static void announce(const struct fault *f, const char *where, unsigned long hit)
{
        char line[512];
        int n = snprintf(line, sizeof(line),
                         "{\"level\":\"error\",\"msg\":\"fault injected\",\"fault\":\"%s\","
                         "\"where\":\"%s\",\"action\":\"%s\",\"hit\":%lu,\"pid\":%ld}\n",
                         f->name, where ? where : "",
                         f->crash   ? "crash"
                         : f->stall ? "stall"
                                    : "fail",
                         hit, (long)getpid());

        if (n > 0)
                (void)!write(STDERR_FILENO, line,
                             (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int ad_fault_hit(const char *name, const char *where, ad_error_t *err)
{
        pthread_once(&once, load);
        for (size_t i = 0; i < nfaults; i++) {
                struct fault *f = &faults[i];
                unsigned long hit;

                if (strcmp(f->name, name) != 0)
                        continue;
                if (f->where[0] && (where == NULL || strcmp(f->where, where) != 0))
                        continue;
                hit = atomic_fetch_add(&f->hits, 1) + 1;
                if (hit < f->first || hit - f->first >= f->count)
                        continue;
                announce(f, where, hit);
                if (f->crash)
                        _exit(137);
                if (f->stall) {
                        sleep(FAULT_STALL_S);
                        return 0;
                }
                return ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "fault injected: %s (hit %lu)",
                                     name, hit);
        }
        return 0;
}

#else

/* ISO C forbids an empty translation unit. */
typedef int ad_fault_points_disabled;

#endif
