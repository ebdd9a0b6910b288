/* adbuilder: see builder.h. */
#include "ad/cleanup.h"
#include "ad/event.h"
#include "ad/log.h"
#include "ad/service.h"
#include "builder.h"
#include "builder_registry.h"

static const struct ad_config_key *const config[] = { builder_config, ad_service_secrets_config,
                                                      NULL };

int main(int argc, char **argv)
{
        struct ad_service svc;
        struct builder b = { .svc = &svc };
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("builder"),
                .config = config,
        };
        cleanup_error ad_error_t err = NULL;
        int ret;

        ret = ad_service_start(&svc, "builder", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        if (builder_config_load(&b.cfg, svc.cfg, &err) < 0 ||
            ad_engine_open(&b.engine, b.cfg.engine_socket, &err) < 0 ||
            builder_registry_credentials(b.cfg.registry_username, b.cfg.registry_password, &err) <
                    0 ||
            (*b.cfg.registry_username &&
             ad_engine_set_registry_auth(b.engine, b.cfg.registry, b.cfg.registry_username,
                                         b.cfg.registry_password, &err) < 0)) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_service_stop(&svc);
                return AD_EXIT_CONFIG;
        }
        ad_engine_on_repair(b.engine, ad_service_log_engine_repair, NULL);

        {
                struct ad_step_def steps[] = {
                        {
                                .consumer = BUILDER_CONSUMER,
                                .step = BUILDER_STEP,
                                .subject = AD_SUBJECT_ANALYZED,
                                .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED,
                                .ack_wait_ms = BUILDER_ACK_WAIT_MS,
                                /* A delivery that keeps crashing the builder
                                 * stops being redelivered at some point;
                                 * normal failures end sooner (max_attempts,
                                 * then deploy.failed). */
                                .max_deliver = b.cfg.max_attempts + 3,
                                .max_attempts = b.cfg.max_attempts,
                                .ping_ms = BUILDER_PING_MS,
                                .run = builder_build_run,
                                .on_fail = builder_build_failed,
                                .ud = &b,
                        },
                        {
                                .consumer = BUILDER_COMPENSATE_CONSUMER,
                                .step = BUILDER_STEP,
                                .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE,
                                .compensation = true,
                                .ack_wait_ms = BUILDER_ACK_WAIT_MS,
                                .max_attempts = b.cfg.max_attempts,
                                .ping_ms = BUILDER_PING_MS,
                                .run = builder_compensate_run,
                                .ud = &b,
                        },
                };

                ret = ad_step_serve(&svc, steps, AD_ARRAY_SIZE(steps));
        }
        ad_log(AD_LOG_INFO, "stopping", "reason", "signal", NULL);
        ad_engine_close(b.engine);
        ad_service_stop(&svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
