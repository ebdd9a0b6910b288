/* The JWT adctl sends for the key adctl login saved: minted with
 * POST /auth/token, kept in the config directory (file `jwt`, mode 0600,
 * next to the key) with the API and the key it belongs to, and renewed
 * when it nearly expires or the API refuses it.  The key itself then
 * travels once per token lifetime instead of with every request. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "adctl.h"

#define JWT_MAX 4096

static char cached[JWT_MAX + 1];

/* Which key a cached token belongs to, without writing the key twice:
 * its first 12 and last 4 characters. */
static void key_mark(const char *key, char *out, size_t size)
{
        size_t n = strlen(key);

        snprintf(out, size, "%.12s..%s", key, n > 16 ? key + n - 4 : "");
}

/* src cut to fit dst. */
static void copy(char *dst, size_t size, const char *src)
{
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

static int jwt_path(char *path, size_t size)
{
        char cfg[1100], dir[1024];

        if (adctl_config_path(cfg, sizeof(cfg), dir, sizeof(dir)) < 0)
                return -1;
        return snprintf(path, size, "%s/jwt", dir) < (int)size ? 0 : -1;
}

void adctl_jwt_forget(void)
{
        char path[1100];

        explicit_bzero(cached, sizeof(cached));
        if (jwt_path(path, sizeof(path)) == 0)
                unlink(path);
}

/* The cached token when it is for this API and key and has more than a
 * tenth of its life (at most 30 s) left. */
static const char *load(const struct adctl *ctl)
{
        char path[1100], line[JWT_MAX + 64], mark[32], api[1024] = "", kmark[32] = "";
        long long exp = 0, minted = 0, now = (long long)time(NULL), margin;
        bool have = false;
        FILE *f;

        if (jwt_path(path, sizeof(path)) < 0 || (f = fopen(path, "r")) == NULL)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (strncmp(line, "api=", 4) == 0)
                        copy(api, sizeof(api), line + 4);
                else if (strncmp(line, "key=", 4) == 0)
                        copy(kmark, sizeof(kmark), line + 4);
                else if (strncmp(line, "expires=", 8) == 0)
                        exp = strtoll(line + 8, NULL, 10);
                else if (strncmp(line, "minted=", 7) == 0)
                        minted = strtoll(line + 7, NULL, 10);
                else if (strncmp(line, "token=", 6) == 0 && strlen(line + 6) <= JWT_MAX)
                        have = snprintf(cached, sizeof(cached), "%s", line + 6) > 0;
        }
        explicit_bzero(line, sizeof(line));
        fclose(f);
        key_mark(ctl->token, mark, sizeof(mark));
        margin = (exp - minted) / 10;
        if (margin > 30)
                margin = 30;
        if (!have || strcmp(api, ctl->api) != 0 || strcmp(kmark, mark) != 0 ||
            now + margin >= exp) {
                explicit_bzero(cached, sizeof(cached));
                return NULL;
        }
        return cached;
}

static void save(const struct adctl *ctl, const char *token, long long minted, long long exp)
{
        char path[1100], tmp[1200], mark[32];
        FILE *f;
        int fd;

        if (jwt_path(path, sizeof(path)) < 0)
                return;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0 || (f = fdopen(fd, "w")) == NULL) {
                if (fd >= 0)
                        close(fd);
                return; /* no cache: the next command mints again */
        }
        key_mark(ctl->token, mark, sizeof(mark));
        fprintf(f,
                "# adctl keeps its short-lived token here; keep it private (mode 0600)\n"
                "api=%s\nkey=%s\nminted=%lld\nexpires=%lld\ntoken=%s\n",
                ctl->api, mark, minted, exp, token);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                unlink(tmp);
}

const char *adctl_jwt_get(const struct adctl *ctl, bool renew)
{
        struct adctl_call call = { .method = "POST", .path = "/auth/token", .body = "{}" };
        struct adctl_reply reply;
        const char *token;
        long long now = (long long)time(NULL), ttl;

        if (ctl->token == NULL || strncmp(ctl->token, "adk_", 4) != 0)
                return NULL;
        if (!renew && (token = load(ctl)) != NULL)
                return token;
        /* Any failure (an API without JWTs, an old API, a revoked key):
         * the key itself goes, and its reply says what is wrong. */
        if (adctl_request_as(ctl, &call, &reply, ctl->token) < 0)
                return NULL;
        token = adctl_str(reply.doc, "token");
        ttl = (long long)json_integer_value(json_object_get(reply.doc, "expires_in"));
        if (reply.status != 200 || *token == '\0' || strlen(token) > JWT_MAX || ttl <= 0) {
                adctl_reply_free(&reply);
                return NULL;
        }
        snprintf(cached, sizeof(cached), "%s", token);
        save(ctl, cached, now, now + ttl);
        explicit_bzero(reply.body, reply.len);
        adctl_reply_free(&reply);
        return cached;
}
