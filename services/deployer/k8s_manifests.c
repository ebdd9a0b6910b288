#include "k8s_manifests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/base64.h"
#include "ad/names.h"

#define LABEL_NAME "app.kubernetes.io/name"
#define LABEL_MANAGED "app.kubernetes.io/managed-by"
#define ENV_VALUE_MAX (64 * 1024)

void k8s_namespace_name(char out[K8S_NAME_MAX], const char *prefix, const char *app)
{
        snprintf(out, K8S_NAME_MAX, "%s%s", prefix ? prefix : "", app);
}

void k8s_env_name(char out[K8S_NAME_MAX], const char *app, const char *deployment_id)
{
        char hex[AD_DEPLOYMENT_HEX_LEN + 1];

        ad_name_deployment_hex(hex, deployment_id);
        snprintf(out, K8S_NAME_MAX, "%s-env-%s", app, hex);
}

static bool dns_label(const char *s, size_t max)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

static bool label_value(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n > 63)
                return false;
        for (const char *p = s; p && *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return n == 0 || (s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.');
}

int k8s_app_check(const struct k8s_app *a, ad_error_t *err)
{
        char ns[K8S_NAME_MAX];

        if (!ad_app_name_valid(a->app))
                return ad_error_make(err, AD_ERR_INVALID, 0, "app name `%.60s` is not valid",
                                     a->app ? a->app : "");
        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        if (!dns_label(ns, 63))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "namespace `%.70s` is not a DNS label (kubernetes."
                                     "namespace_prefix)",
                                     ns);
        if (a->deployment_id == NULL || !label_value(a->deployment_id) ||
            strlen(a->deployment_id) < 12)
                return ad_error_make(err, AD_ERR_INVALID, 0, "deployment id `%.60s` is not valid",
                                     a->deployment_id ? a->deployment_id : "");
        if (a->image == NULL || *a->image == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "no image");
        if (a->port == 0 || a->port > 65535)
                return ad_error_make(err, AD_ERR_INVALID, 0, "port %u is not a TCP port", a->port);
        if (a->uid <= 0 || a->gid <= 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "apps never run as root: uid %ld gid %ld", a->uid, a->gid);
        if (a->cpu_millis <= 0 || a->memory_mb <= 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "cpu and memory must be positive");
        if (a->autoscale_max && (a->autoscale_min == 0 || a->autoscale_min > a->autoscale_max ||
                                 a->autoscale_cpu == 0 || a->autoscale_cpu > 100))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "autoscaling: min %u max %u cpu %u%% is not a range",
                                     a->autoscale_min, a->autoscale_max, a->autoscale_cpu);
        if (a->host == NULL || *a->host == '\0' || strlen(a->host) > 253)
                return ad_error_make(err, AD_ERR_INVALID, 0, "no valid ingress host");
        for (size_t i = 0; i < a->n_domains; i++)
                if (a->domains[i] == NULL || *a->domains[i] == '\0' || strlen(a->domains[i]) > 253)
                        return ad_error_make(err, AD_ERR_INVALID, 0, "no valid custom domain");
        for (size_t i = 0; i < a->n_processes; i++) {
                const struct k8s_process *p = &a->processes[i];

                if (p->name == NULL || !dns_label(p->name, 30) || strcmp(p->name, "web") == 0)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "process type `%.40s` is not valid",
                                             p->name ? p->name : "");
                if (strlen(a->app) + 1 + strlen(p->name) > 63)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "Deployment name %s-%s is longer than 63 characters",
                                             a->app, p->name);
                if (p->command == NULL || *p->command == '\0')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "process type %s has no command", p->name);
        }
        for (size_t i = 0; i < a->n_env; i++) {
                const char *n = a->env[i].name;

                if (n == NULL || *n == '\0' || strlen(n) > 253 ||
                    strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                            strlen(n) ||
                    (n[0] >= '0' && n[0] <= '9'))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "environment variable name `%.60s` is not valid",
                                             n ? n : "");
                if (a->env[i].value && strlen(a->env[i].value) > ENV_VALUE_MAX)
                        return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                             "environment variable %s is longer than %d bytes", n,
                                             ENV_VALUE_MAX);
        }
        return 0;
}

static json_t *labels(const struct k8s_app *a)
{
        return json_pack("{s:s, s:s, s:s, s:s}", LABEL_NAME, a->app, LABEL_MANAGED, "app-deployer",
                         AD_LABEL_APP, a->app, AD_LABEL_DEPLOYMENT, a->deployment_id);
}

