/* A small Kubernetes API client on libcurl: credentials from a kubeconfig
 * file or the in-cluster service account, the cluster CA always verified,
 * server-side apply for every object the deployer owns.
 *
 * Part of the `adk8s` library (with k8s_manifests.c), shared by the
 * deployer and its tests.  Library code: it returns errors, never logs. */
#ifndef AD_K8S_CLIENT_H
#define AD_K8S_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define K8S_KUBECONFIG_MAX_BYTES (1024 * 1024)
#define K8S_FIELD_MANAGER "app-deployer"

/* What one kubeconfig context says.  Each credential is either a file
 * path (as written in the kubeconfig, relative to its directory) or the
 * decoded bytes of the matching -data field. */
struct k8s_kubeconfig {
        char *server;
        char *ca_file;
        char *ca_data;
        size_t ca_len;
        char *cert_file;
        char *cert_data;
        size_t cert_len;
        char *key_file;
        char *key_data;
        size_t key_len;
        char *token;
        char *token_file;
        char *namespace;
};

/* Parses kubeconfig YAML and resolves `context` (NULL or "": the
 * current-context) to its cluster and user.  Refuses what would weaken
 * TLS (insecure-skip-tls-verify) and what it cannot do (exec and
 * auth-provider plugins, an http:// server) with a clear error. */
int k8s_kubeconfig_parse(struct k8s_kubeconfig *out, const char *text, size_t len,
                         const char *context, ad_error_t *err);
void k8s_kubeconfig_clear(struct k8s_kubeconfig *kc);

typedef struct k8s_client k8s_client;

/* path set: that kubeconfig file; NULL or "": the in-cluster service
 * account (KUBERNETES_SERVICE_HOST/PORT and
 * /var/run/secrets/kubernetes.io/serviceaccount). */
int k8s_client_open(k8s_client **out, const char *path, const char *context, ad_error_t *err);
void k8s_client_close(k8s_client *c);
const char *k8s_client_server(const k8s_client *c);

/* One request.  body (optional) is sent with content_type; the answer's
 * JSON lands in *out (optional).  Status >= 400 becomes an error carrying
 * Kubernetes' own message: 404 AD_ERR_NOT_FOUND, 409 AD_ERR_CONFLICT,
 * 400/403/422 AD_ERR_INVALID, 429/5xx AD_ERR_UNAVAILABLE. *status
 * (optional) gets the HTTP status either way. */
int k8s_request(k8s_client *c, const char *method, const char *path, const char *content_type,
                const char *body, long *status, json_t **out, ad_error_t *err);

/* GET path -> *out. */
int k8s_get(k8s_client *c, const char *path, json_t **out, ad_error_t *err);

/* GET path -> its bytes as they are (a pod's log), NUL-terminated, at
 * most 16 MiB (bound it with the API's own parameters, limitBytes). */
int k8s_get_text(k8s_client *c, const char *path, char **out, size_t *len, ad_error_t *err);

/* Server-side apply of obj at its own path (see k8s_object_path), field
 * manager app-deployer, conflicts forced: the same call twice converges
 * to the same object.  *out (optional): the object as stored. */
int k8s_apply(k8s_client *c, const json_t *obj, json_t **out, ad_error_t *err);

/* DELETE path (propagationPolicy Background); already gone is fine. */
int k8s_delete(k8s_client *c, const char *path, ad_error_t *err);

/* The REST path of obj (apiVersion, kind, metadata.name and .namespace),
 * for the kinds the deployer makes.  NULL for another kind. */
char *k8s_object_path(const json_t *obj);

#endif
