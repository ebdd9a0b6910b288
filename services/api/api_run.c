/* POST /apps/{name}/run: a one-off command of the app (issue 15).
 *
 * The deployer owns the engine for apps (docs/architecture.md), so the
 * API does not start containers: it reads the current release's image
 * and the app's config (sealed: it is opened only by the deployer) and
 * sends them with the command as a core NATS request on app.run.<app>;
 * a deployer runs it (services/deployer/run.c) and replies with the
 * output and the exit code, which become this reply.  The request waits
 * for the command: at most its timeout (the deployer bounds it with
 * deployer.run_timeout_s) and a minute for pulling the image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/bus.h"
#include "ad/cleanup.h"
#include "ad/log.h"
#include "api.h"
#include "api_apps_request.h"

/* What the API waits beyond the command's timeout (an image pull). */
#define RUN_MARGIN_MS 60000L
/* The deployer's default deployer.run_timeout_s: what the API waits for
 * when the request gives no timeout_s. */
#define RUN_DEFAULT_TIMEOUT_S 300L

/* What a run needs of the app. */
struct run_app_row {
        const char *env;   /* JSON text: its config now, sealed */
        const char *image; /* its current release's, NULL when none runs */
};
static const struct ad_db_field run_app_fields[] = {
        AD_DB_FIELD(struct run_app_row, env, AD_DB_TEXT, "env"),
        AD_DB_FIELD(struct run_app_row, image, AD_DB_TEXT_NULL, "image"),
        AD_DB_FIELDS_END,
};

void api_apps_run(struct api_call *call)
{
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        cleanup_free char *command = NULL, *payload = NULL, *answer = NULL;
        const char *ct = ad_httpd_header(call->req, "Content-Type");
        json_auto_t *req = NULL, *env = NULL, *doc = NULL;
        char subject[64 + AD_APP_NAME_MAX];
        struct run_app_row app;
        size_t answer_len = 0;
        long timeout_s = 0;
        ad_db *db;

        if (!api_content_type_is_json(ct)) {
                ad_httpd_reply_error(call->reply, 415, "unsupported_media_type",
                                     "send the body as JSON with Content-Type: application/json");
                return;
        }
        if (api_run_parse(&command, &timeout_s, call->req->body, call->req->body_len, &err) < 0) {
                char shown[512];

                api_text_excerpt(shown, sizeof(shown), ad_error_message(err));
                ad_httpd_reply_error(call->reply, 400, "invalid_request", "%s", shown);
                return;
        }
        if ((db = api_db_get(call)) == NULL)
                return;
        /* The app's config now (as a config change would run it) and its
         * current release's image. */
        if (ad_db_exec(
                    db, &r,
                    "SELECT a.env::text AS env, (SELECT r.image FROM releases r JOIN deployments "
                    "d ON d.id = r.deployment_id WHERE r.app_name = a.name AND d.status = "
                    "'EXPOSED' ORDER BY r.id DESC LIMIT 1) AS image FROM apps a WHERE a.name = "
                    "$1",
                    1, (const char *[]){ call->name }, &err) < 0) {
                api_reply_error(call, "cannot read an app", err);
                return;
        }
        if (PQntuples(r) == 0) {
                ad_httpd_reply_error(call->reply, 404, "not_found", "no app %s", call->name);
                return;
        }
        if (ad_db_read_row(r, 0, run_app_fields, &app, &err) < 0) {
                api_reply_error(call, "cannot read an app", err);
                return;
        }
        if (app.image == NULL) {
                ad_httpd_reply_error(call->reply, 409, "not_running",
                                     "app %s has no running release to run a command of: deploy "
                                     "it first",
                                     call->name);
                return;
        }
        env = json_loads(app.env, 0, NULL);
        req = json_pack("{s:s,s:s,s:s,s:I,s:o,s:s}", "app", call->name, "image", app.image,
                        "command", command, "timeout_s", (json_int_t)timeout_s, "env",
                        env ? json_incref(env) : json_object(), "requested_by", call->principal);
        payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (payload == NULL) {
                api_reply_error(call, "cannot make a run request", NULL);
                return;
        }
        snprintf(subject, sizeof(subject), "%s%s", AD_SUBJECT_RUN_PREFIX, call->name);
        ad_log(AD_LOG_INFO, "one-off command requested", "app", call->name, "principal",
               call->principal, NULL);
        if (ad_bus_request(call->api->svc.bus, subject, payload, strlen(payload),
                           (timeout_s ? timeout_s : RUN_DEFAULT_TIMEOUT_S) * 1000L + RUN_MARGIN_MS,
                           &answer, &answer_len, &err) < 0) {
                if (err->kind == AD_ERR_TIMEOUT)
                        ad_httpd_reply_error(call->reply, 504, "timeout",
                                             "no deployer answered in time; the command may "
                                             "still be running");
                else
                        api_reply_error(call, "cannot send a run request", err);
                return;
        }
        doc = json_loadb(answer, answer_len, 0, NULL);
        if (!json_is_object(doc)) {
                api_reply_error(call, "a deployer's run reply is not JSON", NULL);
                return;
        }
        if (json_object_get(doc, "error")) {
                char shown[512];

                api_text_excerpt(shown, sizeof(shown),
                                 json_string_value(json_object_get(doc, "error")));
                ad_httpd_reply_error(call->reply, 502, "run_failed", "the command did not run: %s",
                                     shown);
                return;
        }
        json_object_set_new(doc, "app", json_string(call->name));
        ad_httpd_reply_json(call->reply, 200, json_incref(doc));
}
