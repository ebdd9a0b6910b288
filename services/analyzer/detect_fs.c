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

static int cmp_str(const void *x, const void *y)
{
        return strcmp(*(char *const *)x, *(char *const *)y);
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* Names in the directory `dfd` (consumed) whose lstat type is dirs-only
 * or anything-but-symlinks, sorted for a deterministic result. */
static int read_names(int dfd, size_t max, bool dirs_only, char ***out, size_t *n_out,
                      bool *truncated, ad_error_t *err)
{
        cleanup_dir DIR *d = fdopendir(dfd);
        char **names = NULL;
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
                        char **v = realloc(names, ncap * sizeof(*v));

                        if (v == NULL)
                                goto oom;
                        names = v;
                        cap = ncap;
                }
                names[n] = strdup(de->d_name);
                if (names[n] == NULL)
                        goto oom;
                n++;
        }
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_str);
        *out = names;
        *n_out = n;
        return 0;
oom:
        free_names(names, n);
        return analyzer_oom(err);
}

int analyzer_repo_list_dirs(const struct analyzer_repo *repo, const char *rel, char ***names,
                            size_t *n, ad_error_t *err)
{
        bool truncated = false;
        int fd = open_beneath(repo->fd, rel, true);

        if (fd < 0) {
                *names = NULL;
                *n = 0;
                return 0;
        }
        return read_names(fd, 256, true, names, n, &truncated, err);
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

static int walk_dir(struct walk *w, int dfd, const char *prefix, unsigned depth, ad_error_t *err)
{
        char **names = NULL;
        size_t n = 0;
        int r;

        /* Only what is left of the budget: a wide tree cannot make us list
         * ANALYZER_MAX_WALK_ENTRIES names in every one of its directories. */
        r = read_names(dfd, ANALYZER_MAX_WALK_ENTRIES - w->entries, false, &names, &n,
                       &w->repo->truncated, err);
        if (r < 0)
                return r;
        /* Reopen by path from the root rather than keeping a DIR per level:
         * fds stay bounded by one whatever the depth. */
        for (size_t i = 0; i < n && r == 0; i++) {
                cleanup_free char *rel = NULL;
                struct stat st;
                int fd;

                if (++w->entries > ANALYZER_MAX_WALK_ENTRIES) {
                        w->repo->truncated = true;
                        break;
                }
                if (asprintf(&rel, "%s%s", prefix, names[i]) < 0) {
                        r = analyzer_oom(err);
                        break;
                }
                fd = open_beneath(w->repo->fd, rel, false);
                if (fd >= 0) {
                        if (fstat(fd, &st) == 0)
                                r = add_file(w, prefix, names[i], (uint64_t)st.st_size, err);
                        close(fd);
                        continue;
                }
                if (skip_dir(names[i]))
                        continue;
                if (depth + 1 >= ANALYZER_MAX_DEPTH) {
                        w->repo->truncated = true;
                        continue;
                }
                fd = open_beneath(w->repo->fd, rel, true);
                if (fd < 0)
                        continue; /* vanished, or a special file */
                {
                        cleanup_free char *sub = NULL;

                        if (asprintf(&sub, "%s/", rel) < 0) {
                                close(fd);
                                r = analyzer_oom(err);
                                break;
                        }
                        r = walk_dir(w, fd, sub, depth + 1, err);
                }
        }
        free_names(names, n);
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
        free(repo->procfile_web);
        repo->files = NULL;
        repo->n_files = 0;
        repo->procfile_web = NULL;
}
