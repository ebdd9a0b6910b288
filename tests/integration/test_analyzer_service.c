/* adanalyzer on the real bus: deploy.requested for repositories served by
 * a real git daemon ends in deploy.analyzed (with the commit sha and the
 * analysis) or in deploy.failed with a reason a user can act on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/gitserver.h"
#include "../support/proc.h"
#include "../support/stack.h"
#include "ad/bus.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/limits.h"
#include "ad/secret.h"

static struct test_proc analyzer;
static struct test_gitserver git;
static ad_bus *bus;
static ad_bus_sub *analyzed_sub, *failed_sub;
static char durable_a[64], durable_f[64];

static ad_bus_sub *watch(char *durable, size_t n, const char *subject)
{
        char id[AD_UUID_LEN + 1];
        jsConsumerConfig cc;
        ad_bus_sub *sub = NULL;

        ad_uuid_v4(id);
        snprintf(durable, n, "test-an-%.8s", id);
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.FilterSubject = subject;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverNew;
        if (js_AddConsumer(NULL, ad_bus_js(bus), AD_STREAM_NAME, &cc, NULL, NULL) != NATS_OK ||
            ad_bus_bind(&sub, bus, durable, subject, NULL) < 0)
                return NULL;
        return sub;
}

/* The analyzer's secrets.key: it opens repository URL credentials. */
#define CRED_KEY "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677"
#define CRED_KEY_ENV "AD_SECRETS_KEY=" CRED_KEY

static int group_setup(void **state)
{
        /* The platform's quotas: the examples' estimates are within them. */
        static const char *const env[] = {
                "AD_ANALYZER_ALLOW_LOCAL_SOURCES=true", "AD_LIMITS_MAX_CPU_PER_DEPLOYMENT=1",
                "AD_LIMITS_MAX_MEMORY_PER_DEPLOYMENT=1024", "AD_LIMITS_MAX_REPLICAS=3",
                /* one entry, spelled in two literals */
                CRED_KEY_ENV, /* NOLINT(bugprone-suspicious-missing-comma) */
                NULL
        };
        /* One branch of go-stdlib per deployer.yaml: over each quota, and
         * at all of them. */
        static const char *const branches[][2] = {
                { "cpu-over", "resources: { cpu: \"2\" }\\n" },
                { "memory-over", "resources: { memory: 2Gi }\\n" },
                { "replicas-over", "replicas: 4\\n" },
                { "autoscale-over", "autoscaling: { min: 1, max: 5, cpu: 70 }\\n" },
                { "at-limits", "resources: { cpu: 1000m, memory: 1Gi }\\nreplicas: 3\\n" },
        };
        char src[512];

        (void)state;
        if (ad_bus_connect(&bus, stack_env("AD_NATS_URL"), "test_analyzer", NULL) < 0 ||
            ad_bus_ensure_stream(bus, 1, NULL) < 0)
                return -1;
        analyzed_sub = watch(durable_a, sizeof(durable_a), AD_SUBJECT_ANALYZED);
        failed_sub = watch(durable_f, sizeof(durable_f), AD_SUBJECT_FAILED);
        if (!analyzed_sub || !failed_sub || test_gitserver_start(&git) < 0)
                return -1;
        snprintf(src, sizeof(src), "%s/examples/node-express", AD_SOURCE_DIR);
        if (test_gitserver_add(&git, "node-express", src) != 0)
                return -1;
        snprintf(src, sizeof(src), "%s/examples/go-stdlib", AD_SOURCE_DIR);
        if (test_gitserver_add(&git, "go-stdlib", src) != 0)
                return -1;
        if (test_sh("cd %s/go-stdlib && git checkout -q -b feature && echo '// f' >> main.go && "
                    "printf 'replicas: 2\\n' > deployer.yaml && git add deployer.yaml && "
                    "git -c user.name=t -c user.email=t@l commit -qam feature && "
                    "git checkout -q main",
                    git.root) != 0)
                return -1;
        for (size_t i = 0; i < sizeof(branches) / sizeof(branches[0]); i++)
                if (test_sh("cd %s/go-stdlib && git checkout -q -b %s && printf '%s' > "
                            "deployer.yaml "
                            "&& git add deployer.yaml && "
                            "git -c user.name=t -c user.email=t@l commit -qm %s && "
                            "git checkout -q main",
                            git.root, branches[i][0], branches[i][1], branches[i][0]) != 0)
                        return -1;
        if (test_bus_reset() < 0 || test_proc_start(&analyzer, "adanalyzer", env) < 0) {
                test_proc_dump(&analyzer);
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        assert_int_equal(test_proc_stop(&analyzer), 0);
        ad_bus_sub_free(analyzed_sub);
        ad_bus_sub_free(failed_sub);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable_a, NULL, NULL);
        js_DeleteConsumer(ad_bus_js(bus), AD_STREAM_NAME, durable_f, NULL, NULL);
        ad_bus_close(bus);
        test_gitserver_stop(&git);
        return 0;
}