static json_t *selector(const struct k8s_app *a)
{
        return json_pack("{s:s}", AD_LABEL_APP, a->app);
}

/* apiVersion, kind, metadata {name, namespace, labels}. */
static json_t *object(const struct k8s_app *a, const char *api_version, const char *kind,
                      const char *name)
{
        char ns[K8S_NAME_MAX];

        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}}", "apiVersion", api_version, "kind", kind,
                         "metadata", "name", name, "namespace", ns, "labels", labels(a));
}

static json_t *set(json_t *obj, const char *key, json_t *value)
{
        if (obj == NULL || value == NULL || json_object_set_new(obj, key, value) < 0) {
                json_decref(obj);
                json_decref(value);
                return NULL;
        }
        return obj;
}

static json_t *cpu_q(long millis)
{
        char b[32];

        if (millis % 1000 == 0)
                snprintf(b, sizeof(b), "%ld", millis / 1000);
        else
                snprintf(b, sizeof(b), "%ldm", millis);
        return json_string(b);
}

static json_t *mem_q(long mb)
{
        char b[32];

        snprintf(b, sizeof(b), "%ldMi", mb);
        return json_string(b);
}

json_t *k8s_manifest_namespace(const struct k8s_app *a)
{
        char ns[K8S_NAME_MAX];

        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        return json_pack("{s:s, s:s, s:{s:s, s:o}}", "apiVersion", "v1", "kind", "Namespace",
                         "metadata", "name", ns, "labels", labels(a));
}

json_t *k8s_manifest_quota(const struct k8s_app *a)
{
        return set(object(a, "v1", "ResourceQuota", "quota"), "spec",
                   json_pack("{s:{s:o, s:o, s:o, s:o, s:I}}", "hard", "requests.cpu",
                             cpu_q(a->quota_cpu_millis), "requests.memory",
                             mem_q(a->quota_memory_mb), "limits.cpu", cpu_q(a->quota_cpu_millis),
                             "limits.memory", mem_q(a->quota_memory_mb), "pods",
                             (json_int_t)a->quota_pods));
}

/* Defaults for a container that names no resources (a sidecar someone
 * adds by hand); no maximum, so a release too big for the namespace is
 * refused by the quota, with the quota's own message. */
json_t *k8s_manifest_limit_range(const struct k8s_app *a)
{
        return set(object(a, "v1", "LimitRange", "limits"), "spec",
                   json_pack("{s:[{s:s, s:{s:o, s:o}, s:{s:o, s:o}}]}", "limits", "type",
                             "Container", "default", "cpu", cpu_q(a->cpu_millis), "memory",
                             mem_q(a->memory_mb), "defaultRequest", "cpu", cpu_q(a->cpu_millis),
                             "memory", mem_q(a->memory_mb)));
}

json_t *k8s_manifest_config_map(const struct k8s_app *a)
{
        char name[K8S_NAME_MAX];
        json_t *data = json_object();

        for (size_t i = 0; data && i < a->n_env; i++)
                if (!a->env[i].secret && strcmp(a->env[i].name, "PORT") != 0)
                        json_object_set_new(data, a->env[i].name,
                                            json_string(a->env[i].value ? a->env[i].value : ""));
        k8s_env_name(name, a->app, a->deployment_id);
        return set(object(a, "v1", "ConfigMap", name), "data", data);
}

static char *b64(const char *s)
{
        size_t n = strlen(s);
        char *out = malloc(ad_base64_encoded_len(n, AD_BASE64_PAD) + 1);

        if (out != NULL)
                ad_base64_encode(out, s, n, AD_BASE64_PAD);
        return out;
}

json_t *k8s_manifest_secret(const struct k8s_app *a)
{
        char name[K8S_NAME_MAX];
        json_t *data = json_object();

        for (size_t i = 0; data && i < a->n_env; i++) {
                char *v;

                if (!a->env[i].secret || strcmp(a->env[i].name, "PORT") == 0)
                        continue;
                v = b64(a->env[i].value ? a->env[i].value : "");
                if (v == NULL) {
                        json_decref(data);
                        return NULL;
                }
                json_object_set_new(data, a->env[i].name, json_string(v));
                explicit_bzero(v, strlen(v));
                free(v);
        }
        k8s_env_name(name, a->app, a->deployment_id);
        return set(set(object(a, "v1", "Secret", name), "type", json_string("Opaque")), "data",
                   data);
}

