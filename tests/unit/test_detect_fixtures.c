/* One test per fixture tree: tests/fixtures/detect/<name>.expected.json
 * holds the fields the analysis of tests/fixtures/detect/<name>/ must
 * have (compared exactly), "why" substrings per field, "plan" substrings
 * of the generated Dockerfile ("planLacks": substrings it must not have),
 * or "error" (a substring of the message
 * of a detection that must fail) for negative cases. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/analysis.h"
#include "buildplan.h"
#include "ad/cleanup.h"
#include "detect.h"

#define FIXTURES AD_SOURCE_DIR "/tests/fixtures/detect/"
#define SUFFIX ".expected.json"

static void check_plan(const struct ad_analysis *a, const json_t *plan, const json_t *lacks,
                       const char *name)
{
        struct ad_buildplan_images images;
        cleanup_free char *dockerfile = NULL;
        ad_error_t err = NULL;
        size_t i;
        json_t *v;

        ad_buildplan_images_default(&images);
        if (ad_buildplan_dockerfile(&dockerfile, a, &images, &err) < 0)
                fail_msg("%s: plan: %s", name, ad_error_message(err));
        json_array_foreach (plan, i, v)
                if (strstr(dockerfile, json_string_value(v)) == NULL)
                        fail_msg("%s: the plan lacks `%s`:\n%s", name, json_string_value(v),
                                 dockerfile);
        json_array_foreach (lacks, i, v)
                if (strstr(dockerfile, json_string_value(v)) != NULL)
                        fail_msg("%s: the plan has `%s`:\n%s", name, json_string_value(v),
                                 dockerfile);
}

static void check_fixture(void **state)
{
        const char *name = *state;
        char dir[4096], expected_path[4096];
        struct ad_analysis *a = NULL;
        ad_error_t err = NULL;
        json_error_t jerr;
        json_t *expected, *got, *v;
        const char *key;

        snprintf(dir, sizeof(dir), FIXTURES "%s", name);
        snprintf(expected_path, sizeof(expected_path), FIXTURES "%s" SUFFIX, name);
        expected = json_load_file(expected_path, 0, &jerr);
        if (expected == NULL)
                fail_msg("%s: %s", expected_path, jerr.text);
        if (analyzer_detect(&a, dir, &err) < 0) {
                const char *want = json_string_value(json_object_get(expected, "error"));

                if (want == NULL || strstr(ad_error_message(err), want) == NULL)
                        fail_msg("%s: detection failed: %s", name, ad_error_message(err));
                ad_error_release(&err);
                json_decref(expected);
                return;
        }
        if (json_object_get(expected, "error"))
                fail_msg("%s: detection succeeded, expected an error", name);
        got = ad_analysis_to_json(a);
        assert_non_null(got);
        json_object_foreach (expected, key, v) {
                if (strcmp(key, "why") == 0 || strcmp(key, "plan") == 0 ||
                    strcmp(key, "planLacks") == 0)
                        continue;
                if (!json_equal(v, json_object_get(got, key))) {
                        char *w = json_dumps(v, JSON_ENCODE_ANY);
                        char *g = json_dumps(json_object_get(got, key), JSON_ENCODE_ANY);

                        fail_msg("%s: %s is %s, expected %s (why: %s)", name, key, g ? g : "null",
                                 w, json_string_value(json_object_get(a->why, key)));
                }
        }
        json_object_foreach (json_object_get(expected, "why"), key, v) {
                const char *why = json_string_value(json_object_get(a->why, key));

                if (why == NULL || strstr(why, json_string_value(v)) == NULL)
                        fail_msg("%s: why.%s is \"%s\", expected it to contain \"%s\"", name, key,
                                 why ? why : "(none)", json_string_value(v));
        }
        if (json_object_get(expected, "plan"))
                check_plan(a, json_object_get(expected, "plan"),
                           json_object_get(expected, "planLacks"), name);
        json_decref(got);
        json_decref(expected);
        ad_analysis_free(a);
}

static int cmp_str(const void *x, const void *y)
{
        return strcmp(*(char *const *)x, *(char *const *)y);
}

int main(int argc, char **argv)
{
        struct CMUnitTest *tests;
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d = opendir(FIXTURES);
        int status;

        if (d == NULL)
                return 1;
        while ((de = readdir(d)) != NULL) {
                size_t len = strlen(de->d_name);

                if (len <= strlen(SUFFIX) || strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX) != 0)
                        continue;
                if (argc > 1 && strncmp(de->d_name, argv[1], strlen(argv[1])) != 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        names = realloc(names, cap * sizeof(*names));
                        if (names == NULL)
                                return 1;
                }
                names[n++] = strndup(de->d_name, len - strlen(SUFFIX));
        }
        closedir(d);
        if (n == 0)
                return 1; /* no fixture found: the test must not pass vacuously */
        qsort(names, n, sizeof(*names), cmp_str);
        tests = calloc(n, sizeof(*tests));
        if (tests == NULL)
                return 1;
        for (size_t i = 0; i < n; i++)
                tests[i] = (struct CMUnitTest){ .name = names[i],
                                                .test_func = check_fixture,
                                                .initial_state = names[i] };
        status = _cmocka_run_group_tests("detect fixtures", tests, n, NULL, NULL);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(tests);
        return status;
}
