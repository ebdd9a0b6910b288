/* The planner's entry points: the language's provider (its plan and its
 * images, services/analyzer/detect_<lang>.c) found by name, run inside
 * the shared checks and stages of the kit (buildplan_kit.c). */
#include "buildplan.h"

#include <stdio.h>
#include <string.h>

#include "detect.h"

void ad_buildplan_images_default(struct ad_buildplan_images *images)
{
        *images = (struct ad_buildplan_images){ .extra_ca = false };
        for (size_t i = 0; analyzer_providers[i]; i++) {
                const struct ad_buildplan_image *img = analyzer_providers[i]->images;

                for (; img && img->key; img++)
                        if (ad_buildplan_images_get(images, img->key) == NULL)
                                /* Full: test_language_providers fails first. */
                                (void)ad_buildplan_images_set(images, img->key, img->name);
        }
}

/* The providers that use key as their runtime image (first) or in
 * another stage (not first), space-separated; "-" for none. */
static int print_users(FILE *out, const char *key, bool runtime)
{
        bool any = false;

        for (size_t i = 0; analyzer_providers[i]; i++) {
                const struct ad_buildplan_image *img = analyzer_providers[i]->images;

                for (size_t j = 0; img && img[j].key; j++)
                        if ((j == 0) == runtime && strcmp(img[j].key, key) == 0) {
                                if (fprintf(out, "%s%s", any ? " " : "",
                                            analyzer_providers[i]->name) < 0)
                                        return -1;
                                any = true;
                                break;
                        }
        }
        return any || fputc('-', out) != EOF ? 0 : -1;
}

int ad_buildplan_images_list(FILE *out)
{
        struct ad_buildplan_images images;

        ad_buildplan_images_default(&images);
        for (size_t i = 0; i < images.n_images; i++) {
                const char *key = images.image[i].key;

                if (fprintf(out, "%s\t%s\t", key, images.image[i].name) < 0 ||
                    print_users(out, key, true) < 0 || fputc('\t', out) == EOF ||
                    print_users(out, key, false) < 0 || fputc('\n', out) == EOF)
                        return -1;
        }
        return fflush(out) == 0 ? 0 : -1;
}

const char *ad_buildplan_image(const struct ad_buildplan_images *images, const char *language)
{
        const struct analyzer_provider *p = analyzer_provider_find(language);

        if (p == NULL || p->plan == NULL || p->images == NULL || p->images[0].key == NULL)
                return NULL;
        return ad_buildplan_images_get(images, p->images[0].key);
}

int ad_buildplan_dockerfile(char **out, const struct ad_analysis *a,
                            const struct ad_buildplan_images *images, ad_error_t *err)
{
        const struct analyzer_provider *p = analyzer_provider_find(a->language);

        return ad_buildplan_generate(out, a, images, p ? p->plan : NULL, err);
}
