/* addeployer: deploy.provisioned -> a healthy container behind the app's
 * route -> deploy.exposed, and deploy.compensate.deploy -> its removal. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/service.h"
#include "deploy.h"

/* The ack deadline of deploy.provisioned, renewed every PING_MS while a
 * release is pulled, started and health-checked. */
#define ACK_WAIT_MS 60000
#define PING_MS 15000

static const struct ad_config_key *const config[] = { ingress_config, deployer_config, k8s_config,
                                                      ad_service_secrets_config, NULL };

int main(int argc, char **argv)
{
        struct ad_service svc;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("deployer"),
                .config = config,
        };
        struct deployer dp = { 0 };
        cleanup_error ad_error_t err = NULL;
        int ret;

        ret = ad_service_start(&svc, "deployer", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        if (deployer_load(&dp, &svc, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_engine_close(dp.engine);
                k8s_backend_free(dp.k8s);
                ad_service_stop(&svc);
                return AD_EXIT_CONFIG;
        }

        struct ad_step_def steps[] = {
                {
                        .consumer = "deployer",
                        .step = "deploy",
                        .subject = AD_SUBJECT_PROVISIONED,
                        .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED,
                        .ack_wait_ms = ACK_WAIT_MS,
                        .max_attempts = dp.max_attempts,
                        .ping_ms = PING_MS,
                        .run = deploy_run,
                        .ud = &dp,
                },
                {
                        .consumer = "deployer-compensate",
                        .step = "deploy",
                        .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE,
                        .compensation = true,
                        .ack_wait_ms = ACK_WAIT_MS,
                        .max_attempts = dp.max_attempts,
                        .ping_ms = PING_MS,
                        .run = deploy_undo,
                        .ud = &dp,
                },
        };

        /* One-off commands (run.c): requests on app.run.<app>, one
         * deployer of the group answers each. */
        ad_bus_sub *runs = NULL;

        if (ad_bus_serve(&runs, svc.bus, AD_SUBJECT_RUN_ALL, "deployer", run_serve, &dp, &err) <
            0) {
                ad_log(AD_LOG_ERROR, "cannot serve one-off commands", "error",
                       ad_error_message(err), NULL);
                ad_error_release(&err);
        }
        /* Custom domains (domains.c): requests on app.domains.<app>, one
         * deployer of the group answers each. */
        ad_bus_sub *domains = NULL;

        if (ad_bus_serve(&domains, svc.bus, AD_SUBJECT_DOMAINS_ALL, "deployer", domains_serve, &dp,
                         &err) < 0) {
                ad_log(AD_LOG_ERROR, "cannot serve custom domains", "error", ad_error_message(err),
                       NULL);
                ad_error_release(&err);
        }
        /* Runtime logs (collect.c): every app container's log into app_logs. */
        struct collector *logs = NULL;

        if (collector_start(&logs, &dp, &err) < 0) {
                ad_log(AD_LOG_ERROR, "cannot collect runtime logs", "error", ad_error_message(err),
                       NULL);
                ad_error_release(&err);
        }
        /* What a deployer that died after EXPOSED left of old releases. */
        if (!dp.k8s_default || dp.app_backends)
                release_sweep(&dp);
        ret = ad_step_serve(&svc, steps, AD_ARRAY_SIZE(steps));
        collector_stop(logs);
        ad_bus_sub_free(runs);
        ad_bus_sub_free(domains);
        ad_log(AD_LOG_INFO, "stopping", "reason", "signal", NULL);
        explicit_bzero(&dp.keys, sizeof(dp.keys));
        ad_caddy_close(dp.caddy);
        ad_engine_close(dp.engine);
        k8s_backend_free(dp.k8s);
        ad_service_stop(&svc);
        curl_global_cleanup();
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
