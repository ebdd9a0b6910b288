/* The API's request parsing (services/api/api_request.c): deployment
 * bodies valid and invalid, list cursors and limits, headers.  No server:
 * the same functions the fuzz target drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api_request.h"
#include "api_ws.h"

struct parsed {
        struct api_deploy_request *req;
        const char *code;
        ad_error_t err;
        int ret;
};

static struct parsed parse(const char *body, bool allow_local)
{
        struct parsed p = { 0 };

        p.ret = api_deploy_request_parse(&p.req, body, strlen(body), allow_local, &p.code, &p.err);
        return p;
}

static void parsed_free(struct parsed *p)
{
        api_deploy_request_free(p->req);
        ad_error_release(&p->err);
}

/* The body must be rejected with `code`, and the message must contain
 * `needle`. */
static void assert_rejected(const char *body, bool allow_local, const char *code,
                            const char *needle)
{
        struct parsed p = parse(body, allow_local);

        if (p.ret == 0)
                fail_msg("accepted: %s", body);
        assert_int_equal(p.ret, -AD_ERR_INVALID);
        assert_null(p.req);
        assert_string_equal(p.code, code);
        if (strstr(ad_error_message(p.err), needle) == NULL)
                fail_msg("message `%s` lacks `%s`", ad_error_message(p.err), needle);
        parsed_free(&p);
}

/* The env fingerprint of body under key (hex). */
static void digest_of(const char *body, const struct ad_secret_key *key,
                      char out[API_ENV_DIGEST_LEN + 1])
{
        struct parsed p = parse(body, false);

        assert_int_equal(p.ret, 0);
        assert_int_equal(api_deploy_request_env_digest(p.req, key, out, NULL), 0);
        parsed_free(&p);
}

static void test_env_digest(void **state)
{
        struct ad_secret_key k1, k2;
        char a[API_ENV_DIGEST_LEN + 1], b[API_ENV_DIGEST_LEN + 1];

        (void)state;
        memset(&k1, 1, sizeof(k1));
        memset(&k2, 2, sizeof(k2));
        digest_of("{\"repo_url\": \"https://x.test/a.git\"}", &k1, a);
        assert_string_equal(a, ""); /* no env */
        digest_of("{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1\", \"B\": \"2\"}}",
                  &k1, a);
        assert_int_equal(strlen(a), API_ENV_DIGEST_LEN);
        /* The order of the variables does not matter... */
        digest_of("{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"B\": \"2\", \"A\": \"1\"}}",
                  &k1, b);
        assert_string_equal(a, b);
        /* ...a value, a name's boundary and the key do. */
        digest_of("{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1\", \"B\": \"3\"}}",
                  &k1, b);
        assert_string_not_equal(a, b);
        digest_of(
                "{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1B\", \"C\": \"2\"}}",
                &k1, b);
        assert_string_not_equal(a, b);
        digest_of("{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1\", \"B\": \"2\"}}",
                  &k2, b);
        assert_string_not_equal(a, b);
}

/* Recorded fingerprints stay comparable: under an old key of the ring
 * (recorded before a rotation), and the HMAC under the configured key
 * itself (rows recorded before the fingerprint key was derived). */