static void request(char dep[AD_UUID_LEN + 1], const char *url, const char *ref, const char *app,
                    char id_out[AD_UUID_LEN + 1])
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char id[AD_UUID_LEN + 1];
        ad_envelope env;
        ad_error_t err = NULL;

        ad_uuid_v4(dep);
        ad_event_init(&env, dep, "trace", 1, "test", id);
        rq.repo_url = (char *)url;
        rq.ref = (char *)(ref ? ref : "");
        rq.app_name = (char *)(app ? app : "");
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        if (ad_event_publish(bus, AD_SUBJECT_REQUESTED, &env, NULL, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
        if (id_out)
                memcpy(id_out, id, sizeof(id));
}

/* The next event for dep on sub within timeout_ms, or NULL. */
static ad_envelope *next_for(ad_bus_sub *sub, const char *dep, int64_t timeout_ms)
{
        int64_t deadline = ad_monotonic_ms() + timeout_ms;

        while (ad_monotonic_ms() < deadline) {
                struct ad_delivery d;
                ad_envelope *env = NULL;

                if (ad_bus_fetch(sub, &d, 500, NULL) != 1)
                        continue;
                ad_delivery_ack(&d, NULL);
                if (ad_event_unpack(&env, d.data, d.len, NULL) == 0 &&
                    strcmp(env->deployment_id, dep) == 0) {
                        ad_delivery_release(&d);
                        return env;
                }
                ad_event_free(env);
                ad_delivery_release(&d);
        }
        return NULL;
}

static void test_node_app_is_analyzed(void **state)
{
        char dep[AD_UUID_LEN + 1], url[128], req_id[AD_UUID_LEN + 1];
        ad_envelope *env;

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/node-express", git.port);
        request(dep, url, NULL, NULL, req_id);
        env = next_for(analyzed_sub, dep, 60000);
        if (env == NULL)
                test_proc_dump(&analyzer);
        assert_non_null(env);
        assert_string_equal(env->analyzed->language, "node");
        assert_string_equal(env->analyzed->app_name, "node-express");
        assert_int_equal(strlen(env->analyzed->git_sha), 40);
        assert_string_equal(env->analyzed->repo_url, url);
        assert_non_null(strstr(env->analyzed->analysis_json, "\"startCommand\""));
        assert_non_null(strstr(env->analyzed->why_json, "startCommand"));
        assert_true(env->analyzed->port > 0);
        assert_string_equal(env->trace_id, "trace");
        ad_event_free(env);
}

static void test_ref_is_checked_out(void **state)
{
        char dep[AD_UUID_LEN + 1], url[128], sha_main[41], sha_feature[41];
        ad_envelope *env;

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/go-stdlib", git.port);
        request(dep, url, "", "go-main", NULL);
        env = next_for(analyzed_sub, dep, 60000);
        assert_non_null(env);
        assert_string_equal(env->analyzed->language, "go");
        snprintf(sha_main, sizeof(sha_main), "%s", env->analyzed->git_sha);
        assert_int_equal(env->analyzed->resources->replicas, 1);
        ad_event_free(env);
        request(dep, url, "feature", "go-feature", NULL);
        env = next_for(analyzed_sub, dep, 60000);
        assert_non_null(env);
        snprintf(sha_feature, sizeof(sha_feature), "%s", env->analyzed->git_sha);
        assert_string_equal(env->analyzed->app_name, "go-feature");
        /* The branch's deployer.yaml asks for two containers. */
        assert_int_equal(env->analyzed->resources->replicas, 2);
        ad_event_free(env);
        assert_string_not_equal(sha_main, sha_feature);
}

static void expect_failure(const char *url, const char *ref, const char *app,
                           const char *reason_part)
{
        char dep[AD_UUID_LEN + 1];
        ad_envelope *env;

        request(dep, url, ref, app, NULL);
        env = next_for(failed_sub, dep, 60000);
        if (env == NULL)
                test_proc_dump(&analyzer);
        assert_non_null(env);
        assert_string_equal(env->failed->step, "analyze");
        if (strstr(env->failed->reason, reason_part) == NULL)
                fail_msg("reason `%s` does not mention `%s`", env->failed->reason, reason_part);
        ad_event_free(env);
}

static void test_missing_repo_fails_with_reason(void **state)
{
        char url[128];

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/no-such-repo", git.port);
        expect_failure(url, NULL, "missing", "not found");
}

static void test_missing_ref_fails_with_reason(void **state)
{
        char url[128];

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/node-express", git.port);
        expect_failure(url, "no-such-branch", NULL, "no-such-branch");
}

static void test_bad_inputs_fail_before_any_io(void **state)
{
        (void)state;
        expect_failure("ftp://example.com/x.git", NULL, NULL, "ftp");
        expect_failure("git://127.0.0.1:1/x", NULL, "Not_Valid", "app name");
}

/* Another system publishing deploy.requested straight onto the bus is held
 * to the contract's limits (ad/limits.h) as the API is: one variable too
 * many fails the deployment with the limit's words, before any clone. */
static void test_request_past_the_limits_fails(void **state)
{
        static Appdeployer__V1__EnvVar vars[AD_ENV_MAX_VARS + 1];
        static Appdeployer__V1__EnvVar *ptrs[AD_ENV_MAX_VARS + 1];
        static char names[AD_ENV_MAX_VARS + 1][16];
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1], id[AD_UUID_LEN + 1], url[128];
        ad_envelope env, *failed;
        ad_error_t err = NULL;

        (void)state;
        for (int i = 0; i <= AD_ENV_MAX_VARS; i++) {
                appdeployer__v1__env_var__init(&vars[i]);
                snprintf(names[i], sizeof(names[i]), "VAR_%d", i);
                vars[i].name = names[i];
                vars[i].value = (char *)"sealed";
                ptrs[i] = &vars[i];
        }
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/node-express", git.port);
        ad_uuid_v4(dep);
        ad_event_init(&env, dep, "trace", 1, "test", id);
        rq.repo_url = url;
        rq.n_env = AD_ENV_MAX_VARS + 1;
        rq.env = ptrs;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        if (ad_event_publish(bus, AD_SUBJECT_REQUESTED, &env, NULL, &err) < 0)
                fail_msg("publish: %s", ad_error_message(err));
        failed = next_for(failed_sub, dep, 60000);
        if (failed == NULL)
                test_proc_dump(&analyzer);
        assert_non_null(failed);
        assert_false(failed->failed->retryable);
        if (strstr(failed->failed->reason, "101 environment variables, the limit is 100") == NULL)
                fail_msg("reason `%s` does not name the limit", failed->failed->reason);
        ad_event_free(failed);
}

