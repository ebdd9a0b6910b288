/* The event contract: protobuf round-trips and rejection of garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad/event.h"
#include "ad/limits.h"

#include "../support/proto_literals.h"

static const char *const dep = "0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b11";

static void test_requested_round_trip(void **state)
{
        Appdeployer__V1__DeployRequested req = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        Appdeployer__V1__EnvVar e1 = APPDEPLOYER__V1__ENV_VAR__INIT;
        Appdeployer__V1__EnvVar *envs[] = { &e1 };
        char id[AD_UUID_LEN + 1];
        ad_envelope env, *back = NULL;
        ad_error_t err = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        ad_event_init(&env, dep, "trace-1", 1, "api", id);
        e1.name = "GREETING";
        e1.value = "hi";
        req.repo_url = "https://example.com/acme/shop.git";
        req.ref = "main";
        req.app_name = "shop";
        req.n_env = 1;
        req.env = envs;
        req.requested_by = "alice";
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &req;

        assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
        assert_int_equal(ad_event_unpack(&back, buf, len, &err), 0);
        assert_string_equal(back->event_id, id);
        assert_string_equal(back->deployment_id, dep);
        assert_string_equal(back->trace_id, "trace-1");
        assert_int_equal(back->attempt, 1);
        assert_true(back->timestamp_ms > 1700000000000LL);
        assert_string_equal(ad_event_kind(back), AD_SUBJECT_REQUESTED);
        assert_string_equal(back->requested->repo_url, req.repo_url);
        assert_string_equal(back->requested->ref, "main");
        assert_string_equal(back->requested->app_name, "shop");
        assert_int_equal(back->requested->n_env, 1);
        assert_string_equal(back->requested->env[0]->name, "GREETING");
        assert_string_equal(back->requested->env[0]->value, "hi");
        assert_string_equal(back->requested->requested_by, "alice");
        ad_event_free(back);
        free(buf);
}

static void test_every_payload_round_trips(void **state)
{
        Appdeployer__V1__DeployAnalyzed an = APPDEPLOYER__V1__DEPLOY_ANALYZED__INIT;
        Appdeployer__V1__Resources res = APPDEPLOYER__V1__RESOURCES__INIT;
        Appdeployer__V1__DeployBuilt bu = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        Appdeployer__V1__DeployProvisioned pr = APPDEPLOYER__V1__DEPLOY_PROVISIONED__INIT;
        Appdeployer__V1__DeployExposed ex = APPDEPLOYER__V1__DEPLOY_EXPOSED__INIT;
        Appdeployer__V1__DeployFailed fa = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        Appdeployer__V1__Compensate co = APPDEPLOYER__V1__COMPENSATE__INIT;
        Appdeployer__V1__Compensated cd = APPDEPLOYER__V1__COMPENSATED__INIT;
        char *names[] = { "DATABASE_URL", "API_KEY" };
        char *tags[] = { "127.0.0.1:5000/shop:abc", "127.0.0.1:5000/shop:latest" };
        char id[AD_UUID_LEN + 1];
        ad_envelope env;

        (void)state;
        an.language = "node";
        an.framework = "express";
        an.start_command = "npm start";
        an.port = 3000;
        an.n_env_var_names = 2;
        an.env_var_names = names;
        res.cpu = 0.5;
        res.memory_mb = 512;
        an.resources = &res;
        an.git_sha = "abc";
        bu.image = tags[0];
        bu.digest = "sha256:00";
        bu.n_tags = 2;
        bu.tags = tags;
        bu.build_duration_ms = 1234;
        pr.network = "ad-shop";
        pr.host_name = "shop.localhost";
        pr.url = "http://shop.localhost:8080/";
        ex.url = pr.url;
        ex.ip = "127.0.0.1";
        ex.replicas = 1;
        ex.containers_started_ms = 1765000000100;
        ex.healthy_ms = 1765000000350;
        ex.route_switched_ms = 1765000000400;
        fa.step = "build";
        fa.reason = "npm ERR! missing script: start";
        fa.retryable = 1;
        co.step = "provision";
        cd.step = "provision";

        struct {
                int pcase;
                void *msg;
                const char *subject;
        } cases[] = {
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED, &an, AD_SUBJECT_ANALYZED },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT, &bu, AD_SUBJECT_BUILT },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED, &pr, AD_SUBJECT_PROVISIONED },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED, &ex, AD_SUBJECT_EXPOSED },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED, &fa, AD_SUBJECT_FAILED },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE, &co, AD_SUBJECT_COMPENSATE },
                { APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED, &cd, AD_SUBJECT_COMPENSATED },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ad_envelope *back = NULL;
                ad_error_t err = NULL;
                uint8_t *buf = NULL;
                size_t len = 0;

                ad_event_init(&env, dep, "t", 2, "test", id);
                env.step_started_ms = env.timestamp_ms - 7;
                env.payload_case = (Appdeployer__V1__Envelope__PayloadCase)cases[i].pcase;
                env.analyzed = cases[i].msg; /* the oneof shares storage */
                assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
                assert_int_equal(ad_event_unpack(&back, buf, len, &err), 0);
                assert_int_equal(back->payload_case, cases[i].pcase);
                assert_string_equal(ad_event_kind(back), cases[i].subject);
                assert_int_equal(back->attempt, 2);
                assert_int_equal(back->step_started_ms, env.timestamp_ms - 7);
                switch (back->payload_case) {
                case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED:
                        assert_string_equal(back->analyzed->language, "node");
                        assert_int_equal(back->analyzed->port, 3000);
                        assert_int_equal(back->analyzed->n_env_var_names, 2);
                        assert_string_equal(back->analyzed->env_var_names[1], "API_KEY");
                        assert_int_equal(back->analyzed->resources->memory_mb, 512);
                        break;
                case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT:
                        assert_int_equal(back->built->n_tags, 2);
                        assert_string_equal(back->built->tags[1], tags[1]);
                        assert_int_equal(back->built->build_duration_ms, 1234);
                        break;
                case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED:
                        assert_string_equal(back->provisioned->host_name, "shop.localhost");
                        break;
                case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED:
                        assert_string_equal(back->exposed->ip, "127.0.0.1");
                        assert_int_equal(back->exposed->containers_started_ms, 1765000000100);
                        assert_int_equal(back->exposed->healthy_ms, 1765000000350);
                        assert_int_equal(back->exposed->route_switched_ms, 1765000000400);
                        break;
                case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED:
                        assert_string_equal(back->failed->reason, fa.reason);
                        assert_true(back->failed->retryable);
                        break;
                default:
                        break;
                }
                ad_event_free(back);
                free(buf);
        }
}

