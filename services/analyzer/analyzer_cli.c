/* `adanalyzer detect`: see analyzer_cli.h. */
#include "analyzer_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buildplan.h"
#include "ad/cleanup.h"
#include "detect.h"

#define EXIT_UNPLACEABLE 2

static int usage(FILE *f, int status)
{
        fprintf(f, "usage: adanalyzer detect [--plan] [--extra-ca] DIR\n"
                   "  prints the analysis of DIR as JSON, with \"why\": the file and rule that\n"
                   "  decided each field (a deployer.yaml in DIR overrides detection), or with\n"
                   "  --plan the Dockerfile the builder would generate (--extra-ca: with the\n"
                   "  operator's extra CA)\n");
        return status;
}

static int fail(ad_error_t err)
{
        fprintf(stderr, "adanalyzer: %s\n", ad_error_message(err));
        return err && err->kind == AD_ERR_NOT_FOUND ? EXIT_UNPLACEABLE : 1;
}

/* For a repository with its own Dockerfile "the Dockerfile the builder
 * would use" is that file: print it, read as safely as the detector does. */
static int print_own_dockerfile(const char *dir, const struct ad_analysis *a)
{
        struct analyzer_repo repo = { .path = dir };
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *data = NULL;
        size_t len = 0;
        int r;

        repo.fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (repo.fd < 0) {
                ad_error_make_errno(&err, errno, "cannot open %s", dir);
                return fail(err);
        }
        r = analyzer_repo_read(&repo, a->dockerfile_path, ANALYZER_MAX_MANIFEST, false, &data, &len,
                               &err);
        close(repo.fd);
        if (r < 0) {
                if (err == NULL)
                        ad_error_make(&err, AD_ERR_NOT_FOUND, 0, "%s/%s vanished", dir,
                                      a->dockerfile_path);
                return fail(err);
        }
        fprintf(stderr, "adanalyzer: %s has its own %s: the builder uses it as is\n", dir,
                a->dockerfile_path);
        fwrite(data, 1, len, stdout);
        return 0;
}

static int print_plan(const char *dir, const struct ad_analysis *a, bool extra_ca)
{
        struct ad_buildplan_images images;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *dockerfile = NULL;

        if (a->has_dockerfile)
                return print_own_dockerfile(dir, a);
        ad_buildplan_images_default(&images);
        images.extra_ca = extra_ca;
        if (ad_buildplan_dockerfile(&dockerfile, a, &images, &err) < 0) {
                ad_error_wrap(&err, "%s", dir);
                return fail(err);
        }
        fputs(dockerfile, stdout);
        return 0;
}

static int print_json(const struct ad_analysis *a)
{
        json_t *j = ad_analysis_to_json(a);
        int r;

        if (j == NULL) {
                fprintf(stderr, "adanalyzer: out of memory\n");
                return 1;
        }
        r = json_dumpf(j, stdout, JSON_INDENT(2));
        json_decref(j);
        if (r < 0)
                return 1;
        fputc('\n', stdout);
        return 0;
}

int analyzer_cli_detect(int argc, char **argv)
{
        struct ad_analysis *a = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *dir = NULL;
        bool plan = false, extra_ca = false;
        int status;

        /* Called with the program's own argv: skip "adanalyzer". */
        if (argc >= 2 && strcmp(argv[0], "detect") != 0 && strcmp(argv[1], "detect") == 0) {
                argc--;
                argv++;
        }
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--plan") == 0)
                        plan = true;
                else if (strcmp(argv[i], "--extra-ca") == 0)
                        extra_ca = true;
                else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
                        return usage(stdout, 0);
                else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && dir == NULL)
                        dir = argv[++i];
                else if (argv[i][0] == '-' || dir != NULL)
                        return usage(stderr, EXIT_UNPLACEABLE);
                else
                        dir = argv[i];
        }
        if (dir == NULL)
                return usage(stderr, EXIT_UNPLACEABLE);

        if (analyzer_detect(&a, dir, &err) < 0)
                return fail(err);
        status = plan ? print_plan(dir, a, extra_ca) : print_json(a);
        ad_analysis_free(a);
        if (fflush(stdout) != 0)
                status = 1;
        return status;
}
