#include "saga_process.h"

#include <stdlib.h>
#include <string.h>

#include "ad/names.h"

char *saga_processes_json(Appdeployer__V1__Process *const *p, size_t n, bool with_command)
{
        json_t *j = with_command ? json_array() : json_object();
        char *s;

        for (size_t i = 0; j && i < n; i++) {
                const char *name = p[i]->name ? p[i]->name : "";

                if (!ad_process_name_valid(name, strlen(name)))
                        continue; /* the analyzer checked; never stored otherwise */
                if (with_command)
                        json_array_append_new(j,
                                              json_pack("{s:s, s:s, s:I}", "name", name, "command",
                                                        p[i]->command ? p[i]->command : "",
                                                        "replicas", (json_int_t)p[i]->replicas));
                else
                        json_object_set_new(j, name, json_integer(p[i]->replicas));
        }
        s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return s;
}

static json_t *scale_of(Appdeployer__V1__Process *const *scale, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (scale[i]->name && strcmp(scale[i]->name, name) == 0)
                        return json_integer(scale[i]->replicas);
        return NULL;
}

void saga_procs_load(struct saga_procs *out, const char *build_text, const char *app_scale_text,
                     Appdeployer__V1__Process *const *scale, size_t n_scale)
{
        json_t *build = json_loads(build_text ? build_text : "[]", 0, NULL);
        json_t *app = json_loads(app_scale_text ? app_scale_text : "{}", 0, NULL);
        json_t *e;
        size_t i;

        memset(out, 0, sizeof(*out));
        out->owner = build;
        json_array_foreach (build, i, e) {
                const char *name = json_string_value(json_object_get(e, "name"));
                json_t *r = NULL;
                json_int_t replicas;

                if (out->n == AD_PROCESSES_MAX || name == NULL)
                        break;
                r = scale_of(scale, n_scale, name);
                replicas = r ? json_integer_value(r)
                           : json_is_integer(json_object_get(app, name))
                                   ? json_integer_value(json_object_get(app, name))
                                   : json_integer_value(json_object_get(e, "replicas"));
                json_decref(r);
                appdeployer__v1__process__init(&out->v[out->n]);
                out->v[out->n].name = (char *)name;
                out->v[out->n].command =
                        (char *)(json_string_value(json_object_get(e, "command")) ?: "");
                out->v[out->n].replicas = replicas > 0 ? (uint32_t)replicas : 0;
                out->p[out->n] = &out->v[out->n];
                out->n++;
        }
        json_decref(app);
}

void saga_procs_clear(struct saga_procs *sp)
{
        json_decref(sp->owner);
        memset(sp, 0, sizeof(*sp));
}

char *saga_scale_json(Appdeployer__V1__Process *const *scale, size_t n)
{
        json_t *j = json_object();
        char *s;

        for (size_t i = 0; j && i < n; i++)
                if (scale[i]->name && ad_process_name_valid(scale[i]->name, strlen(scale[i]->name)))
                        json_object_set_new(j, scale[i]->name, json_integer(scale[i]->replicas));
        s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return s;
}
