/* Registry API v2: see builder_registry.h.  Learned on distribution 2.8:
 *  - HEAD /v2/<name>/manifests/<tag> gives the digest in
 *    Docker-Content-Digest only when Accept names the manifest's type
 *    (otherwise it converts to schema 1 and reports that digest);
 *  - DELETE /v2/<name>/manifests/<digest> answers 202, removes every tag
 *    pointing at it, and 404 MANIFEST_UNKNOWN the second time;
 *  - an unknown repository is 404 NAME_UNKNOWN. */
#include "builder_registry.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"

#define MANIFEST_TYPES                                                                             \
        "application/vnd.docker.distribution.manifest.v2+json, "                                   \
        "application/vnd.oci.image.manifest.v1+json"
#define TIMEOUT_MS 30000
#define MAX_MANIFEST (4 * 1024 * 1024)

static const char *const accept_manifests[] = { "Accept: " MANIFEST_TYPES, NULL };

/* "user:password", or "" (builder_registry_credentials). */
static char userpwd[512];

int builder_registry_credentials(const char *user, const char *password, ad_error_t *err)
{
        int n;

        explicit_bzero(userpwd, sizeof(userpwd));
        if (user == NULL || *user == '\0')
                return 0;
        if (strchr(user, ':'))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `registry.username`: a `:` is not allowed");
        n = snprintf(userpwd, sizeof(userpwd), "%s:%s", user, password ? password : "");
        if (n < 0 || (size_t)n >= sizeof(userpwd)) {
                explicit_bzero(userpwd, sizeof(userpwd));
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "keys `registry.username` and `registry.password`: longer "
                                     "than %zu characters together",
                                     sizeof(userpwd) - 2);
        }
        return 0;
}

/* Tags ([A-Za-z0-9_][A-Za-z0-9_.-]*) and digests (sha256:hex) go into
 * URLs as they are: the registry does not decode %3A in a digest. */