static void test_env_digest_same(void **state)
{
        static const char *const body =
                "{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1\", \"B\": \"2\"}}";
        struct ad_secret_keyring ring, other;
        struct parsed p = parse(body, false), q;
        char d[API_ENV_DIGEST_LEN + 1], legacy[API_ENV_DIGEST_LEN + 1];
        const char *data = "A\0"
                           "1\0"
                           "B\0"
                           "2"; /* and its NUL: 8 bytes */
        unsigned char mac[32];
        unsigned int mac_len = 0;
        bool same = true;

        (void)state;
        assert_int_equal(p.ret, 0);
        assert_int_equal(
                ad_secret_keyring_parse(
                        &ring, "2222222222222222222222222222222222222222222222222222222222222222",
                        "1111111111111111111111111111111111111111111111111111111111111111", NULL),
                0);
        assert_int_equal(ad_secret_keyring_parse(
                                 &other,
                                 "3333333333333333333333333333333333333333333333333333333333333333",
                                 NULL, NULL),
                         0);
        /* The fingerprint key is derived: not an HMAC under the key itself. */
        assert_non_null(HMAC(EVP_sha256(), ring.keys[1].bytes, 32, (const unsigned char *)data, 8,
                             mac, &mac_len));
        for (unsigned i = 0; i < mac_len; i++)
                snprintf(legacy + 2 * i, 3, "%02x", mac[i]);
        assert_int_equal(api_deploy_request_env_digest(p.req, &ring.keys[1], d, NULL), 0);
        assert_string_not_equal(d, legacy);
        /* Under the old key, and the legacy form: same. */
        assert_int_equal(api_deploy_request_env_same(p.req, &ring, d, &same, NULL), 0);
        assert_true(same);
        same = false;
        assert_int_equal(api_deploy_request_env_same(p.req, &ring, legacy, &same, NULL), 0);
        assert_true(same);
        /* A key the ring lacks, another env, no env: not the same. */
        assert_int_equal(api_deploy_request_env_same(p.req, &other, d, &same, NULL), 0);
        assert_false(same);
        assert_int_equal(api_deploy_request_env_same(p.req, &other, legacy, &same, NULL), 0);
        assert_false(same);
        assert_int_equal(api_deploy_request_env_same(p.req, &ring, "", &same, NULL), 0);
        assert_false(same);
        q = parse("{\"repo_url\": \"https://x.test/a.git\", \"env\": {\"A\": \"1\", \"B\": \"3\"}}",
                  false);
        assert_int_equal(api_deploy_request_env_same(q.req, &ring, d, &same, NULL), 0);
        assert_false(same);
        parsed_free(&q);
        q = parse("{\"repo_url\": \"https://x.test/a.git\"}", false);
        assert_int_equal(api_deploy_request_env_same(q.req, &ring, "", &same, NULL), 0);
        assert_true(same);
        assert_int_equal(api_deploy_request_env_same(q.req, &ring, d, &same, NULL), 0);
        assert_false(same);
        parsed_free(&q);
        parsed_free(&p);
}

static void test_tokens(void **state)
{
        /* sha256("s3cret") and sha256("other") */
        const char *spec =
                " ci-bot:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0 ,"
                "deploy.team_1:D9298A10D1B0735837DC4BD85DAC641B0F3CEF27A47E5D53A54F2F3F5B2FCFFA";
        struct api_tokens t;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(api_tokens_parse(&t, spec, &err), 0);
        assert_int_equal(t.n, 2);
        assert_string_equal(t.tokens[0].name, "ci-bot");
        assert_string_equal(t.tokens[1].name, "deploy.team_1");
        assert_string_equal(api_tokens_match(&t, "Bearer s3cret"), "ci-bot");
        assert_string_equal(api_tokens_match(&t, "bearer other"), "deploy.team_1");
        assert_null(api_tokens_match(&t, "Bearer s3cret2"));
        assert_null(api_tokens_match(&t, "Bearer "));
        assert_null(api_tokens_match(&t, "Basic s3cret"));
        assert_null(api_tokens_match(&t, "s3cret"));
        assert_null(api_tokens_match(&t, NULL));
        assert_int_equal(api_tokens_parse(&t, "", &err), 0);
        assert_int_equal(t.n, 0);
        assert_null(api_tokens_match(&t, "Bearer s3cret"));

        assert_int_equal(api_tokens_parse(&t, "ci-bot", &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "entry 1"));
        ad_error_release(&err);
        assert_int_equal(
                api_tokens_parse(
                        &t, "a b:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0",
                        &err),
                -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(
                api_tokens_parse(
                        &t, "ci:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcbaz",
                        &err),
                -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "not hex"));
        ad_error_release(&err);
}

static void test_minimal_body(void **state)
{
        struct parsed p = parse("{\"repo_url\": \"https://github.com/acme/Web_Shop.git\"}", false);

        (void)state;
        assert_int_equal(p.ret, 0);
        assert_string_equal(p.req->repo_url, "https://github.com/acme/Web_Shop.git");
        assert_string_equal(p.req->ref, "");
        /* The default name comes from the repository's name. */
        assert_string_equal(p.req->app, "web-shop");
        assert_true(p.req->app_from_url);
        assert_int_equal(p.req->n_env, 0);
        parsed_free(&p);
}

