/* The bus needs credentials (scripts/stack.sh's users): against the
 * stack's real NATS server, a connection without them is refused, the
 * analyzer's user cannot publish deploy.exposed while the deployer's can,
 * the `external` user may publish deploy.requested and nothing else, and
 * a service's user has only the JetStream API calls it needs: none of
 * them may delete, purge or change the stream or another's consumer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "../support/stack.h"
#include "ad/bus.h"

/* url without its user:password@ parts. */
static void strip_credentials(char *out, size_t size, const char *url)
{
        size_t o = 0;

        for (const char *p = url; *p && o + 1 < size;) {
                const char *end = p + strcspn(p, ","), *at = memchr(p, '@', (size_t)(end - p));
                const char *scheme = strstr(p, "://");

                if (at && scheme && scheme < at) {
                        size_t n = (size_t)(scheme + 3 - p);
                        o += (size_t)snprintf(out + o, size - o, "%.*s", (int)n, p);
                        p = at + 1;
                }
                o += (size_t)snprintf(out + o, size - o, "%.*s", (int)(end - p), p);
                p = *end ? end + 1 : end;
                if (*end && o + 1 < size)
                        out[o++] = ',', out[o] = '\0';
        }
}

static natsConnection *connect_as(const char *var)
{
        natsConnection *nc = NULL;
        natsStatus s = natsConnection_ConnectTo(&nc, stack_env(var));

        if (s != NATS_OK)
                fail_msg("%s: cannot connect: %s", var, natsStatus_GetText(s));
        return nc;
}

/* Publishes and flushes (the server answers a refused publish with -ERR
 * before the PONG); the connection's last error tells. */
static natsStatus publish_status(natsConnection *nc, const char *subject)
{
        const char *text = NULL;

        assert_int_equal(natsConnection_PublishString(nc, subject, "not an event"), NATS_OK);
        assert_int_equal(natsConnection_Flush(nc), NATS_OK);
        return natsConnection_GetLastError(nc, &text);
}

static void test_no_credentials_refused(void **state)
{
        char url[1024];
        natsConnection *nc = NULL;
        natsStatus s;

        (void)state;
        strip_credentials(url, sizeof(url), stack_env("AD_NATS_URL"));
        assert_null(strchr(url, '@'));
        s = natsConnection_ConnectTo(&nc, url);
        if (s == NATS_OK)
                fail_msg("connected to %s without credentials", url);
        natsConnection_Destroy(nc);
        /* A wrong password neither. */
        {
                char bad[1100];
                snprintf(bad, sizeof(bad), "nats://analyzer:wrong@%s", strstr(url, "://") + 3);
                bad[strcspn(bad, ",")] = '\0';
                assert_int_not_equal(natsConnection_ConnectTo(&nc, bad), NATS_OK);
                natsConnection_Destroy(nc);
        }
}

static void test_analyzer_cannot_publish_exposed(void **state)
{
        natsConnection *nc;

        (void)state;
        nc = connect_as("AD_NATS_URL_ANALYZER");
        assert_int_equal(publish_status(nc, "deploy.exposed"), NATS_NOT_PERMITTED);
        natsConnection_Destroy(nc);
        /* Its own subject is fine (the same publish, so the refusal above is
         * the permission and not the publish itself). */
        nc = connect_as("AD_NATS_URL_ANALYZER");
        assert_int_equal(publish_status(nc, "deploy.analyzed"), NATS_OK);
        natsConnection_Destroy(nc);
        nc = connect_as("AD_NATS_URL_DEPLOYER");
        assert_int_equal(publish_status(nc, "deploy.exposed"), NATS_OK);
        natsConnection_Destroy(nc);
        /* Neither the coordinator nor the API may forge a step's result. */
        nc = connect_as("AD_NATS_URL_COORDINATOR");
        assert_int_equal(publish_status(nc, "deploy.exposed"), NATS_NOT_PERMITTED);
        natsConnection_Destroy(nc);
        nc = connect_as("AD_NATS_URL_API");
        assert_int_equal(publish_status(nc, "deploy.provisioned"), NATS_NOT_PERMITTED);
        natsConnection_Destroy(nc);
}

static void test_external_only_requests(void **state)
{
        natsConnection *nc;
        natsSubscription *sub = NULL;
        const char *text = NULL;

        (void)state;
        nc = connect_as("AD_NATS_URL_EXTERNAL");
        assert_int_equal(publish_status(nc, "deploy.requested"), NATS_OK);
        natsConnection_Destroy(nc);
        nc = connect_as("AD_NATS_URL_EXTERNAL");
        assert_int_equal(publish_status(nc, "deploy.destroy"), NATS_NOT_PERMITTED);
        natsConnection_Destroy(nc);
        nc = connect_as("AD_NATS_URL_EXTERNAL");
        assert_int_equal(publish_status(nc, "$JS.API.STREAM.DELETE.DEPLOY"), NATS_NOT_PERMITTED);
        natsConnection_Destroy(nc);
        /* Nor read the events. */
        nc = connect_as("AD_NATS_URL_EXTERNAL");
        assert_int_equal(natsConnection_SubscribeSync(&sub, nc, "deploy.>"), NATS_OK);
        assert_int_equal(natsConnection_Flush(nc), NATS_OK);
        assert_int_equal(natsConnection_GetLastError(nc, &text), NATS_NOT_PERMITTED);
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
}