/* limits.max_cpu_per_deployment, limits.max_memory_per_deployment and
 * limits.max_replicas (1 core, 1024 MiB, 3 here): a deployer.yaml asking
 * more fails the analyze step with the limit's name and value, before any
 * build; one asking exactly as much is analyzed. */
static void test_quotas_refuse_what_is_over(void **state)
{
        char url[128], dep[AD_UUID_LEN + 1];
        ad_envelope *env;

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/go-stdlib", git.port);
        expect_failure(url, "cpu-over", "q-cpu",
                       "deployer.yaml asks for 2 cores per container; this platform allows 1 core "
                       "(limits.max_cpu_per_deployment)");
        expect_failure(url, "memory-over", "q-memory",
                       "deployer.yaml asks for 2048 MiB of memory per container; this platform "
                       "allows 1024 MiB (limits.max_memory_per_deployment)");
        expect_failure(url, "replicas-over", "q-replicas",
                       "deployer.yaml asks for 4 replicas; this platform allows 3 "
                       "(limits.max_replicas)");
        expect_failure(url, "autoscale-over", "q-autoscale",
                       "autoscaling.max asks for 5 replicas; this platform allows 3 "
                       "(limits.max_replicas)");
        request(dep, url, "at-limits", "q-at", NULL);
        env = next_for(analyzed_sub, dep, 60000);
        if (env == NULL)
                test_proc_dump(&analyzer);
        assert_non_null(env);
        assert_int_equal(env->analyzed->resources->replicas, 3);
        assert_int_equal(env->analyzed->resources->memory_mb, 1024);
        ad_event_free(env);
}

/* A repository URL whose credential the API sealed: the analyzer opens it
 * for the clone (git:// ignores the credential, so the clone succeeds
 * either way), and passes it on sealed; one sealed for another app does
 * not open, and the reason says so without quoting it. */
