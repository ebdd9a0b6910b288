#include "k8s_deploy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/fault.h"
#include "ad/names.h"
#include "ad/uuid.h"
#include "deploy.h"
#include "k8s_manifests.h"
#include "process.h"
#include "release_phase.h"

_Static_assert(K8S_PROCESS_SETTLE_S * 1000 == PROCESS_SETTLE_MS,
               "a process type is healthy after the same time on both backends");

#define DEFAULT_APP_PORT 8080
#define PATH_LEN 512
#define REASON_LEN 1024
/* Polls a pod problem must be seen in before the step gives up early
 * (an image pull or a crash loop can clear up once). */
#define FATAL_POLLS 3
#define UNSCHEDULABLE_POLLS 10

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static int parse_millicores(const char *v, long *out)
{
        char *end;
        double d;

        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || !(d > 0))
                return -1;
        if (*end == 'm' && end[1] == '\0')
                *out = (long)d;
        else if (*end == '\0')
                *out = (long)(d * 1000.0 + 0.5);
        else
                return -1;
        return *out > 0 ? 0 : -1;
}

const struct ad_config_key k8s_config[] = {
        { "kubernetes.kubeconfig", AD_CONFIG_STRING, NULL, 0, 0,
          "the cluster's kubeconfig (client certificate, token or tokenFile; the CA is "
          "required); empty: the in-cluster service account",
          "empty" },
        { "kubernetes.context", AD_CONFIG_STRING, NULL, 0, 0, "the kubeconfig's context to use",
          "current-context" },
        { "kubernetes.namespace_prefix", AD_CONFIG_STRING, "ad-", 0, 0,
          "apps get namespace `<prefix><app>`", NULL },
        { "kubernetes.ingress_class", AD_CONFIG_STRING, NULL, 0, 0,
          "`ingressClassName` of the Ingress", "empty" },
        { "kubernetes.cluster_issuer", AD_CONFIG_STRING, NULL, 0, 0,
          "the cert-manager ClusterIssuer annotation when `ingress.tls` is on", "empty" },
        { "kubernetes.ingress_namespace", AD_CONFIG_STRING, "ingress-nginx", 0, 0,
          "the only namespace the NetworkPolicy admits traffic from", NULL },
        { "kubernetes.service_type", AD_CONFIG_STRING, "ClusterIP", 0, 0,
          "or `NodePort` (a proxy outside the cluster in front of it)", NULL },
        { "kubernetes.address", AD_CONFIG_STRING, NULL, 0, 0,
          "the IP reported when the Ingress has no load-balancer address", "`ingress.address`" },
        { "kubernetes.image_registry", AD_CONFIG_STRING, NULL, 0, 0,
          "replaces the registry host of the image for the nodes (`registry.internal:5000`)",
          "empty" },
        /* Cores (2, 0.5, 500m), checked by parse_millicores. */
        { "kubernetes.quota_cpu", AD_CONFIG_STRING, "4", 0, 0,
          "CPU of the app namespace's ResourceQuota, in cores (`2`, `0.5`, `500m`)", NULL },
        { "kubernetes.quota_memory_mb", AD_CONFIG_INT, "4096", 16, 1 << 24,
          "memory of the app namespace's ResourceQuota", NULL },
        { "kubernetes.quota_pods", AD_CONFIG_INT, "20", 1, 10000,
          "pods of the app namespace's ResourceQuota", NULL },
        { "kubernetes.rollout_timeout_s", AD_CONFIG_INT, "300", 5, 3600,
          "how long the rollout is watched", NULL },
        { "kubernetes.poll_ms", AD_CONFIG_INT, "500", 50, 60000, "how often the rollout is watched",
          NULL },
        AD_CONFIG_END,
};

int k8s_backend_load(struct k8s_backend **out, const ad_config *cfg, ad_error_t *err)
{
        static const struct ad_config_key *const t[] = { k8s_config, NULL };
        struct k8s_backend *kb = calloc(1, sizeof(*kb));
        const char *cpu;
        int ret;

        if (kb == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        kb->namespace_prefix = ad_config_get_string(cfg, t, "kubernetes.namespace_prefix");
        kb->ingress_class = ad_config_get_string(cfg, t, "kubernetes.ingress_class");
        kb->cluster_issuer = ad_config_get_string(cfg, t, "kubernetes.cluster_issuer");
        kb->ingress_namespace = ad_config_get_string(cfg, t, "kubernetes.ingress_namespace");
        kb->service_type = ad_config_get_string(cfg, t, "kubernetes.service_type");
        kb->address = ad_config_get_string(cfg, t, "kubernetes.address");
        kb->image_registry = ad_config_get_string(cfg, t, "kubernetes.image_registry");
        cpu = ad_config_get_string(cfg, t, "kubernetes.quota_cpu");
        if (parse_millicores(cpu, &kb->quota_cpu_millis) < 0) {
                free(kb);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `kubernetes.quota_cpu`: expected cores (2, 0.5, 500m), "
                                     "got `%.40s`",
                                     cpu);
        }
        if (strcmp(kb->service_type, "ClusterIP") != 0 &&
            strcmp(kb->service_type, "NodePort") != 0) {
                const char *type = kb->service_type; /* cfg's */

                free(kb);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "key `kubernetes.service_type`: expected ClusterIP or "
                                     "NodePort, got `%.40s`",
                                     type);
        }
        if ((ret = ad_config_get_int(cfg, t, "kubernetes.quota_memory_mb", &kb->quota_memory_mb,
                                     err)) < 0 ||
            (ret = ad_config_get_int(cfg, t, "kubernetes.quota_pods", &kb->quota_pods, err)) < 0 ||
            (ret = ad_config_get_int(cfg, t, "kubernetes.rollout_timeout_s", &kb->rollout_timeout_s,
                                     err)) < 0 ||
            (ret = ad_config_get_int(cfg, t, "kubernetes.poll_ms", &kb->poll_ms, err)) < 0) {
                free(kb);
                return ret;
        }
        ret = k8s_client_open(&kb->client, ad_config_get_string(cfg, t, "kubernetes.kubeconfig"),
                              ad_config_get_string(cfg, t, "kubernetes.context"), err);
        if (ret < 0) {
                free(kb);
                return ret;
        }
        *out = kb;
        return 0;
}

void k8s_backend_free(struct k8s_backend *kb)
{
        if (kb == NULL)
                return;
        k8s_client_close(kb->client);
        free(kb);
}

/* --- inputs -------------------------------------------------------------- */

struct inputs {
        struct k8s_env *env;
        size_t n_env;
        char image[512];
        char host[INGRESS_HOST_MAX];
};

static void inputs_clear(struct inputs *in)
{
        for (size_t i = 0; in->env && i < in->n_env; i++) {
                if (in->env[i].secret && in->env[i].value) {
                        explicit_bzero((char *)in->env[i].value, strlen(in->env[i].value));
                        free((char *)in->env[i].value);
                }
        }
        free(in->env);
        in->env = NULL;
        in->n_env = 0;
}

/* The app's env: plain values go to the ConfigMap as they are; sealed ones
 * are opened here and go to the Secret (the deployer holds the key). */