static json_t *probe(long initial_delay, long period)
{
        return json_pack("{s:{s:s, s:s}, s:I, s:I, s:i, s:i}", "httpGet", "path", "/", "port",
                         "http", "initialDelaySeconds", (json_int_t)initial_delay, "periodSeconds",
                         (json_int_t)period, "timeoutSeconds", 2, "failureThreshold", 3);
}

/* The app's container as every pod of the app runs it: image, PORT and
 * the env objects, requests = limits, non-root, read-only root, no
 * capability, no privilege escalation, /tmp an emptyDir. */
static json_t *container_base(const struct k8s_app *a, const char *name)
{
        char env_name[K8S_NAME_MAX], port[16];

        k8s_env_name(env_name, a->app, a->deployment_id);
        snprintf(port, sizeof(port), "%u", a->port);
        return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}], s:[{s:{s:s}}, {s:{s:s}}],"
                         " s:{s:{s:o, s:o}, s:{s:o, s:o}},"
                         " s:{s:b, s:b, s:b, s:{s:[s]}, s:{s:s}}, s:[{s:s, s:s}]}",
                         "name", name, "image", a->image, "imagePullPolicy", "IfNotPresent", "env",
                         "name", "PORT", "value", port, "envFrom", "configMapRef", "name", env_name,
                         "secretRef", "name", env_name, "resources", "requests", "cpu",
                         cpu_q(a->cpu_millis), "memory", mem_q(a->memory_mb), "limits", "cpu",
                         cpu_q(a->cpu_millis), "memory", mem_q(a->memory_mb), "securityContext",
                         "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1, "runAsNonRoot",
                         1, "capabilities", "drop", "ALL", "seccompProfile", "type",
                         "RuntimeDefault", "volumeMounts", "name", "tmp", "mountPath", "/tmp");
}

/* The pod spec around container (taken). */
static json_t *pod_spec(const struct k8s_app *a, json_t *container)
{
        return json_pack("{s:b, s:b, s:I, s:{s:b, s:I, s:I, s:I, s:{s:s}}, s:[o],"
                         " s:[{s:s, s:{s:s}}]}",
                         "automountServiceAccountToken", 0, "enableServiceLinks", 0,
                         "terminationGracePeriodSeconds", (json_int_t)10, "securityContext",
                         "runAsNonRoot", 1, "runAsUser", (json_int_t)a->uid, "runAsGroup",
                         (json_int_t)a->gid, "fsGroup", (json_int_t)a->gid, "seccompProfile",
                         "type", "RuntimeDefault", "containers", container, "volumes", "name",
                         "tmp", "emptyDir", "sizeLimit", "256Mi");
}

/* `/bin/sh -c command` on container. */
static json_t *with_command(json_t *container, const char *command)
{
        return set(container, "command", json_pack("[s, s, s]", "/bin/sh", "-c", command));
}

json_t *k8s_manifest_deployment(const struct k8s_app *a)
{
        json_t *spec, *container, *pod;

        container = container_base(a, "app");
        container = set(container, "ports",
                        json_pack("[{s:s, s:i, s:s}]", "name", "http", "containerPort",
                                  (int)a->port, "protocol", "TCP"));
        container = set(container, "readinessProbe", probe(0, 2));
        container = set(container, "livenessProbe", probe(10, 10));
        pod = json_pack("{s:{s:o}, s:o}", "metadata", "labels", labels(a), "spec",
                        pod_spec(a, container));
        spec = json_pack("{s:i, s:I, s:{s:o}, s:{s:s, s:{s:i, s:i}}, s:o}", "revisionHistoryLimit",
                         5, "progressDeadlineSeconds",
                         (json_int_t)(a->progress_deadline_s > 0 ? a->progress_deadline_s : 600),
                         "selector", "matchLabels", selector(a), "strategy", "type",
                         "RollingUpdate", "rollingUpdate", "maxUnavailable", 0, "maxSurge", 1,
                         "template", pod);
        /* With an HPA the replica count is its to set: applying one here
         * would fight it on every release. */
        if (spec && !a->autoscale_max)
                json_object_set_new(spec, "replicas",
                                    json_integer(a->replicas ? (json_int_t)a->replicas : 1));
        return set(object(a, "apps/v1", "Deployment", a->app), "spec", spec);
}