static void test_full_body(void **state)
{
        struct parsed p = parse("{\"repo_url\": \"https://example.com/a/b\", \"ref\": \"v1.2.0\","
                                " \"name\": \"shop\", \"env\": {\"DATABASE_URL\": \"postgres://x\","
                                " \"PORT\": 3000, \"DEBUG\": true, \"_X1\": \"\"}}",
                                false);

        (void)state;
        assert_int_equal(p.ret, 0);
        assert_string_equal(p.req->ref, "v1.2.0");
        assert_string_equal(p.req->app, "shop");
        assert_false(p.req->app_from_url);
        assert_int_equal(p.req->n_env, 4);
        for (size_t i = 0; i < p.req->n_env; i++) {
                const char *n = p.req->env[i].name, *v = p.req->env[i].value;

                if (strcmp(n, "DATABASE_URL") == 0)
                        assert_string_equal(v, "postgres://x");
                else if (strcmp(n, "PORT") == 0)
                        assert_string_equal(v, "3000");
                else if (strcmp(n, "DEBUG") == 0)
                        assert_string_equal(v, "true");
                else if (strcmp(n, "_X1") == 0)
                        assert_string_equal(v, "");
                else
                        fail_msg("unexpected env %s", n);
        }
        parsed_free(&p);
}

static void test_nulls_mean_absent(void **state)
{
        struct parsed p = parse("{\"repo_url\": \"git://example.com/x/app.git\", \"ref\": null,"
                                " \"name\": null, \"env\": null}",
                                false);

        (void)state;
        assert_int_equal(p.ret, 0);
        assert_string_equal(p.req->app, "app");
        assert_string_equal(p.req->ref, "");
        parsed_free(&p);
}

static void test_malformed_json_says_where(void **state)
{
        (void)state;
        assert_rejected("{\"repo_url\": \"https://x/y\",\n  \"ref\": ]}", false, "invalid_json",
                        "line 2, column");
        assert_rejected("{\"repo_url\": \"https://x/y\"", false, "invalid_json", "malformed JSON");
        assert_rejected("", false, "invalid_json", "empty");
        assert_rejected("{} trailing", false, "invalid_json", "malformed JSON");
        /* A NUL inside a string is refused by the JSON decoder. */
        assert_rejected("{\"repo_url\": \"https://x/y\\u0000z\"}", false, "invalid_json",
                        "malformed JSON");
        /* Duplicate keys are ambiguous. */
        assert_rejected("{\"repo_url\": \"https://x/a\", \"repo_url\": \"https://x/b\"}", false,
                        "invalid_json", "duplicate");
        assert_rejected("{\"repo_url\": \"https://x/a\", \"env\": {\"A\": \"1\", \"A\": \"2\"}}",
                        false, "invalid_json", "duplicate");
}

static void test_wrong_shapes(void **state)
{
        (void)state;
        assert_rejected("[\"https://x/y\"]", false, "invalid_body", "JSON object");
        assert_rejected("\"https://x/y\"", false, "invalid_body", "JSON object");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"branch\": \"main\"}", false,
                        "invalid_body", "unknown field \"branch\"");
        assert_rejected("{\"ref\": \"main\"}", false, "invalid_repo_url", "required");
        assert_rejected("{\"repo_url\": 42}", false, "invalid_repo_url", "string");
        assert_rejected("{\"repo_url\": \"\"}", false, "invalid_repo_url", "empty");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"ref\": 1}", false, "invalid_ref",
                        "string");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"name\": 1}", false, "invalid_name",
                        "string");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": [\"A=1\"]}", false, "invalid_env",
                        "object");
}

static void test_repo_url_schemes(void **state)
{
        struct parsed p;

        (void)state;
        assert_rejected("{\"repo_url\": \"ftp://example.com/x.git\"}", false, "invalid_repo_url",
                        "ftp");
        assert_rejected("{\"repo_url\": \"ssh://git@example.com/x.git\"}", false,
                        "invalid_repo_url", "ssh");
        assert_rejected("{\"repo_url\": \"file:///srv/git/app\"}", false, "invalid_repo_url",
                        "not allowed");
        assert_rejected("{\"repo_url\": \"/srv/git/app\"}", false, "invalid_repo_url",
                        "not allowed");
        assert_rejected("{\"repo_url\": \"https://x/y\\nz\"}", false, "invalid_repo_url",
                        "control");
        /* Local sources when the server allows them (tests, the demo). */
        p = parse("{\"repo_url\": \"file:///srv/git/my-app\"}", true);
        assert_int_equal(p.ret, 0);
        assert_string_equal(p.req->app, "my-app");
        parsed_free(&p);
        p = parse("{\"repo_url\": \"/srv/git/other.git\"}", true);
        assert_int_equal(p.ret, 0);
        assert_string_equal(p.req->app, "other");
        parsed_free(&p);
}

