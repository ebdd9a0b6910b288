/* ad/netguard.h: every spelling of an internal address is classified as
 * such, URL hosts are read as the resolver would, and the allowlist holds
 * exact host:port pairs only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ad/git.h"
#include "ad/netguard.h"

static enum ad_addr_class class_of(const char *host)
{
        struct sockaddr_storage ss;

        if (ad_ip_literal_parse(&ss, host, strlen(host)) != 1)
                fail_msg("`%s` was not read as an IP literal", host);
        return ad_addr_classify((struct sockaddr *)&ss);
}

static void test_classify_spellings(void **state)
{
        static const struct {
                const char *host;
                enum ad_addr_class want;
        } cases[] = {
                /* Loopback, in the forms inet_aton and getaddrinfo accept. */
                { "127.0.0.1", AD_ADDR_LOOPBACK },
                { "127.1", AD_ADDR_LOOPBACK },
                { "127.0.1", AD_ADDR_LOOPBACK },
                { "2130706433", AD_ADDR_LOOPBACK },
                { "0x7f000001", AD_ADDR_LOOPBACK },
                { "0X7F.0.0.1", AD_ADDR_LOOPBACK },
                { "0177.0.0.1", AD_ADDR_LOOPBACK },
                { "017700000001", AD_ADDR_LOOPBACK },
                { "127.255.255.254", AD_ADDR_LOOPBACK },
                { "127.0.0.1.", AD_ADDR_LOOPBACK },
                { "::1", AD_ADDR_LOOPBACK },
                { "0:0:0:0:0:0:0:1", AD_ADDR_LOOPBACK },
                { "::ffff:127.0.0.1", AD_ADDR_LOOPBACK },
                { "::ffff:7f00:1", AD_ADDR_LOOPBACK },
                { "::127.0.0.1", AD_ADDR_LOOPBACK },
                { "64:ff9b::127.0.0.1", AD_ADDR_LOOPBACK },
                { "2002:7f00:1::", AD_ADDR_LOOPBACK },
                /* Unspecified. */
                { "0.0.0.0", AD_ADDR_UNSPECIFIED },
                { "0", AD_ADDR_UNSPECIFIED },
                { "0.1.2.3", AD_ADDR_UNSPECIFIED },
                { "::", AD_ADDR_UNSPECIFIED },
                { "::ffff:0.0.0.0", AD_ADDR_UNSPECIFIED },
                /* Link-local, the cloud metadata endpoint among them. */
                { "169.254.169.254", AD_ADDR_LINK_LOCAL },
                { "2852039166", AD_ADDR_LINK_LOCAL },
                { "0xa9.0xfe.0xa9.0xfe", AD_ADDR_LINK_LOCAL },
                { "::ffff:169.254.169.254", AD_ADDR_LINK_LOCAL },
                { "fe80::1", AD_ADDR_LINK_LOCAL },
                { "febf:ffff::1", AD_ADDR_LINK_LOCAL },
                /* Private. */
                { "10.0.0.1", AD_ADDR_PRIVATE },
                { "10.1", AD_ADDR_PRIVATE },
                { "012.0.0.1", AD_ADDR_PRIVATE },
                { "172.16.0.1", AD_ADDR_PRIVATE },
                { "172.31.255.255", AD_ADDR_PRIVATE },
                { "192.168.1.1", AD_ADDR_PRIVATE },
                { "3232235777", AD_ADDR_PRIVATE },
                { "100.64.0.1", AD_ADDR_PRIVATE },
                { "100.127.255.255", AD_ADDR_PRIVATE },
                { "fc00::1", AD_ADDR_PRIVATE },
                { "fd12:3456::1", AD_ADDR_PRIVATE },
                { "fec0::1", AD_ADDR_PRIVATE },
                { "::ffff:10.0.0.1", AD_ADDR_PRIVATE },
                { "::ffff:192.168.0.1", AD_ADDR_PRIVATE },
                /* Multicast and reserved. */
                { "224.0.0.1", AD_ADDR_MULTICAST },
                { "239.255.255.250", AD_ADDR_MULTICAST },
                { "ff02::1", AD_ADDR_MULTICAST },
                { "255.255.255.255", AD_ADDR_RESERVED },
                { "240.0.0.1", AD_ADDR_RESERVED },
                { "192.0.2.1", AD_ADDR_RESERVED },
                { "2001:db8::1", AD_ADDR_RESERVED },
                { "2001:0:4136:e378:8000:63bf:3fff:fdd2", AD_ADDR_RESERVED },
                /* Public. */
                { "8.8.8.8", AD_ADDR_PUBLIC },
                { "134744072", AD_ADDR_PUBLIC },
                { "172.32.0.1", AD_ADDR_PUBLIC },
                { "172.15.255.255", AD_ADDR_PUBLIC },
                { "100.128.0.1", AD_ADDR_PUBLIC },
                { "169.253.0.1", AD_ADDR_PUBLIC },
                { "2606:4700::1111", AD_ADDR_PUBLIC },
                { "::ffff:8.8.8.8", AD_ADDR_PUBLIC },
        };
        (void)state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                enum ad_addr_class got = class_of(cases[i].host);
                if (got != cases[i].want)
                        fail_msg("`%s`: class %d (%s), want %d (%s)", cases[i].host, got,
                                 ad_addr_class_name(got), cases[i].want,
                                 ad_addr_class_name(cases[i].want));
        }
}

