/* Detection speed on a generated repository of 10,000 files.
 *
 * Generates a Node.js monorepo-like tree (package.json, lockfile, 100
 * directories of 100 small .js files, some reading env vars), then times
 * analyzer_detect() and, as a reference measured in the same run, a plain
 * recursive readdir+fstatat walk of the same tree.  Prints the median of
 * RUNS runs of each and their ratio.  Usage: bench_detect [FILES] [RUNS]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ad/analysis.h"
#include "detect.h"

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

static void generate(const char *root, int files)
{
        char path[4096], text[512];
        int per_dir = 100;

        snprintf(path, sizeof(path), "%s/package.json", root);
        write_file(path, "{\"name\":\"bench\",\"scripts\":{\"start\":\"node src/d0/f0.js\"},"
                         "\"dependencies\":{\"express\":\"4\"}}\n");
        snprintf(path, sizeof(path), "%s/package-lock.json", root);
        write_file(path, "{}\n");
        snprintf(path, sizeof(path), "%s/src", root);
        mkdir(path, 0755);
        for (int i = 0; i < files - 2; i++) {
                if (i % per_dir == 0) {
                        snprintf(path, sizeof(path), "%s/src/d%d", root, i / per_dir);
                        mkdir(path, 0755);
                }
                snprintf(path, sizeof(path), "%s/src/d%d/f%d.js", root, i / per_dir, i);
                snprintf(text, sizeof(text),
                         "// module %d\nconst x%d = process.env.VAR_%d || 'x';\n"
                         "module.exports = function f%d(a) { return a + x%d; };\n",
                         i, i, i % 50, i, i);
                write_file(path, text);
        }
}

/* The reference: what any tool that looks at every file must do. */
static long walk(int dfd)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;
        long n = 0;

        if (d == NULL)
                return 0;
        while ((de = readdir(d)) != NULL) {
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                        if (sub >= 0)
                                n += walk(sub);
                } else if (S_ISREG(st.st_mode)) {
                        n++;
                }
        }
        closedir(d);
        return n;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

int main(int argc, char **argv)
{
        int files = argc > 1 ? atoi(argv[1]) : 10000;
        int runs = argc > 2 ? atoi(argv[2]) : 11;
        char root[] = "/tmp/ad-bench-detect-XXXXXX";
        double *det, *ref;
        long counted = 0;
        unsigned port = 0;

        if (files < 10 || runs < 1 || mkdtemp(root) == NULL)
                return 2;
        det = calloc((size_t)runs, sizeof(*det));
        ref = calloc((size_t)runs, sizeof(*ref));
        if (det == NULL || ref == NULL)
                return 1;
        generate(root, files);
        for (int i = 0; i < runs; i++) {
                struct ad_analysis *a = NULL;
                ad_error_t err = NULL;
                double t0 = now_ms();
                int fd;

                if (analyzer_detect(&a, root, &err) < 0) {
                        fprintf(stderr, "detect: %s\n", ad_error_message(err));
                        return 1;
                }
                det[i] = now_ms() - t0;
                port = a->port;
                ad_analysis_free(a);

                t0 = now_ms();
                fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                counted = walk(fd);
                ref[i] = now_ms() - t0;
        }
        qsort(det, (size_t)runs, sizeof(*det), cmp_double);
        qsort(ref, (size_t)runs, sizeof(*ref), cmp_double);
        printf("files: %ld (generated %d), runs: %d, port found: %u\n", counted, files, runs, port);
        printf("detect median: %.2f ms (min %.2f, max %.2f)\n", det[runs / 2], det[0],
               det[runs - 1]);
        printf("readdir+fstatat walk median: %.2f ms (min %.2f, max %.2f)\n", ref[runs / 2], ref[0],
               ref[runs - 1]);
        printf("ratio detect/walk: %.1fx\n",
               det[runs / 2] / (ref[runs / 2] > 0 ? ref[runs / 2] : 1));
        nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(det);
        free(ref);
        return 0;
}
