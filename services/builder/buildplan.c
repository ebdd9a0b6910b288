/* The planner's entry points: the language's provider (its plan and its
 * images, services/analyzer/detect_<lang>.c) found by name, run inside
 * the shared checks and stages of the kit (buildplan_kit.c). */
#include "buildplan.h"

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
