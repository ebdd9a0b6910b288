/* api.allowed_hosts and the Host header check against DNS rebinding
 * (services/api/api_hosts.c): the list's parser, and which Host values
 * pass.  No server: the same functions tests/fuzz/fuzz_hosts.c drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_hosts.h"

static void expect_parse_error(const char *spec, const char *needle)
{
        struct api_hosts h;
        ad_error_t err = NULL;

        assert_true(api_hosts_parse(&h, spec, &err) < 0);
        assert_non_null(err);
        assert_int_equal(err->kind, AD_ERR_INVALID);
        if (strstr(ad_error_message(err), needle) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", spec, ad_error_message(err), needle);
        ad_error_release(&err);
}

static void test_parse(void **state)
{
        struct api_hosts h;
        char many[2048] = "";

        (void)state;
        assert_int_equal(api_hosts_parse(&h, "", NULL), 0);
        assert_int_equal(h.n, 0);
        assert_int_equal(
                api_hosts_parse(&h, " API.Example.com. , *.corp.example,10.0.0.5,[fd00::1],", NULL),
                0);
        assert_int_equal(h.n, 4);
        assert_string_equal(h.name[0], "api.example.com");
        assert_string_equal(h.name[1], "*.corp.example");
        assert_string_equal(h.name[3], "[fd00::1]");
        expect_parse_error("api.example.com:8080", "not a host name");
        expect_parse_error("evil..com", "not a host name");
        /* Found by fuzz_hosts: a second trailing dot stayed in the name,
         * which then matched no Host. */
        expect_parse_error("127..", "not a host name");
        expect_parse_error("a b", "not a host name");
        expect_parse_error("*", "not a host name");
        expect_parse_error("[fd00::1", "not a host name");
        for (int i = 0; i < 33; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "h%d.example,", i);
        expect_parse_error(many, "at most 32");
}

static void test_allowed(void **state)
{
        struct api_hosts h;

        (void)state;
        assert_int_equal(api_hosts_parse(&h, "api.example.com,*.corp.example,10.0.0.5", NULL), 0);
        /* The loopback names, with or without a port, always. */
        assert_true(api_host_allowed(&h, "localhost"));
        assert_true(api_host_allowed(&h, "LOCALHOST:8080"));
        assert_true(api_host_allowed(&h, "localhost.:8080"));
        assert_true(api_host_allowed(&h, "api.localhost:8080"));
        assert_true(api_host_allowed(&h, "127.0.0.1:8080"));
        assert_true(api_host_allowed(&h, "127.1.2.3"));
        assert_true(api_host_allowed(&h, "[::1]:8080"));
        assert_true(api_host_allowed(NULL, "127.0.0.1"));
        /* The listed ones. */
        assert_true(api_host_allowed(&h, "api.example.com"));
        assert_true(api_host_allowed(&h, "API.example.com:443"));
        assert_true(api_host_allowed(&h, "build.corp.example"));
        assert_true(api_host_allowed(&h, "10.0.0.5:8080"));
        /* A rebinding page's name, and anything malformed. */
        assert_false(api_host_allowed(&h, "evil.example:8080"));
        assert_false(api_host_allowed(NULL, "api.example.com"));
        assert_false(api_host_allowed(&h, "corp.example"));
        assert_false(api_host_allowed(&h, "api.example.com.evil.example"));
        assert_false(api_host_allowed(&h, "localhost.evil.example"));
        assert_false(api_host_allowed(&h, "evil-localhost"));
        assert_false(api_host_allowed(&h, "127.0.0.1.evil.example"));
        assert_false(api_host_allowed(&h, "128.0.0.1"));
        assert_false(api_host_allowed(&h, "127.0.0.256"));
        assert_false(api_host_allowed(&h, "[::2]:8080"));
        assert_false(api_host_allowed(&h, "localhost:80x"));
        assert_false(api_host_allowed(&h, "localhost:"));
        assert_false(api_host_allowed(&h, "localhost:123456"));
        assert_false(api_host_allowed(&h, "[::1"));
        assert_false(api_host_allowed(&h, "[::1]x"));
        assert_false(api_host_allowed(&h, ""));
        assert_false(api_host_allowed(&h, "local host"));
        assert_false(api_host_allowed(&h, "localhost.."));
        assert_false(api_host_allowed(&h, NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_allowed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
