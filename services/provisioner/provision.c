#include "provision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/names.h"

#define NAME_MAX_LEN 128

int provision_run(struct ad_step_run *run, ad_error_t *err)
{
        struct provisioner *p = run->def->ud;
        const Appdeployer__V1__DeployBuilt *b = run->in->built;
        Appdeployer__V1__DeployProvisioned out = APPDEPLOYER__V1__DEPLOY_PROVISIONED__INIT;
        char network[NAME_MAX_LEN], route_id[INGRESS_ROUTE_ID_MAX], host[INGRESS_HOST_MAX];
        char label_app[NAME_MAX_LEN], label_dep[NAME_MAX_LEN];
        const char *labels[] = { label_app, label_dep, NULL };
        cleanup_free char *url = NULL;
        json_auto_t *placeholder = NULL;
        bool net_created = false, route_created = false;
        ad_envelope env;
        int ret;

        ad_step_log_str(run, "app", b->app_name);
        if (!ad_app_name_valid(b->app_name)) {
                char reason[200];

                snprintf(reason, sizeof(reason),
                         "app name `%.60s` is not a DNS label ([a-z0-9-], 1..%d characters)",
                         b->app_name, AD_APP_NAME_MAX);
                return ad_step_fail(run, false, reason, err);
        }
        if (b->image == NULL || *b->image == '\0')
                return ad_step_fail(run, false, "deploy.built carries no image", err);

        ad_name_network(network, sizeof(network), b->app_name);
        snprintf(label_app, sizeof(label_app), "%s=%s", AD_LABEL_APP, b->app_name);
        snprintf(label_dep, sizeof(label_dep), "%s=%s", AD_LABEL_DEPLOYMENT,
                 run->in->deployment_id);
        ret = ad_engine_network_ensure(p->engine, network, labels, &net_created, err);
        if (ret < 0)
                return ret;

        /* A route that exists may be serving an older release: only a
         * missing one is created, showing the placeholder. */
        ad_name_route(route_id, sizeof(route_id), b->app_name);
        ingress_host(host, &p->ingress, b->app_name);
        placeholder = ingress_placeholder();
        if (placeholder == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = ingress_route_ensure(p->caddy, &p->ingress, route_id, host, p->ingress.tls,
                                   placeholder, &route_created, err);
        if (ret < 0)
                return ret;
        url = ingress_url(&p->ingress, host, p->ingress.tls);
        if (url == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");

        out.network = network;
        out.host_name = host;
        out.url = url;
        out.tls = p->ingress.tls;
        out.route_id = route_id;
        out.image = b->image;
        out.image_digest = b->digest;
        out.image_id = b->image_id;
        out.app_name = b->app_name;
        out.port = b->port;
        out.resources = b->resources;
        out.n_processes = b->n_processes;
        out.processes = b->processes;
        out.release_command = b->release_command;
        out.n_env = b->n_env;
        out.env = b->env;
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED;
        env.provisioned = &out;
        ret = ad_step_publish(run, AD_SUBJECT_PROVISIONED, &env, err);
        if (ret < 0)
                return ret;
        ad_step_log_str(run, "network", network);
        ad_step_log_str(run, "network_created", net_created ? "true" : "false");
        ad_step_log_str(run, "route_id", route_id);
        ad_step_log_str(run, "route_created", route_created ? "true" : "false");
        ad_step_log_str(run, "url", url);
        return 0;
}

/* The app of a deployment, from the coordinator's row or the API's
 * request. */
struct app_name_row {
        const char *app_name;
};
static const struct ad_db_field app_name_fields[] = {
        AD_DB_FIELD(struct app_name_row, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELDS_END,
};

static int app_from_db(struct ad_db *db, const char *deployment_id, char out[AD_APP_NAME_MAX + 1],
                       ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *params[] = { deployment_id };
        struct app_name_row row;
        int ret;

        ret = ad_db_exec(db, &r,
                         "SELECT app_name FROM deployments WHERE id = $1 "
                         "UNION ALL SELECT app_name FROM deployment_requests WHERE id = $1 "
                         "LIMIT 1",
                         1, params, err);
        if (ret < 0 || PQntuples(r) == 0)
                return ret;
        ret = ad_db_read_row(r, 0, app_name_fields, &row, err);
        if (ret < 0)
                return ret;
        if (ad_app_name_valid(row.app_name))
                snprintf(out, AD_APP_NAME_MAX + 1, "%s", row.app_name);
        return 0;
}

int provision_find_app(ad_engine *engine, struct ad_db *db, const char *deployment_id,
                       char out[AD_APP_NAME_MAX + 1], ad_error_t *err)
{
        char label[NAME_MAX_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        char **networks = NULL;
        size_t n = 0;
        int ret;

        out[0] = '\0';
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_DEPLOYMENT, deployment_id);
        ret = ad_engine_network_list(engine, filters, &networks, err);
        if (ret < 0)
                return ret;
        for (size_t i = 0; networks[i] && out[0] == '\0'; i++)
                if (strncmp(networks[i], "ad-", 3) == 0 && ad_app_name_valid(networks[i] + 3))
                        snprintf(out, AD_APP_NAME_MAX + 1, "%s", networks[i] + 3);
        ad_engine_strv_free(networks);
        if (out[0])
                return 0;
        ret = app_from_db(db, deployment_id, out, err);
        if (ret < 0 || out[0])
                return ret;
        ret = ad_engine_container_list(engine, filters, true, &list, &n, err);
        if (ret < 0)
                return ret;
        for (size_t i = 0; i < n && out[0] == '\0'; i++)
                if (ad_app_name_valid(list[i].app))
                        snprintf(out, AD_APP_NAME_MAX + 1, "%s", list[i].app);
        ad_container_list_free(list, n);
        return 0;
}

/* The name of a live container of app from another deployment, or NULL. */
static int other_live_release(ad_engine *engine, const char *app, const char *deployment_id,
                              char **name, ad_error_t *err)
{
        char label[NAME_MAX_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        size_t n = 0;
        int ret;

        *name = NULL;
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, app);
        ret = ad_engine_container_list(engine, filters, true, &list, &n, err);
        if (ret < 0)
                return ret;
        for (size_t i = 0; i < n && *name == NULL; i++)
                if (strcmp(list[i].deployment, deployment_id) != 0 && ad_container_live(&list[i]))
                        *name = strdup(list[i].name);
        ad_container_list_free(list, n);
        return 0;
}

int provision_undo(struct ad_step_run *run, ad_error_t *err)
{
        struct provisioner *p = run->def->ud;
        Appdeployer__V1__Compensated done = APPDEPLOYER__V1__COMPENSATED__INIT;
        char app[AD_APP_NAME_MAX + 1], network[NAME_MAX_LEN], route_id[INGRESS_ROUTE_ID_MAX];
        cleanup_free char *live = NULL;
        cleanup_error ad_error_t nerr = NULL;
        ad_envelope env;
        int ret;

        ret = provision_find_app(p->engine, p->svc->db, run->in->deployment_id, app, err);
        if (ret < 0)
                return ret;
        ad_step_log_str(run, "app", app);
        if (app[0] == '\0') {
                ad_step_log_str(run, "note",
                                "nothing is known of this deployment: nothing to undo");
                goto publish;
        }
        ret = other_live_release(p->engine, app, run->in->deployment_id, &live, err);
        if (ret < 0)
                return ret;
        if (live) {
                /* An older release still serves through them. */
                ad_step_log_str(run, "kept_for", live);
                goto publish;
        }
        ad_name_route(route_id, sizeof(route_id), app);
        ret = ingress_route_remove(p->caddy, route_id, err);
        if (ret < 0)
                return ret;
        ad_name_network(network, sizeof(network), app);
        ret = ad_engine_network_remove(p->engine, network, &nerr);
        if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                /* Containers still attached (this deployment's, before its
                 * own compensation ran): retried later. */
                if (err)
                        *err = TAKE_PTR(nerr);
                return ret;
        }
        ad_step_log_str(run, "removed", ret == 0 ? "route, network" : "route");

publish:
        done.step = (char *)"provision";
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED;
        env.compensated = &done;
        return ad_step_publish(run, AD_SUBJECT_COMPENSATED ".provision", &env, err);
}