/* Each service's user against the JetStream API: reading the stream's
 * info and its own consumer's next messages is allowed; deleting,
 * purging or changing the stream, deleting a consumer, or pulling another
 * service's consumer's messages is refused.  Then a real delete through
 * the JetStream client fails and the stream is still there. */
static void test_services_cannot_delete_stream(void **state)
{
        static const struct {
                const char *var, *own;
        } users[] = {
                { "AD_NATS_URL_API", NULL },
                { "AD_NATS_URL_COORDINATOR", "coordinator" },
                { "AD_NATS_URL_ANALYZER", "analyzer" },
                { "AD_NATS_URL_BUILDER", "builder" },
                { "AD_NATS_URL_PROVISIONER", "provisioner" },
                { "AD_NATS_URL_DEPLOYER", "deployer" },
        };
        static const char *const refused[] = {
                "$JS.API.STREAM.DELETE.DEPLOY",
                "$JS.API.STREAM.PURGE.DEPLOY",
                "$JS.API.STREAM.UPDATE.DEPLOY",
                "$JS.API.STREAM.MSG.DELETE.DEPLOY",
                "$JS.API.CONSUMER.DELETE.DEPLOY.coordinator",
                "$JS.API.CONSUMER.DELETE.DEPLOY.builder",
                "$JS.API.STREAM.CREATE.OTHER",
        };
        natsConnection *nc;
        jsCtx *js = NULL;
        jsOptions o;
        jsErrCode jerr = 0;
        jsStreamInfo *si = NULL;
        char subject[128];
        ad_bus *bus = NULL;

        (void)state;
        /* The stream exists (as the services make it). */
        assert_int_equal(ad_bus_connect(&bus, stack_env("AD_NATS_URL"), "test_nats_auth", NULL), 0);
        assert_int_equal(ad_bus_ensure_stream(bus, 1, NULL), 0);
        ad_bus_close(bus);
        for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
                for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                        nc = connect_as(users[u].var);
                        if (publish_status(nc, refused[i]) != NATS_NOT_PERMITTED)
                                fail_msg("%s may publish %s", users[u].var, refused[i]);
                        natsConnection_Destroy(nc);
                }
                /* Another service's consumer's messages. */
                nc = connect_as(users[u].var);
                snprintf(subject, sizeof(subject), "$JS.API.CONSUMER.MSG.NEXT.DEPLOY.%s",
                         users[u].own && strcmp(users[u].own, "deployer") == 0 ? "builder"
                                                                               : "deployer");
                if (publish_status(nc, subject) != NATS_NOT_PERMITTED)
                        fail_msg("%s may publish %s", users[u].var, subject);
                natsConnection_Destroy(nc);
                /* What it needs (so the refusals above are the permissions). */
                nc = connect_as(users[u].var);
                assert_int_equal(publish_status(nc, "$JS.API.STREAM.INFO.DEPLOY"), NATS_OK);
                natsConnection_Destroy(nc);
                if (users[u].own) {
                        nc = connect_as(users[u].var);
                        snprintf(subject, sizeof(subject), "$JS.API.CONSUMER.INFO.DEPLOY.%s",
                                 users[u].own);
                        assert_int_equal(publish_status(nc, subject), NATS_OK);
                        natsConnection_Destroy(nc);
                }
        }
        /* The JetStream client's own delete, as the analyzer. */
        nc = connect_as("AD_NATS_URL_ANALYZER");
        jsOptions_Init(&o);
        o.Wait = 2000;
        assert_int_equal(natsConnection_JetStream(&js, nc, &o), NATS_OK);
        assert_int_not_equal(js_DeleteStream(js, AD_STREAM_NAME, &o, &jerr), NATS_OK);
        /* ...and it may still read the stream's info. */
        jerr = 0;
        if (js_GetStreamInfo(&si, js, AD_STREAM_NAME, &o, &jerr) != NATS_OK)
                fail_msg("the analyzer cannot read the stream's info (jerr %d)", (int)jerr);
        jsStreamInfo_Destroy(si);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        /* The stream is still there, for the admin user too. */
        nc = connect_as("AD_NATS_URL");
        assert_int_equal(natsConnection_JetStream(&js, nc, &o), NATS_OK);
        si = NULL;
        assert_int_equal(js_GetStreamInfo(&si, js, AD_STREAM_NAME, &o, &jerr), NATS_OK);
        jsStreamInfo_Destroy(si);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_credentials_refused),
                cmocka_unit_test(test_analyzer_cannot_publish_exposed),
                cmocka_unit_test(test_external_only_requests),
                cmocka_unit_test(test_services_cannot_delete_stream),
        };
        int ret = cmocka_run_group_tests(tests, NULL, NULL);

        nats_Close();
        return ret;
}