static bool ref_ok(const char *ref)
{
        size_t n = strlen(ref);

        return n > 0 && n <= 128 + 8 && ref[0] != '.' && ref[0] != '-' &&
               ref[strspn(ref,
                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:")] ==
                       '\0';
}

static int call(struct ad_http_response *resp, const char *method, const char *registry,
                const char *app, const char *kind, const char *ref, const char *capture,
                ad_error_t *err)
{
        cleanup_free char *url = NULL;
        struct ad_http_request req = { 0 };
        int ret;

        if (!ref_ok(ref))
                return ad_error_make(err, AD_ERR_INVALID, 0, "`%s` is not a tag or digest", ref);
        if (asprintf(&url, "http://%s/v2/%s/%s/%s", registry, app, kind, ref) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        req.method = method;
        req.url = url;
        req.headers = accept_manifests;
        req.timeout_ms = TIMEOUT_MS;
        req.max_body = MAX_MANIFEST;
        req.capture_header = capture;
        req.userpwd = userpwd;
        ret = ad_http_do(&req, resp, err);
        if (ret < 0)
                return ad_error_wrap(err, "registry");
        if (resp->status >= 500) {
                ret = ad_error_make(err, AD_ERR_UNAVAILABLE, (int)resp->status,
                                    "registry answered %ld to %s %s", resp->status, method, url);
                ad_http_response_free(resp);
                return ret;
        }
        if (resp->status == 401) {
                ad_http_response_free(resp);
                return ad_error_make(err, AD_ERR_GENERIC, 401,
                                     "the registry refused the credentials (registry.username, "
                                     "registry.password)");
        }
        if (resp->status == 404) {
                ad_http_response_free(resp);
                return ad_error_make(err, AD_ERR_NOT_FOUND, 404, "%s/%s:%s is not in the registry",
                                     registry, app, ref);
        }
        return 0;
}

static int unexpected(struct ad_http_response *resp, const char *what, ad_error_t *err)
{
        int ret = ad_error_make(err, AD_ERR_GENERIC, (int)resp->status,
                                "registry answered %ld to %s: %.300s", resp->status, what,
                                resp->body ? resp->body : "");

        ad_http_response_free(resp);
        return ret;
}

int builder_registry_digest(const char *registry, const char *app, const char *ref, char **digest,
                            ad_error_t *err)
{
        struct ad_http_response resp;
        int ret;

        ret = call(&resp, "HEAD", registry, app, "manifests", ref, "Docker-Content-Digest", err);
        if (ret < 0)
                return ret;
        if (resp.status != 200)
                return unexpected(&resp, "a manifest HEAD", err);
        if (resp.header_value == NULL || strncmp(resp.header_value, "sha256:", 7) != 0) {
                ad_http_response_free(&resp);
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "registry gave no Docker-Content-Digest for %s:%s", app, ref);
        }
        *digest = TAKE_PTR(resp.header_value);
        ad_http_response_free(&resp);
        return 0;
}

int builder_registry_label(const char *registry, const char *app, const char *ref,
                           const char *label, char **value, ad_error_t *err)
{
        struct ad_http_response resp;
        const char *config_digest, *v;
        json_t *manifest, *config;
        int ret;

        ret = call(&resp, "GET", registry, app, "manifests", ref, NULL, err);
        if (ret < 0)
                return ret;
        if (resp.status != 200)
                return unexpected(&resp, "a manifest GET", err);
        manifest = json_loadb(resp.body, resp.len, 0, NULL);
        ad_http_response_free(&resp);
        config_digest =
                json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
        if (config_digest == NULL) {
                json_decref(manifest);
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "%s:%s: the manifest names no config blob", app, ref);
        }
        ret = call(&resp, "GET", registry, app, "blobs", config_digest, NULL, err);
        json_decref(manifest);
        if (ret < 0)
                return ret;
        if (resp.status != 200)
                return unexpected(&resp, "a blob GET", err);
        config = json_loadb(resp.body, resp.len, 0, NULL);
        ad_http_response_free(&resp);
        v = json_string_value(json_object_get(
                json_object_get(json_object_get(config, "config"), "Labels"), label));
        *value = v ? strdup(v) : NULL;
        json_decref(config);
        if (v && *value == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        return 0;
}

int builder_registry_retag(const char *registry, const char *app, const char *from, const char *to,
                           ad_error_t *err)
{
        cleanup_free char *url = NULL, *type = NULL;
        struct ad_http_request req = { 0 };
        struct ad_http_response resp, put;
        int ret;

        ret = call(&resp, "GET", registry, app, "manifests", from, "Content-Type", err);
        if (ret < 0)
                return ret;
        if (resp.status != 200 || resp.header_value == NULL)
                return unexpected(&resp, "a manifest GET", err);
        type = TAKE_PTR(resp.header_value);
        if (!ref_ok(to) || asprintf(&url, "http://%s/v2/%s/manifests/%s", registry, app, to) < 0) {
                ad_http_response_free(&resp);
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        req.method = "PUT";
        req.url = url;
        req.body = resp.body;
        req.body_len = resp.len;
        req.content_type = type;
        req.timeout_ms = TIMEOUT_MS;
        req.userpwd = userpwd;
        ret = ad_http_do(&req, &put, err);
        ad_http_response_free(&resp);
        if (ret < 0)
                return ad_error_wrap(err, "registry");
        if (put.status != 201)
                return unexpected(&put, "a manifest PUT", err);
        ad_http_response_free(&put);
        return 0;
}

int builder_registry_delete(const char *registry, const char *app, const char *digest,
                            ad_error_t *err)
{
        cleanup_error ad_error_t cerr = NULL;
        struct ad_http_response resp;
        int ret;

        ret = call(&resp, "DELETE", registry, app, "manifests", digest, NULL, &cerr);
        if (ret < 0) {
                if (cerr->kind == AD_ERR_NOT_FOUND)
                        return 0;
                if (err)
                        *err = TAKE_PTR(cerr);
                return ret;
        }
        if (resp.status == 405)
                ret = ad_error_make(err, AD_ERR_UNSUPPORTED, 405,
                                    "the registry does not allow deletes (storage.delete.enabled)");
        else if (resp.status != 202 && resp.status != 200)
                return unexpected(&resp, "a manifest DELETE", err);
        ad_http_response_free(&resp);
        return ret;
}
