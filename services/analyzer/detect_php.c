/* PHP: composer.json or index.php at the root.  Laravel (artisan) and
 * Symfony/Slim serve from public/; plain PHP from the root. */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define PHP_PORT 8080

void analyzer_composer_clear(struct analyzer_composer *c)
{
        free(c->php_version);
        *c = (struct analyzer_composer){ 0 };
}

int analyzer_parse_composer(struct analyzer_composer *out, const char *data, size_t len,
                            ad_error_t *err)
{
        struct analyzer_composer c = { 0 };
        const json_t *require, *php, *v;
        const char *key;
        json_error_t jerr;
        json_t *root = json_loadb(data, len, 0, &jerr);

        if (root == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "composer.json: invalid JSON at line %d column %d: %s",
                                     jerr.line, jerr.column, jerr.text);
        require = json_object_get(root, "require");
        if (!json_is_object(root) || (require && !json_is_object(require))) {
                json_decref(root);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "composer.json: the top level and require must be objects");
        }
        php = json_object_get(require, "php");
        if (json_is_string(php) && json_string_length(php) <= 64 &&
            (c.php_version = strdup(json_string_value(php))) == NULL) {
                json_decref(root);
                return analyzer_oom(err);
        }
        json_object_foreach ((json_t *)require, key, v) {
                if (strcmp(key, "php") != 0 && strncmp(key, "ext-", 4) != 0)
                        c.n_require++;
                if (strcmp(key, "laravel/framework") == 0)
                        c.laravel = true;
                else if (strncmp(key, "symfony/framework-bundle", 24) == 0)
                        c.symfony = true;
                else if (strcmp(key, "slim/slim") == 0)
                        c.slim = true;
        }
        json_decref(root);
        *out = c;
        return 0;
}

int analyzer_detect_php(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        static const char *const deps[] = { "composer.json", "composer.lock", NULL };
        struct analyzer_composer c = { 0 };
        cleanup_free char *data = NULL;
        const char *trigger, *docroot;
        bool laravel;
        size_t len = 0;
        int r;

        r = analyzer_repo_read(repo, "composer.json", ANALYZER_MAX_MANIFEST, false, &data, &len,
                               err);
        if (r == 0)
                r = analyzer_parse_composer(&c, data, len, err);
        else if (r == -AD_ERR_NOT_FOUND)
                r = 0;
        if (r < 0)
                return r;
        trigger = data                                        ? "composer.json"
                  : analyzer_repo_has_file(repo, "index.php") ? "index.php"
                                                              : NULL;
        if (trigger == NULL)
                return 0;
        laravel = c.laravel || analyzer_repo_has_file(repo, "artisan");
        /* Laravel/Symfony serve from public/; plain PHP from the root. */
        docroot = analyzer_repo_has_file(repo, "public/index.php") ? "public" : ".";
        r = analyzer_setf(&a->language, err, "php");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", trigger);
        if (r == 0 && (laravel || c.symfony || c.slim)) {
                const char *fw = laravel ? "laravel" : c.symfony ? "symfony" : "slim";

                r = analyzer_setf(&a->framework, err, "%s", fw);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s",
                                         laravel && !c.laravel ? "artisan at the root"
                                                               : "composer.json require");
        }
        if (r == 0 && c.php_version) {
                r = analyzer_setf(&a->version, err, "%s", c.php_version);
                if (r == 0)
                        r = analyzer_why(a, err, "version", "composer.json require.php");
        }
        if (r == 0) {
                /* Never PHP's development server (php -S, artisan serve:
                 * one request at a time): php-fpm workers behind caddy,
                 * both started by the php image's php-serve. */
                r = analyzer_setf(&a->start_command, err, "php-serve %s", docroot);
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand",
                                         "php-fpm behind caddy (php-serve) on $PORT, document "
                                         "root %s%s",
                                         docroot, laravel ? " (Laravel's front controller)" : "");
        }
        if (r == 0 && c.n_require > 0 && !analyzer_repo_has_dir(repo, "vendor")) {
                r = analyzer_setf(&a->install_command, err,
                                  "composer install --no-dev --no-interaction --optimize-autoloader"
                                  " --no-scripts");
                if (r == 0)
                        r = analyzer_setf(&a->package_manager, err, "composer");
                if (r == 0)
                        r = analyzer_set_deps(repo, a, deps, true, err);
                if (r == 0)
                        r = analyzer_why(a, err, "installCommand",
                                         "composer.json requires %zu package(s) (Packagist must be "
                                         "reachable from the build)",
                                         c.n_require);
        } else if (r == 0) {
                r = analyzer_why(a, err, "installCommand", "%s",
                                 data ? "no composer packages to install (or vendor/ is "
                                        "committed)"
                                      : "no composer.json: plain PHP");
        }
        if (r == 0) {
                a->port = PHP_PORT;
                r = analyzer_why(a, err, "port", "the start command listens on $PORT: default %d",
                                 PHP_PORT);
        }
        analyzer_composer_clear(&c);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_php(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                    ad_error_t *err)
{
        const char *php_image;
        int r = ad_buildplan_use_image(images, "php", &php_image, err);

        if (r < 0)
                return r;
        ad_buildplan_from(f, php_image, NULL);
        if (strcmp(ad_buildplan_str(a->package_manager), "composer") == 0) {
                /* The php image has php-cli only: composer and the
                 * extensions most packages need come from Debian. */
                fprintf(f, "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q && "
                           "apt-get install -y -q --no-install-recommends composer unzip "
                           "php-xml php-mbstring php-curl php-zip && "
                           "rm -rf /var/lib/apt/lists/*\n");
                ad_buildplan_trust(f, images, false);
        }
        ad_buildplan_install_and_source(f, a);
        return ad_buildplan_runtime(f, a, "", err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const php_scan_exts[] = { ".php", NULL };
static const struct ad_buildplan_image php_images[] = {
        AD_BUILDPLAN_IMAGE("php"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_php = {
        .name = "php",
        .detect = analyzer_detect_php,
        .cpu_millis = 250,
        .memory_mb = 128,
        .scan_exts = php_scan_exts,
        .plan = plan_php,
        .images = php_images,
};
