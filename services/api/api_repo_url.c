/* Credentials in repository URLs (https://user:token@host/...): accepted
 * for private repositories, sealed in place before the URL is recorded or
 * published (ad/secret.h: the request row, the event, and from there the
 * coordinator's deployments and apps rows hold the sealed form), opened
 * only by the services that clone.  Never shown back: every repo_url of a
 * reply has its password as "***"; the request log line has no body, and
 * the logger redacts URL passwords in its fields. */
#include <stdlib.h>
#include <string.h>

#include "ad/redact.h"
#include "api.h"

int api_repo_url_seal(struct api_call *call, struct api_deploy_request *dr)
{
        cleanup_error ad_error_t err = NULL;
        char *sealed = NULL;

        if (!ad_secret_url_has_password(dr->repo_url))
                return 0;
        if (ad_secret_url_seal(&sealed, &call->api->keys.keys[0], dr->app, dr->repo_url, &err) <
            0) {
                api_reply_error(call, "cannot seal a repository URL's credential", err);
                return -1;
        }
        explicit_bzero(dr->repo_url, strlen(dr->repo_url));
        free(dr->repo_url);
        dr->repo_url = sealed;
        return 0;
}

bool api_repo_url_same(struct api_call *call, const char *app, const char *a, const char *b)
{
        char *pa = NULL, *pb = NULL;
        bool same;

        if (ad_secret_url_open(&pa, &call->api->keys, app, a, NULL) < 0 ||
            ad_secret_url_open(&pb, &call->api->keys, app, b, NULL) < 0) {
                free(pa);
                return false;
        }
        same = strcmp(pa, pb) == 0;
        explicit_bzero(pa, strlen(pa));
        explicit_bzero(pb, strlen(pb));
        free(pa);
        free(pb);
        return same;
}

static void redact(json_t *doc)
{
        const char *k;
        json_t *v;
        size_t i;

        if (json_is_array(doc)) {
                json_array_foreach (doc, i, v)
                        redact(v);
                return;
        }
        if (!json_is_object(doc))
                return;
        json_object_foreach (doc, k, v) {
                if (strcmp(k, "repo_url") == 0 && json_is_string(v) &&
                    ad_secret_url_has_password(json_string_value(v))) {
                        char *shown = ad_redact_url(json_string_value(v));

                        json_object_set_new(doc, k, json_string(shown ? shown : ""));
                        free(shown);
                } else {
                        redact(v);
                }
        }
}

void api_repo_url_redact_reply(struct ad_httpd_reply *reply)
{
        json_t *doc;

        /* Only a reply that holds a sealed password is parsed again. */
        if (reply->body == NULL || reply->stream || reply->content_type == NULL ||
            strcmp(reply->content_type, "application/json") != 0 ||
            memmem(reply->body, reply->body_len, ":sealed%3A", 10) == NULL)
                return;
        doc = json_loadb(reply->body, reply->body_len, JSON_DECODE_ANY, NULL);
        if (doc == NULL)
                return;
        redact(doc);
        ad_httpd_reply_json(reply, reply->status, doc);
}