void k8s_process_name(char out[K8S_NAME_MAX], const char *app, const char *type)
{
        snprintf(out, K8S_NAME_MAX, "%s-%s", app, type);
}

/* A process type's pods: not app-deployer.app, which the web Deployment,
 * the Service and the web NetworkPolicy select on (a selector cannot
 * change once a Deployment exists). */
static json_t *process_pod_labels(const struct k8s_app *a, const char *type)
{
        return json_pack("{s:s, s:s, s:s, s:s}", LABEL_NAME, a->app, LABEL_MANAGED, "app-deployer",
                         AD_LABEL_DEPLOYMENT, a->deployment_id, K8S_LABEL_PROCESS, type);
}

json_t *k8s_manifest_process_deployment(const struct k8s_app *a, const struct k8s_process *p)
{
        char name[K8S_NAME_MAX];
        json_t *obj, *meta_labels, *container, *pod, *spec;

        k8s_process_name(name, a->app, p->name);
        container = with_command(container_base(a, p->name), p->command);
        pod = json_pack("{s:{s:o}, s:o}", "metadata", "labels", process_pod_labels(a, p->name),
                        "spec", pod_spec(a, container));
        /* No readiness probe: a pod is ready when it runs, and available
         * when it has run K8S_PROCESS_SETTLE_S (the engine's rule). */
        spec = json_pack("{s:I, s:i, s:i, s:I, s:{s:{s:s, s:s}}, s:{s:s, s:{s:i, s:i}}, s:o}",
                         "replicas", (json_int_t)p->replicas, "revisionHistoryLimit", 5,
                         "minReadySeconds", K8S_PROCESS_SETTLE_S, "progressDeadlineSeconds",
                         (json_int_t)(a->progress_deadline_s > 0 ? a->progress_deadline_s : 600),
                         "selector", "matchLabels", LABEL_NAME, a->app, K8S_LABEL_PROCESS, p->name,
                         "strategy", "type", "RollingUpdate", "rollingUpdate", "maxUnavailable", 0,
                         "maxSurge", 1, "template", pod);
        obj = object(a, "apps/v1", "Deployment", name);
        meta_labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        if (meta_labels &&
            json_object_set_new(meta_labels, K8S_LABEL_PROCESS, json_string(p->name)) < 0) {
                json_decref(obj);
                obj = NULL;
        }
        return set(obj, "spec", spec);
}

json_t *k8s_manifest_run_pod(const struct k8s_app *a, const char *name, const char *command,
                             long deadline_s)
{
        char ns[K8S_NAME_MAX];
        json_t *spec = pod_spec(a, with_command(container_base(a, "run"), command));

        if (spec && (json_object_set_new(spec, "restartPolicy", json_string("Never")) < 0 ||
                     json_object_set_new(spec, "activeDeadlineSeconds",
                                         json_integer(deadline_s > 0 ? deadline_s : 1)) < 0)) {
                json_decref(spec);
                spec = NULL;
        }
        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        return set(json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "apiVersion", "v1",
                             "kind", "Pod", "metadata", "name", name, "namespace", ns, "labels",
                             LABEL_NAME, a->app, LABEL_MANAGED, "app-deployer", K8S_LABEL_RUN,
                             a->app),
                   "spec", spec);
}

void k8s_release_job_name(char out[K8S_NAME_MAX], const char *app, const char *deployment_id)
{
        char hex[AD_DEPLOYMENT_HEX_LEN + 1];

        ad_name_deployment_hex(hex, deployment_id);
        snprintf(out, K8S_NAME_MAX, "%s-release-%s", app, hex);
}