static int collect_env(struct deployer *dp, const Appdeployer__V1__DeployProvisioned *pv,
                       struct inputs *in, ad_error_t *err)
{
        in->env = calloc(pv->n_env + 1, sizeof(*in->env));
        if (in->env == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        for (size_t i = 0; i < pv->n_env; i++) {
                const char *name = pv->env[i]->name, *value = pv->env[i]->value;
                struct k8s_env *e = &in->env[in->n_env];

                if (name == NULL || strcmp(name, "PORT") == 0)
                        continue; /* the platform owns PORT */
                e->name = name;
                if (ad_secret_is_sealed(value)) {
                        char *plain = NULL;
                        int ret;

                        if (!dp->have_key)
                                return ad_error_make(err, AD_ERR_INVALID, 0,
                                                     "%s is sealed but the deployer has no "
                                                     "secrets.key",
                                                     name);
                        ret = ad_secret_open(&plain, &dp->keys, pv->app_name, name, value, err);
                        if (ret < 0)
                                return ad_error_wrap(err, "environment variable %s", name);
                        e->value = plain;
                        e->secret = true;
                } else {
                        e->value = value ? value : "";
                }
                in->n_env++;
        }
        return 0;
}

/* "10001:10001" -> uid, gid (the gid defaults to the uid). */
static int parse_user(const char *user, long *uid, long *gid, ad_error_t *err)
{
        char *end;

        errno = 0;
        *uid = strtol(user, &end, 10);
        if (errno || end == user || *uid <= 0)
                goto bad;
        if (*end == '\0') {
                *gid = *uid;
                return 0;
        }
        if (*end != ':')
                goto bad;
        user = end + 1;
        *gid = strtol(user, &end, 10);
        if (errno || end == user || *end || *gid <= 0)
                goto bad;
        return 0;
bad:
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "deployer.user `%.40s`: the kubernetes backend needs a numeric "
                             "uid[:gid] other than 0 (runAsUser)",
                             user);
}

/* deployer.yaml's autoscaling, from the analysis the coordinator stored
 * (min 1 and cpu 80 when not given; no max: no HPA). */
struct autoscaling_row {
        int min, max, cpu;
};

static const struct ad_db_field autoscaling_fields[] = {
        AD_DB_FIELD(struct autoscaling_row, min, AD_DB_INT, "min"),
        AD_DB_FIELD(struct autoscaling_row, max, AD_DB_INT, "max"),
        AD_DB_FIELD(struct autoscaling_row, cpu, AD_DB_INT, "cpu"),
        AD_DB_FIELDS_END,
};

static int load_autoscaling(struct deployer *dp, const char *deployment_id, struct k8s_app *a,
                            ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { deployment_id };
        struct autoscaling_row row = { 0 };
        int ret = ad_db_exec(dp->svc->db, &r,
                             "SELECT COALESCE((analysis->'autoscaling'->>'min')::int, 1) AS min, "
                             "(analysis->'autoscaling'->>'max')::int AS max, "
                             "COALESCE((analysis->'autoscaling'->>'cpuPercent')::int, 80) AS cpu "
                             "FROM deployments WHERE id = $1::uuid AND "
                             "jsonb_typeof(analysis->'autoscaling') = 'object' AND "
                             "analysis->'autoscaling'->>'max' IS NOT NULL",
                             1, p, err);

        if (ret < 0 || PQntuples(r) == 0)
                return ret;
        if ((ret = ad_db_read_row(r, 0, autoscaling_fields, &row, err)) < 0)
                return ad_error_wrap(err, "the deployment's autoscaling");
        if (row.min < 0 || row.max < 0 || row.cpu < 0)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "autoscaling: min %d, max %d, cpuPercent %d: expected "
                                     "numbers of 0 or more",
                                     row.min, row.max, row.cpu);
        a->autoscale_min = (unsigned)row.min;
        a->autoscale_max = (unsigned)row.max;
        a->autoscale_cpu = (unsigned)row.cpu;
        return 0;
}

/* The image as the nodes see it: kubernetes.image_registry replaces the
 * registry host of the reference. */
static int node_image(const struct k8s_backend *kb, const char *image, char *out, size_t size,
                      ad_error_t *err)
{
        const char *slash = strchr(image, '/');
        int n;

        if (*kb->image_registry && slash)
                n = snprintf(out, size, "%s%s", kb->image_registry, slash);
        else
                n = snprintf(out, size, "%s", image);
        if (n < 0 || (size_t)n >= size)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "image reference too long");
        return 0;
}

/* The reference pinned to the registry's manifest digest: name@sha256:...
 * in place of name:tag, so every node runs exactly the image the build
 * pushed (a tag can move).  A missing or malformed digest (an event from
 * an older builder) keeps the tag. */
static int pin_digest(char *image, size_t size, const char *digest, ad_error_t *err)
{
        const char *slash, *colon;
        size_t name_len;
        int n;

        if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64 ||
            strspn(digest + 7, "0123456789abcdef") != 64 || strchr(image, '@') != NULL)
                return 0;
        slash = strrchr(image, '/');
        colon = strrchr(slash ? slash : image, ':');
        name_len = colon ? (size_t)(colon - image) : strlen(image);
        n = snprintf(image + name_len, size - name_len, "@%s", digest);
        if (n < 0 || (size_t)n >= size - name_len)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "image reference too long");
        return 0;
}

/* --- waits --------------------------------------------------------------- */

static bool past(int64_t deadline)
{
        return ad_monotonic_ms() >= deadline;
}

/* A namespace being deleted (an earlier DELETE, a compensation) takes no
 * new objects: wait until it is gone.  1: gone, 0: still there at the
 * deadline. */
static int wait_namespace_gone(struct k8s_backend *kb, const char *path, int64_t deadline,
                               ad_error_t *err)
{
        for (;;) {
                json_auto_t *ns = NULL;
                cleanup_error ad_error_t lerr = NULL;
                int ret = k8s_get(kb->client, path, &ns, &lerr);

                if (ret == -AD_ERR_NOT_FOUND)
                        return 1;
                if (ret < 0) {
                        if (err)
                                *err = TAKE_PTR(lerr);
                        return ret;
                }
                if (past(deadline) || ad_service_stopping())
                        return 0;
                sleep_ms(kb->poll_ms);
        }
}

static bool is_terminating(const json_t *ns)
{
        const char *phase =
                json_string_value(json_object_get(json_object_get(ns, "status"), "phase"));

        return phase && strcmp(phase, "Terminating") == 0;
}

/* Quota admission refuses pods with "status unknown for quota" until the
 * quota controller has computed its usage: wait for that (and for the
 * namespace's default service account, which pod admission looks up). */
static void wait_namespace_ready(struct k8s_backend *kb, const char *ns, int64_t deadline)
{
        char qpath[PATH_LEN], sapath[PATH_LEN];

        snprintf(qpath, sizeof(qpath), "/api/v1/namespaces/%s/resourcequotas/quota", ns);
        snprintf(sapath, sizeof(sapath), "/api/v1/namespaces/%s/serviceaccounts/default", ns);
        while (!past(deadline) && !ad_service_stopping()) {
                json_auto_t *q = NULL;
                json_auto_t *sa = NULL;
                bool quota_ok =
                        k8s_get(kb->client, qpath, &q, NULL) == 0 &&
                        json_object_size(json_object_get(json_object_get(q, "status"), "hard")) > 0;
                bool sa_ok = k8s_get(kb->client, sapath, &sa, NULL) == 0;

                if (quota_ok && sa_ok)
                        return;
                sleep_ms(kb->poll_ms);
        }
}

static const json_t *condition(const json_t *status, const char *type)
{
        const json_t *c;
        size_t i;

        json_array_foreach (json_object_get(status, "conditions"), i, c) {
                const char *t = json_string_value(json_object_get(c, "type"));

                if (t && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

static bool cond_is(const json_t *c, const char *status)
{
        const char *s = json_string_value(json_object_get(c, "status"));

        return s && strcmp(s, status) == 0;
}

static const char *str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));

        return s ? s : "";
}

static long num(const json_t *o, const char *key)
{
        return (long)json_integer_value(json_object_get(o, key));
}

struct pod_problem {
        char what[REASON_LEN];
        bool fatal;
        bool unschedulable;
};

/* What keeps the release's pods from being ready, as Kubernetes says it. */
static void pod_problems(struct k8s_backend *kb, const char *ns, const char *deployment_id,
                         struct pod_problem *pp)
{
        char path[PATH_LEN];
        json_auto_t *list = NULL;
        const json_t *pod;
        size_t i;

