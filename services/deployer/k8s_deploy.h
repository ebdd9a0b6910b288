/* deployer.backend: kubernetes.  The same two steps as the engine backend
 * (deploy.provisioned -> deploy.exposed, deploy.compensate.deploy), on a
 * Kubernetes cluster: server-side apply of the app's objects
 * (k8s_manifests.h), a wait for the rollout, and the namespace's removal. */
#ifndef AD_K8S_DEPLOY_H
#define AD_K8S_DEPLOY_H

#include "ad/config.h"
#include "ad/error.h"
#include "ad/step.h"
#include "k8s_client.h"

/* The kubernetes.* keys (deployer.backend is the deployer's). */
extern const struct ad_config_key k8s_config[];

struct k8s_backend {
        k8s_client *client;
        const char *namespace_prefix;
        const char *ingress_class;
        const char *cluster_issuer;
        const char *ingress_namespace;
        const char *service_type;
        const char *address;        /* the IP reported when the Ingress has none */
        const char *image_registry; /* replaces the image's registry host, for the nodes */
        long quota_cpu_millis;
        long quota_memory_mb;
        long quota_pods;
        long rollout_timeout_s;
        long poll_ms;
};

struct deployer;

/* Reads the kubernetes.* keys and opens the client (no request yet). */
int k8s_backend_load(struct k8s_backend **out, const ad_config *cfg, ad_error_t *err);
void k8s_backend_free(struct k8s_backend *kb);

int k8s_deploy_run(struct ad_step_run *run, ad_error_t *err);

/* What a one-off command's pod did. */
struct k8s_run_result {
        int exit_code;
        bool timed_out;
        char *output; /* its log, at most max_output + 1 bytes; caller frees */
        long duration_ms;
};

/* One-off command (run.c) of app on the cluster: a Pod of its current
 * release (the web Deployment's image by digest, env objects, security
 * context), the deployer's default cpu and memory, restartPolicy Never,
 * activeDeadlineSeconds timeout_s; waits for it to end (timeout_s and a
 * grace for scheduling, then it counts as timed out, exit code 137), reads
 * its log and deletes it.  AD_ERR_NOT_FOUND when the app runs no release
 * there. */
int k8s_run_command(struct deployer *dp, const char *app, const char *command, long timeout_s,
                    size_t max_output, struct k8s_run_result *res, ad_error_t *err);
int k8s_deploy_undo(struct ad_step_run *run, ad_error_t *err);

#endif
