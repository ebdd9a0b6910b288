/* Static sites and PHP: the languages tried last, since an index.html is
 * also found in many apps (public/index.html of a React app). */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#define STATIC_PORT 8080
#define PHP_PORT 8080

int analyzer_detect_php(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        const char *trigger = analyzer_repo_has_file(repo, "composer.json") ? "composer.json"
                              : analyzer_repo_has_file(repo, "index.php")   ? "index.php"
                                                                            : NULL;
        const char *docroot;
        int r;

        if (trigger == NULL)
                return 0;
        /* Laravel/Symfony serve from public/; plain PHP from the root. */
        docroot = analyzer_repo_has_file(repo, "public/index.php") ? "public" : ".";
        r = analyzer_setf(&a->language, err, "php");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", trigger);
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "php -S 0.0.0.0:$PORT -t %s", docroot);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "PHP's built-in server on $PORT, document root %s", docroot);
        if (r == 0 && strcmp(trigger, "composer.json") == 0)
                /* The php image has no composer and Packagist is not
                 * reachable from builds: say so rather than fail later. */
                r = analyzer_why(a, err, "installCommand",
                                 "composer.json found but composer install is not supported: "
                                 "commit vendor/ or use a Dockerfile");
        if (r == 0) {
                a->port = PHP_PORT;
                r = analyzer_why(a, err, "port", "the start command listens on $PORT: default %d",
                                 PHP_PORT);
        }
        return r < 0 ? r : 1;
}

int analyzer_detect_static(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        const char *root = analyzer_repo_has_file(repo, "index.html")          ? "."
                           : analyzer_repo_has_file(repo, "public/index.html") ? "public"
                                                                               : NULL;
        int r;

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
