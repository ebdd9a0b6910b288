/* Pure parts of the engine and caddy clients and derived event ids: the
 * Docker log stream format, the digest in push output, caddy's ETag, route JSON, derived event ids,
 * ingress URLs, and an engine that is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/caddy.h"
#include "ad/engine.h"
#include "ad/event.h"
#include "ad/ingress.h"

static void demux_frames(void **state)
{
        /* stdout "hello\n", stderr "err\n": 8-byte headers, big-endian size. */
        static const char in[] = "\x01\x00\x00\x00\x00\x00\x00\x06hello\n"
                                 "\x02\x00\x00\x00\x00\x00\x00\x04"
                                 "err\n";
        char out[sizeof(in)];

        (void)state;
        assert_int_equal(ad_engine_demux_logs(in, sizeof(in) - 1, out), 10);
        assert_string_equal(out, "hello\nerr\n");
}

static void demux_raw_and_cut(void **state)
{
        static const char tty[] = "plain text from a TTY\n";
        /* A frame announcing 100 bytes but cut after 3 (a bounded read). */
        static const char cut[] = "\x01\x00\x00\x00\x00\x00\x00\x64"
                                  "abc";
        char out[64];

        (void)state;
        assert_int_equal(ad_engine_demux_logs(tty, strlen(tty), out), strlen(tty));
        assert_string_equal(out, tty);
        assert_int_equal(ad_engine_demux_logs(cut, sizeof(cut) - 1, out), 3);
        assert_string_equal(out, "abc");
        assert_int_equal(ad_engine_demux_logs("", 0, out), 0);
        assert_string_equal(out, "");
}

static void caddy_etag_matches_caddy(void **state)
{
        /* A body and the ETag caddy 2.6 sent for it (measured). */
        static const char body[] =
                "[{\"@id\":\"ad-route-zzexp\",\"handle\":[{\"body\":\"deploying\",\"handler\":"
                "\"static_response\",\"status_code\":503}],\"match\":[{\"host\":[\"zzexp."
                "localhost\"]}]},{\"@id\":\"ad-route-zzexp\",\"handle\":[{\"body\":\"deploying\","
                "\"handler\":\"static_response\",\"status_code\":503}],\"match\":[{\"host\":["
                "\"zzexp.localhost\"]}]}]\n";
        char *etag = ad_caddy_etag("/config/apps/http/servers/apps/routes", body, strlen(body));

        (void)state;
        assert_string_equal(etag, "\"/config/apps/http/servers/apps/routes 04d82555\"");
        free(etag);
}

static void caddy_route_json(void **state)
{
        json_t *proxy = ad_caddy_handler_proxy("127.0.0.1:32768", "dep-1");
        json_t *route = ad_caddy_route_new("ad-route-x", "x.localhost", proxy);
        json_t *stat = ad_caddy_handler_static(503, "deploying", NULL);
        json_t *placeholder = ad_caddy_route_new("ad-route-x", "x.localhost", stat);

        (void)state;
        assert_string_equal(json_string_value(json_object_get(route, "@id")), "ad-route-x");
        assert_true(json_is_true(json_object_get(route, "terminal")));
        assert_string_equal(
                json_string_value(json_array_get(
                        json_object_get(json_array_get(json_object_get(route, "match"), 0), "host"),
                        0)),
                "x.localhost");
        assert_int_equal(json_array_size(ad_caddy_route_upstreams(route)), 1);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(ad_caddy_route_upstreams(route), 0), "dial")),
                            "127.0.0.1:32768");
        assert_string_equal(ad_caddy_route_deployment(route), "dep-1");
        assert_ptr_equal(ad_caddy_route_upstreams(json_object_get(route, "handle")),
                         ad_caddy_route_upstreams(route));
        assert_null(ad_caddy_route_upstreams(placeholder));
        assert_null(ad_caddy_route_deployment(placeholder));
        assert_int_equal(json_integer_value(json_object_get(stat, "status_code")), 503);
        json_decref(proxy);
        json_decref(route);
        json_decref(stat);
        json_decref(placeholder);
}

