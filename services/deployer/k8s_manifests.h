/* The Kubernetes objects of one app release, as JSON (server-side apply
 * takes JSON as YAML).  Pure functions of struct k8s_app: no I/O, so the
 * unit test and `podman kube play` see exactly what the deployer applies.
 *
 * Per app, in namespace "<prefix><app>":
 *   Namespace, ResourceQuota "quota", LimitRange "limits",
 *   ConfigMap "<app>-env-<12 hex>" (plain env), Secret "<app>-env-<12 hex>"
 *   (sealed env, opened), Deployment "<app>", Service "<app>",
 *   Ingress "<app>", NetworkPolicy "<app>", HorizontalPodAutoscaler "<app>"
 *   (only with autoscaling).
 * Labels on all: app.kubernetes.io/name, app.kubernetes.io/managed-by,
 * app-deployer.app, app-deployer.deployment. */
#ifndef AD_K8S_MANIFESTS_H
#define AD_K8S_MANIFESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define K8S_NAME_MAX 64

struct k8s_env {
        const char *name;
        const char *value;
        bool secret; /* goes to the Secret, not the ConfigMap */
};

struct k8s_app {
        const char *app;
        const char *deployment_id;
        const char *namespace_prefix; /* "ad-" */
        const char *image;
        unsigned port;
        unsigned replicas; /* ignored with autoscaling (the HPA owns it) */
        long cpu_millis;   /* request = limit */
        long memory_mb;    /* request = limit */
        long uid, gid;     /* runAsUser/runAsGroup/fsGroup, never 0 */
        const struct k8s_env *env;
        size_t n_env;
        const char *host;           /* Ingress host, <app>.<base domain> */
        const char *const *domains; /* the app's custom domains: more Ingress hosts */
        size_t n_domains;
        bool tls;                      /* Ingress TLS, secret "<app>-tls" */
        const char *ingress_class;     /* NULL/"": the cluster's default */
        const char *cluster_issuer;    /* cert-manager.io/cluster-issuer, NULL/"": none */
        const char *ingress_namespace; /* the ingress controller's, for the NetworkPolicy */
        const char *service_type;      /* ClusterIP or NodePort */
        unsigned autoscale_min, autoscale_max, autoscale_cpu; /* max 0: no HPA */
        long quota_cpu_millis, quota_memory_mb, quota_pods;
        long progress_deadline_s;
};

/* "<prefix><app>" */
void k8s_namespace_name(char out[K8S_NAME_MAX], const char *prefix, const char *app);
/* "<app>-env-<first 12 hex of the deployment id>" */
void k8s_env_name(char out[K8S_NAME_MAX], const char *app, const char *deployment_id);

/* Checks what the generator relies on (names, port, uid, sizes). */
int k8s_app_check(const struct k8s_app *a, ad_error_t *err);

json_t *k8s_manifest_namespace(const struct k8s_app *a);
json_t *k8s_manifest_quota(const struct k8s_app *a);
json_t *k8s_manifest_limit_range(const struct k8s_app *a);
json_t *k8s_manifest_config_map(const struct k8s_app *a);
json_t *k8s_manifest_secret(const struct k8s_app *a);
json_t *k8s_manifest_deployment(const struct k8s_app *a);
json_t *k8s_manifest_service(const struct k8s_app *a);
json_t *k8s_manifest_ingress(const struct k8s_app *a);
json_t *k8s_manifest_network_policy(const struct k8s_app *a);
json_t *k8s_manifest_hpa(const struct k8s_app *a); /* NULL without autoscaling */

/* Every object above in apply order (namespace first, Deployment last but
 * the HPA), as a JSON array; NULL on allocation failure. */
json_t *k8s_manifest_all(const struct k8s_app *a);

#endif