        memset(pp, 0, sizeof(*pp));
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s%%3D%s", ns,
                 AD_LABEL_DEPLOYMENT, deployment_id);
        if (k8s_get(kb->client, path, &list, NULL) < 0)
                return;
        json_array_foreach (json_object_get(list, "items"), i, pod) {
                const json_t *status = json_object_get(pod, "status"), *cs;
                const json_t *sched = condition(status, "PodScheduled");
                const char *name = str(json_object_get(pod, "metadata"), "name");
                size_t j;

                if (sched && cond_is(sched, "False") &&
                    strcmp(str(sched, "reason"), "Unschedulable") == 0) {
                        snprintf(pp->what, sizeof(pp->what), "pod %s is unschedulable: %s", name,
                                 str(sched, "message"));
                        pp->unschedulable = true;
                        return;
                }
                json_array_foreach (json_object_get(status, "containerStatuses"), j, cs) {
                        const json_t *w = json_object_get(json_object_get(cs, "state"), "waiting");
                        const char *reason = str(w, "reason");
                        static const char *const fatal[] = {
                                "ImagePullBackOff",           "ErrImagePull",
                                "CrashLoopBackOff",           "InvalidImageName",
                                "CreateContainerError",       "ErrImageNeverPull",
                                "CreateContainerConfigError",
                        };

                        for (size_t k = 0; w && k < AD_ARRAY_SIZE(fatal); k++)
                                if (strcmp(reason, fatal[k]) == 0) {
                                        snprintf(pp->what, sizeof(pp->what), "pod %s: %s: %s", name,
                                                 reason, str(w, "message"));
                                        pp->fatal = true;
                                        return;
                                }
                }
        }
}

struct rollout {
        bool ok;
        char reason[REASON_LEN * 3];
        long ready;
        long ms;
};

/* Until the Deployment's controller has seen this generation and every
 * replica is updated and available (old ones gone), or Kubernetes says it
 * cannot be. */
static int wait_rollout(struct ad_step_run *run, struct k8s_backend *kb, const char *ns,
                        const char *app, struct rollout *ro, ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        int64_t t0 = ad_monotonic_ms(), deadline = t0 + kb->rollout_timeout_s * 1000;
        char path[PATH_LEN], seen[REASON_LEN] = "not observed yet";
        int fatal_polls = 0, unsched_polls = 0;
        struct pod_problem pp = { 0 };

        memset(ro, 0, sizeof(*ro));
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns, app);
        for (;;) {
                json_auto_t *d = NULL;
                const json_t *spec, *st, *c;
                long want, gen, og, updated, available, total, unavailable;
                int ret = k8s_get(kb->client, path, &d, err);

                if (ret < 0)
                        return ret;
                spec = json_object_get(d, "spec");
                st = json_object_get(d, "status");
                want = json_object_get(spec, "replicas") ? num(spec, "replicas") : 1;
                gen = num(json_object_get(d, "metadata"), "generation");
                og = num(st, "observedGeneration");
                updated = num(st, "updatedReplicas");
                available = num(st, "availableReplicas");
                total = num(st, "replicas");
                unavailable = num(st, "unavailableReplicas");
                ro->ready = num(st, "readyReplicas");
                snprintf(seen, sizeof(seen),
                         "%ld of %ld replicas updated, %ld available, %ld in all (generation "
                         "%ld observed %ld)",
                         updated, want, available, total, gen, og);
                if (og >= gen && updated == want && available >= want && total == want &&
                    unavailable == 0) {
                        ro->ok = true;
                        ro->ms = (long)(ad_monotonic_ms() - t0);
                        return 0;
                }
                c = condition(st, "ReplicaFailure");
                if (og >= gen && c && cond_is(c, "True") &&
                    (strstr(str(c, "message"), "exceeded quota") ||
                     strstr(str(c, "message"), "forbidden: maximum") ||
                     strstr(str(c, "message"), "forbidden: minimum"))) {
                        snprintf(ro->reason, sizeof(ro->reason),
                                 "Kubernetes refused the release's pods (%.100s): %.1500s",
                                 str(c, "reason"), str(c, "message"));
                        break;
                }
                c = condition(st, "Progressing");
                if (og >= gen && c && cond_is(c, "False") &&
                    strcmp(str(c, "reason"), "ProgressDeadlineExceeded") == 0) {
                        snprintf(ro->reason, sizeof(ro->reason), "rollout stalled: %.1000s (%s)",
                                 str(c, "message"), seen);
                        break;
                }
                pod_problems(kb, ns, dep, &pp);
                fatal_polls = pp.fatal ? fatal_polls + 1 : 0;
                unsched_polls = pp.unschedulable ? unsched_polls + 1 : 0;
                if (fatal_polls >= FATAL_POLLS || unsched_polls >= UNSCHEDULABLE_POLLS) {
                        snprintf(ro->reason, sizeof(ro->reason), "rollout failed: %s (%s)", pp.what,
                                 seen);
                        break;
                }
                if (past(deadline)) {
                        snprintf(ro->reason, sizeof(ro->reason),
                                 "rollout did not finish within %ld s (kubernetes."
                                 "rollout_timeout_s): %s%s%s",
                                 kb->rollout_timeout_s, seen, *pp.what ? "; " : "", pp.what);
                        break;
                }
                if (ad_service_stopping())
                        return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                             "deployer stopping while waiting for the rollout");
                sleep_ms(kb->poll_ms);
        }
        ro->ms = (long)(ad_monotonic_ms() - t0);
        ad_step_log_str(run, "rollout", seen);
        return 0;
}

/* A process type's pods of this release that restarted or ended (the
 * engine's rule: still running, not restarted, after the settle time).
 * 1 with why filled when one did. */
static int process_restarted(struct k8s_backend *kb, const char *ns, const char *dep,
                             const char *type, char *why, size_t size)
{
        char path[PATH_LEN];
        json_auto_t *list = NULL;
        const json_t *pod, *cs;
        size_t i, j;

        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/pods?labelSelector=%s%%3D%s%%2C%s%%3D%s", ns,
                 AD_LABEL_DEPLOYMENT, dep, K8S_LABEL_PROCESS, type);
        if (k8s_get(kb->client, path, &list, NULL) < 0)
                return 0;
        json_array_foreach (json_object_get(list, "items"), i, pod) {
                if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
                        continue;
                json_array_foreach (
                        json_object_get(json_object_get(pod, "status"), "containerStatuses"), j,
                        cs) {
                        const json_t *term =
                                json_object_get(json_object_get(cs, "state"), "terminated");

                        if (num(cs, "restartCount") == 0 && term == NULL)
                                continue;
                        snprintf(why, size,
                                 "process %s (pod %s) did not keep running for %d s after its "
                                 "start (restarted %ld times%s%s); the previous release, if any, "
                                 "keeps running",
                                 type, str(json_object_get(pod, "metadata"), "name"),
                                 K8S_PROCESS_SETTLE_S, num(cs, "restartCount"),
                                 term ? ", terminated: " : "", term ? str(term, "reason") : "");
                        return 1;
                }
        }
        return 0;
}

/* After a release is live: the Deployments of process types it no longer
 * declares go, and the processes' NetworkPolicy when it has none. */
static void prune_processes(struct k8s_backend *kb, const char *ns, const struct k8s_app *a)
{
        char path[PATH_LEN];
        json_auto_t *list = NULL;
        const json_t *d;
        size_t i;

        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments?labelSelector=%s", ns,
                 K8S_LABEL_PROCESS);
        if (k8s_get(kb->client, path, &list, NULL) < 0)
                return;
        json_array_foreach (json_object_get(list, "items"), i, d) {
                const json_t *md = json_object_get(d, "metadata");
                const char *type = json_string_value(
                        json_object_get(json_object_get(md, "labels"), K8S_LABEL_PROCESS));
                bool declared = false;

                for (size_t k = 0; type && k < a->n_processes; k++)
                        declared = declared || strcmp(a->processes[k].name, type) == 0;
                if (declared)
                        continue;
                snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns,
                         str(md, "name"));
                k8s_delete(kb->client, path, NULL);
        }
        if (a->n_processes == 0) {
                char name[K8S_NAME_MAX];

                k8s_process_name(name, a->app, "processes");
                snprintf(path, sizeof(path),
                         "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/%s", ns, name);
                k8s_delete(kb->client, path, NULL);
        }
}

/* --- the steps ----------------------------------------------------------- */

