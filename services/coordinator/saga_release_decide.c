#include "saga_release_decide.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void init(struct saga_request_decision *out, const char *kind, const char *failed_step)
{
        memset(out, 0, sizeof(*out));
        out->kind = kind;
        out->failed_step = failed_step;
}

static void fail(struct saga_request_decision *out, const char *why)
{
        out->verdict = SAGA_REQUEST_FAIL;
        snprintf(out->note, sizeof(out->note), "%s", why);
}

void saga_request_decision_clear(struct saga_request_decision *d)
{
        free(d->env);
        d->env = NULL;
}

/* The release a rollback goes back to: the newest of the app's (they come
 * newest first) whose deployment is older than the target, not the
 * target's own.  NULL when none. */
static const struct saga_reuse *previous_release(const struct saga_rollback_input *in)
{
        for (size_t i = 0; i < in->n_releases; i++) {
                const struct saga_reuse *r = &in->releases[i];

                if (r->deployment_id && in->target && !strcmp(r->deployment_id, in->target))
                        continue;
                if (in->created_us[i] < in->target_created_us)
                        return r;
        }
        return NULL;
}

int saga_decide_rollback(const struct saga_rollback_input *in, struct saga_request_decision *out)
{
        static const struct saga_reuse none;
        const struct saga_reuse *prev;

        init(out, "rollback", "rollback");
        if (!in->target_found) {
                out->verdict = SAGA_REQUEST_IGNORE;
                snprintf(out->note, sizeof(out->note), "rollback target %s is unknown",
                         in->target ? in->target : "");
                return 0;
        }
        prev = previous_release(in);
        if (prev == NULL)
                prev = &none;
        /* The new deployment names its target in either case. */
        out->rollback_of = in->target;
        snprintf(out->description, sizeof(out->description), "rollback to v%s",
                 prev->found && prev->version ? prev->version : "");
        if (!prev->found) {
                fail(out, "no earlier healthy release of this app to roll back to");
                return 0;
        }
        out->verdict = SAGA_REQUEST_RUN;
        out->from = prev;
        out->env = strdup(prev->env ? prev->env : "{}");
        /* As many containers as that release ran, with the config it ran
         * (its deployment records that release's config version: saga.c
         * reads it by the release's number). */
        out->replicas = prev->containers;
        return out->env ? 0 : -1;
}

char *saga_config_apply(const char *current, size_t n_set, const char *const *set_names,
                        const char *const *set_values, size_t n_unset,
                        const char *const *unset_names)
{
        json_t *o = json_loads(current ? current : "", 0, NULL);
        char *text;

        if (o == NULL || !json_is_object(o)) {
                json_decref(o);
                o = json_object();
                if (o == NULL)
                        return NULL;
        }
        for (size_t i = 0; i < n_set; i++)
                if (set_names[i] && set_values[i])
                        json_object_set_new(o, set_names[i], json_string(set_values[i]));
        for (size_t i = 0; i < n_unset; i++)
                if (unset_names[i])
                        json_object_del(o, unset_names[i]);
        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return text;
}

/* What a release request does, for its deployment's description. */
static void describe_release(char *out, size_t size, const struct saga_release_input *q)
{
        size_t used;

        if (q->rollback_to) {
                snprintf(out, size, "rollback to v%u", q->rollback_to);
                return;
        }
        if (q->web_replicas || q->n_scale) {
                used = (size_t)snprintf(out, size, "scale");
                if (q->web_replicas)
                        used += (size_t)snprintf(out + used, size - used, " web=%u",
                                                 q->web_replicas);
                for (size_t i = 0; i < q->n_scale && used < size; i++)
                        used += (size_t)snprintf(out + used, size - used, " %.30s=%u",
                                                 q->scale_names[i] ? q->scale_names[i] : "",
                                                 q->scale_replicas[i]);
                return;
        }
        used = (size_t)snprintf(out, size, "config");
        for (size_t i = 0; i < q->n_set && used < size; i++)
                used += (size_t)snprintf(out + used, size - used, " set %s",
                                         q->set_names[i] ? q->set_names[i] : "(null)");
        for (size_t i = 0; i < q->n_unset && used < size; i++)
                used += (size_t)snprintf(out + used, size - used, " unset %s",
                                         q->unset_names[i] ? q->unset_names[i] : "(null)");
}