static void derived_ids(void **state)
{
        char a[AD_UUID_LEN + 1], b[AD_UUID_LEN + 1], c[AD_UUID_LEN + 1];

        (void)state;
        ad_uuid_derive(a, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11", "deployer/deploy.exposed");
        ad_uuid_derive(b, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11", "deployer/deploy.exposed");
        ad_uuid_derive(c, "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11", "deployer/deploy.failed");
        assert_true(ad_uuid_valid(a));
        assert_string_equal(a, b); /* a redelivery re-publishes the same id */
        assert_string_not_equal(a, c);
        ad_uuid_derive(b, "1b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11", "deployer/deploy.exposed");
        assert_string_not_equal(a, b); /* another input event, another id */
}

static void ingress_urls(void **state)
{
        struct ingress in = { .base_domain = "localhost", .http_port = 8080, .https_port = 443 };
        char host[INGRESS_HOST_MAX], tls_id[INGRESS_ROUTE_ID_MAX];
        char *u;

        (void)state;
        ingress_host(host, &in, "shop");
        assert_string_equal(host, "shop.localhost");
        u = ingress_url(&in, host, false);
        assert_string_equal(u, "http://shop.localhost:8080/");
        free(u);
        u = ingress_url(&in, host, true);
        assert_string_equal(u, "https://shop.localhost/");
        free(u);
        ingress_tls_route_id(tls_id, "ad-route-shop");
        assert_string_equal(tls_id, "ad-route-shop-tls");
}

static void push_digest(void **state)
{
        char d[AD_ENGINE_DIGEST_LEN + 1];
        const char *hex = "4ec3ac5114f52ffe8a48b342ac61000bc2b78fbf148daa34efd936e6625c205c";
        char line[200];

        (void)state;
        snprintf(line, sizeof(line), "one: digest: sha256:%s size: 737", hex);
        assert_true(ad_engine_find_digest(line, d));
        assert_string_equal(d + 7, hex);
        assert_false(ad_engine_find_digest("The push refers to repository [x]", d));
        assert_false(ad_engine_find_digest("digest: sha256:abc", d));
        assert_false(ad_engine_find_digest(NULL, d));
}

/* The error podman 4.3 answered on this machine for an image record left
 * without its manifest (CI stop 20), word for word. */
static void half_written_image_id(void **state)
{
        const char *hex = "a38f727d78026eafee940ea90e87c943549fca63d457e5d8d89b2beb6fb7b667";
        char id[AD_ENGINE_IMAGE_ID_LEN + 1], text[512];

        (void)state;
        snprintf(text, sizeof(text),
                 "failed to convert ImageData to ImageInspect 'x:1': locating item named "
                 "\"manifest\" for image with ID \"%s\" (consider removing the image to "
                 "resolve the issue): file does not exist",
                 hex);
        assert_true(ad_engine_half_written_image(text, id));
        assert_string_equal(id, hex);
        /* Another item (the config) is the same unfinished write. */
        snprintf(text, sizeof(text), "locating item named \"sha256:%s\" for image with ID \"%s\"",
                 hex, hex);
        assert_true(ad_engine_half_written_image(text, id));
        /* Not that error, or an ID cut short or upper-case: left alone. */
        assert_false(ad_engine_half_written_image("image not known", id));
        assert_false(ad_engine_half_written_image(NULL, id));
        assert_false(ad_engine_half_written_image(
                "locating item named \"manifest\" for image with ID \"a38f727d\"", id));
        snprintf(text, sizeof(text), "for image with ID \"%s\"", hex);
        assert_false(ad_engine_half_written_image(text, id));
        snprintf(text, sizeof(text), "locating item named \"manifest\" for image with ID \"%.63s\"",
                 hex);
        assert_false(ad_engine_half_written_image(text, id));
        snprintf(text, sizeof(text), "locating item named \"m\" for image with ID \"%sA\"", hex);
        assert_false(ad_engine_half_written_image(text, id));
}

static void engine_unreachable(void **state)
{
        ad_engine *e = NULL;
        ad_error_t err = NULL;
        bool exists = true;

        (void)state;
        assert_int_equal(ad_engine_open(&e, "/nonexistent/podman.sock", &err), 0);
        assert_int_equal(ad_engine_ping(e, &err), -AD_ERR_UNAVAILABLE);
        assert_true(ad_error_is_retryable(err));
        ad_error_release(&err);
        assert_int_equal(ad_engine_image_exists(e, "x/y:z", &exists, &err), -AD_ERR_UNAVAILABLE);
        assert_non_null(strstr(ad_error_message(err), "container engine"));
        ad_error_release(&err);
        assert_int_equal(ad_engine_image_push(e, "r/a", "t", 1000, NULL, NULL, &err),
                         -AD_ERR_UNAVAILABLE);
        assert_true(ad_error_is_retryable(err));
        ad_error_release(&err);
        ad_engine_close(e);
        assert_true(ad_engine_open(&e, "", &err) < 0);
        ad_error_release(&err);
}

/* The followed log stream: frames cut anywhere, a line written in two
 * writes (two frames, each with its time) joined with the first part's
 * time, stderr apart, a line with no newline handed over at the end. */
struct seen {
        char text[8][64];
        int64_t ns[8];
        int stream[8];
        int n;
};

static void seen_line(const struct ad_engine_log_line *l, void *ud)
{
        struct seen *s = ud;

        if (s->n < 8) {
                snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)l->len, l->text);
                s->ns[s->n] = l->ts_ns;
                s->stream[s->n++] = l->stream;
        }
}

