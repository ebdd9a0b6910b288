/* Reading a hostile repository: no symlinks, regular files only, bounded.
 *
 * Every path is opened one component at a time with O_NOFOLLOW from the
 * root's fd, so neither a symlinked file nor a symlinked directory on the
 * way (public -> /etc) is ever followed; ".." is refused outright.
 */
#include "detect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad/cleanup.h"

/* Directories never worth reading: VCS data, installed dependencies,
 * caches and virtualenvs.  Besides, other hidden directories are skipped. */
static const char *const skipped_dirs[] = {
        "node_modules", "vendor", "__pycache__", "venv", "site-packages", "bower_components",
};

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}
#define cleanup_dir __attribute__((cleanup(closedirp)))

bool analyzer_has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Returns an fd or -errno.  want_dir: the last component must be a
 * directory; otherwise it must be a regular file. */
static int open_beneath(int rootfd, const char *rel, bool want_dir)
{
        char buf[PATH_MAX];
        char *save = NULL, *comp, *next;
        int cur = rootfd;

        if (want_dir && strcmp(rel, ".") == 0) {
                int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                return fd < 0 ? -errno : fd;
        }
        if (rel[0] == '/' || strlen(rel) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, rel);
        comp = strtok_r(buf, "/", &save);
        if (comp == NULL)
                return -EINVAL;
        for (; comp != NULL; comp = next) {
                int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
                int fd;

                next = strtok_r(NULL, "/", &save);
                if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
                        if (cur != rootfd)
                                close(cur);
                        return -EINVAL;
                }
                /* O_NONBLOCK: opening a FIFO planted in the repo must not
                 * hang the analyzer; fstat below rejects it. */
                flags |= (next != NULL || want_dir) ? O_DIRECTORY : O_NONBLOCK;
                fd = openat(cur, comp, flags);
                if (cur != rootfd)
                        close(cur);
                if (fd < 0)
                        return -errno;
                cur = fd;
        }
        if (!want_dir) {
                struct stat st;

                if (fstat(cur, &st) < 0 || !S_ISREG(st.st_mode)) {
                        close(cur);
                        return -ENOENT;
                }
        }
        return cur;
}

int analyzer_repo_read(const struct analyzer_repo *repo, const char *rel, size_t max, bool truncate,
                       char **data, size_t *len, ad_error_t *err)
{
        cleanup_close int fd = open_beneath(repo->fd, rel, false);
        cleanup_free char *buf = NULL;
        size_t n = 0;

        if (fd < 0) {
                /* Absent, a symlink (ELOOP) or a symlinked directory on
                 * the way (ENOTDIR): all mean "not in this repository". */
                if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR || fd == -EINVAL)
                        return -AD_ERR_NOT_FOUND;
                return ad_error_make_errno(err, -fd, "%s", rel);
        }
        buf = malloc(max + 1);
        if (buf == NULL)
                return analyzer_oom(err);
        /* Read one byte more than allowed to tell "exactly max" from "more". */
        while (n < max + 1) {
                ssize_t r = read(fd, buf + n, max + 1 - n);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return ad_error_make_errno(err, errno, "read %s", rel);
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        if (n > max) {
                if (!truncate)
                        return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "%s: larger than %zu bytes",
                                             rel, max);
                n = max;
        }
        buf[n] = '\0';
        *data = TAKE_PTR(buf);
        *len = n;
        return 0;
}

bool analyzer_repo_has_file(const struct analyzer_repo *repo, const char *rel)
{
        int fd = open_beneath(repo->fd, rel, false);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

bool analyzer_repo_has_dir(const struct analyzer_repo *repo, const char *rel)
{
        int fd = open_beneath(repo->fd, rel, true);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

struct entry {
        char *name;
        bool dir;
        uint64_t size;
};

static int cmp_entry(const void *x, const void *y)
{
        return strcmp(((const struct entry *)x)->name, ((const struct entry *)y)->name);
}

static void free_entries(struct entry *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/* Entries of the directory `dfd` (consumed) by their lstat type: regular
 * files and directories only (never symlinks, FIFOs, sockets, devices),
 * dirs-only when asked, sorted by name for a deterministic result. */
static int read_entries(int dfd, size_t max, bool dirs_only, struct entry **out, size_t *n_out,
                        bool *truncated, ad_error_t *err)
{
        cleanup_dir DIR *d = fdopendir(dfd);
        struct entry *v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;

        if (d == NULL) {
                close(dfd);
                return ad_error_make_errno(err, errno, "fdopendir");
        }
        while ((de = readdir(d)) != NULL) {
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n >= max) {
                        *truncated = true;
                        break;
                }
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISLNK(st.st_mode) || (dirs_only && !S_ISDIR(st.st_mode)))
                        continue;
                if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                        continue; /* FIFOs, sockets, devices */
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        struct entry *nv = realloc(v, ncap * sizeof(*nv));

                        if (nv == NULL)
                                goto oom;
                        v = nv;
                        cap = ncap;
                }
                v[n] = (struct entry){ .name = strdup(de->d_name),
                                       .dir = S_ISDIR(st.st_mode),
                                       .size = (uint64_t)st.st_size };
                if (v[n].name == NULL)
                        goto oom;
                n++;
        }
        if (n > 0)
                qsort(v, n, sizeof(*v), cmp_entry);
        *out = v;
        *n_out = n;
        return 0;
oom:
        free_entries(v, n);
        return analyzer_oom(err);
}