/* The deploy step's moments as this backend sees them (wall clock, ms):
 * the web Deployment applied, its rollout available, every Deployment of
 * the release rolled out (the Service then selects only its pods). */
struct k8s_moments {
        int64_t applied, available, switched;
};

static int publish_exposed(struct ad_step_run *run, struct deployer *dp, struct k8s_backend *kb,
                           const Appdeployer__V1__DeployProvisioned *pv, const char *ns,
                           const char *url, long replicas, const struct k8s_moments *at,
                           ad_error_t *err)
{
        Appdeployer__V1__DeployExposed out = APPDEPLOYER__V1__DEPLOY_EXPOSED__INIT;
        char path[PATH_LEN], ids[DEPLOYER_REPLICAS_MAX][K8S_NAME_MAX * 2];
        char *idp[DEPLOYER_REPLICAS_MAX];
        Appdeployer__V1__Process procs[AD_PROCESSES_MAX], *procp[AD_PROCESSES_MAX];
        json_auto_t *ing = NULL;
        json_auto_t *pods = NULL;
        const json_t *lb0, *pod;
        const char *ip = NULL;
        size_t i, n = 0;
        ad_envelope env;

        /* The address clients reach: the Ingress's load balancer when the
         * cluster has one, else the configured one. */
        snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s", ns,
                 pv->app_name);
        if (k8s_get(kb->client, path, &ing, NULL) == 0) {
                lb0 = json_array_get(json_object_get(json_object_get(json_object_get(ing, "status"),
                                                                     "loadBalancer"),
                                                     "ingress"),
                                     0);
                ip = json_string_value(json_object_get(lb0, "ip"));
                if (ip == NULL)
                        ip = json_string_value(json_object_get(lb0, "hostname"));
        }
        if (ip == NULL)
                ip = *kb->address ? kb->address : dp->ingress.address;
        /* The release's pods stand for the engine's container ids. */
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s%%3D%s%%2C%%21%s",
                 ns, AD_LABEL_DEPLOYMENT, run->in->deployment_id, K8S_LABEL_PROCESS);
        if (k8s_get(kb->client, path, &pods, NULL) == 0)
                json_array_foreach (json_object_get(pods, "items"), i, pod) {
                        if (n >= AD_ARRAY_SIZE(ids))
                                break;
                        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
                                continue;
                        snprintf(ids[n], sizeof(ids[n]), "%s/%s", ns,
                                 str(json_object_get(pod, "metadata"), "name"));
                        idp[n] = ids[n];
                        n++;
                }
        out.url = (char *)url;
        out.ip = (char *)ip;
        out.replicas = (uint32_t)replicas;
        out.n_container_ids = n;
        out.container_ids = idp;
        out.app_name = pv->app_name;
        out.containers_started_ms = at->applied;
        out.healthy_ms = at->available;
        out.route_switched_ms = at->switched;
        process_exposed(pv, procs, procp, &out.n_processes);
        out.processes = procp;
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED;
        env.exposed = &out;
        return ad_step_publish(run, AD_SUBJECT_EXPOSED, &env, err);
}

/* Removes the env ConfigMaps and Secrets of the app's other releases (the
 * new pods no longer read them). Best effort. */
static void prune_env(struct k8s_backend *kb, const char *ns, const char *app, const char *dep)
{
        static const char *const kinds[] = { "configmaps", "secrets" };
        char path[PATH_LEN];

        for (size_t i = 0; i < AD_ARRAY_SIZE(kinds); i++) {
                snprintf(path, sizeof(path),
                         "/api/v1/namespaces/%s/%s?labelSelector=%s%%3D%s%%2C%s%%21%%3D%s", ns,
                         kinds[i], AD_LABEL_APP, app, AD_LABEL_DEPLOYMENT, dep);
                k8s_delete(kb->client, path, NULL);
        }
}

/* An error the same input will meet again: the step fails (not retried)
 * with its message as the reason. */
static int fail_with(struct ad_step_run *run, ad_error_t *err)
{
        cleanup_free char *reason = strdup(err && *err ? ad_error_message(*err) : "invalid input");

        if (err)
                ad_error_release(err);
        return ad_step_fail(run, false, reason ? reason : "invalid input", err);
}

/* One text column, `name`: a domain, a deployment id, an app name. */
struct name_row {
        const char *name;
};

static const struct ad_db_field name_fields[] = {
        AD_DB_FIELD(struct name_row, name, AD_DB_TEXT, "name"),
        AD_DB_FIELDS_END,
};

int k8s_domains_apply(struct deployer *dp, const char *app, const json_t *domains, ad_error_t *err)
{
        struct k8s_backend *kb = dp->k8s;
        char ns[K8S_NAME_MAX], path[PATH_LEN];
        const char *names[AD_APP_DOMAINS_MAX];
        json_auto_t *cur = NULL;
        json_auto_t *obj = NULL;
        struct k8s_app a = { 0 };
        const json_t *spec, *d;
        size_t i;
        int ret;

        k8s_namespace_name(ns, kb->namespace_prefix, app);
        snprintf(path, sizeof(path), "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s", ns,
                 app);
        ret = k8s_get(kb->client, path, &cur, err);
        if (ret == -AD_ERR_NOT_FOUND) { /* not served yet: its first release adds them */
                if (err)
                        ad_error_release(err);
                return 0;
        }
        if (ret < 0)
                return ret;
        /* The Ingress as its release made it, with these domains. */
        spec = json_object_get(cur, "spec");
        a.app = app;
        a.namespace_prefix = kb->namespace_prefix;
        a.deployment_id = json_string_value(json_object_get(
                json_object_get(json_object_get(cur, "metadata"), "labels"), AD_LABEL_DEPLOYMENT));
        a.host = json_string_value(
                json_object_get(json_array_get(json_object_get(spec, "rules"), 0), "host"));
        a.tls = json_array_size(json_object_get(spec, "tls")) > 0;
        a.ingress_class = kb->ingress_class;
        a.cluster_issuer = kb->cluster_issuer;
        if (a.deployment_id == NULL || a.host == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "the app's Ingress has no deployment label or host");
        json_array_foreach (domains, i, d) {
                if (i >= AD_APP_DOMAINS_MAX)
                        break;
                names[i] = json_string_value(d);
                a.n_domains = i + 1;
        }
        a.domains = names;
        if ((obj = k8s_manifest_ingress(&a)) == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ret = k8s_apply(kb->client, obj, NULL, err);
        return ret < 0 ? ad_error_wrap(err, "apply Ingress %s", app) : 0;
}

/* --- the release phase --------------------------------------------------- */

/* The release Job's pod is given this long beyond deployer.release_timeout_s
 * to be scheduled and started before it counts as timed out. */
#define RELEASE_GRACE_MS 5000

/* The release Job's pod, as the API has it now (NULL: none yet). */
static int release_pod(struct k8s_backend *kb, const char *ns, const char *job, json_t **pod,
                       ad_error_t *err)
{
        char path[PATH_LEN];
        json_auto_t *list = NULL;
        int ret;

        *pod = NULL;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=job-name%%3D%s", ns,
                 job);
        if ((ret = k8s_get(kb->client, path, &list, err)) < 0)
                return ret;
        *pod = json_incref(json_array_get(json_object_get(list, "items"), 0));
        return 0;
}

struct release_outcome {
        int exit_code;
        bool timed_out;
        char pod[K8S_NAME_MAX];
        char problem[REASON_LEN]; /* a pod that cannot start (image, config) */
};

/* Until the Job's pod has ended, the Job has failed (its deadline), or the
 * deployer's own deadline; a deployer stopping leaves the Job running for
 * the redelivery (AD_ERR_UNAVAILABLE). */
