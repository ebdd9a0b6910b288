/* The analysis JSON the builder and the deployer receive in
 * deploy.analyzed (ad_analysis_from_json, common/src/analysis.c), with its
 * `processes`: any bytes give an analysis or an error, never a crash; an
 * accepted one survives a round trip through ad_analysis_to_json. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ad/analysis.h"
#include "ad/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *j = json_loadb((const char *)data, size, 0, NULL);
        struct ad_analysis *a = NULL, *back = NULL;
        ad_error_t err = NULL;
        const char *k;
        json_t *v;

        if (j == NULL)
                return 0;
        if (ad_analysis_from_json(&a, j, &err) == 0) {
                json_t *again = ad_analysis_to_json(a);

                json_object_foreach (a->processes, k, v)
                        if (!ad_process_name_valid(k, strlen(k)) || !json_is_string(v))
                                abort();
                if (again == NULL || ad_analysis_from_json(&back, again, NULL) < 0)
                        abort();
                if (json_object_size(a->processes) != json_object_size(back->processes))
                        abort();
                json_decref(again);
        }
        ad_analysis_free(back);
        ad_analysis_free(a);
        ad_error_release(&err);
        json_decref(j);
        return 0;
}