static size_t frame(char *out, int stream, const char *payload)
{
        size_t n = strlen(payload);

        out[0] = (char)stream;
        out[1] = out[2] = out[3] = 0;
        out[4] = out[5] = 0;
        out[6] = (char)(n >> 8);
        out[7] = (char)n;
        memcpy(out + 8, payload, n);
        return n + 8;
}

static void log_reader_frames(void **state)
{
        static struct ad_engine_log_reader r;
        char buf[512];
        size_t len = 0;
        struct seen s = { 0 };

        (void)state;
        len += frame(buf + len, 1, "2026-12-06T16:27:05.5Z tick 1");
        len += frame(buf + len, 1, "2026-12-06T16:27:06Z \n");
        len += frame(buf + len, 2, "2026-12-06T16:27:06+01:00 oops\n");
        len += frame(buf + len, 1, "2026-12-06T16:27:07Z last");
        ad_engine_log_reader_init(&r, seen_line, &s);
        for (size_t i = 0; i < len; i += 3)
                ad_engine_log_reader_feed(&r, buf + i, len - i < 3 ? len - i : 3);
        assert_int_equal(s.n, 2);
        ad_engine_log_reader_end(&r);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.text[0], "tick 1");
        assert_true(s.ns[0] == 1796574425LL * 1000000000LL + 500000000LL);
        assert_int_equal(s.stream[0], 1);
        assert_string_equal(s.text[1], "oops");
        assert_true(s.ns[1] == (1796574426LL - 3600) * 1000000000LL);
        assert_int_equal(s.stream[1], 2);
        assert_string_equal(s.text[2], "last");
        assert_true(ad_engine_parse_rfc3339_ns("2026-12-06T16:27:05", 19) < 0);
        assert_true(ad_engine_parse_rfc3339_ns("2026-13-06T16:27:05Z", 20) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(demux_frames),          cmocka_unit_test(demux_raw_and_cut),
                cmocka_unit_test(log_reader_frames),     cmocka_unit_test(push_digest),
                cmocka_unit_test(half_written_image_id), cmocka_unit_test(caddy_etag_matches_caddy),
                cmocka_unit_test(caddy_route_json),      cmocka_unit_test(derived_ids),
                cmocka_unit_test(ingress_urls),          cmocka_unit_test(engine_unreachable),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