static int release_wait(struct deployer *dp, struct k8s_backend *kb, const char *ns,
                        const char *job, struct release_outcome *o, ad_error_t *err)
{
        int64_t deadline = ad_monotonic_ms() + dp->release_timeout_s * 1000 + RELEASE_GRACE_MS;
        char path[PATH_LEN];
        long pause = 50; /* doubling to kubernetes.poll_ms: a short command is seen soon */
        int fatal_polls = 0;

        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, job);
        for (;;) {
                json_auto_t *j = NULL;
                json_auto_t *pod = NULL;
                const json_t *st, *c, *cs, *term, *w;
                int ret;

                if ((ret = k8s_get(kb->client, path, &j, err)) < 0 ||
                    (ret = release_pod(kb, ns, job, &pod, err)) < 0)
                        return ret;
                if (pod)
                        snprintf(o->pod, sizeof(o->pod), "%s",
                                 str(json_object_get(pod, "metadata"), "name"));
                st = json_object_get(pod, "status");
                cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
                term = json_object_get(json_object_get(cs, "state"), "terminated");
                w = json_object_get(json_object_get(cs, "state"), "waiting");
                if (term && (strcmp(str(st, "phase"), "Succeeded") == 0 ||
                             strcmp(str(st, "phase"), "Failed") == 0)) {
                        o->exit_code = (int)num(term, "exitCode");
                        o->timed_out = strcmp(str(st, "reason"), "DeadlineExceeded") == 0;
                        return 0;
                }
                c = condition(json_object_get(j, "status"), "Failed");
                if (c && cond_is(c, "True")) {
                        /* Its deadline (the pod killed, or never started),
                         * or a pod that ended with no status to read. */
                        o->timed_out = strcmp(str(c, "reason"), "DeadlineExceeded") == 0;
                        o->exit_code = o->timed_out ? 137 : 1;
                        return 0;
                }
                if (w && (strcmp(str(w, "reason"), "ErrImagePull") == 0 ||
                          strcmp(str(w, "reason"), "ImagePullBackOff") == 0 ||
                          strcmp(str(w, "reason"), "CreateContainerConfigError") == 0 ||
                          strcmp(str(w, "reason"), "InvalidImageName") == 0)) {
                        if (++fatal_polls >= FATAL_POLLS) {
                                snprintf(o->problem, sizeof(o->problem),
                                         "the release command's pod %s did not start: %s: %.300s",
                                         o->pod, str(w, "reason"), str(w, "message"));
                                return 0;
                        }
                } else {
                        fatal_polls = 0;
                }
                if (past(deadline)) {
                        o->timed_out = true;
                        o->exit_code = 137;
                        return 0;
                }
                if (ad_service_stopping())
                        return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                             "deployer stopping while the release command runs");
                sleep_ms(pause);
                pause = pause * 2 > kb->poll_ms ? kb->poll_ms : pause * 2;
        }
}

/* The release phase on the cluster (release_phase.h has the engine's):
 * the Job <app>-release-<12 hex> runs pv's release command once, before
 * any Deployment of the release is applied; its pod's log goes into the
 * deployment's log as the engine path stores it, and the Job goes (its
 * pod with it).  0: no command, or it succeeded (now or in an earlier
 * attempt).  1: it failed or timed out, the step is failed.  Negative: an
 * error for the runner; a redelivery finds the Job and waits for it
 * rather than running the command again. */
