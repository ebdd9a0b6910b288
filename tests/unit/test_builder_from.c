/* builder_from_check: a Dockerfile may not name another app's image in the
 * platform's registry, in any spelling of its address; public images,
 * the platform's base images, stages and the app's own image pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "builder_from.h"

#define REG "127.0.0.1:5000"

static void test_refused(void **state)
{
        static const char *const bad[] = {
                "FROM 127.0.0.1:5000/other:latest\n",
                "FROM 127.0.0.1:5000/other@sha256:abc\n",
                "from localhost:5000/other\n",
                "FROM --platform=linux/amd64 127.1:5000/other\n",
                "FROM [::1]:5000/other\n",
                "FROM 2130706433:5000/other AS base\n",
                "FROM debian\nCOPY --from=127.0.0.1:5000/other:latest /app /app\n",
                "FROM debian\nCOPY --chown=1:1 --from=localhost:5000/other /a /b\n",
                "FROM \\\n  127.0.0.1:5000/other\n",
                "  FROM 127.0.0.1:5000/mine-not\n",
        };
        static const char *const add_url[] = {
                "FROM debian\nADD http://127.0.0.1:8222/varz /varz\n",
                "FROM debian\nadd --chown=1:1 https://example.com/x.tgz /x\n",
                "FROM debian\nADD [\"http://2130706433:2019/config/\", \"/c\"]\n",
                "FROM debian\nADD \\\n  http://169.254.169.254/latest /m\n",
        };
        (void)state;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ad_error_t err = NULL;
                if (builder_from_check(bad[i], REG, "mine", &err) != -AD_ERR_INVALID)
                        fail_msg("accepted: %s", bad[i]);
                assert_non_null(strstr(ad_error_message(err), "another app's image"));
                ad_error_release(&err);
        }
        for (size_t i = 0; i < sizeof(add_url) / sizeof(add_url[0]); i++) {
                ad_error_t err = NULL;
                if (builder_from_check(add_url[i], REG, "mine", &err) != -AD_ERR_INVALID)
                        fail_msg("accepted: %s", add_url[i]);
                assert_non_null(strstr(ad_error_message(err), "ADD from a URL"));
                ad_error_release(&err);
        }
}

static void test_allowed(void **state)
{
        static const char *const good[] = {
                "FROM localhost/app-deployer/base:bookworm\nRUN echo hi\n",
                "FROM debian:bookworm AS build\nFROM build\nCOPY --from=build /a /b\n",
                "FROM 127.0.0.1:5000/mine:latest\n",
                "FROM docker.io/library/node:20\n",
                "FROM registry.example.com:5000/other\n",
                "FROM 127.0.0.1:6000/other\n",
                "# FROM 127.0.0.1:5000/other\nFROM debian\n",
                "RUN echo FROM 127.0.0.1:5000/other\n",
                "FROM debian\nADD app.tar.gz /app/\nCOPY . /src\n",
                "FROM debian\nRUN curl -fsS https://example.com/x -o /x\n",
                "",
        };
        (void)state;

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                ad_error_t err = NULL;
                if (builder_from_check(good[i], REG, "mine", &err) != 0)
                        fail_msg("refused: %s: %s", good[i], ad_error_message(err));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_allowed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
