/* ustar writer for build contexts: see builder_tar.h. */
#include "builder_tar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad/cleanup.h"

#define BLOCK 512
#define MAX_PATH_LEN 4096

struct tar_writer {
        int fd;
        uint64_t max;
        size_t entries;
        struct builder_tar_stats *st;
        size_t used;
        char buf[64 * 1024];
};

/* The ustar header block (POSIX.1-1988). */
struct ustar {
        char name[100];
        char mode[8];
        char uid[8];
        char gid[8];
        char size[12];
        char mtime[12];
        char chksum[8];
        char typeflag;
        char linkname[100];
        char magic[6];
        char version[2];
        char uname[32];
        char gname[32];
        char devmajor[8];
        char devminor[8];
        char prefix[155];
        char pad[12];
};
_Static_assert(sizeof(struct ustar) == BLOCK, "ustar header is one block");

static int flush(struct tar_writer *w, ad_error_t *err)
{
        size_t off = 0;

        while (off < w->used) {
                ssize_t n = write(w->fd, w->buf + off, w->used - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ad_error_make_errno(err, errno, "cannot write the build context");
                off += (size_t)n;
        }
        w->used = 0;
        return 0;
}

static int put(struct tar_writer *w, const void *data, size_t len, ad_error_t *err)
{
        const char *p = data;

        if (w->st->bytes + len > w->max)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "the build context is larger than %llu MiB",
                                     (unsigned long long)(w->max / (1024 * 1024)));
        w->st->bytes += len;
        while (len > 0) {
                size_t n = sizeof(w->buf) - w->used;

                if (n > len)
                        n = len;
                if (p)
                        memcpy(w->buf + w->used, p, n);
                else
                        memset(w->buf + w->used, 0, n);
                w->used += n;
                len -= n;
                if (p)
                        p += n;
                if (w->used == sizeof(w->buf)) {
                        int ret = flush(w, err);
                        if (ret < 0)
                                return ret;
                }
        }
        return 0;
}

/* Zeros up to the next block boundary after `size` bytes of data. */
static int pad(struct tar_writer *w, uint64_t size, ad_error_t *err)
{
        size_t rest = (size_t)(size % BLOCK);

        return rest ? put(w, NULL, BLOCK - rest, err) : 0;
}

static void octal(char *field, size_t width, uint64_t v)
{
        snprintf(field, width, "%0*llo", (int)width - 1, (unsigned long long)v);
}

static size_t digits(size_t n)
{
        size_t d = 1;

        while (n >= 10) {
                n /= 10;
                d++;
        }
        return d;
}

/* A pax record "LEN key=value\n", LEN counting itself. */
static int pax_record(char **out, size_t *len, const char *key, const char *value)
{
        size_t base = strlen(key) + strlen(value) + 3, n = base + 1;
        char *rec, *grown;

        while (base + digits(n) != n)
                n = base + digits(n);
        rec = NULL;
        if (asprintf(&rec, "%zu %s=%s\n", n, key, value) < 0)
                return -1;
        grown = realloc(*out, *len + n + 1);
        if (grown == NULL) {
                free(rec);
                return -1;
        }
        memcpy(grown + *len, rec, n + 1);
        *out = grown;
        *len += n;
        free(rec);
        return 0;
}

/* Splits path into ustar prefix/name; false when it does not fit. */
static bool split_name(struct ustar *h, const char *path)
{
        size_t len = strlen(path);

        if (len <= sizeof(h->name)) {
                memcpy(h->name, path, len);
                return true;
        }
        /* The last '/' that leaves a name of at most 100 bytes (not the
         * trailing '/' of a directory). */
        for (size_t i = len - 1; i > 0; i--) {
                if (path[i] != '/' || i == len - 1)
                        continue;
                if (len - i - 1 > sizeof(h->name))
                        break;
                if (i > sizeof(h->prefix))
                        continue;
                memcpy(h->prefix, path, i);
                memcpy(h->name, path + i + 1, len - i - 1);
                return true;
        }
        return false;
}

