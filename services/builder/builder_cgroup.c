/* A build's cgroup and its pids limit: see builder_cgroup.h.  Learned on
 * podman 4.3 + runc 1.1 with cgroupfs (cgroup v1): /build?cgroupparent=/a/b
 * runs each RUN step in /a/b itself (every controller) and removes /a/b
 * afterwards, creating the missing parents and leaving them. */
#include "builder_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *file, const char *text)
{
        char path[PATH_MAX + 64];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = write(fd, text, strlen(text));
        if (n < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        close(fd);
        return 0;
}

/* The "max N" count of <dir>/<file> (pids.events), or the number in it
 * (pids.peak, pids.max: "max" reads as -1); -1 when unreadable. */
static long read_count(const char *dir, const char *file)
{
        char path[PATH_MAX + 64], line[128];
        long n = -1;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        f = fopen(path, "re");
        if (f == NULL)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "max ", 4) == 0)
                        n = strtol(line + 4, NULL, 10);
                else if (line[0] >= '0' && line[0] <= '9')
                        n = strtol(line, NULL, 10);
        fclose(f);
        return n;
}

/* Forks refused so far: the kernel counts them in the cgroup of the task
 * that forked (the step's run/, which runc may or may not have removed),
 * so run/'s count is added to ours. */
static long refused_now(const char *dir)
{
        char run[PATH_MAX + 8];
        long n = read_count(dir, "pids.events"), r;

        snprintf(run, sizeof(run), "%s/run", dir);
        r = read_count(run, "pids.events");
        return (n > 0 ? n : 0) + (r > 0 ? r : 0);
}

static int make_dir(const char *path)
{
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int builder_cgroup_make(struct builder_cgroup *cg, const char *base, const char *name, long limit,
                        ad_error_t *err)
{
        char hier[64], basedir[256], v[32];
        struct stat st;
        bool v2;
        int ret;

        memset(cg, 0, sizeof(*cg));
        if (snprintf(cg->base, sizeof(cg->base), "%s", base) >= (int)sizeof(cg->base) ||
            snprintf(cg->name, sizeof(cg->name), "%s", name) >= (int)sizeof(cg->name))
                return ad_error_make(err, AD_ERR_INVALID, 0, "build cgroup name too long");
        /* cgroup v1: the pids hierarchy; v2: the unified root. */
        if (stat(CGROUP_ROOT "/pids/pids.max", &st) == 0 ||
            stat(CGROUP_ROOT "/pids/cgroup.procs", &st) == 0) {
                snprintf(hier, sizeof(hier), "%s", CGROUP_ROOT "/pids");
                v2 = false;
        } else if (stat(CGROUP_ROOT "/cgroup.controllers", &st) == 0) {
                snprintf(hier, sizeof(hier), "%s", CGROUP_ROOT);
                v2 = true;
        } else {
                return ad_error_make(err, AD_ERR_UNSUPPORTED, 0,
                                     "no pids cgroup controller under " CGROUP_ROOT);
        }
        snprintf(basedir, sizeof(basedir), "%s/%s", hier, base);
        if (snprintf(cg->dir, sizeof(cg->dir), "%s/%s", basedir, name) >= (int)sizeof(cg->dir))
                return ad_error_make(err, AD_ERR_INVALID, 0, "build cgroup path too long");
        ret = make_dir(basedir);
        if (ret == 0 && v2)
                ret = write_file(hier, "cgroup.subtree_control", "+pids");
        /* One left by an earlier attempt goes first (its counts with it);
         * one that still holds processes is reused. */
        cg->made = true;
        builder_cgroup_remove(cg);
        if (ret == 0)
                ret = make_dir(cg->dir);
        if (ret == 0 && v2)
                ret = write_file(basedir, "cgroup.subtree_control", "+pids");
        if (ret < 0)
                return ad_error_make_errno(err, -ret, "cannot make the build's cgroup %s", cg->dir);
        cg->made = true;
        cg->limit = limit;
        snprintf(v, sizeof(v), "%ld", limit);
        ret = write_file(cg->dir, "pids.max", v);
        if (ret < 0) {
                builder_cgroup_remove(cg);
                return ad_error_make_errno(err, -ret, "cannot set pids.max of %s", cg->dir);
        }
        cg->refused_at_start = refused_now(cg->dir);
        snprintf(cg->parent, sizeof(cg->parent), "/%s/%s/run", base, name);
        return 0;
}

long builder_cgroup_refused(const struct builder_cgroup *cg)
{
        long n, peak;

        if (!cg->made)
                return 0;
        n = refused_now(cg->dir) - cg->refused_at_start;
        if (n > 0)
                return n;
        /* The count of a removed run/ is lost: a peak at the limit means a
         * fork met it (pids.peak, Linux 6.1 and later). */
        peak = read_count(cg->dir, "pids.peak");
        return peak >= cg->limit ? 1 : 0;
}

void builder_cgroup_remove(struct builder_cgroup *cg)
{
        char path[PATH_MAX + 512];
        struct dirent *de;
        DIR *d;

        if (!cg->made)
                return;
        /* v1: the engine made <base>/<name> in every hierarchy (cpu, memory,
         * ...); v2: one tree.  A step's leftover run/ first. */
        d = opendir(CGROUP_ROOT);
        while (d && (de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s/%s/%s/run", CGROUP_ROOT, de->d_name, cg->base,
                         cg->name);
                rmdir(path);
                snprintf(path, sizeof(path), "%s/%s/%s/%s", CGROUP_ROOT, de->d_name, cg->base,
                         cg->name);
                rmdir(path);
        }
        if (d)
                closedir(d);
        snprintf(path, sizeof(path), "%s/%s/%s/run", CGROUP_ROOT, cg->base, cg->name);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/%s/%s", CGROUP_ROOT, cg->base, cg->name);
        rmdir(path);
        cg->made = false;
}
