/* deploy.compensate.build: undo a deployment's build.
 *
 * The images to delete are found from what is left of the build, without
 * any state of the builder's own:
 *  - the engine's images labelled app-deployer.deployment=<id>;
 *  - the coordinator's builds row (image, tags) and the deployment's app
 *    and git sha, when the coordinator recorded them.
 * A registry manifest is deleted only when its image carries this
 * deployment's label: an image another deployment built (reused here, or
 * :latest moved on since) is left alone.  Everything already gone counts
 * as done, so the compensation is idempotent; it is retried (NAK) for as
 * long as the registry or the engine does not answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/event.h"
#include "ad/log.h"
#include "ad/names.h"
#include "builder.h"
#include "builder_registry.h"

#define MAX_REFS 64

struct refs {
        char *v[MAX_REFS];
        size_t n;
};

static void refs_add(struct refs *r, const char *ref)
{
        if (ref == NULL || *ref == '\0' || r->n == MAX_REFS)
                return;
        for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->v[i], ref) == 0)
                        return;
        r->v[r->n] = strdup(ref);
        if (r->v[r->n])
                r->n++;
}

static void refs_clear(struct refs *r)
{
        for (size_t i = 0; i < r->n; i++)
                free(r->v[i]);
        r->n = 0;
}

/* A build of the deployment (its tags space-separated) and the
 * deployment's app and commit. */