static void test_names_are_not_literals(void **state)
{
        static const char *const names[] = { "example.com", "localhost", "127.0.0.1.nip",
                                             "0x7g.0.0.1",  "1.2.3.4.5", "deadbeef.com" };
        struct sockaddr_storage ss;
        (void)state;

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (ad_ip_literal_parse(&ss, names[i], strlen(names[i])) != 0)
                        fail_msg("`%s` was read as an IP literal", names[i]);
}

static void test_url_host_port(void **state)
{
        static const struct {
                const char *url, *host;
                unsigned port;
        } cases[] = {
                { "https://github.com/o/r.git", "github.com", 443 },
                { "http://Example.COM/o/r", "example.com", 80 },
                { "git://127.0.0.1/r", "127.0.0.1", 9418 },
                { "git://127.0.0.1:1234/r", "127.0.0.1", 1234 },
                { "https://user:p@ss@evil.example:8443/r", "evil.example", 8443 },
                { "https://github.com@127.0.0.1/r", "127.0.0.1", 443 },
                { "http://[::1]:8080/r", "::1", 8080 },
                { "http://[::ffff:127.0.0.1]/r", "::ffff:127.0.0.1", 80 },
                { "HTTPS://2130706433/r", "2130706433", 443 },
        };
        char host[AD_NET_HOST_MAX + 1];
        unsigned port;
        (void)state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ad_error_t err = NULL;
                if (ad_url_host_port(cases[i].url, host, sizeof(host), &port, &err) != 0)
                        fail_msg("`%s`: %s", cases[i].url, ad_error_message(err));
                assert_string_equal(host, cases[i].host);
                assert_int_equal(port, cases[i].port);
        }
        assert_int_equal(ad_url_host_port("http://[::1/r", host, sizeof(host), &port, NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(ad_url_host_port("http://h:0/r", host, sizeof(host), &port, NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(ad_url_host_port("http://h:70000/r", host, sizeof(host), &port, NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(ad_url_host_port("ftp://h/r", host, sizeof(host), &port, NULL),
                         -AD_ERR_INVALID);
}

static void test_allowlist(void **state)
{
        struct ad_net_allowlist al;
        struct sockaddr_storage ss;
        ad_error_t err = NULL;
        (void)state;

        assert_int_equal(
                ad_net_allowlist_parse(&al, " 127.0.0.1:9418 , [::1]:8080,Git.Local:80", &err), 0);
        assert_int_equal(al.n, 3);
        /* Exact host and port. */
        assert_true(ad_net_allowlist_match(&al, "127.0.0.1", 9418, NULL));
        assert_false(ad_net_allowlist_match(&al, "127.0.0.1", 9419, NULL));
        assert_false(ad_net_allowlist_match(&al, "127.0.0.2", 9418, NULL));
        assert_true(ad_net_allowlist_match(&al, "git.local", 80, NULL));
        assert_false(ad_net_allowlist_match(&al, "other.local", 80, NULL));
        assert_true(ad_net_allowlist_match(&al, "::1", 8080, NULL));
        assert_false(ad_net_allowlist_match(&al, "::1", 9418, NULL));
        /* Another spelling of the same address, or a name that resolved to
         * it, reaches the same allowlisted server. */
        assert_true(ad_net_allowlist_match(&al, "2130706433", 9418, NULL));
        assert_int_equal(ad_ip_literal_parse(&ss, "127.0.0.1", 9), 1);
        assert_true(ad_net_allowlist_match(&al, "some.name", 9418, (struct sockaddr *)&ss));
        assert_false(ad_net_allowlist_match(&al, "some.name", 9419, (struct sockaddr *)&ss));
        assert_false(ad_net_allowlist_match(NULL, "127.0.0.1", 9418, NULL));

        assert_int_equal(ad_net_allowlist_parse(&al, "", NULL), 0);
        assert_int_equal(al.n, 0);
        assert_int_equal(ad_net_allowlist_parse(&al, NULL, NULL), 0);
        static const char *const bad[] = { "127.0.0.1",   "127.0.0.1:", "127.0.0.1:0",
                                           "127.0.0.1:x", "*.local:80", "[::1:80",
                                           "[::1]80",     ":80",        "a b:80" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (ad_net_allowlist_parse(&al, bad[i], NULL) != -AD_ERR_INVALID)
                        fail_msg("allowlist `%s` was accepted", bad[i]);
}

static void test_url_check_host(void **state)
{
        static const char *const refused[] = {
                "http://127.0.0.1:8080/x.git",    "http://2130706433:8080/x.git",
                "http://0x7f000001/x.git",        "http://127.1/x.git",
                "http://0177.0.0.1/x.git",        "git://[::1]/x.git",
                "http://[::ffff:127.0.0.1]/x",    "http://169.254.169.254/latest/x",
                "https://10.0.0.5/x.git",         "https://192.168.0.1/x.git",
                "https://[fd00::1]/x.git",        "http://0.0.0.0/x.git",
                "http://localhost/x.git",         "http://app.localhost:1/x.git",
                "https://github.com@127.0.0.1/x", "http://[fe80::1%25eth0]/x.git",
                "http://224.0.0.1/x.git",
        };
        (void)state;

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                ad_error_t err = NULL;
                if (ad_git_url_check_host(refused[i], "", &err) != -AD_ERR_INVALID)
                        fail_msg("`%s` was accepted", refused[i]);
                ad_error_release(&err);
        }
        /* The message names what is wrong and how an operator fixes it. */
        {
                ad_error_t err = NULL;
                assert_int_equal(ad_git_url_check_host("http://2130706433:8080/x", NULL, &err),
                                 -AD_ERR_INVALID);
                assert_non_null(strstr(ad_error_message(err), "loopback"));
                assert_non_null(strstr(ad_error_message(err), "allowlist"));
                ad_error_release(&err);
        }
        assert_int_equal(ad_git_url_check_host("https://github.com/o/r.git", "", NULL), 0);
        assert_int_equal(ad_git_url_check_host("https://8.8.8.8/o/r.git", "", NULL), 0);
        assert_int_equal(ad_git_url_check_host("file:///srv/r", "", NULL), 0);
        /* Allowlisted: exactly that host and port. */
        assert_int_equal(ad_git_url_check_host("git://127.0.0.1:9418/r", "127.0.0.1:9418", NULL),
                         0);
        assert_int_equal(ad_git_url_check_host("git://127.0.0.1/r", "127.0.0.1:9418", NULL), 0);
        assert_int_equal(ad_git_url_check_host("git://127.0.0.1:9419/r", "127.0.0.1:9418", NULL),
                         -AD_ERR_INVALID);
        assert_int_equal(ad_git_url_check_host("http://127.0.0.1:9418/r", "10.0.0.1:9418", NULL),
                         -AD_ERR_INVALID);
        /* A bad allowlist is an error, not an open door. */
        assert_int_equal(ad_git_url_check_host("https://github.com/r", "127.0.0.1", NULL),
                         -AD_ERR_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify_spellings),
                cmocka_unit_test(test_names_are_not_literals),
                cmocka_unit_test(test_url_host_port),
                cmocka_unit_test(test_allowlist),
                cmocka_unit_test(test_url_check_host),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