static void checksum(struct ustar *h)
{
        const unsigned char *p = (const unsigned char *)h;
        unsigned sum = 0;

        memset(h->chksum, ' ', sizeof(h->chksum));
        for (size_t i = 0; i < sizeof(*h); i++)
                sum += p[i];
        snprintf(h->chksum, sizeof(h->chksum), "%06o", sum);
        h->chksum[7] = ' ';
}

static void fill(struct ustar *h, char type, unsigned mode, uint64_t size)
{
        memset(h, 0, sizeof(*h));
        octal(h->mode, sizeof(h->mode), mode);
        octal(h->uid, sizeof(h->uid), 0);
        octal(h->gid, sizeof(h->gid), 0);
        octal(h->size, sizeof(h->size), size);
        octal(h->mtime, sizeof(h->mtime), (uint64_t)BUILDER_TAR_MTIME);
        h->typeflag = type;
        memcpy(h->magic, "ustar", 6);
        memcpy(h->version, "00", 2);
}

static int header(struct tar_writer *w, const char *path, char type, unsigned mode, uint64_t size,
                  const char *link, ad_error_t *err)
{
        struct ustar h;
        bool name_fits, link_fits = link == NULL || strlen(link) <= sizeof(h.linkname);

        if (++w->entries > BUILDER_TAR_MAX_ENTRIES)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "the build context has more than %d entries",
                                     BUILDER_TAR_MAX_ENTRIES);
        fill(&h, type, mode, size);
        name_fits = split_name(&h, path);
        if (!name_fits || !link_fits) {
                /* Long names go in a pax extended header before the entry. */
                cleanup_free char *pax = NULL;
                size_t len = 0;
                struct ustar x;

                int ret;

                if ((!name_fits && pax_record(&pax, &len, "path", path) < 0) ||
                    (!link_fits && pax_record(&pax, &len, "linkpath", link) < 0))
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                fill(&x, 'x', 0644, len);
                memcpy(x.name, "PaxHeader", 9);
                checksum(&x);
                ret = put(w, &x, sizeof(x), err);
                if (ret == 0)
                        ret = put(w, pax, len, err);
                if (ret == 0)
                        ret = pad(w, len, err);
                if (ret < 0)
                        return ret;
                if (!name_fits)
                        memcpy(h.name, path, sizeof(h.name));
        }
        if (link)
                memcpy(h.linkname, link, link_fits ? strlen(link) : sizeof(h.linkname));
        checksum(&h);
        return put(w, &h, sizeof(h), err);
}

/* True when `target`, relative to a link `depth` directories below the
 * root, stays inside the root. */
static bool link_stays_inside(const char *target, int depth)
{
        const char *p = target;

        if (*target == '\0' || *target == '/')
                return false;
        while (*p) {
                size_t n = strcspn(p, "/");

                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (--depth < 0)
                                return false;
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        depth++;
                }
                p += n;
                if (*p == '/')
                        p++;
        }
        return true;
}

static int add_file(struct tar_writer *w, int dfd, const char *name, const char *path,
                    ad_error_t *err)
{
        cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        uint64_t left;
        char buf[65536];

        if (fd < 0)
                return ad_error_make_errno(err, errno, "cannot open %s", path);
        int ret;

        if (fstat(fd, &st) < 0)
                return ad_error_make_errno(err, errno, "cannot stat %s", path);
        if (!S_ISREG(st.st_mode))
                return 0; /* replaced under us: leave it out */
        ret = header(w, path, '0', st.st_mode & 0777, (uint64_t)st.st_size, NULL, err);
        if (ret < 0)
                return ret;
        w->st->files++;
        /* Exactly st_size bytes: a file that shrank is padded with zeros. */
        for (left = (uint64_t)st.st_size; left > 0;) {
                size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
                ssize_t n = read(fd, buf, want);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ad_error_make_errno(err, errno, "cannot read %s", path);
                if (n == 0) {
                        memset(buf, 0, want);
                        n = (ssize_t)want;
                }
                ret = put(w, buf, (size_t)n, err);
                if (ret < 0)
                        return ret;
                left -= (uint64_t)n;
        }
        return pad(w, (uint64_t)st.st_size, err);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* The sorted entry names of the directory dfd (not consumed). */
static int list_dir(int dfd, const char *path, size_t budget, char ***out, size_t *count,
                    ad_error_t *err)
{
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int fd = dup(dfd);
        DIR *d;

        if (fd < 0)
                return ad_error_make_errno(err, errno, "cannot read %s", *path ? path : ".");
        d = fdopendir(fd);
        if (d == NULL) {
                close(fd);
                return ad_error_make_errno(err, errno, "cannot read %s", *path ? path : ".");
        }
        rewinddir(d);
        while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n >= budget) {
                        closedir(d);
                        free_names(names, n);
                        return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                             "the build context has more than %d entries",
                                             BUILDER_TAR_MAX_ENTRIES);
                }
                if (n == cap) {
                        char **grown = realloc(names, (cap ? cap * 2 : 32) * sizeof(*names));
                        if (grown == NULL)
                                break;
                        names = grown;
                        cap = cap ? cap * 2 : 32;
                }
                names[n] = strdup(de->d_name);
                if (names[n] == NULL)
                        break;
                n++;
        }
        closedir(d);
        if (de != NULL) {
                free_names(names, n);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_names);
        *out = names;
        *count = n;
        return 0;
}

