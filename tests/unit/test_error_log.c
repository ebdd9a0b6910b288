/* The error pattern and the JSON logger. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/cleanup.h"
#include "ad/error.h"
#include "ad/log.h"
#include "ad/redact.h"

static int fails_with_io(ad_error_t *err)
{
        return ad_error_make_errno(err, ENOENT, "open `%s`", "/x");
}

static void test_make_returns_negative_kind(void **state)
{
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(ad_error_make(&err, AD_ERR_INVALID, 0, "bad %d", 7), -AD_ERR_INVALID);
        assert_string_equal(ad_error_message(err), "bad 7");
        assert_int_equal(err->kind, AD_ERR_INVALID);
        ad_error_release(&err);
        assert_null(err);
}

static void test_errno_and_wrap(void **state)
{
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(fails_with_io(&err), -AD_ERR_IO);
        assert_int_equal(err->status, ENOENT);
        assert_int_equal(ad_error_wrap(&err, "loading %s", "config"), -AD_ERR_IO);
        assert_string_equal(ad_error_message(err),
                            "loading config: open `/x`: No such file or directory");
        ad_error_release(&err);
}

static void test_first_error_is_kept(void **state)
{
        ad_error_t err = NULL;

        (void)state;
        ad_error_make(&err, AD_ERR_TIMEOUT, 0, "first");
        ad_error_make(&err, AD_ERR_INVALID, 0, "second");
        assert_string_equal(ad_error_message(err), "first");
        assert_true(ad_error_is_retryable(err));
        ad_error_release(&err);
        /* A NULL err just drops the error. */
        assert_int_equal(ad_error_make(NULL, AD_ERR_INVALID, 0, "x"), -AD_ERR_INVALID);
        ad_error_release(NULL);
}

static void test_retryable_kinds(void **state)
{
        static const int retryable[] = { AD_ERR_UNAVAILABLE, AD_ERR_TIMEOUT, AD_ERR_CONFLICT };
        static const int final[] = { AD_ERR_INVALID, AD_ERR_NOT_FOUND, AD_ERR_TOO_LARGE,
                                     AD_ERR_GENERIC };

        (void)state;
        for (size_t i = 0; i < AD_ARRAY_SIZE(retryable); i++) {
                cleanup_error ad_error_t err = NULL;
                ad_error_make(&err, retryable[i], 0, "x");
                assert_true(ad_error_is_retryable(err));
        }
        for (size_t i = 0; i < AD_ARRAY_SIZE(final); i++) {
                cleanup_error ad_error_t err = NULL;
                ad_error_make(&err, final[i], 0, "x");
                assert_false(ad_error_is_retryable(err));
        }
}

static json_t *log_one(void (*emit)(void))
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_error_t jerr;
        json_t *line;

        ad_log_set_stream(f);
        emit();
        ad_log_set_stream(NULL);
        fclose(f);
        /* Exactly one line, newline-terminated. */
        assert_true(len > 0);
        assert_int_equal(buf[len - 1], '\n');
        assert_null(memchr(buf, '\n', len - 1));
        line = json_loads(buf, 0, &jerr);
        if (line == NULL)
                fail_msg("log line is not JSON: %s (%s)", buf, jerr.text);
        free(buf);
        return line;
}

static void emit_info(void)
{
        ad_log(AD_LOG_INFO, "build finished", "deployment_id", "d-1", "step", "build", NULL);
}

static void emit_secret(void)
{
        ad_log(AD_LOG_WARN, "connecting", "password", "hunter2", "database",
               "postgresql://app:s3cret@127.0.0.1:5432/db", "api_token", "tok", NULL);
}

static void emit_quoted(void)
{
        ad_log_json(AD_LOG_ERROR, "quote \" and\nnewline",
                    json_pack("{s:i,s:s}", "duration_ms", 42, "reason", "a\tb"));
}

static void test_log_line_shape(void **state)
{
        json_t *line;

        (void)state;
        ad_log_init("builder", AD_LOG_DEBUG);
        line = log_one(emit_info);
        assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
        assert_string_equal(json_string_value(json_object_get(line, "service")), "builder");
        assert_string_equal(json_string_value(json_object_get(line, "msg")), "build finished");
        assert_string_equal(json_string_value(json_object_get(line, "deployment_id")), "d-1");
        assert_non_null(json_object_get(line, "ts"));
        json_decref(line);

        line = log_one(emit_quoted);
        assert_string_equal(json_string_value(json_object_get(line, "msg")),
                            "quote \" and\nnewline");
        assert_int_equal(json_integer_value(json_object_get(line, "duration_ms")), 42);
        json_decref(line);
}

static void test_log_redacts_secrets(void **state)
{
        json_t *line;
        char *text;

        (void)state;
        ad_log_init("api", AD_LOG_DEBUG);
        line = log_one(emit_secret);
        text = json_dumps(line, 0);
        assert_null(strstr(text, "hunter2"));
        assert_null(strstr(text, "s3cret"));
        assert_null(strstr(text, "\"tok\""));
        assert_string_equal(json_string_value(json_object_get(line, "database")),
                            "postgresql://app:***@127.0.0.1:5432/db");
        free(text);
        /* Every server of a NATS list. */
        text = ad_redact_url("nats://a:pw1@127.0.0.1:1,nats://b:pw2@127.0.0.1:2,nats://h:3");
        assert_string_equal(text, "nats://a:***@127.0.0.1:1,nats://b:***@127.0.0.1:2,nats://h:3");
        free(text);
        json_decref(line);
}

static void test_log_level_filter(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        (void)state;
        ad_log_init("x", AD_LOG_WARN);
        ad_log_set_stream(f);
        ad_log(AD_LOG_INFO, "hidden", NULL);
        ad_log_set_stream(NULL);
        fclose(f);
        assert_int_equal(len, 0);
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_make_returns_negative_kind),
                cmocka_unit_test(test_errno_and_wrap),
                cmocka_unit_test(test_first_error_is_kept),
                cmocka_unit_test(test_retryable_kinds),
                cmocka_unit_test(test_log_line_shape),
                cmocka_unit_test(test_log_redacts_secrets),
                cmocka_unit_test(test_log_level_filter),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
