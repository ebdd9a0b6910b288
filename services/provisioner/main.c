/* adprovisioner: deploy.built -> network + route -> deploy.provisioned,
 * and deploy.compensate.provision -> their removal. */
#include <stdlib.h>

#include "ad/cleanup.h"
#include "ad/log.h"
#include "ad/service.h"
#include "provision.h"

static const struct ad_config_key provisioner_config[] = {
        /* 10: about 2 minutes of retries (see builder.max_attempts). */
        { "provisioner.max_attempts", AD_CONFIG_INT, "10", 1, 1000,
          "deliveries before a retryable failure (engine, caddy away) fails the step", NULL },
        AD_CONFIG_END,
};
static const struct ad_config_key *const config[] = { ingress_config, provisioner_config, NULL };

static int setup(struct provisioner *p, struct ad_service *svc, long *max_attempts, ad_error_t *err)
{
        int ret;

        p->svc = svc;
        ret = ingress_load(&p->ingress, svc->cfg, err);
        if (ret == 0)
                ret = ad_config_get_int(svc->cfg, svc->tables, "provisioner.max_attempts",
                                        max_attempts, err);
        if (ret == 0)
                ret = ad_engine_open(&p->engine, p->ingress.engine_socket, err);
        if (ret == 0)
                ad_engine_on_repair(p->engine, ad_service_log_engine_repair, NULL);
        if (ret == 0)
                ret = ad_caddy_open(&p->caddy, p->ingress.caddy_admin_url, err);
        return ret;
}

int main(int argc, char **argv)
{
        struct ad_service svc;
        struct ad_service_options opts = {
                .needs_bus = true,
                .needs_db = true,
                .default_http_port = ad_service_default_port("provisioner"),
                .config = config,
        };
        struct provisioner p = { 0 };
        cleanup_error ad_error_t err = NULL;
        long max_attempts = 10;
        int ret;

        ret = ad_service_start(&svc, "provisioner", argc, argv, &opts);
        if (ret != 0)
                return ret < 0 ? AD_EXIT_OK : ret;
        if (setup(&p, &svc, &max_attempts, &err) < 0) {
                ad_log(AD_LOG_ERROR, "invalid configuration", "error", ad_error_message(err), NULL);
                ad_engine_close(p.engine);
                ad_service_stop(&svc);
                return AD_EXIT_CONFIG;
        }

        struct ad_step_def steps[] = {
                {
                        .consumer = "provisioner",
                        .step = "provision",
                        .subject = AD_SUBJECT_BUILT,
                        .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT,
                        .max_attempts = max_attempts,
                        .run = provision_run,
                        .ud = &p,
                },
                {
                        .consumer = "provisioner-compensate",
                        .step = "provision",
                        .payload = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE,
                        .compensation = true,
                        .max_attempts = max_attempts,
                        .run = provision_undo,
                        .ud = &p,
                },
        };

        ret = ad_step_serve(&svc, steps, AD_ARRAY_SIZE(steps));
        ad_log(AD_LOG_INFO, "stopping", "reason", "signal", NULL);
        ad_caddy_close(p.caddy);
        ad_engine_close(p.engine);
        ad_service_stop(&svc);
        ad_log(AD_LOG_INFO, "stopped", NULL);
        return ret;
}