bool saga_image_removed(const struct saga_reuse *r)
{
        return r->image_removed_us > r->image_built_us;
}

int saga_decide_release(const struct saga_release_input *in, struct saga_request_decision *out)
{
        const struct saga_reuse *from = in->rollback_to ? &in->numbered : &in->current;
        const char *kind = in->rollback_to                       ? "rollback"
                           : in->web_replicas || in->n_scale > 0 ? "scale"
                                                                 : "config";

        /* A release asked for by number runs only while its image is
         * still in the registry: no build compensation removed it since. */
        bool usable = from->found && !(in->rollback_to && saga_image_removed(from));

        init(out, kind, "release");
        describe_release(out->description, sizeof(out->description), in);
        if (in->app_found && usable)
                out->rollback_of = from->deployment_id;
        if (!in->app_found) {
                fail(out, "no such app");
                return 0;
        }
        if (in->rollback_to && !usable) {
                fail(out, "no such release of this app, or its image was removed");
                return 0;
        }
        if (!in->rollback_to && !from->found) {
                fail(out, "the app has no running release to change: deploy it first");
                return 0;
        }
        out->verdict = SAGA_REQUEST_RUN;
        out->from = from;
        /* The config it runs, and the app's from now on: a rollback runs
         * the release's own, a config change the app's with the change
         * (a new version), a scale the app's as it is. */
        if (in->rollback_to) {
                out->env = strdup(from->env ? from->env : "{}");
                out->config_version =
                        from->config_version ? from->config_version : in->app_config_version;
        } else if (!strcmp(kind, "config")) {
                out->env = saga_config_apply(in->app_env, in->n_set, in->set_names, in->set_values,
                                             in->n_unset, in->unset_names);
                out->config_version = NULL;
        } else {
                out->env = strdup(in->app_env ? in->app_env : "{}");
                out->config_version = in->app_config_version;
        }
        if (out->env == NULL)
                return -1;
        /* Scale is the app's: a rollback or config change keeps it. */
        if (in->web_replicas)
                out->replicas = in->web_replicas;
        else if (in->app_web_replicas > 0)
                out->replicas = (uint32_t)in->app_web_replicas;
        else
                out->replicas =
                        in->current.found ? in->current.containers : in->numbered.containers;
        out->app_web_replicas = in->web_replicas;
        out->merge_scale = in->n_scale > 0;
        return 0;
}

void saga_decide_app_destroy(const char *app, bool app_found, struct saga_request_decision *out)
{
        init(out, "destroy", NULL);
        if (!app_found) {
                out->verdict = SAGA_REQUEST_IGNORE;
                snprintf(out->note, sizeof(out->note), "app %s does not exist (already destroyed?)",
                         app ? app : "");
                return;
        }
        out->verdict = SAGA_REQUEST_RUN;
}

/* A deployment still owns something an app's destroy must take: it is not
 * destroyed (nor being destroyed, nor rolled back), or it is destroyed or
 * rolled back but kept the image it built for a later release. */
static bool owns_something(const struct saga_destroy_candidate *c)
{
        const char *s = c->status ? c->status : "";

        if (strcmp(s, "DESTROYING") != 0 && strcmp(s, "DESTROYED") != 0 &&
            strcmp(s, "ROLLED_BACK") != 0)
                return true;
        return strcmp(s, "DESTROYING") != 0 && c->kind && !strcmp(c->kind, "deploy") &&
               c->has_build && !c->build_removed;
}

int saga_app_destroy_next(const struct saga_destroy_candidate *c, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (owns_something(&c[i]))
                        return (int)i;
        return -1;
}

bool saga_app_destroy_takes_image(const char *status)
{
        return status && !strcmp(status, "DESTROYED");
}