struct build_row {
        const char *image, *tags;
};
static const struct ad_db_field build_fields[] = {
        AD_DB_FIELD(struct build_row, image, AD_DB_TEXT, "image"),
        AD_DB_FIELD(struct build_row, tags, AD_DB_TEXT, "tags"),
        AD_DB_FIELDS_END,
};
struct dep_row {
        const char *app_name, *git_sha;
};
static const struct ad_db_field dep_fields[] = {
        AD_DB_FIELD(struct dep_row, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELD(struct dep_row, git_sha, AD_DB_TEXT, "git_sha"),
        AD_DB_FIELDS_END,
};

/* What the coordinator recorded about the deployment's image, if anything. */
static int refs_from_db(struct builder *b, const char *deployment_id, struct refs *refs,
                        ad_error_t *err)
{
        cleanup_pgresult PGresult *builds = NULL, *dep = NULL;
        const char *params[1] = { deployment_id };
        struct ad_db_rows rows;
        struct dep_row d;
        int ret;

        ret = ad_db_exec(b->svc->db, &builds,
                         "SELECT image, array_to_string(tags, ' ') AS tags FROM builds "
                         "WHERE deployment_id = $1",
                         1, params, err);
        if (ret < 0 || (ret = ad_db_rows_init(&rows, builds, build_fields, err)) < 0)
                return ret;
        for (int i = 0; i < PQntuples(builds); i++) {
                struct build_row row;
                cleanup_free char *tags = NULL;
                char *save = NULL;

                if ((ret = ad_db_rows_read(&rows, i, &row, err)) < 0)
                        return ret;
                tags = strdup(row.tags);
                refs_add(refs, row.image);
                for (char *t = tags ? strtok_r(tags, " ", &save) : NULL; t;
                     t = strtok_r(NULL, " ", &save))
                        refs_add(refs, t);
        }
        ret = ad_db_exec(b->svc->db, &dep,
                         "SELECT app_name, coalesce(git_sha, '') AS git_sha FROM deployments "
                         "WHERE id = $1",
                         1, params, err);
        if (ret < 0)
                return ret;
        if (PQntuples(dep) != 1)
                return 0;
        if ((ret = ad_db_read_row(dep, 0, dep_fields, &d, err)) < 0)
                return ret;
        if (ad_app_name_valid(d.app_name)) {
                char ref[512];

                if (*d.git_sha) {
                        ad_name_image(ref, sizeof(ref), b->cfg.registry, d.app_name, d.git_sha);
                        refs_add(refs, ref);
                }
                ad_name_image(ref, sizeof(ref), b->cfg.registry, d.app_name, "latest");
                refs_add(refs, ref);
        }
        return 0;
}

/* Splits "<registry>/<app>:<tag>" for our registry; false for others. */
static bool split_ref(const char *registry, const char *ref, char app[AD_APP_NAME_MAX + 1],
                      const char **tag)
{
        size_t rl = strlen(registry);
        const char *p, *colon;

        if (strncmp(ref, registry, rl) != 0 || ref[rl] != '/')
                return false;
        p = ref + rl + 1;
        colon = strchr(p, ':');
        if (colon == NULL || (size_t)(colon - p) > AD_APP_NAME_MAX)
                return false;
        memcpy(app, p, (size_t)(colon - p));
        app[colon - p] = '\0';
        *tag = colon + 1;
        return ad_app_name_valid(app);
}

/* Deletes the registry manifest ref points at when this deployment built
 * it.  *deleted counts deletions. */
static int delete_in_registry(struct builder *b, const char *deployment_id, const char *ref,
                              int *deleted, ad_error_t *err)
{
        cleanup_free char *digest = NULL, *owner = NULL;
        cleanup_error ad_error_t lerr = NULL;
        char app[AD_APP_NAME_MAX + 1];
        const char *tag;
        int ret;

        if (!split_ref(b->cfg.registry, ref, app, &tag))
                return 0;
        ret = builder_registry_digest(b->cfg.registry, app, tag, &digest, &lerr);
        if (ret == 0)
                ret = builder_registry_label(b->cfg.registry, app, digest, AD_LABEL_DEPLOYMENT,
                                             &owner, &lerr);
        if (ret < 0) {
                if (lerr->kind == AD_ERR_NOT_FOUND)
                        return 0; /* already gone */
                if (err)
                        *err = TAKE_PTR(lerr);
                return ret;
        }
        if (owner == NULL || strcmp(owner, deployment_id) != 0)
                return 0; /* another deployment's image */
        ret = builder_registry_delete(b->cfg.registry, app, digest, err);
        if (ret == 0)
                (*deleted)++;
        return ret;
}

static int compensate(struct ad_step_run *run, struct builder *b, const char *deployment_id,
                      ad_error_t *err)
{
        struct refs refs = { 0 };
        char **local = NULL;
        char label[128];
        const char *filters[] = { label, NULL };
        int ret, deleted = 0, removed = 0;

        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_DEPLOYMENT, deployment_id);
        ret = ad_engine_image_list(b->engine, filters, &local, err);
        if (ret < 0)
                return ret;
        for (size_t i = 0; local[i]; i++)
                refs_add(&refs, local[i]);
        ret = refs_from_db(b, deployment_id, &refs, err);
        for (size_t i = 0; ret == 0 && i < refs.n; i++)
                ret = delete_in_registry(b, deployment_id, refs.v[i], &deleted, err);

        /* Local images: only those with this deployment's label. */
        for (size_t i = 0; ret == 0 && local[i]; i++) {
                cleanup_error ad_error_t lerr = NULL;

                if (ad_engine_image_remove(b->engine, local[i], false, &lerr) == 0) {
                        removed++;
                } else if (lerr->kind == AD_ERR_CONFLICT) {
                        /* A container still uses it: the registry copy is
                         * gone, the local one only costs disk. */
                        ad_log(AD_LOG_WARN, "image in use, kept", "image", local[i], "error",
                               ad_error_message(lerr), NULL);
                } else if (lerr->kind != AD_ERR_NOT_FOUND) {
                        ret = -lerr->kind;
                        if (err)
                                *err = TAKE_PTR(lerr);
                }
        }
        ad_step_log_int(run, "registry_deleted", deleted);
        ad_step_log_int(run, "local_removed", removed);
        ad_engine_strv_free(local);
        refs_clear(&refs);
        return ret;
}

int builder_compensate_run(struct ad_step_run *run, ad_error_t *err)
{
        Appdeployer__V1__Compensated c = APPDEPLOYER__V1__COMPENSATED__INIT;
        ad_envelope env;
        int ret;

        ret = compensate(run, run->def->ud, run->in->deployment_id, err);
        if (ret < 0)
                return ret;
        c.step = (char *)BUILDER_STEP;
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED;
        env.compensated = &c;
        return ad_step_publish(run, AD_SUBJECT_COMPENSATED "." BUILDER_STEP, &env, err);
}
