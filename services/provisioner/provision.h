/* The provisioner's work: an app's network and ingress route before its
 * container exists (deploy.built -> deploy.provisioned), and their removal
 * when the saga compensates (deploy.compensate.provision). */
#ifndef AD_PROVISION_H
#define AD_PROVISION_H

#include "ad/caddy.h"
#include "ad/engine.h"
#include "ad/names.h"
#include "ad/service.h"
#include "ad/ingress.h"
#include "ad/step.h"

struct provisioner {
        struct ad_service *svc;
        struct ingress ingress;
        ad_engine *engine;
        ad_caddy *caddy;
};

/* step_def.run for deploy.built. */
int provision_run(struct ad_step_run *run, ad_error_t *err);

/* step_def.run for deploy.compensate.provision. */
int provision_undo(struct ad_step_run *run, ad_error_t *err);

/* The app a deployment belongs to, for events that do not name it (a
 * compensation): networks labelled with the deployment, then the
 * deployments and deployment_requests tables, then containers labelled
 * with it.  Leaves out[0] = '\0' when nothing knows. */
int provision_find_app(ad_engine *engine, struct ad_db *db, const char *deployment_id,
                       char out[AD_APP_NAME_MAX + 1], ad_error_t *err);

#endif
