/* The analyzer's manifest parsers, one fuzz target each (selected by
 * FUZZ_PARSER at compile time): any bytes give a result or an error,
 * never a crash, a leak or a read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *)data;
        ad_error_t err = NULL;

#if FUZZ_PARSER == 1
        struct analyzer_package_json pj = { 0 };
        if (analyzer_parse_package_json(&pj, text, size, &err) == 0)
                analyzer_package_json_clear(&pj);
#elif FUZZ_PARSER == 2
        struct analyzer_procfile pf = { 0 };
        if (analyzer_parse_procfile(&pf, text, size, &err) == 0)
                analyzer_procfile_clear(&pf);
#elif FUZZ_PARSER == 3
        struct analyzer_dockerfile df = { 0 };
        if (analyzer_parse_dockerfile(&df, text, size, &err) == 0)
                analyzer_dockerfile_clear(&df);
#elif FUZZ_PARSER == 4
        struct analyzer_go_mod gm = { 0 };
        if (analyzer_parse_go_mod(&gm, text, size, &err) == 0)
                analyzer_go_mod_clear(&gm);
#elif FUZZ_PARSER == 5
        struct analyzer_python_deps d = { 0 };
        if (analyzer_parse_requirements(&d, text, size, &err) == 0)
                analyzer_python_deps_clear(&d);
#elif FUZZ_PARSER == 6
        struct analyzer_python_deps d = { 0 };
        if (analyzer_parse_pyproject(&d, text, size, &err) == 0)
                analyzer_python_deps_clear(&d);
#elif FUZZ_PARSER == 7
        struct analyzer_strset set = { 0 };
        unsigned port;
        const char *rule;
        analyzer_parse_env_example(&set, text, size, &err);
        ad_error_release(&err);
        analyzer_scan_env(&set, text, size, &err);
        analyzer_scan_port(&port, &rule, text, size);
        analyzer_strset_clear(&set);
#elif FUZZ_PARSER == 8
        struct analyzer_cargo c = { 0 };
        if (analyzer_parse_cargo(&c, text, size, &err) == 0)
                analyzer_cargo_clear(&c);
#elif FUZZ_PARSER == 9
        struct analyzer_pom p = { 0 };
        if (analyzer_parse_pom(&p, text, size, &err) == 0)
                analyzer_pom_clear(&p);
#elif FUZZ_PARSER == 10
        struct analyzer_gemfile g = { 0 };
        if (analyzer_parse_gemfile(&g, text, size, &err) == 0)
                analyzer_gemfile_clear(&g);
#elif FUZZ_PARSER == 11
        struct analyzer_composer c = { 0 };
        if (analyzer_parse_composer(&c, text, size, &err) == 0)
                analyzer_composer_clear(&c);
#elif FUZZ_PARSER == 12
        struct analyzer_config c = { 0 };
        if (analyzer_parse_config(&c, text, size, &err) == 0)
                analyzer_config_clear(&c);
#else
#error "FUZZ_PARSER must be 1..12"
#endif
        ad_error_release(&err);
        return 0;
}