static int k8s_release_phase(struct ad_step_run *run, struct deployer *dp, struct k8s_backend *kb,
                             const Appdeployer__V1__DeployProvisioned *pv, const struct k8s_app *a,
                             const char *ns, ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        char name[K8S_NAME_MAX], jpath[PATH_LEN], lpath[PATH_LEN * 2];
        json_auto_t *np = NULL;
        json_auto_t *job = NULL;
        json_auto_t *cur = NULL;
        cleanup_free char *logs = NULL;
        cleanup_free char *reason = NULL;
        cleanup_error ad_error_t lerr = NULL;
        struct release_outcome o = { 0 };
        bool reused = false;
        size_t len = 0;
        int64_t t0 = ad_monotonic_ms();
        int ret;

        ret = release_phase_needed(run, dp, pv, dep, err);
        if (ret <= 0)
                return ret;
        k8s_release_job_name(name, a->app, dep);
        snprintf(jpath, sizeof(jpath), "/apis/batch/v1/namespaces/%s/jobs/%s", ns, name);
        np = k8s_manifest_release_network_policy(a);
        job = k8s_manifest_release_job(a, pv->release_command, dp->release_timeout_s);
        if (np == NULL || job == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        if ((ret = k8s_apply(kb->client, np, NULL, err)) < 0)
                return ad_error_wrap(err, "apply NetworkPolicy %s-release", a->app);
        /* A Job of this deployment that is there already (an earlier
         * attempt's) is waited for and read, not run again; applying it
         * again could not change its pod template anyway. */
        ret = k8s_get(kb->client, jpath, &cur, &lerr);
        if (ret == 0) {
                reused = true;
        } else if (ret == -AD_ERR_NOT_FOUND) {
                ad_error_release(&lerr);
                ret = k8s_apply(kb->client, job, NULL, err);
                if (ret == -AD_ERR_INVALID)
                        return ad_step_fail(run, false, ad_error_message(err ? *err : NULL), err);
                if (ret < 0)
                        return ad_error_wrap(err, "create the release Job %s", name);
        } else {
                if (err)
                        *err = TAKE_PTR(lerr);
                return ret;
        }
        ad_step_log_str(run, "release_job", name);
        ad_step_log_int(run, "release_reused", reused);
        if ((ret = release_wait(dp, kb, ns, name, &o, err)) < 0)
                return ret; /* the Job stays: the redelivery waits for it */
        ad_step_log_int(run, "release_exit_code", o.exit_code);
        ad_step_log_int(run, "release_phase_ms", (long long)(ad_monotonic_ms() - t0));
        if (*o.problem) {
                k8s_delete(kb->client, jpath, NULL);
                ret = ad_step_fail(run, false, o.problem, err);
                return ret < 0 ? ret : 1;
        }
        if (*o.pod) {
                /* Bounded as the engine path's: the last lines, at most
                 * so many bytes. */
                snprintf(lpath, sizeof(lpath),
                         "/api/v1/namespaces/%s/pods/%s/log?tailLines=%d&limitBytes=%d", ns, o.pod,
                         RELEASE_LOG_LINES, RELEASE_LOG_BYTES);
                if (k8s_get_text(kb->client, lpath, &logs, &len, &lerr) < 0) {
                        if (!o.timed_out)
                                ad_step_log_str(run, "release_logs_error", ad_error_message(lerr));
                        ad_error_release(&lerr);
                }
        }
        ret = release_phase_record(run, dp, dep, logs, o.exit_code, o.timed_out, &reason, err);
        if (ret < 0)
                return ret; /* the Job stays: the redelivery reads it again */
        /* Background propagation: its pod goes too. */
        if (k8s_delete(kb->client, jpath, &lerr) < 0) {
                ad_step_log_str(run, "release_delete_error", ad_error_message(lerr));
                ad_error_release(&lerr);
        }
        if (ret == 0)
                return 0;
        ret = ad_step_fail(run, false, reason ? reason : "release command failed", err);
        return ret < 0 ? ret : 1;
}

int k8s_deploy_run(struct ad_step_run *run, ad_error_t *err)
{
        struct deployer *dp = run->def->ud;
        struct k8s_backend *kb = dp->k8s;
        const Appdeployer__V1__DeployProvisioned *pv = run->in->provisioned;
        const char *dep = run->in->deployment_id;
        char ns[K8S_NAME_MAX], ns_path[PATH_LEN];
        struct inputs in = { 0 };
        struct k8s_app a = { 0 };
        json_auto_t *objs = NULL;
        json_auto_t *cur = NULL;
        cleanup_pgresult PGresult *dr = NULL;
        const char *domains[AD_APP_DOMAINS_MAX];
        struct k8s_process procs[AD_PROCESSES_MAX];
        struct rollout ro;
        long web_ready;
        bool released = false;
        struct k8s_moments at = { 0 };
        int64_t deadline = ad_monotonic_ms() + kb->rollout_timeout_s * 1000;
        const json_t *o;
        size_t i;
        int ret;

        ad_step_log_str(run, "app", pv->app_name);
        ad_step_log_str(run, "backend", "kubernetes");
        if (pv->image == NULL || *pv->image == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "deploy.provisioned has no image");
        a.app = pv->app_name;
        a.deployment_id = dep;
        a.namespace_prefix = kb->namespace_prefix;
        a.port = pv->port ? pv->port : DEFAULT_APP_PORT;
        a.replicas = pv->resources && pv->resources->replicas ? pv->resources->replicas : 1;
        if (a.replicas > (unsigned)dp->max_replicas) {
                char reason[300];

                snprintf(reason, sizeof(reason),
                         "the app asks for %u replicas; this platform runs at most %ld per "
                         "deployment (deployer.max_replicas): lower `replicas` in deployer.yaml",
                         a.replicas, dp->max_replicas);
                return ad_step_fail(run, false, reason, err);
        }
        {
                double cpus = pv->resources && pv->resources->cpu > 0 ? pv->resources->cpu
                                                                      : dp->default_cpus;

                a.cpu_millis = (long)(cpus * 1000.0 + 0.5);
                if (a.cpu_millis < 1)
                        a.cpu_millis = 1;
        }
        a.memory_mb = pv->resources && pv->resources->memory_mb ? (long)pv->resources->memory_mb
                                                                : dp->default_memory_mb;
        a.tls = pv->tls;
        a.ingress_class = kb->ingress_class;
        a.cluster_issuer = kb->cluster_issuer;
        a.ingress_namespace = kb->ingress_namespace;
        a.service_type = kb->service_type;
        a.quota_cpu_millis = kb->quota_cpu_millis;
        a.quota_memory_mb = kb->quota_memory_mb;
        a.quota_pods = kb->quota_pods;
        a.progress_deadline_s = kb->rollout_timeout_s;
        /* process_count (deploy.c) checked them: names, commands, bounds. */
        for (i = 0; i < pv->n_processes && i < AD_PROCESSES_MAX; i++) {
                procs[i].name = pv->processes[i]->name;
                procs[i].command = pv->processes[i]->command;
                procs[i].replicas = pv->processes[i]->replicas;
        }
        a.processes = procs;
        a.n_processes = i;
        if ((ret = parse_user(dp->user, &a.uid, &a.gid, err)) < 0 ||
            (ret = node_image(kb, pv->image, in.image, sizeof(in.image), err)) < 0 ||
            (ret = pin_digest(in.image, sizeof(in.image), pv->image_digest, err)) < 0 ||
            (ret = load_autoscaling(dp, dep, &a, err)) < 0)
                return ret;
        a.image = in.image;
        if (pv->host_name && *pv->host_name)
                snprintf(in.host, sizeof(in.host), "%s", pv->host_name);
        else
                ingress_host(in.host, &dp->ingress, pv->app_name);
        a.host = in.host;
        ret = domains_load(dp, pv->app_name, &dr, domains, &a.n_domains, err);
        a.domains = domains;
        if (ret == 0)
                ret = collect_env(dp, pv, &in, err);
        if (ret == 0) {
                a.env = in.env;
                a.n_env = in.n_env;
                ret = k8s_app_check(&a, err);
        }
        if (ret == 0) {
                objs = k8s_manifest_all(&a);
                if (objs == NULL)
                        ret = ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        inputs_clear(&in); /* the Secret's data is in objs now */
        a.env = NULL;
        a.n_env = 0;
        if (ret == -AD_ERR_INVALID)
                return fail_with(run, err);
        if (ret < 0)
                return ret;
        k8s_namespace_name(ns, kb->namespace_prefix, pv->app_name);
        ad_step_log_str(run, "namespace", ns);
        ad_step_log_str(run, "image", a.image);
        if (a.autoscale_max)
                ad_step_log_int(run, "autoscale_max", a.autoscale_max);

        /* A namespace still terminating takes nothing new. */
        snprintf(ns_path, sizeof(ns_path), "/api/v1/namespaces/%s", ns);
        ret = k8s_get(kb->client, ns_path, &cur, NULL);
        if (ret == 0 && is_terminating(cur)) {
                ad_step_log_str(run, "waited_for", "namespace terminating");
                ret = wait_namespace_gone(kb, ns_path, deadline, err);
                if (ret <= 0)
                        return ret < 0 ? ret
                                       : ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                                       "namespace %s is still terminating", ns);
        }
        json_array_foreach (objs, i, o) {
                const char *kind = json_string_value(json_object_get(o, "kind"));

                /* The release phase, once, before the release's first
                 * Deployment: its env objects and policy are there, the
                 * serving release untouched. */
                if (!released && strcmp(kind, "Deployment") == 0) {
                        released = true;
                        ret = k8s_release_phase(run, dp, kb, pv, &a, ns, err);
                        if (ret != 0)
                                return ret < 0 ? ret : 0;
                }
                ret = k8s_apply(kb->client, o, NULL, err);
                if (ret < 0) {
                        ad_error_wrap(err, "apply %s", kind);
                        /* The API refusing an object (422) will refuse it
                         * again: fail the step, with its reason. */
                        if (ret == -AD_ERR_INVALID)
                                return ad_step_fail(run, false, ad_error_message(err ? *err : NULL),
                                                    err);
                        return ret;
                }
                if (strcmp(kind, "LimitRange") == 0)
                        wait_namespace_ready(kb, ns, deadline);
                if (strcmp(kind, "Deployment") == 0 && at.applied == 0)
                        at.applied = ad_now_ms(); /* the web's: its pods start */
        }
        if (!a.autoscale_max) {
                char hpa[PATH_LEN];

                snprintf(hpa, sizeof(hpa),
                         "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers/%s", ns,
                         pv->app_name);
                if ((ret = k8s_delete(kb->client, hpa, err)) < 0)
                        return ret;
        }
        ad_step_log_int(run, "objects", (long long)json_array_size(objs));
        /* Tests: the deployer dies mid-rollout; the redelivery re-applies
         * the same objects and waits again. */
        AD_FAULT("k8s.after_apply", pv->app_name);

        ret = wait_rollout(run, kb, ns, pv->app_name, &ro, err);
        if (ret < 0)
                return ret;
        ad_step_log_int(run, "rollout_ms", ro.ms);
        if (!ro.ok)
                return ad_step_fail(run, false, ro.reason, err);
        web_ready = ro.ready;
        at.available = ad_now_ms();
        /* Each other process type: its Deployment rolled out (available
         * after K8S_PROCESS_SETTLE_S), none of its pods restarted. */
        for (i = 0; i < a.n_processes; i++) {
                char pname[K8S_NAME_MAX];

                k8s_process_name(pname, pv->app_name, procs[i].name);
                ret = wait_rollout(run, kb, ns, pname, &ro, err);
                if (ret < 0)
                        return ret;
                if (ro.ok &&
                    process_restarted(kb, ns, dep, procs[i].name, ro.reason, sizeof(ro.reason)))
                        ro.ok = false;
                if (!ro.ok)
                        return ad_step_fail(run, false, ro.reason, err);
        }
        if (a.n_processes)
                ad_step_log_int(run, "process_types", (long long)a.n_processes);
        at.switched = ad_now_ms();
        prune_processes(kb, ns, &a);
        prune_env(kb, ns, pv->app_name, dep);
        {
                cleanup_free char *url = pv->url && *pv->url
                                                 ? strdup(pv->url)
                                                 : ingress_url(&dp->ingress, in.host, pv->tls);

                if (url == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                return publish_exposed(run, dp, kb, pv, ns, url, web_ready, &at, err);
        }
}

/* Deletes deployment dep's env ConfigMap and Secret in ns. */
static int remove_env(struct k8s_backend *kb, const char *ns, const char *app, const char *dep,
                      ad_error_t *err)
{
        char name[K8S_NAME_MAX], path[PATH_LEN];
        int ret;

        k8s_env_name(name, app, dep);
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", ns, name);
        ret = k8s_delete(kb->client, path, err);
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
        return ret < 0 ? ret : k8s_delete(kb->client, path, err);
}

/* The process types' Deployments back on release prev: the pod template
 * and replica count of prev's ReplicaSet of that type; a type prev did not
 * run goes. */
static int restore_processes(struct k8s_backend *kb, const char *ns, const char *prev,
                             ad_error_t *err)
{
        char path[PATH_LEN];
        json_auto_t *list = NULL;
        const json_t *d;
        size_t i;
        int ret;

        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments?labelSelector=%s", ns,
                 K8S_LABEL_PROCESS);
        if ((ret = k8s_get(kb->client, path, &list, err)) < 0)
                return ret;
        json_array_foreach (json_object_get(list, "items"), i, d) {
                const json_t *md = json_object_get(d, "metadata");
                const char *name = str(md, "name");
                const char *type = str(json_object_get(md, "labels"), K8S_LABEL_PROCESS);
                json_auto_t *rsl = NULL;
                json_auto_t *obj = NULL;
                const json_t *rs;
                json_t *tmpl, *spec, *labels;
                const char *want;

                snprintf(path, sizeof(path),
                         "/apis/apps/v1/namespaces/%s/"
                         "replicasets?labelSelector=%s%%3D%s%%2C%s%%3D%s",
                         ns, AD_LABEL_DEPLOYMENT, prev, K8S_LABEL_PROCESS, type);
                if ((ret = k8s_get(kb->client, path, &rsl, err)) < 0)
                        return ret;
                rs = json_array_get(json_object_get(rsl, "items"), 0);
                if (rs == NULL) {
                        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s",
                                 ns, name);
                        if ((ret = k8s_delete(kb->client, path, err)) < 0)
                                return ret;
                        continue;
                }
                want = str(json_object_get(json_object_get(rs, "metadata"), "annotations"),
                           "deployment.kubernetes.io/desired-replicas");
                tmpl = json_deep_copy(json_object_get(json_object_get(rs, "spec"), "template"));
                json_object_del(json_object_get(json_object_get(tmpl, "metadata"), "labels"),
                                "pod-template-hash");
                spec = json_deep_copy(json_object_get(d, "spec"));
                labels = json_deep_copy(json_object_get(md, "labels"));
                if (tmpl == NULL || spec == NULL || labels == NULL) {
                        json_decref(tmpl);
                        json_decref(spec);
                        json_decref(labels);
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                }
                json_object_set_new(spec, "template", tmpl);
                json_object_set_new(
                        spec, "replicas",
                        json_integer(*want ? atoi(want)
                                           : num(json_object_get(rs, "spec"), "replicas")));
                json_object_set_new(labels, AD_LABEL_DEPLOYMENT, json_string(prev));
                obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}", "apiVersion", "apps/v1",
                                "kind", "Deployment", "metadata", "name", name, "namespace", ns,
                                "labels", labels, "spec", spec);
                if (obj == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                if ((ret = k8s_apply(kb->client, obj, NULL, err)) < 0)
                        return ret;
        }
        return 0;
}

