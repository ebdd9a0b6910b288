/* Replays a fuzz target's corpus without libFuzzer, so every compiler and
 * every sanitizer build runs the seeds (and every crash input ever added)
 * as an ordinary test.  Usage: replay_<target> DIR_OR_FILE...
 * Each file is read whole and passed once to LLVMFuzzerTestOneInput; the
 * test fails if a path cannot be read or no input was found at all (an
 * empty corpus would prove nothing).  A crash fails it by itself. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        long size;

        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) != 0) {
                fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
                if (f)
                        fclose(f);
                return -1;
        }
        /* One byte more, so an empty input still has a valid pointer. */
        buf = malloc((size_t)size + 1);
        if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
                fprintf(stderr, "replay: cannot read %s\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)size);
        free(buf);
        return 0;
}

static int replay_path(const char *path, int *count)
{
        struct stat st;
        DIR *d;
        struct dirent *e;
        int ret = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                if (replay_file(path) < 0)
                        return -1;
                (*count)++;
                return 0;
        }
        d = opendir(path);
        if (d == NULL) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        while (ret == 0 && (e = readdir(d)) != NULL) {
                char child[4096];

                if (e->d_name[0] == '.')
                        continue;
                if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >=
                    sizeof(child)) {
                        fprintf(stderr, "replay: path too long under %s\n", path);
                        ret = -1;
                        break;
                }
                ret = replay_path(child, count);
        }
        closedir(d);
        return ret;
}

int main(int argc, char **argv)
{
        int count = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i], &count) < 0)
                        return 1;
        if (count == 0) {
                fprintf(stderr, "replay: no inputs under the given paths\n");
                return 1;
        }
        printf("replayed %d inputs\n", count);
        return 0;
}