static void test_names_and_refs(void **state)
{
        (void)state;
        assert_rejected("{\"repo_url\": \"https://x/y\", \"name\": \"Shop\"}", false,
                        "invalid_name", "a-z");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"name\": \"-shop\"}", false,
                        "invalid_name", "a-z");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"name\": \"\"}", false, "invalid_name",
                        "a-z");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"name\": "
                        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                        false, "invalid_name", "40");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"ref\": \"--upload-pack=evil\"}", false,
                        "invalid_ref", "'-'");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"ref\": \"a..b\"}", false, "invalid_ref",
                        "branch");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"ref\": \"has space\"}", false,
                        "invalid_ref", "branch");

        assert_true(api_ref_valid("main"));
        assert_true(api_ref_valid("feature/login-v2"));
        assert_true(api_ref_valid("0123456789abcdef0123456789abcdef01234567"));
        assert_true(api_ref_valid("v1.0.0"));
        assert_false(api_ref_valid(""));
        assert_false(api_ref_valid("x~1"));
        assert_false(api_ref_valid("a:b"));
        assert_false(api_ref_valid("heads/"));
        assert_false(api_ref_valid("x@{1}"));
        assert_false(api_ref_valid("tab\there"));
}

static void test_env_rules(void **state)
{
        char *big, *many;
        size_t off = 0;

        (void)state;
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": {\"1A\": \"v\"}}", false,
                        "invalid_env", "`1A`");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": {\"A-B\": \"v\"}}", false,
                        "invalid_env", "`A-B`");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": {\"\": \"v\"}}", false,
                        "invalid_env", "invalid");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": {\"A\": {\"b\": 1}}}", false,
                        "invalid_env", "string");
        assert_rejected("{\"repo_url\": \"https://x/y\", \"env\": {\"A\": 1.5}}", false,
                        "invalid_env", "string");

        /* A value over 32 KiB; the message gives the size, never the value. */
        big = malloc(AD_ENV_VALUE_MAX + 128);
        off = (size_t)sprintf(big, "{\"repo_url\": \"https://x/y\", \"env\": {\"BIG\": \"");
        memset(big + off, 's', AD_ENV_VALUE_MAX + 1);
        strcpy(big + off + AD_ENV_VALUE_MAX + 1, "\"}}");
        assert_rejected(big, false, "invalid_env", "the limit is 32768");
        {
                struct parsed p = parse(big, false);
                assert_null(strstr(ad_error_message(p.err), "sss"));
                parsed_free(&p);
        }
        free(big);

        /* 101 variables. */
        many = malloc(64 * 1024);
        off = (size_t)sprintf(many, "{\"repo_url\": \"https://x/y\", \"env\": {");
        for (int i = 0; i <= AD_ENV_MAX_VARS; i++)
                off += (size_t)sprintf(many + off, "%s\"V%d\": \"x\"", i ? ", " : "", i);
        strcpy(many + off, "}}");
        assert_rejected(many, false, "invalid_env", "the limit is 100");
        free(many);

        assert_true(api_env_name_valid("A"));
        assert_true(api_env_name_valid("_private"));
        assert_true(api_env_name_valid("DATABASE_URL2"));
        assert_false(api_env_name_valid(""));
        assert_false(api_env_name_valid("2X"));
        assert_false(api_env_name_valid("A.B"));
        assert_false(api_env_name_valid("\xc3\xa9t\xc3\xa9"));
}

static void test_text_excerpt(void **state)
{
        char out[16];

        (void)state;
        api_text_excerpt(out, sizeof(out), "plain");
        assert_string_equal(out, "plain");
        /* Not ASCII, control characters: replaced, so JSON stays valid. */
        api_text_excerpt(out, sizeof(out), "caf\xc3\xa9\n\xff");
        assert_string_equal(out, "caf????");
        api_text_excerpt(out, sizeof(out), "0123456789abcdefghij");
        assert_string_equal(out, "0123456789ab...");
        api_text_excerpt(out, sizeof(out), NULL);
        assert_string_equal(out, "");
}

static void test_content_type(void **state)
{
        (void)state;
        assert_true(api_content_type_is_json("application/json"));
        assert_true(api_content_type_is_json("Application/JSON; charset=utf-8"));
        assert_true(api_content_type_is_json("application/vnd.appdeployer+json"));
        assert_false(api_content_type_is_json(NULL));
        assert_false(api_content_type_is_json(""));
        assert_false(api_content_type_is_json("text/plain"));
        assert_false(api_content_type_is_json("application/x-www-form-urlencoded"));
        assert_false(api_content_type_is_json("application/jsonx"));
}