/* A failed redeploy must not take the serving release down: when the
 * app's newest other EXPOSED deployment still has available pods here, the
 * Deployment gets that ReplicaSet's pod template back (a rollback, on the
 * old pods that maxUnavailable 0 kept serving) and the namespace is
 * labelled with it.  *restored: whether that happened. */
static int restore_previous(struct ad_step_run *run, struct deployer *dp, struct k8s_backend *kb,
                            const char *ns, const char *app, bool *restored, ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { app, dep };
        char path[PATH_LEN];
        json_auto_t *rsl = NULL;
        json_auto_t *cur = NULL;
        json_auto_t *obj = NULL;
        json_auto_t *nsobj = NULL;
        json_t *tmpl, *spec, *labels;
        struct name_row prev_row;
        const char *prev;
        int ret;

        *restored = false;
        ret = ad_db_exec(dp->svc->db, &r,
                         "SELECT id::text AS name FROM deployments WHERE app_name = $1 AND "
                         "id <> $2::uuid AND status = 'EXPOSED' ORDER BY created_at DESC LIMIT 1",
                         2, p, err);
        if (ret < 0 || PQntuples(r) == 0)
                return ret;
        if ((ret = ad_db_read_row(r, 0, name_fields, &prev_row, err)) < 0)
                return ret;
        prev = prev_row.name;
        snprintf(path, sizeof(path),
                 "/apis/apps/v1/namespaces/%s/replicasets?labelSelector=%s%%3D%s%%2C%%21%s", ns,
                 AD_LABEL_DEPLOYMENT, prev, K8S_LABEL_PROCESS);
        if ((ret = k8s_get(kb->client, path, &rsl, err)) < 0)
                return ret;
        {
                /* Only a release that still serves (as the engine backend
                 * falls back only to live containers): after a finished
                 * rollout the old ReplicaSet is at 0 and DELETE removes
                 * everything. */
                const json_t *rs = json_array_get(json_object_get(rsl, "items"), 0);

                tmpl = num(json_object_get(rs, "status"), "availableReplicas") > 0
                               ? json_object_get(json_object_get(rs, "spec"), "template")
                               : NULL;
        }
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns, app);
        ret = k8s_get(kb->client, path, &cur, err);
        if (ret == -AD_ERR_NOT_FOUND || tmpl == NULL) {
                if (err)
                        ad_error_release(err);
                return 0;
        }
        if (ret < 0)
                return ret;
        tmpl = json_deep_copy(tmpl);
        json_object_del(json_object_get(json_object_get(tmpl, "metadata"), "labels"),
                        "pod-template-hash");
        spec = json_deep_copy(json_object_get(cur, "spec"));
        labels = json_deep_copy(json_object_get(json_object_get(cur, "metadata"), "labels"));
        if (tmpl == NULL || spec == NULL || labels == NULL) {
                json_decref(tmpl);
                json_decref(spec);
                json_decref(labels);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        json_object_set_new(spec, "template", tmpl);
        json_object_set_new(labels, AD_LABEL_DEPLOYMENT, json_string(prev));
        /* The whole spec, as before: an apply that left a field out would
         * remove it. */
        obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}", "apiVersion", "apps/v1", "kind",
                        "Deployment", "metadata", "name", app, "namespace", ns, "labels", labels,
                        "spec", spec);
        nsobj = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s, s:s}}}", "apiVersion", "v1", "kind",
                          "Namespace", "metadata", "name", ns, "labels", "app.kubernetes.io/name",
                          app, "app.kubernetes.io/managed-by", "app-deployer", AD_LABEL_APP, app,
                          AD_LABEL_DEPLOYMENT, prev);
        if (obj == NULL || nsobj == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        if ((ret = k8s_apply(kb->client, obj, NULL, err)) < 0 ||
            (ret = restore_processes(kb, ns, prev, err)) < 0 ||
            (ret = k8s_apply(kb->client, nsobj, NULL, err)) < 0 ||
            (ret = remove_env(kb, ns, app, dep, err)) < 0)
                return ret;
        ad_step_log_str(run, "restored", prev);
        *restored = true;
        return 0;
}

/* The app's namespace goes with the deployment that last applied it (its
 * label says which); a namespace another release took over since is left
 * to that release, less this one's env objects. */