json_t *k8s_manifest_release_job(const struct k8s_app *a, const char *command, long deadline_s)
{
        char ns[K8S_NAME_MAX], name[K8S_NAME_MAX];
        json_t *spec = pod_spec(a, with_command(container_base(a, "release"), command));
        json_t *pod, *job;

        if (spec && json_object_set_new(spec, "restartPolicy", json_string("Never")) < 0) {
                json_decref(spec);
                spec = NULL;
        }
        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        k8s_release_job_name(name, a->app, a->deployment_id);
        pod = set(json_pack("{s:{s:{s:s, s:s, s:s}}}", "metadata", "labels", LABEL_NAME, a->app,
                            LABEL_MANAGED, "app-deployer", K8S_LABEL_RELEASE, a->app),
                  "spec", spec);
        job = pod ? json_pack("{s:i, s:I, s:i, s:o}", "backoffLimit", 0, "activeDeadlineSeconds",
                              (json_int_t)(deadline_s > 0 ? deadline_s : 1),
                              "ttlSecondsAfterFinished", 600, "template", pod)
                  : NULL;
        return set(json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
                             "batch/v1", "kind", "Job", "metadata", "name", name, "namespace", ns,
                             "labels", LABEL_NAME, a->app, LABEL_MANAGED, "app-deployer",
                             K8S_LABEL_RELEASE, a->app, AD_LABEL_DEPLOYMENT, a->deployment_id),
                   "spec", job);
}

json_t *k8s_manifest_service(const struct k8s_app *a)
{
        const char *type = a->service_type && *a->service_type ? a->service_type : "ClusterIP";

        return set(object(a, "v1", "Service", a->app), "spec",
                   json_pack("{s:s, s:o, s:[{s:s, s:i, s:s, s:s}]}", "type", type, "selector",
                             selector(a), "ports", "name", "http", "port", 80, "targetPort", "http",
                             "protocol", "TCP"));
}

/* One Ingress rule: host -> the app's Service. */
static json_t *ingress_rule(const struct k8s_app *a, const char *host)
{
        return json_pack("{s:s, s:{s:[{s:s, s:s, s:{s:{s:s, s:{s:s}}}}]}}", "host", host, "http",
                         "paths", "path", "/", "pathType", "Prefix", "backend", "service", "name",
                         a->app, "port", "name", "http");
}

json_t *k8s_manifest_ingress(const struct k8s_app *a)
{
        char tls_name[K8S_NAME_MAX];
        json_t *obj = object(a, "networking.k8s.io/v1", "Ingress", a->app);
        json_t *spec = json_pack("{s:[o]}", "rules", ingress_rule(a, a->host));
        json_t *rules = json_object_get(spec, "rules");
        json_t *tls_hosts = json_pack("[s]", a->host);

        /* The custom domains: a rule each, and TLS hosts of the same
         * certificate (its issuer gets one for every name). */
        if (tls_hosts == NULL) {
                json_decref(spec);
                spec = NULL;
        }
        for (size_t i = 0; spec && i < a->n_domains; i++)
                if (json_array_append_new(rules, ingress_rule(a, a->domains[i])) < 0 ||
                    json_array_append_new(tls_hosts, json_string(a->domains[i])) < 0) {
                        json_decref(spec);
                        spec = NULL;
                }
        snprintf(tls_name, sizeof(tls_name), "%s-tls", a->app);
        if (spec && a->ingress_class && *a->ingress_class)
                json_object_set_new(spec, "ingressClassName", json_string(a->ingress_class));
        if (spec && a->tls)
                json_object_set_new(
                        spec, "tls",
                        json_pack("[{s:O, s:s}]", "hosts", tls_hosts, "secretName", tls_name));
        json_decref(tls_hosts);
        if (obj && a->tls && a->cluster_issuer && *a->cluster_issuer)
                json_object_set_new(
                        json_object_get(obj, "metadata"), "annotations",
                        json_pack("{s:s}", "cert-manager.io/cluster-issuer", a->cluster_issuer));
        return set(obj, "spec", spec);
}

/* Out: DNS anywhere in the cluster, and addresses outside the private
 * ranges (the internet, not the rest of the cluster). */
static json_t *egress(void)
{
        return json_pack("[{s:[{s:{}, s:{s:{s:s}}}], s:[{s:i, s:s}, {s:i, s:s}]},"
                         " {s:[{s:{s:s, s:[s, s, s]}}]}]",
                         "to", "namespaceSelector", "podSelector", "matchLabels", "k8s-app",
                         "kube-dns", "ports", "port", 53, "protocol", "UDP", "port", 53, "protocol",
                         "TCP", "to", "ipBlock", "cidr", "0.0.0.0/0", "except", "10.0.0.0/8",
                         "172.16.0.0/12", "192.168.0.0/16");
}