static int walk(struct tar_writer *w, int dfd, const char *rel, int depth, ad_error_t *err)
{
        char **names = NULL;
        size_t n = 0;
        int ret;

        if (depth > BUILDER_TAR_MAX_DEPTH)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "%s: directories nested deeper than %d", rel,
                                     BUILDER_TAR_MAX_DEPTH);
        ret = list_dir(dfd, rel, BUILDER_TAR_MAX_ENTRIES - w->entries, &names, &n, err);
        if (ret < 0)
                return ret;
        for (size_t i = 0; i < n && ret == 0; i++) {
                const char *name = names[i];
                char path[MAX_PATH_LEN];
                struct stat st;

                if (snprintf(path, sizeof(path), "%s%s", rel, name) >= (int)sizeof(path) - 1) {
                        ret = ad_error_make(err, AD_ERR_TOO_LARGE, 0, "path %s%s is too long", rel,
                                            name);
                        break;
                }
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        ret = ad_error_make_errno(err, errno, "cannot stat %s", path);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int sub;

                        if (strcmp(name, ".git") == 0)
                                continue;
                        strcat(path, "/");
                        ret = header(w, path, '5', st.st_mode & 0777, 0, NULL, err);
                        if (ret < 0)
                                break;
                        w->st->dirs++;
                        sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                ret = ad_error_make_errno(err, errno, "cannot open %s", path);
                                break;
                        }
                        ret = walk(w, sub, path, depth + 1, err);
                        close(sub);
                } else if (S_ISREG(st.st_mode)) {
                        ret = add_file(w, dfd, name, path, err);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t len = readlinkat(dfd, name, target, sizeof(target) - 1);

                        if (len < 0) {
                                ret = ad_error_make_errno(err, errno, "cannot read link %s", path);
                                break;
                        }
                        target[len] = '\0';
                        if (!link_stays_inside(target, depth)) {
                                w->st->skipped++;
                                continue;
                        }
                        ret = header(w, path, '2', 0777, 0, target, err);
                        w->st->symlinks++;
                } else {
                        w->st->skipped++; /* fifo, socket, device */
                }
        }
        free_names(names, n);
        return ret < 0 ? ret : 0;
}

int builder_tar_dir(int out_fd, const char *dir, uint64_t max_bytes,
                    struct builder_tar_stats *stats, ad_error_t *err)
{
        struct tar_writer *w;
        cleanup_close int dfd = -1;
        int ret;

        memset(stats, 0, sizeof(*stats));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return ad_error_make_errno(err, errno, "cannot open %s", dir);
        w = calloc(1, sizeof(*w));
        if (w == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        w->fd = out_fd;
        w->max = max_bytes;
        w->st = stats;
        ret = walk(w, dfd, "", 0, err);
        /* The end of the archive: two zero blocks. */
        if (ret == 0)
                ret = put(w, NULL, 2 * BLOCK, err);
        if (ret == 0)
                ret = flush(w, err);
        free(w);
        return ret < 0 ? ret : 0;
}
