/* The language providers (services/analyzer/detect.h): each provider's
 * name is unique and findable, has a baseline, and — except a
 * repository's own Dockerfile — a plan (its generated Dockerfile) and a
 * runtime image; every image key a plan uses has its default and a row of
 * the images table and a recipe in scripts/base-images.sh; and the source
 * extensions scanned are the ones the detector always scanned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buildplan.h"
#include "detect.h"

static size_t count(void)
{
        size_t n = 0;

        while (analyzer_providers[n])
                n++;
        return n;
}

static void test_names_unique_and_found(void **state)
{
        size_t n = count();

        (void)state;
        assert_int_equal(n, 14);
        for (size_t i = 0; i < n; i++) {
                const struct analyzer_provider *p = analyzer_providers[i];

                assert_non_null(p->detect);
                assert_ptr_equal(analyzer_provider_find(p->name), p);
                assert_true(p->cpu_millis > 0 && p->memory_mb > 0);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(analyzer_providers[j]->name, p->name);
        }
        assert_null(analyzer_provider_find("cobol"));
        assert_null(analyzer_provider_find(NULL));
        /* A Dockerfile beats everything; static and shell come last. */
        assert_ptr_equal(analyzer_providers[0], &analyzer_provider_dockerfile);
        assert_ptr_equal(analyzer_providers[n - 2], &analyzer_provider_static);
        assert_ptr_equal(analyzer_providers[n - 1], &analyzer_provider_shell);
}

static void test_every_language_has_a_plan(void **state)
{
        struct ad_buildplan_images images;

        (void)state;
        ad_buildplan_images_default(&images);
        for (size_t i = 0; analyzer_providers[i]; i++) {
                const char *name = analyzer_providers[i]->name;
                const char *image = ad_buildplan_image(&images, name);

                if (strcmp(name, "dockerfile") == 0) {
                        assert_null(image);
                        assert_null(analyzer_providers[i]->plan);
                        continue;
                }
                if (image == NULL || analyzer_providers[i]->plan == NULL)
                        fail_msg("language `%s` is detected but has no build plan", name);
        }
}

/* builder.images.<key> for every key a plan uses: ad_buildplan_images_default
 * holds each (the table did not overflow) with its default name. */
static void test_every_image_has_a_default(void **state)
{
        struct ad_buildplan_images images;
        size_t keys = 0;

        (void)state;
        ad_buildplan_images_default(&images);
        for (size_t i = 0; analyzer_providers[i]; i++)
                for (const struct ad_buildplan_image *img = analyzer_providers[i]->images;
                     img && img->key; img++) {
                        const char *name = ad_buildplan_images_get(&images, img->key);
                        char want[128];

                        if (name == NULL)
                                fail_msg("image `%s` of %s has no row in the images table",
                                         img->key, analyzer_providers[i]->name);
                        snprintf(want, sizeof(want), "localhost/app-deployer/%s:bookworm",
                                 img->key);
                        assert_string_equal(name, want);
                        assert_string_equal(img->name, want);
                        keys++;
                }
        assert_true(keys > 0);
        assert_true(images.n_images <= AD_BUILDPLAN_MAX_IMAGES);
        /* The keys the builder.images.* row names (builder_config.c and
         * docs/configuration.md): a new key goes there too. */
        assert_int_equal(images.n_images, 9);
}

/* scripts/base-images.sh builds base and the images of its default
 * AD_IMAGES list: exactly the keys the plans use. */
static void test_base_images_script_builds_every_key(void **state)
{
        static const char marker[] = "AD_IMAGES:-";
        struct ad_buildplan_images images;
        char line[512], list[512] = "";
        FILE *f = fopen(AD_SOURCE_DIR "/scripts/base-images.sh", "r");
        size_t listed = 0, words = 0;

        (void)state;
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                const char *p = strstr(line, marker);

                if (strncmp(line, "read -r -a IMAGES", 17) == 0 && p) {
                        p += strlen(marker);
                        snprintf(list, sizeof(list), " %.*s ", (int)strcspn(p, "}"), p);
                }
        }
        fclose(f);
        if (list[0] == '\0')
                fail_msg("no `read -r -a IMAGES <<<\"${AD_IMAGES:-...}\"` in base-images.sh");
        ad_buildplan_images_default(&images);
        for (size_t i = 0; i < images.n_images; i++) {
                char word[80];

                if (strcmp(images.image[i].key, "base") == 0)
                        continue; /* always built: every other image starts FROM it */
                snprintf(word, sizeof(word), " %s ", images.image[i].key);
                if (strstr(list, word) == NULL)
                        fail_msg(
                                "image `%s` has no recipe in scripts/base-images.sh (AD_IMAGES:%s)",
                                images.image[i].key, list);
                listed++;
        }
        /* And nothing the plans no longer use. */
        for (const char *w = list; (w = strchr(w, ' ')) != NULL && w[1]; w++)
                words += w[1] != ' ';
        assert_int_equal(words, listed);
}

static void test_scanned_extensions(void **state)
{
        static const char *const want[] = { ".js", ".mjs", ".cjs", ".ts", ".mts", ".jsx",  ".tsx",
                                            ".py", ".go",  ".php", ".rb", ".rs",  ".java", ".kt",
                                            ".cs", ".ex",  ".exs", ".c",  ".cc",  ".cpp" };
        size_t seen = 0;

        (void)state;
        for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
                bool found = false;

                for (size_t i = 0; analyzer_providers[i] && !found; i++)
                        for (size_t e = 0; analyzer_providers[i]->scan_exts &&
                                           analyzer_providers[i]->scan_exts[e] && !found;
                             e++)
                                found = strcmp(analyzer_providers[i]->scan_exts[e], want[w]) == 0;
                if (!found)
                        fail_msg("%s is no longer scanned for env vars", want[w]);
        }
        /* And nothing else. */
        for (size_t i = 0; analyzer_providers[i]; i++)
                for (size_t e = 0;
                     analyzer_providers[i]->scan_exts && analyzer_providers[i]->scan_exts[e]; e++) {
                        bool known = false;

                        for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++)
                                known |= strcmp(analyzer_providers[i]->scan_exts[e], want[w]) == 0;
                        if (!known)
                                fail_msg("%s scans %s", analyzer_providers[i]->name,
                                         analyzer_providers[i]->scan_exts[e]);
                        seen++;
                }
        assert_true(seen >= sizeof(want) / sizeof(want[0]));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_unique_and_found),
                cmocka_unit_test(test_every_language_has_a_plan),
                cmocka_unit_test(test_every_image_has_a_default),
                cmocka_unit_test(test_base_images_script_builds_every_key),
                cmocka_unit_test(test_scanned_extensions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
