/* The language providers (services/analyzer/detect.h): each provider's
 * name is unique and findable, has a baseline, and — except a
 * repository's own Dockerfile — a plan (its generated Dockerfile) and a
 * runtime image; every image key a plan uses has its default and a row of
 * the images table; the outputs derived from that table agree with it
 * (`adanalyzer --list-images`, which scripts/base-images.sh builds from,
 * with a recipe there for each key and none more; the builder.images.*
 * row of docs/configuration.md points to it); and the source extensions
 * scanned are the ones the detector always scanned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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
        /* The kinds of images there are today, at least. */
        for (const char *const *k = (const char *const[]){ "base", "node", "python", "go", "static",
                                                           "php", "rust", "java", "jre", NULL };
             *k; k++)
                assert_non_null(ad_buildplan_images_get(&images, *k));
}

/* Whether the space-separated list has name as one of its words. */
static bool has_word(const char *list, const char *name)
{
        size_t n = strlen(name);

        for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
                        return true;
        return false;
}

/* `adanalyzer --list-images` (ad_buildplan_images_list): one line a key,
 * in the table's order, with its default name, the languages that run on
 * it and the ones that build with it in another stage. */
static void test_list_images_is_the_table(void **state)
{
        struct ad_buildplan_images images;
        char *text = NULL, *save = NULL, *line;
        size_t len = 0, n = 0;
        FILE *f = open_memstream(&text, &len);

        (void)state;
        assert_non_null(f);
        assert_int_equal(ad_buildplan_images_list(f), 0);
        fclose(f);
        ad_buildplan_images_default(&images);
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
                char *fields[4], *fsave = NULL, *p = line;
                size_t nf = 0;

                while (nf < 4 && (fields[nf] = strtok_r(p, "\t", &fsave)) != NULL) {
                        p = NULL;
                        nf++;
                }
                assert_int_equal(nf, 4);
                assert_null(strtok_r(NULL, "\t", &fsave));
                assert_true(n < images.n_images);
                assert_string_equal(fields[0], images.image[n].key);
                assert_string_equal(fields[1], images.image[n].name);
                /* Each provider is named where it uses the key, and only there. */
                for (size_t i = 0; analyzer_providers[i]; i++) {
                        const struct analyzer_provider *pr = analyzer_providers[i];
                        bool runs = false, builds = false;

                        for (size_t j = 0; pr->images && pr->images[j].key; j++)
                                if (strcmp(pr->images[j].key, fields[0]) == 0)
                                        *(j == 0 ? &runs : &builds) = true;
                        if (has_word(fields[2], pr->name) != runs ||
                            has_word(fields[3], pr->name) != (builds && !runs))
                                fail_msg("--list-images: %s %s `%s` `%s`", fields[0], pr->name,
                                         fields[2], fields[3]);
                }
                if (strcmp(fields[0], "static") == 0) {
                        assert_true(has_word(fields[2], "static"));
                        assert_true(has_word(fields[3], "node")); /* a SPA's final stage */
                }
                if (strcmp(fields[0], "go") == 0) {
                        assert_string_equal(fields[2], "-");
                        assert_true(has_word(fields[3], "go"));
                }
        }
        assert_int_equal(n, images.n_images);
        free(text);
}

/* The file at AD_SOURCE_DIR/path, whole (test inputs are small). */
static char *slurp(const char *path)
{
        char full[512], *data;
        FILE *f;
        long n;

        snprintf(full, sizeof(full), "%s/%s", AD_SOURCE_DIR, path);
        f = fopen(full, "r");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        data = calloc(1, (size_t)n + 1);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        return data;
}

/* scripts/base-images.sh takes its keys from `adanalyzer --list-images`
 * (no list of its own) and has a recipe (a `key)` case of recipe()) for
 * every key but base, which it always builds, and for nothing else; the
 * builder.images.* row of docs/configuration.md names no key but points
 * to the listing. */
static void test_base_images_script_builds_every_key(void **state)
{
        struct ad_buildplan_images images;
        char *script = slurp("scripts/base-images.sh"), *doc = slurp("docs/configuration.md");
        char recipes[512] = " ";
        const char *body, *end, *row;
        size_t listed = 0, cases = 0;

        (void)state;
        assert_non_null(strstr(script, "\"$analyzer\" --list-images"));
        for (const char *p = script; (p = strstr(p, "AD_IMAGES:-")) != NULL; p++)
                if (p[11] != '}')
                        fail_msg("base-images.sh has a default list of images again "
                                 "(AD_IMAGES:-...)");
        body = strstr(script, "\nrecipe() {\n");
        assert_non_null(body);
        end = strstr(body, "\n  esac\n");
        assert_non_null(end);
        /* The case labels: lines "  key)" between recipe() and its esac. */
        for (const char *l = strchr(body + 1, '\n'); l && l < end; l = strchr(l + 1, '\n')) {
                size_t k = strspn(l + 3, "abcdefghijklmnopqrstuvwxyz0123456789_");

                if (strncmp(l, "\n  ", 3) == 0 && k > 0 && strncmp(l + 3 + k, ")\n", 2) == 0) {
                        size_t used = strlen(recipes);

                        snprintf(recipes + used, sizeof(recipes) - used, "%.*s ", (int)k, l + 3);
                        cases++;
                }
        }
        ad_buildplan_images_default(&images);
        for (size_t i = 0; i < images.n_images; i++) {
                if (strcmp(images.image[i].key, "base") == 0)
                        continue; /* always built: every other image starts FROM it */
                if (!has_word(recipes, images.image[i].key))
                        fail_msg("image `%s` has no recipe in scripts/base-images.sh "
                                 "(recipes:%s)",
                                 images.image[i].key, recipes);
                listed++;
        }
        /* And no recipe the plans no longer use. */
        assert_int_equal(cases, listed);
        row = strstr(doc, "\n| `builder.images.*` |");
        assert_non_null(row);
        end = strchr(row + 1, '\n');
        assert_non_null(end);
        assert_non_null(memmem(row, (size_t)(end - row), "adanalyzer --list-images", 24));
        assert_null(memmem(row, (size_t)(end - row), "`.node`", 7));
        free(script);
        free(doc);
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
                cmocka_unit_test(test_list_images_is_the_table),
                cmocka_unit_test(test_base_images_script_builds_every_key),
                cmocka_unit_test(test_scanned_extensions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