static void test_idempotency_key(void **state)
{
        ad_error_t err = NULL;
        char longkey[300];

        (void)state;
        assert_int_equal(api_idempotency_key_check("a1b2-c3", &err), 0);
        assert_int_equal(api_idempotency_key_check("", &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(api_idempotency_key_check("bad\x01key", &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        memset(longkey, 'k', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        assert_int_equal(api_idempotency_key_check(longkey, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
}

static void test_cursor_round_trip(void **state)
{
        struct api_cursor in = { 1795731991489149LL, "b6294b6e-d1aa-48a1-b936-b1b399001297" };
        struct api_cursor out = { 0 };
        ad_error_t err = NULL;
        char *text = api_cursor_encode(&in);

        (void)state;
        assert_non_null(text);
        /* URL-safe as is. */
        assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"),
                         strlen(text));
        assert_int_equal(api_cursor_decode(&out, text, &err), 0);
        assert_int_equal(out.created_us, in.created_us);
        assert_string_equal(out.id, in.id);
        free(text);

        assert_int_equal(api_cursor_decode(&out, "", &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(api_cursor_decode(&out, "bad cursor", &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        /* base64url of "v1:12:not-a-uuid" */
        assert_int_equal(api_cursor_decode(&out, "djE6MTI6bm90LWEtdXVpZA", &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "next_cursor"));
        ad_error_release(&err);
        /* base64url of "v2:1:..." */
        assert_int_equal(
                api_cursor_decode(&out, "djI6MTpiNjI5NGI2ZS1kMWFhLTQ4YTEtYjkzNi1iMWIzOTkwMDEyOTc",
                                  &err),
                -AD_ERR_INVALID);
        ad_error_release(&err);
}

static void test_limit(void **state)
{
        ad_error_t err = NULL;
        long v = 0;

        (void)state;
        assert_int_equal(api_limit_parse(NULL, 20, 100, &v, &err), 0);
        assert_int_equal(v, 20);
        assert_int_equal(api_limit_parse("5", 20, 100, &v, &err), 0);
        assert_int_equal(v, 5);
        assert_int_equal(api_limit_parse("1000", 20, 100, &v, &err), 0);
        assert_int_equal(v, 100);
        assert_int_equal(api_limit_parse("99999999999999999999999", 20, 100, &v, &err), 0);
        assert_int_equal(v, 100);
        assert_int_equal(api_limit_parse("0", 20, 100, &v, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(api_limit_parse("-3", 20, 100, &v, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(api_limit_parse("ten", 20, 100, &v, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        assert_int_equal(api_limit_parse("5x", 20, 100, &v, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
}

/* RFC 6455's handshake example, and client frames: masked ping read,
 * unmasked refused, a half frame asks for more. */
static void test_websocket(void **state)
{
        static const unsigned char ping[] = { 0x89, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
        static const unsigned char unmasked[] = { 0x89, 0x02, 'h', 'i' };
        static struct api_ws_frame f;
        unsigned char hdr[10];
        char accept[29];

        (void)state;
        assert_true(api_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", accept));
        assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_false(api_ws_accept("short", accept));
        assert_false(api_ws_accept(NULL, accept));
        assert_int_equal(api_ws_parse(ping, sizeof(ping), &f), (long)sizeof(ping));
        assert_int_equal(f.op, API_WS_OP_PING);
        assert_int_equal(f.len, 2);
        assert_memory_equal(f.payload, "hi", 2);
        assert_int_equal(api_ws_parse(ping, 5, &f), 0);
        assert_int_equal(api_ws_parse(unmasked, sizeof(unmasked), &f), -1);
        assert_int_equal(api_ws_header(hdr, API_WS_OP_TEXT, 300), 4);
        assert_int_equal(hdr[0], 0x81);
        assert_int_equal(hdr[1], 126);
        assert_int_equal(hdr[2] << 8 | hdr[3], 300);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal_body),
                cmocka_unit_test(test_env_digest),
                cmocka_unit_test(test_env_digest_same),
                cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_full_body),
                cmocka_unit_test(test_nulls_mean_absent),
                cmocka_unit_test(test_malformed_json_says_where),
                cmocka_unit_test(test_wrong_shapes),
                cmocka_unit_test(test_repo_url_schemes),
                cmocka_unit_test(test_names_and_refs),
                cmocka_unit_test(test_env_rules),
                cmocka_unit_test(test_text_excerpt),
                cmocka_unit_test(test_content_type),
                cmocka_unit_test(test_idempotency_key),
                cmocka_unit_test(test_cursor_round_trip),
                cmocka_unit_test(test_limit),
                cmocka_unit_test(test_websocket),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
