/* A build's working directory: see builder_context.h. */
#include "builder_context.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildplan.h"
#include "ad/cleanup.h"

int builder_context_create(struct builder_context *ctx, const char *work_dir, ad_error_t *err)
{
        memset(ctx, 0, sizeof(*ctx));
        if (snprintf(ctx->root, sizeof(ctx->root), "%s/adbuilder-XXXXXX", work_dir) >=
            (int)sizeof(ctx->root))
                return ad_error_make(err, AD_ERR_INVALID, 0, "work directory path too long");
        if (mkdtemp(ctx->root) == NULL) {
                int ret = ad_error_make_errno(err, errno, "cannot create a directory in %s",
                                              work_dir);
                ctx->root[0] = '\0';
                return ret;
        }
        snprintf(ctx->src, sizeof(ctx->src), "%s/src", ctx->root);
        return 0;
}

int builder_context_clone(struct builder_context *ctx, const char *url, const char *sha,
                          const struct builder_config *cfg, ad_error_t *err)
{
        struct ad_git_limits lim = {
                .max_bytes = cfg->max_repo_bytes,
                .timeout_ms = cfg->clone_timeout_ms,
                .allow_local = cfg->allow_local_sources,
                .allowlist = cfg->clone_allowlist,
        };

        return ad_git_clone(url, sha, ctx->src, &lim, ctx->sha, err);
}

/* Replaces src/name with data; never writes through a symlink the
 * repository put there. */
static int write_file(const char *dir, const char *name, const char *data, size_t len,
                      ad_error_t *err)
{
        cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cleanup_close int fd = -1;

        if (dfd < 0)
                return ad_error_make_errno(err, errno, "cannot open %s", dir);
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return ad_error_make_errno(err, errno, "cannot replace %s/%s", dir, name);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return ad_error_make_errno(err, errno, "cannot create %s/%s", dir, name);
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return ad_error_make_errno(err, errno, "cannot write %s/%s", dir, name);
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Reads the operator's CA bundle (a trusted path, but still bounded). */
static int read_ca(const char *path, char **out, size_t *len, ad_error_t *err)
{
        cleanup_fclose FILE *f = fopen(path, "re");
        cleanup_free char *buf = NULL;
        size_t n;

        if (f == NULL)
                return ad_error_make_errno(err, errno, "cannot open the extra CA file %s", path);
        buf = malloc(BUILDER_MAX_CA_BYTES + 1);
        if (buf == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        n = fread(buf, 1, BUILDER_MAX_CA_BYTES + 1, f);
        if (ferror(f))
                return ad_error_make_errno(err, errno, "cannot read the extra CA file %s", path);
        if (n > BUILDER_MAX_CA_BYTES)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "the extra CA file %s is larger than %d bytes", path,
                                     BUILDER_MAX_CA_BYTES);
        *out = TAKE_PTR(buf);
        *len = n;
        return 0;
}

static bool plain_relative_path(const char *p)
{
        if (*p == '\0' || *p == '/' || strlen(p) > 255 ||
            p[strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")] !=
                    '\0')
                return false;
        for (const char *s = p; s; s = strchr(s, '/')) {
                if (*s == '/')
                        s++;
                if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == '\0'))
                        return false;
        }
        return true;
}

static int own_dockerfile(struct builder_context *ctx, const struct ad_analysis *a, ad_error_t *err)
{
        static const char *const names[] = { "Dockerfile", "Containerfile", "dockerfile" };
        const char *path = a->dockerfile_path && *a->dockerfile_path ? a->dockerfile_path : NULL;
        char full[PATH_MAX + 300];
        struct stat st;

        if (path == NULL) {
                for (size_t i = 0; i < AD_ARRAY_SIZE(names) && path == NULL; i++) {
                        snprintf(full, sizeof(full), "%s/%s", ctx->src, names[i]);
                        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode))
                                path = names[i];
                }
                if (path == NULL)
                        return ad_error_make(err, AD_ERR_NOT_FOUND, 0,
                                             "the analysis says the repository has a "
                                             "Dockerfile, but there is none at its root");
        }
        if (!plain_relative_path(path))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Dockerfile path `%s` is not a plain relative path", path);
        ctx->dockerfile = strdup(path);
        return ctx->dockerfile ? 0 : ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
}

int builder_context_dockerfile(struct builder_context *ctx, const struct ad_analysis *a,
                               const struct builder_config *cfg, char **warning, ad_error_t *err)
{
        struct ad_buildplan_images images = cfg->images;
        cleanup_free char *dockerfile = NULL, *ca = NULL;
        size_t ca_len = 0;
        int ret;

        if (a->has_dockerfile || (a->language && strcmp(a->language, "dockerfile") == 0))
                return own_dockerfile(ctx, a, err);

        if (cfg->extra_ca_file && *cfg->extra_ca_file) {
                cleanup_error ad_error_t caerr = NULL;

                /* Without the CA the build may still work: say so, go on. */
                if (read_ca(cfg->extra_ca_file, &ca, &ca_len, &caerr) < 0) {
                        if (warning)
                                *warning = strdup(ad_error_message(caerr));
                } else {
                        ret = write_file(ctx->src, AD_BUILDPLAN_EXTRA_CA_FILE, ca, ca_len, err);
                        if (ret < 0)
                                return ret;
                        ctx->extra_ca = true;
                }
        }
        images.extra_ca = ctx->extra_ca;
        ret = ad_buildplan_dockerfile(&dockerfile, a, &images, err);
        if (ret < 0)
                return ret;
        ret = write_file(ctx->src, BUILDER_GENERATED_DOCKERFILE, dockerfile, strlen(dockerfile),
                         err);
        if (ret < 0)
                return ret;
        ctx->dockerfile = strdup(BUILDER_GENERATED_DOCKERFILE);
        ctx->generated = true;
        return ctx->dockerfile ? 0 : ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
}

void builder_context_destroy(struct builder_context *ctx)
{
        if (ctx->root[0])
                ad_rmtree(ctx->root, NULL);
        ctx->root[0] = '\0';
        free(ctx->dockerfile);
        ctx->dockerfile = NULL;
}