static void expect_refused(const Appdeployer__V1__DeployRequested *rq, const char *words)
{
        ad_error_t err = NULL;

        assert_int_equal(ad_requested_check(rq, &err), -AD_ERR_INVALID);
        if (strstr(ad_error_message(err), words) == NULL)
                fail_msg("`%s` does not say `%s`", ad_error_message(err), words);
        ad_error_release(&err);
}

/* ad/limits.h, as a step applies it to an event from the bus. */
static void test_requested_limits(void **state)
{
        static char url[AD_REPO_URL_MAX + 2], ref[AD_REF_MAX + 2], name[AD_ENV_NAME_MAX + 2];
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        Appdeployer__V1__EnvVar var = APPDEPLOYER__V1__ENV_VAR__INIT, *vars[1] = { &var };

        (void)state;
        memset(url, 'u', AD_REPO_URL_MAX);
        memset(ref, 'r', AD_REF_MAX);
        memset(name, 'N', AD_ENV_NAME_MAX);
        rq.repo_url = url;
        rq.ref = ref;
        rq.n_env = 1;
        rq.env = vars;
        var.name = name;
        /* Exactly at every limit: accepted. */
        assert_int_equal(ad_requested_check(&rq, NULL), 0);
        url[AD_REPO_URL_MAX] = 'u';
        expect_refused(&rq, "longer than 2048 bytes");
        url[AD_REPO_URL_MAX] = '\0';
        ref[AD_REF_MAX] = 'r';
        expect_refused(&rq, "ref is longer than 255");
        ref[AD_REF_MAX] = '\0';
        name[AD_ENV_NAME_MAX] = 'N';
        expect_refused(&rq, "name of 256 bytes");
        var.name = (char *)"";
        expect_refused(&rq, "name of 0 bytes");
        rq.repo_url = (char *)"";
        expect_refused(&rq, "no repository URL");
}

static void test_garbage_is_rejected(void **state)
{
        static const uint8_t garbage[][8] = {
                { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
                { 0x0a, 0x50, 'x', 'y' }, /* length past the end */
        };
        Appdeployer__V1__Compensated cd = APPDEPLOYER__V1__COMPENSATED__INIT;
        char id[AD_UUID_LEN + 1];
        ad_envelope env, *back = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        ad_error_t err = NULL;

        (void)state;
        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
                assert_true(ad_event_unpack(&back, garbage[i], sizeof(garbage[i]), &err) < 0);
                assert_int_equal(err->kind, AD_ERR_INVALID);
                ad_error_release(&err);
        }
        /* Well-formed protobuf, but the deployment id is no UUID. */
        ad_event_init(&env, "not-a-uuid", NULL, 1, "t", id);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED;
        env.compensated = &cd;
        assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
        assert_true(ad_event_unpack(&back, buf, len, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "deployment_id"));
        ad_error_release(&err);
        free(buf);
        /* No payload. */
        ad_event_init(&env, dep, NULL, 1, "t", id);
        assert_int_equal(ad_event_pack(&env, &buf, &len, &err), 0);
        assert_true(ad_event_unpack(&back, buf, len, &err) < 0);
        assert_non_null(strstr(ad_error_message(err), "payload"));
        ad_error_release(&err);
        free(buf);
}

static void test_uuid(void **state)
{
        char a[AD_UUID_LEN + 1], b[AD_UUID_LEN + 1];

        (void)state;
        ad_uuid_v4(a);
        ad_uuid_v4(b);
        assert_true(ad_uuid_valid(a));
        assert_string_not_equal(a, b);
        assert_int_equal(a[14], '4');
        assert_false(ad_uuid_valid("0b7c4a52-6f7e-4e0e-9d55-3c1f0d0a9b1"));
        assert_false(ad_uuid_valid("0b7c4a52x6f7e-4e0e-9d55-3c1f0d0a9b11"));
        assert_false(ad_uuid_valid(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_requested_round_trip),
                cmocka_unit_test(test_every_payload_round_trips),
                cmocka_unit_test(test_requested_limits),
                cmocka_unit_test(test_garbage_is_rejected),
                cmocka_unit_test(test_uuid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
