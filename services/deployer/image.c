/* The image a deploy step starts from: see deploy.h (deployer_image_ensure).
 *
 * An image the builder built in this engine and pushed is known locally
 * by the digest of the manifest the build wrote (uncompressed layers),
 * not by the digest of the manifest the push made (compressed layers),
 * which is the one deploy.provisioned carries.  Both manifests name the
 * same config blob, whose digest is the local image's id: the builder
 * puts that id in deploy.built (image_id), so the check costs no request
 * beyond the engine's inspect.  Without it (an image the builder reused
 * from the registry, an older builder) the registry's manifest, fetched
 * by its digest and checked against it, gives the config digest: one
 * request, whose cost is mostly the registry checking the password
 * (bcrypt, 50-250 ms on this machine), still well under a pull. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "ad/log.h"
#include "deploy.h"
#include "image_manifest.h"

#define MANIFEST_MAX (4 * 1024 * 1024)
#define MANIFEST_TIMEOUT_MS 10000
#define REF_MAX 512

/* "user:password" for the registry, or "" (deployer_image_credentials). */
static char userpwd[512];

int deployer_image_credentials(const char *user, const char *password, ad_error_t *err)
{
        int n;

        explicit_bzero(userpwd, sizeof(userpwd));
        if (user == NULL || *user == '\0')
                return 0;
        n = snprintf(userpwd, sizeof(userpwd), "%s:%s", user, password ? password : "");
        if (strchr(user, ':') || n < 0 || (size_t)n >= sizeof(userpwd)) {
                explicit_bzero(userpwd, sizeof(userpwd));
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "keys `registry.username` and `registry.password`: no `:` "
                                     "in the user name, at most %zu characters together",
                                     sizeof(userpwd) - 2);
        }
        return 0;
}

/* The config digest of manifest `digest` of repository `repo` in the
 * platform's registry. */
static int registry_config(const struct deployer *dp, const char *repo, const char *digest,
                           char **config, ad_error_t *err)
{
        static const char *const accept[] = {
                "Accept: application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json",
                NULL
        };
        cleanup_free char *url = NULL;
        struct ad_http_request req = { 0 };
        struct ad_http_response resp = { 0 };
        int ret;

        if (asprintf(&url, "%s://%s/v2/%s/manifests/%s", dp->registry_insecure ? "http" : "https",
                     dp->registry_address, repo, digest) < 0) {
                url = NULL;
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        }
        req.url = url;
        req.headers = accept;
        req.timeout_ms = MANIFEST_TIMEOUT_MS;
        req.max_body = MANIFEST_MAX;
        req.userpwd = userpwd[0] ? userpwd : NULL;
        ret = ad_http_do(&req, &resp, err);
        if (ret < 0)
                return ad_error_wrap(err, "registry");
        if (resp.status != 200)
                ret = ad_error_make(err, resp.status == 404 ? AD_ERR_NOT_FOUND : AD_ERR_UNAVAILABLE,
                                    (int)resp.status, "registry answered %ld to manifest %s",
                                    resp.status, digest);
        else
                ret = deployer_manifest_config(resp.body ? resp.body : "", resp.len, digest, config,
                                               err);
        ad_http_response_free(&resp);
        return ret;
}

/* Is the local image `ref` (with this id and these repo digests) the
 * registry's manifest `digest`?  Any doubt is a no: the caller pulls. */
/* Equal image ids, with or without "sha256:". */
static bool same_id(const char *a, const char *b)
{
        if (strncmp(a, "sha256:", 7) == 0)
                a += 7;
        if (strncmp(b, "sha256:", 7) == 0)
                b += 7;
        return *a && strcmp(a, b) == 0;
}

