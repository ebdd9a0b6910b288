#include "ad/status.h"

#include <string.h>

enum {
        FINAL = 1 << 0,
        SERVED = 1 << 1,
        ACTIVE = 1 << 2,
        ABANDONED = 1 << 3,
};

/* One row per status, in enum order: every predicate reads this table. */
static const struct {
        const char *name;
        unsigned flags;
        int rank;    /* forward position, -1 off the path */
        int touched; /* compensable steps touched */
} table[AD_STATUS_COUNT] = {
        [AD_STATUS_QUEUED] = { "QUEUED", ACTIVE, 0, 0 },
        [AD_STATUS_ANALYZING] = { "ANALYZING", ACTIVE, 1, 0 },
        [AD_STATUS_BUILDING] = { "BUILDING", ACTIVE, 2, 1 },
        [AD_STATUS_PROVISIONING] = { "PROVISIONING", ACTIVE, 3, 2 },
        [AD_STATUS_DEPLOYING] = { "DEPLOYING", ACTIVE, 4, 3 },
        [AD_STATUS_HEALTHY] = { "HEALTHY", 0, 5, 3 },
        [AD_STATUS_EXPOSED] = { "EXPOSED", FINAL | SERVED, 6, 3 },
        [AD_STATUS_SUPERSEDED] = { "SUPERSEDED", FINAL | SERVED | ABANDONED, -1, 3 },
        [AD_STATUS_FAILED] = { "FAILED", FINAL | ABANDONED, -1, 0 },
        [AD_STATUS_ROLLING_BACK] = { "ROLLING_BACK", ABANDONED, -1, 0 },
        [AD_STATUS_ROLLED_BACK] = { "ROLLED_BACK", FINAL | ABANDONED, -1, 0 },
        [AD_STATUS_DESTROYING] = { "DESTROYING", ABANDONED, -1, 0 },
        [AD_STATUS_DESTROYED] = { "DESTROYED", FINAL | ABANDONED, -1, 0 },
};

static bool valid(enum ad_status s)
{
        return s >= 0 && s < AD_STATUS_COUNT;
}

static bool has(enum ad_status s, unsigned flag)
{
        return valid(s) && (table[s].flags & flag) != 0;
}

const char *ad_status_name(enum ad_status s)
{
        return valid(s) ? table[s].name : "UNKNOWN";
}

enum ad_status ad_status_parse(const char *name)
{
        for (int i = 0; name && i < AD_STATUS_COUNT; i++)
                if (strcmp(name, table[i].name) == 0)
                        return (enum ad_status)i;
        return AD_STATUS_UNKNOWN;
}

bool ad_status_is_final(enum ad_status s)
{
        return has(s, FINAL);
}

bool ad_status_served(enum ad_status s)
{
        return has(s, SERVED);
}

bool ad_status_is_active(enum ad_status s)
{
        return has(s, ACTIVE);
}

bool ad_status_is_abandoned(enum ad_status s)
{
        return has(s, ABANDONED);
}

int ad_status_rank(enum ad_status s)
{
        return valid(s) ? table[s].rank : -1;
}

int ad_status_touched_steps(enum ad_status s)
{
        return valid(s) ? table[s].touched : 0;
}

int ad_status_destroy_steps(enum ad_status s)
{
        if (s == AD_STATUS_FAILED || s == AD_STATUS_ROLLED_BACK)
                return 1;
        return ad_status_touched_steps(s);
}
