/* Static sites and shell scripts: tried last, since an index.html or a
 * start.sh is also found in many apps (public/index.html of a React app). */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define STATIC_PORT 8080
#define SHELL_PORT 8080

/* `root: dist` in a Staticfile (Cloud Foundry's and Railpack's format). */
static int staticfile_root(struct analyzer_repo *repo, char **root, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        char *p;
        int r = analyzer_repo_read(repo, "Staticfile", 64 * 1024, false, &data, &len, err);

        *root = NULL;
        if (r < 0)
                return r;
        for (p = data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                size_t n;

                p += strspn(p, " \t");
                if (strncmp(p, "root:", 5) != 0)
                        continue;
                p += 5;
                p += strspn(p, " \t\"'");
                n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/");
                while (n > 0 && p[n - 1] == '/')
                        n--;
                if (n == 0 || n > 128 || strstr(p, "..") == p || *p == '/')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "Staticfile: root must be a relative directory");
                *root = strndup(p, n);
                return *root ? 0 : analyzer_oom(err);
        }
        *root = strdup(".");
        return *root ? 0 : analyzer_oom(err);
}

int analyzer_detect_static(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        cleanup_free char *sf_root = NULL;
        const char *root;
        int r = staticfile_root(repo, &sf_root, err);

        if (r < 0 && r != -AD_ERR_NOT_FOUND)
                return r;
        if (sf_root && strcmp(sf_root, ".") != 0 && !analyzer_repo_has_dir(repo, sf_root))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "Staticfile: root %s is not a directory of the repository "
                                     "(symlinks are not followed)",
                                     sf_root);
        if (sf_root) {
                r = analyzer_setf(&a->language, err, "static");
                if (r == 0)
                        r = analyzer_why(a, err, "language", "Staticfile at the root");
                if (r == 0)
                        r = analyzer_setf(&a->static_root, err, "%s", sf_root);
                if (r == 0)
                        r = analyzer_why(a, err, "staticRoot", "Staticfile root: %s", sf_root);
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand",
                                         "none needed: the static image serves the files on $PORT");
                a->port = STATIC_PORT;
                if (r == 0)
                        r = analyzer_why(a, err, "port",
                                         "the static image listens on $PORT: default %d",
                                         STATIC_PORT);
                return r < 0 ? r : 1;
        }
        root = analyzer_repo_has_file(repo, "index.html")          ? "."
               : analyzer_repo_has_file(repo, "public/index.html") ? "public"
                                                                   : NULL;
        if (root == NULL)
                return 0;
        r = analyzer_setf(&a->language, err, "static");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s and no manifest of another language",
                                 strcmp(root, ".") == 0 ? "index.html at the root"
                                                        : "public/index.html");
        if (r == 0)
                r = analyzer_setf(&a->static_root, err, "%s", root);
        if (r == 0)
                r = analyzer_why(a, err, "staticRoot", "the directory holding index.html");
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "none needed: the static image serves the files on $PORT");
        if (r == 0) {
                a->port = STATIC_PORT;
                r = analyzer_why(a, err, "port", "the static image listens on $PORT: default %d",
                                 STATIC_PORT);
        }
        return r < 0 ? r : 1;
}

/* start.sh at the root (Railpack's shell provider). */
int analyzer_detect_shell(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        int r;

        if (!analyzer_repo_has_file(repo, "start.sh"))
                return 0;
        r = analyzer_setf(&a->language, err, "shell");
        if (r == 0)
                r = analyzer_why(a, err, "language", "start.sh at the root");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "sh start.sh");
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "start.sh, run by sh (it needs no execute bit)");
        a->port = SHELL_PORT;
        if (r == 0)
                r = analyzer_why(a, err, "port", "default %d (the script gets $PORT)", SHELL_PORT);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for these languages (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_static(FILE *f, const struct ad_analysis *a,
                       const struct ad_buildplan_images *images, ad_error_t *err)
{
        return ad_buildplan_simple(f, a, "static", ad_buildplan_images_get(images, "static"),
                                   *ad_buildplan_str(a->static_root) ? a->static_root : ".", err);
}

static int plan_shell(FILE *f, const struct ad_analysis *a,
                      const struct ad_buildplan_images *images, ad_error_t *err)
{
        return ad_buildplan_simple(f, a, "base", ad_buildplan_images_get(images, "base"), NULL,
                                   err);
}

/* The languages this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const struct ad_buildplan_image static_images[] = {
        AD_BUILDPLAN_IMAGE("static"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_static = {
        .name = "static",
        .detect = analyzer_detect_static,
        .cpu_millis = 100,
        .memory_mb = 64,
        .scan_exts = NULL,
        .plan = plan_static,
        .images = static_images,
};
static const struct ad_buildplan_image shell_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_shell = {
        .name = "shell",
        .detect = analyzer_detect_shell,
        .cpu_millis = 250,
        .memory_mb = 128,
        .scan_exts = NULL,
        .plan = plan_shell,
        .images = shell_images,
};
