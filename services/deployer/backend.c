/* Which backend runs a deployment: the platform's (deployer.backend), or
 * the app's own choice in deployer.yaml (`backend: engine|kubernetes`) when
 * the operator allows it (deployer.app_backends).
 *
 * The choice is the app's, not one deployment's: a rollback or a config
 * release carries no analysis of its own and runs where the app's last
 * analysed deployment said, and a deployment that would move an app that
 * is served on one backend to the other is refused (the two would each
 * hold a live release and a route). */
#include <string.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "deploy.h"

static const char *backend_name(bool k8s)
{
        return k8s ? "kubernetes" : "engine";
}

/* The backend named by `b` (NULL or "": the platform's). */
static bool wants_k8s(const struct deployer *dp, const char *b)
{
        if (b == NULL || *b == '\0')
                return dp->k8s_default;
        return strcmp(b, "kubernetes") == 0;
}

/* The stored analysis of the deployment, or else of the app's newest
 * analysed deployment: *asked is its `backend` (NULL: none set),
 * *own whether the deployment has an analysis of its own. */
struct choice_row {
        bool own;
        const char *backend; /* NULL: none set */
};
static const struct ad_db_field choice_fields[] = {
        AD_DB_FIELD(struct choice_row, own, AD_DB_BOOL, "own"),
        AD_DB_FIELD(struct choice_row, backend, AD_DB_TEXT_NULL, "backend"),
        AD_DB_FIELDS_END,
};

static int stored_choice(struct deployer *dp, const char *deployment_id, char **asked, bool *own,
                         ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { deployment_id };
        struct choice_row row;
        int ret = ad_db_exec(dp->svc->db, &r,
                             "SELECT d.analysis IS NOT NULL AS own, "
                             "  CASE WHEN d.analysis IS NOT NULL THEN d.analysis->>'backend' "
                             "  ELSE (SELECT o.analysis->>'backend' FROM deployments o "
                             "        WHERE o.app_name = d.app_name AND o.analysis IS NOT NULL "
                             "        ORDER BY o.created_at DESC LIMIT 1) END AS backend "
                             "FROM deployments d WHERE d.id = $1::uuid",
                             1, p, err);

        *asked = NULL;
        *own = false;
        if (ret < 0 || PQntuples(r) == 0)
                return ret;
        if ((ret = ad_db_read_row(r, 0, choice_fields, &row, err)) < 0)
                return ret;
        *own = row.own;
        if (row.backend && (*asked = strdup(row.backend)) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        return 0;
}

/* The backend a deployment's analysis asks for: NULL when it sets none. */
struct backend_row {
        const char *backend;
};
static const struct ad_db_field backend_fields[] = {
        AD_DB_FIELD(struct backend_row, backend, AD_DB_TEXT_NULL, "backend"),
        AD_DB_FIELDS_END,
};

/* The backend the app is served on now (another deployment, EXPOSED or
 * SUPERSEDED with an analysis): *found false when none. */
static int served_on(struct deployer *dp, const char *deployment_id, bool *found, bool *k8s,
                     ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { deployment_id };
        struct backend_row row;
        int ret = ad_db_exec(dp->svc->db, &r,
                             "SELECT o.analysis->>'backend' AS backend FROM deployments d "
                             "JOIN deployments o ON o.app_name = d.app_name AND o.id <> d.id "
                             "WHERE d.id = $1::uuid AND o.analysis IS NOT NULL "
                             "AND o.status IN ('EXPOSED', 'SUPERSEDED') "
                             "ORDER BY o.created_at DESC LIMIT 1",
                             1, p, err);

        *found = false;
        if (ret < 0 || PQntuples(r) == 0)
                return ret;
        if ((ret = ad_db_read_row(r, 0, backend_fields, &row, err)) < 0)
                return ret;
        *found = true;
        *k8s = wants_k8s(dp, row.backend);
        return 0;
}

int deployer_backend(struct deployer *dp, struct ad_step_run *run, bool checked, bool *k8s,
                     ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        cleanup_free char *asked = NULL;
        bool own = false, found = false, before = false;
        char reason[400];
        int ret;

        ret = stored_choice(dp, dep, &asked, &own, err);
        if (ret < 0)
                return ret;
        *k8s = wants_k8s(dp, asked);
        if (!checked || asked == NULL || *asked == '\0')
                goto done;
        if (*k8s != dp->k8s_default && !dp->app_backends) {
                snprintf(reason, sizeof(reason),
                         "deployer.yaml asks for backend `%s`; this platform runs every app on %s "
                         "(the operator has not allowed a choice: deployer.app_backends): remove "
                         "`backend` from deployer.yaml",
                         asked, backend_name(dp->k8s_default));
                return ad_step_fail(run, false, reason, err) == 0 ? 1 : -1;
        }
        if (*k8s && dp->k8s == NULL) {
                snprintf(reason, sizeof(reason),
                         "deployer.yaml asks for backend `kubernetes`; this platform has no "
                         "Kubernetes cluster configured (kubernetes.*): remove `backend` from "
                         "deployer.yaml");
                return ad_step_fail(run, false, reason, err) == 0 ? 1 : -1;
        }
        if (own) {
                ret = served_on(dp, dep, &found, &before, err);
                if (ret < 0)
                        return ret;
                if (found && before != *k8s) {
                        snprintf(reason, sizeof(reason),
                                 "the app is served on %s and this deployment asks for %s: an "
                                 "app does not move between backends; delete the app "
                                 "(adctl rm APP) and deploy it again, or keep `backend: %s`",
                                 backend_name(before), backend_name(*k8s), backend_name(before));
                        return ad_step_fail(run, false, reason, err) == 0 ? 1 : -1;
                }
        }
done:
        ad_step_log_str(run, "backend", backend_name(*k8s));
        return 0;
}

int deployer_app_backend(struct deployer *dp, const char *app, bool *k8s, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        struct backend_row row = { .backend = NULL };
        int ret = ad_db_exec(dp->svc->db, &r,
                             "SELECT analysis->>'backend' AS backend FROM deployments "
                             "WHERE app_name = $1 AND analysis IS NOT NULL "
                             "ORDER BY created_at DESC LIMIT 1",
                             1, (const char *[]){ app }, err);

        if (ret == 0 && PQntuples(r) > 0)
                ret = ad_db_read_row(r, 0, backend_fields, &row, err);
        if (ret < 0)
                return ad_error_wrap(err, "the app's backend");
        *k8s = wants_k8s(dp, row.backend);
        if (*k8s && dp->k8s == NULL)
                return ad_error_make(err, AD_ERR_UNSUPPORTED, 0,
                                     "the app runs on kubernetes and this deployer has no "
                                     "cluster configured (kubernetes.*)");
        return 0;
}