static bool is_that_image(const struct deployer *dp, const char *ref, const char *id,
                          char *const *repo_digests, const char *digest, const char *image_id,
                          const char **how)
{
        char repo[REF_MAX], name[REF_MAX];
        const char *slash = strchr(ref, '/'), *colon = strrchr(ref, ':');
        cleanup_free char *config = NULL;
        cleanup_error ad_error_t lerr = NULL;
        size_t hlen;

        if (slash == NULL || colon == NULL || colon < slash || strchr(ref, '@') ||
            (size_t)(colon - ref) >= sizeof(name)) {
                *how = "unusual reference";
                return false;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(colon - ref), ref);
        /* Pulled before: the engine knows it by the registry's digest. */
        for (size_t i = 0; repo_digests && repo_digests[i]; i++) {
                const char *at = strchr(repo_digests[i], '@');

                if (at && (size_t)(at - repo_digests[i]) == strlen(name) &&
                    strncmp(repo_digests[i], name, strlen(name)) == 0 &&
                    strcmp(at + 1, digest) == 0) {
                        *how = "repo digest";
                        return true;
                }
        }
        /* Built here: the builder said which id it pushed (its id is the
         * digest of the config the pushed manifest names). */
        if (image_id && *image_id) {
                *how = same_id(id, image_id) ? "image id" : "another image under this tag";
                return same_id(id, image_id);
        }
        /* Or the registry's manifest names this id's config. */
        hlen = (size_t)(slash - ref);
        if (dp->registry_address == NULL || strlen(dp->registry_address) != hlen ||
            strncmp(ref, dp->registry_address, hlen) != 0) {
                *how = "another registry";
                return false;
        }
        snprintf(repo, sizeof(repo), "%.*s", (int)(colon - slash - 1), slash + 1);
        if (registry_config(dp, repo, digest, &config, &lerr) < 0) {
                *how = "registry manifest unreadable";
                return false;
        }
        *how = same_id(config, id) ? "config digest" : "another image under this tag";
        return same_id(config, id);
}

int deployer_image_ensure(struct deployer *dp, const char *ref, const char *digest,
                          const char *image_id, bool *pulled, const char **how, ad_error_t *err)
{
        cleanup_free char *id = NULL;
        char **repo_digests = NULL;
        cleanup_error ad_error_t lerr = NULL;
        bool local;
        int ret;

        *pulled = false;
        if (!image_digest_ok(digest)) {
                /* No digest to check against (an event of an older
                 * builder): the image of that name, as before. */
                *how = "no digest";
                return ad_engine_image_ensure(dp->engine, ref, dp->registry_insecure, pulled, err);
        }
        ret = ad_engine_image_identity(dp->engine, ref, &id, &repo_digests, &lerr);
        if (ret < 0 && ret != -AD_ERR_NOT_FOUND) {
                if (err)
                        *err = TAKE_PTR(lerr);
                return ret;
        }
        if (ret == -AD_ERR_NOT_FOUND) {
                *how = "not in the engine";
                local = false;
        } else {
                local = is_that_image(dp, ref, id, repo_digests, digest, image_id, how);
        }
        ad_engine_strv_free(repo_digests);
        if (local)
                return 0;
        ret = ad_engine_image_pull(dp->engine, ref, dp->registry_insecure, err);
        if (ret < 0)
                return ret;
        *pulled = true;
        return 0;
}

int deployer_images_prune(struct deployer *dp, const char *app, const char *current, int *found,
                          int *removed, ad_error_t *err)
{
        char label[64 + AD_APP_NAME_MAX];
        const char *filters[] = { label, NULL };
        char **refs = NULL;
        long kept = 0;
        int ret;

        *found = *removed = 0;
        if (dp->images_kept <= 0)
                return 0;
        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_APP, app);
        ret = ad_engine_image_list(dp->engine, filters, &refs, err);
        if (ret < 0)
                return ret;
        while (refs[*found])
                (*found)++;
        /* Newest first: the first images_kept names stay. */
        for (size_t i = 0; ret == 0 && refs[i]; i++) {
                const char *slash = strrchr(refs[i], '/'), *colon = strrchr(refs[i], ':');
                cleanup_error ad_error_t lerr = NULL;

                if (colon && (slash == NULL || colon > slash) && strcmp(colon, ":latest") == 0)
                        continue;
                if (strcmp(refs[i], current) == 0 || kept < dp->images_kept) {
                        kept++;
                        continue;
                }
                if (ad_engine_image_remove(dp->engine, refs[i], false, &lerr) == 0)
                        (*removed)++;
                else if (lerr->kind == AD_ERR_CONFLICT)
                        ad_log(AD_LOG_INFO, "image in use, kept", "image", refs[i], "error",
                               ad_error_message(lerr), NULL);
                else if (lerr->kind != AD_ERR_NOT_FOUND) {
                        ret = -lerr->kind;
                        if (err)
                                *err = TAKE_PTR(lerr);
                }
        }
        ad_engine_strv_free(refs);
        return ret;
}