int analyzer_repo_list_dirs(const struct analyzer_repo *repo, const char *rel, char ***names,
                            size_t *n, ad_error_t *err)
{
        struct entry *v = NULL;
        bool truncated = false;
        size_t count = 0;
        int fd = open_beneath(repo->fd, rel, true);
        int r;

        *names = NULL;
        *n = 0;
        if (fd < 0)
                return 0;
        r = read_entries(fd, 256, true, &v, &count, &truncated, err);
        if (r < 0)
                return r;
        *names = calloc(count + 1, sizeof(char *));
        if (*names == NULL) {
                free_entries(v, count);
                return analyzer_oom(err);
        }
        for (size_t i = 0; i < count; i++)
                (*names)[i] = v[i].name; /* ownership moves */
        free(v);
        *n = count;
        return 0;
}

struct walk {
        struct analyzer_repo *repo;
        size_t entries;
        size_t cap;
};

static bool skip_dir(const char *name)
{
        if (name[0] == '.')
                return true; /* .git, .next, .venv, .cache, ... */
        for (size_t i = 0; i < AD_ARRAY_SIZE(skipped_dirs); i++)
                if (strcmp(name, skipped_dirs[i]) == 0)
                        return true;
        return false;
}

static int add_file(struct walk *w, const char *prefix, const char *name, uint64_t size,
                    ad_error_t *err)
{
        struct analyzer_repo *repo = w->repo;
        char *path;

        if (repo->n_files == w->cap) {
                size_t ncap = w->cap ? w->cap * 2 : 64;
                struct analyzer_file *v = realloc(repo->files, ncap * sizeof(*v));

                if (v == NULL)
                        return analyzer_oom(err);
                repo->files = v;
                w->cap = ncap;
        }
        if (asprintf(&path, "%s%s", prefix, name) < 0)
                return analyzer_oom(err);
        repo->files[repo->n_files++] = (struct analyzer_file){ .path = path, .size = size };
        repo->total_bytes += size;
        return 0;
}

/* `dfd` is the directory `prefix` names, opened without following any
 * symlink (from the root by open_beneath, then O_NOFOLLOW one level at a
 * time); it is consumed.  Files and directories come from one readdir
 * plus lstat each: no file is opened by the walk.  At most
 * ANALYZER_MAX_DEPTH directory fds are open at once. */
static int walk_dir(struct walk *w, int dfd, const char *prefix, unsigned depth, ad_error_t *err)
{
        struct entry *v = NULL;
        size_t n = 0;
        int keep = dup(dfd);
        int r;

        if (keep < 0) {
                close(dfd);
                return ad_error_make_errno(err, errno, "dup");
        }
        /* Only what is left of the budget: a wide tree cannot make us list
         * ANALYZER_MAX_WALK_ENTRIES names in every one of its directories. */
        r = read_entries(dfd, ANALYZER_MAX_WALK_ENTRIES - w->entries, false, &v, &n,
                         &w->repo->truncated, err);
        for (size_t i = 0; r == 0 && i < n; i++) {
                cleanup_free char *sub = NULL;
                int fd;

                if (++w->entries > ANALYZER_MAX_WALK_ENTRIES) {
                        w->repo->truncated = true;
                        break;
                }
                if (!v[i].dir) {
                        r = add_file(w, prefix, v[i].name, v[i].size, err);
                        continue;
                }
                if (skip_dir(v[i].name))
                        continue;
                if (depth + 1 >= ANALYZER_MAX_DEPTH) {
                        w->repo->truncated = true;
                        continue;
                }
                /* O_NOFOLLOW: swapped for a symlink since the lstat, it fails. */
                fd = openat(keep, v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        continue; /* vanished, or no longer a directory */
                if (asprintf(&sub, "%s%s/", prefix, v[i].name) < 0) {
                        close(fd);
                        r = analyzer_oom(err);
                        break;
                }
                r = walk_dir(w, fd, sub, depth + 1, err);
        }
        close(keep);
        free_entries(v, n);
        return r;
}

int analyzer_repo_walk(struct analyzer_repo *repo, ad_error_t *err)
{
        struct walk w = { .repo = repo };
        int fd = openat(repo->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return ad_error_make_errno(err, errno, "%s", repo->path);
        /* Files come out depth-first with sorted names: deterministic. */
        return walk_dir(&w, fd, "", 0, err);
}

void analyzer_repo_clear(struct analyzer_repo *repo)
{
        for (size_t i = 0; i < repo->n_files; i++)
                free(repo->files[i].path);
        free(repo->files);
        analyzer_procfile_clear(&repo->procfile);
        analyzer_config_clear(&repo->config);
        repo->files = NULL;
        repo->n_files = 0;
}