static void test_sealed_credential_is_opened(void **state)
{
        struct ad_secret_keyring ring;
        char url[160], dep[AD_UUID_LEN + 1];
        char *sealed = NULL;
        ad_envelope *env;

        (void)state;
        assert_int_equal(ad_secret_keyring_parse(&ring, CRED_KEY, NULL, NULL), 0);
        snprintf(url, sizeof(url), "git://alice:s3cret-tok3n@127.0.0.1:%d/node-express", git.port);
        assert_int_equal(ad_secret_url_seal(&sealed, &ring.keys[0], "cred-app", url, NULL), 0);
        request(dep, sealed, NULL, "cred-app", NULL);
        env = next_for(analyzed_sub, dep, 60000);
        if (env == NULL)
                test_proc_dump(&analyzer);
        assert_non_null(env);
        assert_string_equal(env->analyzed->repo_url, sealed);
        ad_event_free(env);
        request(dep, sealed, NULL, "other-app", NULL);
        env = next_for(failed_sub, dep, 60000);
        assert_non_null(env);
        if (strstr(env->failed->reason, "does not open") == NULL ||
            strstr(env->failed->reason, "s3cret-tok3n") || strstr(env->failed->reason, "sealed%3A"))
                fail_msg("reason: %s", env->failed->reason);
        ad_event_free(env);
        free(sealed);
}

static void test_redelivered_request_is_analyzed_once(void **state)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1], id[AD_UUID_LEN + 1], url[128], other[AD_UUID_LEN + 1];
        ad_envelope env, *got;
        uint8_t *buf = NULL;
        size_t len = 0;
        int count = 0;

        (void)state;
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/node-express", git.port);
        ad_uuid_v4(dep);
        ad_event_init(&env, dep, "t", 1, "test", id);
        rq.repo_url = url;
        rq.app_name = (char *)"twice";
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        assert_int_equal(ad_event_pack(&env, &buf, &len, NULL), 0);
        /* The same event under two message ids: the server cannot tell
         * them apart, only the analyzer's processed-events record can. */
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_REQUESTED, id, buf, len, NULL, NULL), 0);
        got = next_for(analyzed_sub, dep, 60000);
        assert_non_null(got);
        ad_event_free(got);
        ad_uuid_v4(other);
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_REQUESTED, other, buf, len, NULL, NULL), 0);
        free(buf);
        while ((got = next_for(analyzed_sub, dep, 5000)) != NULL) {
                count++;
                ad_event_free(got);
        }
        assert_int_equal(count, 0);
}

static void test_rolled_back_deployment_is_not_analyzed(void **state)
{
        Appdeployer__V1__DeployRequested rq = APPDEPLOYER__V1__DEPLOY_REQUESTED__INIT;
        char dep[AD_UUID_LEN + 1], id[AD_UUID_LEN + 1], url[128];
        const char *p[1] = { dep };
        ad_envelope env, *got;
        ad_db *db = NULL;

        (void)state;
        /* The coordinator rolled this deployment back (say, after a step
         * deadline): a late or redelivered request must not start work. */
        ad_uuid_v4(dep);
        assert_int_equal(ad_db_connect(&db, stack_env("AD_DATABASE_URL"), NULL), 0);
        assert_int_equal(ad_db_exec(db, NULL,
                                    "INSERT INTO deployments (id, app_name, repo_url, status) "
                                    "VALUES ($1, 'late', 'git://x/late', 'ROLLED_BACK')",
                                    1, p, NULL),
                         0);
        snprintf(url, sizeof(url), "git://127.0.0.1:%d/node-express", git.port);
        ad_event_init(&env, dep, "t", 1, "test", id);
        rq.repo_url = url;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED;
        env.requested = &rq;
        assert_int_equal(ad_event_publish(bus, AD_SUBJECT_REQUESTED, &env, NULL, NULL), 0);
        got = next_for(analyzed_sub, dep, 5000);
        assert_null(got);
        got = next_for(failed_sub, dep, 100);
        assert_null(got);
        ad_db_exec(db, NULL, "DELETE FROM deployments WHERE id = $1", 1, p, NULL);
        ad_db_close(db);
}

static void test_garbage_does_not_stop_it(void **state)
{
        char id[AD_UUID_LEN + 1];

        (void)state;
        ad_uuid_v4(id);
        assert_int_equal(ad_bus_publish(bus, AD_SUBJECT_REQUESTED, id, "junk", 4, NULL, NULL), 0);
        test_sleep_ms(1000);
        assert_int_equal(kill(analyzer.pid, 0), 0);
        /* And it still works. */
        test_node_app_is_analyzed(state);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_node_app_is_analyzed),
                cmocka_unit_test(test_ref_is_checked_out),
                cmocka_unit_test(test_missing_repo_fails_with_reason),
                cmocka_unit_test(test_missing_ref_fails_with_reason),
                cmocka_unit_test(test_bad_inputs_fail_before_any_io),
                cmocka_unit_test(test_request_past_the_limits_fails),
                cmocka_unit_test(test_quotas_refuse_what_is_over),
                cmocka_unit_test(test_sealed_credential_is_opened),
                cmocka_unit_test(test_redelivered_request_is_analyzed_once),
                cmocka_unit_test(test_rolled_back_deployment_is_not_analyzed),
                cmocka_unit_test(test_garbage_does_not_stop_it),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