/* In: only from the ingress controller's namespace, on the app's port. */
json_t *k8s_manifest_network_policy(const struct k8s_app *a)
{
        const char *ingress_ns = a->ingress_namespace && *a->ingress_namespace
                                         ? a->ingress_namespace
                                         : "ingress-nginx";

        return set(object(a, "networking.k8s.io/v1", "NetworkPolicy", a->app), "spec",
                   json_pack("{s:o, s:[s, s], s:[{s:[{s:{s:{s:s}}}], s:[{s:i, s:s}]}], s:o}",
                             "podSelector", json_pack("{s:o}", "matchLabels", selector(a)),
                             "policyTypes", "Ingress", "Egress", "ingress", "from",
                             "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name",
                             ingress_ns, "ports", "port", (int)a->port, "protocol", "TCP", "egress",
                             egress()));
}

json_t *k8s_manifest_process_network_policy(const struct k8s_app *a)
{
        char name[K8S_NAME_MAX];

        if (a->n_processes == 0)
                return NULL;
        k8s_process_name(name, a->app, "processes");
        /* No ingress rule: nothing may connect to them. */
        return set(object(a, "networking.k8s.io/v1", "NetworkPolicy", name), "spec",
                   json_pack("{s:{s:{s:s}, s:[{s:s, s:s}]}, s:[s, s], s:[], s:o}", "podSelector",
                             "matchLabels", LABEL_NAME, a->app, "matchExpressions", "key",
                             K8S_LABEL_PROCESS, "operator", "Exists", "policyTypes", "Ingress",
                             "Egress", "ingress", "egress", egress()));
}

json_t *k8s_manifest_release_network_policy(const struct k8s_app *a)
{
        char name[K8S_NAME_MAX], ns[K8S_NAME_MAX];

        k8s_process_name(name, a->app, "release");
        k8s_namespace_name(ns, a->namespace_prefix, a->app);
        /* Not object(): no app-deployer.app label (the app's objects are
         * listed by it); the namespace's removal takes it. */
        return set(json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}}", "apiVersion",
                             "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata", "name",
                             name, "namespace", ns, "labels", LABEL_NAME, a->app, LABEL_MANAGED,
                             "app-deployer", K8S_LABEL_RELEASE, a->app),
                   "spec",
                   json_pack("{s:{s:{s:s}}, s:[s, s], s:[], s:o}", "podSelector", "matchLabels",
                             K8S_LABEL_RELEASE, a->app, "policyTypes", "Ingress", "Egress",
                             "ingress", "egress", egress()));
}

json_t *k8s_manifest_hpa(const struct k8s_app *a)
{
        if (!a->autoscale_max)
                return NULL;
        return set(object(a, "autoscaling/v2", "HorizontalPodAutoscaler", a->app), "spec",
                   json_pack("{s:{s:s, s:s, s:s}, s:i, s:i, s:[{s:s, s:{s:s, s:{s:s, s:i}}}]}",
                             "scaleTargetRef", "apiVersion", "apps/v1", "kind", "Deployment",
                             "name", a->app, "minReplicas", (int)a->autoscale_min, "maxReplicas",
                             (int)a->autoscale_max, "metrics", "type", "Resource", "resource",
                             "name", "cpu", "target", "type", "Utilization", "averageUtilization",
                             (int)a->autoscale_cpu));
}

static int append(json_t *all, json_t *o)
{
        if (o == NULL || json_array_append_new(all, o) < 0)
                return -1;
        return 0;
}

json_t *k8s_manifest_all(const struct k8s_app *a)
{
        json_t *(*const fns[])(const struct k8s_app *) = {
                k8s_manifest_namespace,      k8s_manifest_quota,   k8s_manifest_limit_range,
                k8s_manifest_config_map,     k8s_manifest_secret,  k8s_manifest_service,
                k8s_manifest_network_policy, k8s_manifest_ingress, k8s_manifest_deployment,
        };
        json_t *all = json_array();
        int ret = all ? 0 : -1;

        for (size_t i = 0; ret == 0 && i < sizeof(fns) / sizeof(fns[0]); i++)
                ret = append(all, fns[i](a));
        if (ret == 0 && a->n_processes)
                ret = append(all, k8s_manifest_process_network_policy(a));
        for (size_t i = 0; ret == 0 && i < a->n_processes; i++)
                ret = append(all, k8s_manifest_process_deployment(a, &a->processes[i]));
        if (ret == 0 && a->autoscale_max)
                ret = append(all, k8s_manifest_hpa(a));
        if (ret < 0) {
                json_decref(all);
                return NULL;
        }
        return all;
}