int k8s_deploy_undo(struct ad_step_run *run, ad_error_t *err)
{
        struct deployer *dp = run->def->ud;
        struct k8s_backend *kb = dp->k8s;
        const char *dep = run->in->deployment_id;
        Appdeployer__V1__Compensated done = APPDEPLOYER__V1__COMPENSATED__INIT;
        cleanup_pgresult PGresult *r = NULL;
        const char *p[] = { dep };
        char ns[K8S_NAME_MAX], path[PATH_LEN];
        json_auto_t *cur = NULL;
        struct name_row app_row = { 0 };
        const char *app, *owner;
        ad_envelope env;
        int ret;

        ad_step_log_str(run, "backend", "kubernetes");
        ret = ad_db_exec(dp->svc->db, &r,
                         "SELECT app_name AS name FROM deployments WHERE id = $1::uuid", 1, p, err);
        if (ret == 0 && PQntuples(r))
                ret = ad_db_read_row(r, 0, name_fields, &app_row, err);
        if (ret < 0)
                return ret;
        app = PQntuples(r) ? app_row.name : NULL;
        if (app && ad_app_name_valid(app)) {
                k8s_namespace_name(ns, kb->namespace_prefix, app);
                ad_step_log_str(run, "namespace", ns);
                snprintf(path, sizeof(path), "/api/v1/namespaces/%s", ns);
                ret = k8s_get(kb->client, path, &cur, err);
                if (ret == -AD_ERR_NOT_FOUND) {
                        if (err)
                                ad_error_release(err);
                        ret = 0;
                } else if (ret == 0) {
                        owner = json_string_value(json_object_get(
                                json_object_get(json_object_get(cur, "metadata"), "labels"),
                                AD_LABEL_DEPLOYMENT));
                        bool restored = false;

                        if (owner && strcmp(owner, dep) == 0)
                                ret = restore_previous(run, dp, kb, ns, app, &restored, err);
                        if (ret < 0 || restored) {
                                /* done, or retried */
                        } else if (owner && strcmp(owner, dep) == 0) {
                                ret = k8s_delete(kb->client, path, err);
                                if (ret == 0) {
                                        int64_t deadline =
                                                ad_monotonic_ms() + kb->rollout_timeout_s * 1000;

                                        ret = wait_namespace_gone(kb, path, deadline, err);
                                        if (ret == 0)
                                                ret = ad_error_make(
                                                        err, AD_ERR_TIMEOUT, 0,
                                                        "namespace %s still terminating", ns);
                                        else if (ret > 0)
                                                ret = 0;
                                }
                                ad_step_log_str(run, "removed", ns);
                        } else {
                                ret = remove_env(kb, ns, app, dep, err);
                                ad_step_log_str(run, "kept_for", owner ? owner : "(unlabelled)");
                        }
                }
        }
        if (ret < 0)
                return ret;
        done.step = (char *)"deploy";
        appdeployer__v1__envelope__init(&env);
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED;
        env.compensated = &done;
        return ad_step_publish(run, AD_SUBJECT_COMPENSATED ".deploy", &env, err);
}

/* --- one-off commands ---------------------------------------------------- */

/* A run pod is given this long beyond its command's timeout to be
 * scheduled and started before it counts as timed out. */
#define RUN_GRACE_MS 5000

/* Pods of app's one-off commands that have ended (a deployer that died
 * mid-command leaves them).  Best effort. */
static void run_leftovers(struct k8s_backend *kb, const char *ns, const char *app)
{
        char path[PATH_LEN];

        snprintf(
                path, sizeof(path),
                "/api/v1/namespaces/%s/pods?labelSelector=%s%%3D%s&fieldSelector=status.phase%%21%%"
                "3DRunning%%2Cstatus.phase%%21%%3DPending",
                ns, K8S_LABEL_RUN, app);
        k8s_delete(kb->client, path, NULL);
}

int k8s_run_command(struct deployer *dp, const char *app, const char *command, long timeout_s,
                    size_t max_output, struct k8s_run_result *res, ad_error_t *err)
{
        struct k8s_backend *kb = dp->k8s;
        char ns[K8S_NAME_MAX], name[K8S_NAME_MAX], path[PATH_LEN], uuid[AD_UUID_LEN + 1];
        json_auto_t *d = NULL;
        json_auto_t *pod = NULL;
        struct k8s_app a = { 0 };
        const json_t *c;
        int64_t t0, deadline;
        int ret;

        memset(res, 0, sizeof(*res));
        k8s_namespace_name(ns, kb->namespace_prefix, app);
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/deployments/%s", ns, app);
        ret = k8s_get(kb->client, path, &d, err);
        if (ret == -AD_ERR_NOT_FOUND)
                return ad_error_wrap(err, "the app runs no release on the cluster");
        if (ret < 0)
                return ret;
        /* The release that serves: its image (pinned by digest at deploy),
         * its env objects. */
        c = json_array_get(
                json_object_get(
                        json_object_get(json_object_get(json_object_get(d, "spec"), "template"),
                                        "spec"),
                        "containers"),
                0);
        a.app = app;
        a.namespace_prefix = kb->namespace_prefix;
        a.deployment_id =
                str(json_object_get(
                            json_object_get(json_object_get(json_object_get(d, "spec"), "template"),
                                            "metadata"),
                            "labels"),
                    AD_LABEL_DEPLOYMENT);
        a.image = str(c, "image");
        a.port = (unsigned)num(json_array_get(json_object_get(c, "ports"), 0), "containerPort");
        if (a.port == 0)
                a.port = DEFAULT_APP_PORT;
        a.cpu_millis = (long)(dp->default_cpus * 1000.0 + 0.5);
        if (a.cpu_millis < 1)
                a.cpu_millis = 1;
        a.memory_mb = dp->default_memory_mb;
        if (*a.image == '\0' || *a.deployment_id == '\0')
                return ad_error_make(err, AD_ERR_GENERIC, 0,
                                     "the app's Deployment has no image or release label");
        if ((ret = parse_user(dp->user, &a.uid, &a.gid, err)) < 0)
                return ret;
        run_leftovers(kb, ns, app);
        ad_uuid_v4(uuid);
        snprintf(name, sizeof(name), "%s-run-%.8s", app, uuid);
        pod = k8s_manifest_run_pod(&a, name, command, timeout_s);
        if (pod == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        if ((ret = k8s_apply(kb->client, pod, NULL, err)) < 0)
                return ad_error_wrap(err, "create the run pod");
        t0 = ad_monotonic_ms();
        deadline = t0 + timeout_s * 1000 + RUN_GRACE_MS;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
        for (;;) {
                json_auto_t *p = NULL;
                const json_t *st, *cs, *term, *w;
                const char *phase;

                if ((ret = k8s_get(kb->client, path, &p, err)) < 0)
                        break;
                st = json_object_get(p, "status");
                phase = str(st, "phase");
                cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
                term = json_object_get(json_object_get(cs, "state"), "terminated");
                w = json_object_get(json_object_get(cs, "state"), "waiting");
                if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0) {
                        if (term) {
                                res->exit_code = (int)num(term, "exitCode");
                        } else { /* activeDeadlineSeconds: killed before or as it ran */
                                res->timed_out = true;
                                res->exit_code = 137;
                        }
                        if (strcmp(str(st, "reason"), "DeadlineExceeded") == 0)
                                res->timed_out = true;
                        break;
                }
                if (w && (strcmp(str(w, "reason"), "ErrImagePull") == 0 ||
                          strcmp(str(w, "reason"), "ImagePullBackOff") == 0 ||
                          strcmp(str(w, "reason"), "CreateContainerConfigError") == 0 ||
                          strcmp(str(w, "reason"), "InvalidImageName") == 0)) {
                        ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0, "the run pod: %s: %.300s",
                                            str(w, "reason"), str(w, "message"));
                        break;
                }
                if (past(deadline)) {
                        res->timed_out = true;
                        res->exit_code = 137;
                        break;
                }
                if (ad_service_stopping()) {
                        ret = ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                            "deployer stopping while a command runs");
                        break;
                }
                sleep_ms(kb->poll_ms < 200 ? kb->poll_ms : 200);
        }
        res->duration_ms = (long)(ad_monotonic_ms() - t0);
        if (ret == 0) {
                char lpath[PATH_LEN + 32];
                size_t len = 0;
                cleanup_error ad_error_t lerr = NULL;

                /* Bounded by the API: limitBytes. */
                snprintf(lpath, sizeof(lpath), "%s/log?limitBytes=%zu", path, max_output + 1);
                ret = k8s_get_text(kb->client, lpath, &res->output, &len, &lerr);
                /* A pod killed at its deadline may have no log to give. */
                if (ret < 0 && res->timed_out) {
                        res->output = strdup("");
                        ret = res->output ? 0
                                          : ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                } else if (ret < 0 && err) {
                        *err = TAKE_PTR(lerr);
                }
        }
        k8s_delete(kb->client, path, NULL);
        return ret;
}
