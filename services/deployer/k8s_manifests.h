/* The Kubernetes objects of one app release, as JSON (server-side apply
 * takes JSON as YAML).  Pure functions of struct k8s_app: no I/O, so the
 * unit test and `podman kube play` see exactly what the deployer applies.
 *
 * Per app, in namespace "<prefix><app>":
 *   Namespace, ResourceQuota "quota", LimitRange "limits",
 *   ConfigMap "<app>-env-<12 hex>" (plain env), Secret "<app>-env-<12 hex>"
 *   (sealed env, opened), Deployment "<app>", Service "<app>",
 *   Ingress "<app>", NetworkPolicy "<app>", HorizontalPodAutoscaler "<app>"
 *   (only with autoscaling); per other process type (a Procfile's worker:,
 *   clock:...) a Deployment "<app>-<type>" and, when there is any, the
 *   NetworkPolicy "<app>-processes"; a one-off command's Pod; with a
 *   release command, the Job "<app>-release-<12 hex>" and the NetworkPolicy
 *   "<app>-release".
 * Labels on all: app.kubernetes.io/name, app.kubernetes.io/managed-by,
 * app-deployer.app, app-deployer.deployment. */
#ifndef AD_K8S_MANIFESTS_H
#define AD_K8S_MANIFESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define K8S_NAME_MAX 64
/* The label of a process type's Deployment and pods (as the engine's
 * containers): app-deployer.process=<type>. */
#define K8S_LABEL_PROCESS "app-deployer.process"
/* A one-off command's pod: app-deployer.run=<app>. */
#define K8S_LABEL_RUN "app-deployer.run"
/* A release phase's Job and pod: app-deployer.release=<app> (the engine's
 * release containers' label). */
#define K8S_LABEL_RELEASE "app-deployer.release"
/* A process type's pod is available once it has run this long, not
 * restarted (minReadySeconds: the engine's PROCESS_SETTLE_MS). */
#define K8S_PROCESS_SETTLE_S 2

struct k8s_env {
        const char *name;
        const char *value;
        bool secret; /* goes to the Secret, not the ConfigMap */
};

/* A process type other than web: its pods run `/bin/sh -c command`. */
struct k8s_process {
        const char *name; /* [a-z][a-z0-9-]*, not "web" */
        const char *command;
        unsigned replicas; /* 0: the Deployment is scaled to 0 */
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
        const struct k8s_process *processes;
        size_t n_processes;
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

/* "<app>-<type>": a process type's Deployment. */
void k8s_process_name(char out[K8S_NAME_MAX], const char *app, const char *type);

/* A process type's Deployment: the web Deployment's image, env, security
 * context and resources, p->replicas, `/bin/sh -c command`, no port and
 * no probe; available after K8S_PROCESS_SETTLE_S.  Its pods do not carry
 * app-deployer.app (the web Deployment's, Service's and NetworkPolicy's
 * selector) but app.kubernetes.io/name and app-deployer.process. */
json_t *k8s_manifest_process_deployment(const struct k8s_app *a, const struct k8s_process *p);
/* "<app>-processes": no traffic in to the process types' pods, out as the
 * web's.  NULL without process types. */
json_t *k8s_manifest_process_network_policy(const struct k8s_app *a);

/* A one-off command's Pod `name`: the web Deployment's image, env,
 * security context and resources, `/bin/sh -c command`, restartPolicy
 * Never, activeDeadlineSeconds deadline_s, labelled app-deployer.run=<app>
 * (not app-deployer.app: no Service or policy selects it). */
json_t *k8s_manifest_run_pod(const struct k8s_app *a, const char *name, const char *command,
                             long deadline_s);

/* "<app>-release-<first 12 hex of the deployment id>" */
void k8s_release_job_name(char out[K8S_NAME_MAX], const char *app, const char *deployment_id);

/* The release phase's Job (k8s_release_job_name): one pod of the web
 * Deployment's image, env, security context and resources running
 * `/bin/sh -c command`, backoffLimit 0, restartPolicy Never,
 * activeDeadlineSeconds deadline_s, ttlSecondsAfterFinished (a deployer
 * that dies before deleting it leaves nothing for long).  Its pod is
 * labelled app-deployer.release=<app>, not app-deployer.app: no Service
 * or web policy selects it. */
json_t *k8s_manifest_release_job(const struct k8s_app *a, const char *command, long deadline_s);
/* "<app>-release": no traffic in to the release pods, out as the web's. */
json_t *k8s_manifest_release_network_policy(const struct k8s_app *a);

/* Every object of a release in apply order (namespace first, the web
 * Deployment, then the process types' Deployments, the HPA last), as a
 * JSON array; NULL on allocation failure.  Not the run Pod. */
json_t *k8s_manifest_all(const struct k8s_app *a);

#endif
