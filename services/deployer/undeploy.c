#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/names.h"
#include "deploy.h"

#define NAME_LEN 128

/* The newest live container of app from another deployment, published on
 * a host port: the release to fall back to.  Index into list or -1. */
static long fallback_release(const struct ad_container *list, size_t n, const char *deployment_id)
{
        for (size_t i = 0; i < n; i++) /* the list is newest first */
                if (strcmp(list[i].deployment, deployment_id) != 0 && ad_container_live(&list[i]) &&
                    list[i].host_port)
                        return (long)i;
        return -1;
}

/* If the app's route serves deployment_id, points it at the release to
 * fall back to, or at the placeholder when there is none. */
static int route_away(struct ad_step_run *run, struct deployer *dp, const char *app,
                      const char *deployment_id, ad_error_t *err)
{
        char route_id[INGRESS_ROUTE_ID_MAX], label[NAME_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        json_auto_t *handle = NULL;
        json_auto_t *handler = NULL;
        cleanup_error ad_error_t gerr = NULL;
        const char *serving;
        size_t n = 0;
        long fb;
        int ret;

        ad_name_route(route_id, sizeof(route_id), app);
        ret = ad_caddy_get(dp->caddy, route_id, "handle", &handle, &gerr);
        if (ret == -AD_ERR_NOT_FOUND)
                return 0;
        if (ret < 0) {
                if (err)
                        *err = TAKE_PTR(gerr);
                return ret;
        }
        serving = ad_caddy_route_deployment(handle);
        if (serving == NULL || strcmp(serving, deployment_id) != 0)
                return 0; /* it serves another release (or the placeholder) */

        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, app);
        ret = ad_engine_container_list(dp->engine, filters, true, &list, &n, err);
        if (ret < 0)
                return ret;
        fb = fallback_release(list, n, deployment_id);
        if (fb >= 0) {
                /* Every live replica of that release. */
                unsigned ports[DEPLOYER_REPLICAS_MAX];
                size_t np = 0;

                for (size_t i = 0; i < n && np < AD_ARRAY_SIZE(ports); i++)
                        if (strcmp(list[i].deployment, list[fb].deployment) == 0 &&
                            ad_container_live(&list[i]) && list[i].host_port)
                                ports[np++] = list[i].host_port;
                handler = release_handler(dp, ports, np, list[fb].deployment);
                ad_step_log_str(run, "route_back_to", list[fb].name);
        } else {
                handler = ingress_placeholder();
                ad_step_log_str(run, "route_back_to", "placeholder");
        }
        ad_container_list_free(list, n);
        if (handler == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return release_repoint(dp, route_id, handler, err);
}

int deploy_undo(struct ad_step_run *run, ad_error_t *err)
{
        struct deployer *dp = run->def->ud;
        const char *dep = run->in->deployment_id;
        Appdeployer__V1__Compensated done = APPDEPLOYER__V1__COMPENSATED__INIT;
        char label[NAME_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        json_t *removed = NULL;
        ad_envelope env;
        bool k8s = false;
        size_t n = 0;
        int ret;

        ret = deployer_backend(dp, run, false, &k8s, err);
        if (ret < 0)
                return ret;
        if (k8s && dp->k8s == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the deployment ran on kubernetes and this deployer has no "
                                     "cluster configured (kubernetes.*)");
        if (k8s)
                return k8s_deploy_undo(run, err);
        removed = json_array();
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_DEPLOYMENT, dep);
        ret = ad_engine_container_list(dp->engine, filters, true, &list, &n, err);
        if (ret < 0) {
                json_decref(removed);
                return ret;
        }
        /* The route first: the fallback serves before this release goes. */
        for (size_t i = 0; ret == 0 && i < n; i++)
                if (i == 0 || strcmp(list[i].app, list[i - 1].app) != 0)
                        if (ad_app_name_valid(list[i].app))
                                ret = route_away(run, dp, list[i].app, dep, err);
        for (size_t i = 0; ret == 0 && i < n; i++) {
                ret = release_remove(dp, list[i].id, err);
                if (ret == 0)
                        json_array_append_new(removed, json_string(list[i].name));
        }
        ad_container_list_free(list, n);
        json_object_set_new(run->fields, "removed", removed);
        if (ret < 0)
                return ret;

        done.step = (char *)"deploy";
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED;
        env.compensated = &done;
        return ad_step_publish(run, AD_SUBJECT_COMPENSATED ".deploy", &env, err);
}
