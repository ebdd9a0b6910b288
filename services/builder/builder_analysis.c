/* deploy.analyzed -> struct ad_analysis: see builder_analysis.h. */
#include "builder_analysis.h"

#include <errno.h>
#include <string.h>

static int set_string(json_t *j, const char *key, const char *value)
{
        if (value == NULL || *value == '\0')
                return 0;
        return json_object_set_new(j, key, json_string(value));
}

int builder_analysis_from_event(struct ad_analysis **out, const Appdeployer__V1__DeployAnalyzed *ev,
                                ad_error_t *err)
{
        const char *text = ev->analysis_json ? ev->analysis_json : "";
        json_error_t jerr;
        json_t *j;
        int ret = 0;

        if (strlen(text) > BUILDER_MAX_ANALYSIS_JSON)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "analysis_json is larger than %d bytes",
                                     BUILDER_MAX_ANALYSIS_JSON);
        if (*text) {
                j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
                if (j == NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "analysis_json: invalid JSON at line %d column %d: %s",
                                             jerr.line, jerr.column, jerr.text);
                if (!json_is_object(j)) {
                        json_decref(j);
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "analysis_json is not a JSON object");
                }
        } else {
                j = json_object();
                if (j == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }

        ret |= set_string(j, "language", ev->language);
        ret |= set_string(j, "framework", ev->framework);
        ret |= set_string(j, "version", ev->version);
        ret |= set_string(j, "installCommand", ev->install_command);
        ret |= set_string(j, "buildCommand", ev->build_command);
        ret |= set_string(j, "startCommand", ev->start_command);
        if (ev->port)
                ret |= json_object_set_new(j, "port", json_integer(ev->port));
        if (ev->has_dockerfile)
                ret |= json_object_set_new(j, "hasDockerfile", json_true());
        if (ev->n_env_var_names > 0) {
                json_t *names = json_array();

                for (size_t i = 0; names && i < ev->n_env_var_names; i++)
                        json_array_append_new(names, json_string(ev->env_var_names[i]));
                ret |= json_object_set_new(j, "envVars", names);
        }
        if (ret != 0) {
                /* jansson refuses strings that are not UTF-8 (or memory ran out). */
                json_decref(j);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "deploy.analyzed: a field is not valid UTF-8");
        }
        ret = ad_analysis_from_json(out, j, err);
        json_decref(j);
        return ret < 0 ? ad_error_wrap(err, "deploy.analyzed") : 0;
}
