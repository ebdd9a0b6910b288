/* services/deployer/k8s_manifests.c and the kubeconfig parser: the objects
 * the kubernetes backend applies carry the probes, limits, security
 * context, labels and names the deployer relies on; bad input is refused
 * with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_client.h"
#include "k8s_manifests.h"

#define DEP "0f3c2a9e-1b2d-4c5e-8f90-a1b2c3d4e5f6"

static const struct k8s_env env[] = {
        { "LOG_LEVEL", "info", false },
        { "DB_PASSWORD", "s3cret", true },
};

static struct k8s_app app(void)
{
        return (struct k8s_app){
                .app = "hello",
                .deployment_id = DEP,
                .namespace_prefix = "ad-",
                .image = "127.0.0.1:5000/hello:abc123",
                .port = 8000,
                .replicas = 2,
                .cpu_millis = 500,
                .memory_mb = 256,
                .uid = 10001,
                .gid = 10001,
                .env = env,
                .n_env = 2,
                .host = "hello.apps.example",
                .tls = true,
                .ingress_class = "nginx",
                .cluster_issuer = "letsencrypt",
                .ingress_namespace = "ingress-nginx",
                .service_type = "ClusterIP",
                .quota_cpu_millis = 4000,
                .quota_memory_mb = 4096,
                .quota_pods = 20,
                .progress_deadline_s = 120,
        };
}

/* The value at a dotted path; [N] indexes arrays. */
static const json_t *at(const json_t *j, const char *path)
{
        char buf[256], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *t = strtok_r(buf, ".", &save); t && j; t = strtok_r(NULL, ".", &save)) {
                if (*t == '[')
                        j = json_array_get(j, (size_t)atoi(t + 1));
                else
                        j = json_object_get(j, t);
        }
        return j;
}

static const char *s_at(const json_t *j, const char *path)
{
        const char *s = json_string_value(at(j, path));

        return s ? s : "(missing)";
}

static void deployment_carries_security_probes_limits(void **state)
{
        struct k8s_app a = app();
        json_t *d = k8s_manifest_deployment(&a);
        const json_t *c = at(d, "spec.template.spec.containers.[0]");
        const json_t *caps;

        (void)state;
        assert_non_null(d);
        assert_string_equal(s_at(d, "metadata.namespace"), "ad-hello");
        assert_int_equal(json_integer_value(at(d, "spec.replicas")), 2);
        assert_int_equal(json_integer_value(at(d, "spec.strategy.rollingUpdate.maxUnavailable")),
                         0);
        assert_string_equal(s_at(d, "spec.strategy.type"), "RollingUpdate");
        assert_string_equal(s_at(c, "image"), "127.0.0.1:5000/hello:abc123");
        assert_int_equal(json_integer_value(at(c, "ports.[0].containerPort")), 8000);
        assert_string_equal(s_at(c, "env.[0].name"), "PORT");
        assert_string_equal(s_at(c, "env.[0].value"), "8000");
        assert_string_equal(s_at(c, "envFrom.[0].configMapRef.name"), "hello-env-0f3c2a9e1b2d");
        assert_string_equal(s_at(c, "envFrom.[1].secretRef.name"), "hello-env-0f3c2a9e1b2d");
        assert_string_equal(s_at(c, "readinessProbe.httpGet.port"), "http");
        assert_string_equal(s_at(c, "livenessProbe.httpGet.path"), "/");
        assert_string_equal(s_at(c, "resources.requests.cpu"), "500m");
        assert_string_equal(s_at(c, "resources.limits.memory"), "256Mi");
        assert_true(json_is_true(at(c, "securityContext.readOnlyRootFilesystem")));
        assert_true(json_is_true(at(c, "securityContext.runAsNonRoot")));
        assert_true(json_is_false(at(c, "securityContext.allowPrivilegeEscalation")));
        caps = at(c, "securityContext.capabilities.drop");
        assert_int_equal(json_array_size(caps), 1);
        assert_string_equal(json_string_value(json_array_get(caps, 0)), "ALL");
        assert_string_equal(s_at(d, "spec.template.spec.securityContext.seccompProfile.type"),
                            "RuntimeDefault");
        assert_int_equal(json_integer_value(at(d, "spec.template.spec.securityContext.runAsUser")),
                         10001);
        assert_string_equal(s_at(c, "volumeMounts.[0].mountPath"), "/tmp");
        assert_non_null(at(d, "spec.template.spec.volumes.[0].emptyDir"));
        assert_true(json_is_false(at(d, "spec.template.spec.automountServiceAccountToken")));
        /* The selector is stable across releases; the template carries the
         * release, so each deployment is a new ReplicaSet. */
        assert_int_equal(json_object_size(at(d, "spec.selector.matchLabels")), 1);
        assert_string_equal(json_string_value(json_object_get(at(d, "spec.selector.matchLabels"),
                                                              "app-deployer.app")),
                            "hello");
        assert_string_equal(
                json_string_value(json_object_get(at(d, "spec.template.metadata.labels"),
                                                  "app-deployer.deployment")),
                DEP);
        json_decref(d);
}

static void env_split_between_config_map_and_secret(void **state)
{
        struct k8s_app a = app();
        json_t *cm = k8s_manifest_config_map(&a), *sec = k8s_manifest_secret(&a);

        (void)state;
        assert_string_equal(s_at(cm, "data.LOG_LEVEL"), "info");
        assert_null(at(cm, "data.DB_PASSWORD"));
        assert_null(at(sec, "data.LOG_LEVEL"));
        assert_string_equal(s_at(sec, "data.DB_PASSWORD"), "czNjcmV0"); /* base64 "s3cret" */
        json_decref(cm);
        json_decref(sec);
}

/* Custom domains: one rule each to the app's Service, and hosts of the
 * same TLS secret; a bad one refused by the check. */
static void ingress_custom_domains(void **state)
{
        const char *domains[] = { "www.example.org", "shop.example.org" };
        struct k8s_app a = app();
        json_t *ing;
        ad_error_t err = NULL;

        (void)state;
        a.domains = domains;
        a.n_domains = 2;
        ing = k8s_manifest_ingress(&a);
        assert_int_equal(json_array_size(at(ing, "spec.rules")), 3);
        assert_string_equal(s_at(ing, "spec.rules.[0].host"), "hello.apps.example");
        assert_string_equal(s_at(ing, "spec.rules.[2].host"), "shop.example.org");
        assert_string_equal(s_at(ing, "spec.rules.[1].http.paths.[0].backend.service.name"),
                            "hello");
        assert_int_equal(json_array_size(at(ing, "spec.tls.[0].hosts")), 3);
        assert_string_equal(s_at(ing, "spec.tls.[0].hosts.[1]"), "www.example.org");
        json_decref(ing);
        assert_int_equal(k8s_app_check(&a, &err), 0);
        domains[1] = "";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "custom domain"));
        ad_error_release(&err);
}

static void ingress_quota_policy_hpa(void **state)
{
        struct k8s_app a = app();
        json_t *ing = k8s_manifest_ingress(&a), *q = k8s_manifest_quota(&a);
        json_t *np = k8s_manifest_network_policy(&a), *all, *d;

        (void)state;
        assert_string_equal(s_at(ing, "spec.ingressClassName"), "nginx");
        assert_string_equal(s_at(ing, "spec.rules.[0].host"), "hello.apps.example");
        assert_string_equal(s_at(ing, "spec.tls.[0].secretName"), "hello-tls");
        assert_string_equal(json_string_value(json_object_get(at(ing, "metadata.annotations"),
                                                              "cert-manager.io/cluster-issuer")),
                            "letsencrypt");
        assert_string_equal(json_string_value(json_object_get(at(q, "spec.hard"), "limits.memory")),
                            "4096Mi");
        assert_string_equal(json_string_value(json_object_get(at(q, "spec.hard"), "requests.cpu")),
                            "4");
        assert_int_equal(json_array_size(at(np, "spec.policyTypes")), 2);
        assert_int_equal(json_integer_value(at(np, "spec.ingress.[0].ports.[0].port")), 8000);
        assert_int_equal(json_integer_value(at(np, "spec.egress.[0].ports.[0].port")), 53);
        assert_null(k8s_manifest_hpa(&a));
        all = k8s_manifest_all(&a);
        assert_int_equal(json_array_size(all), 9);
        assert_string_equal(s_at(all, "[0].kind"), "Namespace");
        assert_string_equal(s_at(all, "[8].kind"), "Deployment");
        json_decref(all);

        /* autoscaling: an HPA, and the Deployment leaves replicas to it */
        a.autoscale_min = 2;
        a.autoscale_max = 5;
        a.autoscale_cpu = 70;
        all = k8s_manifest_all(&a);
        assert_int_equal(json_array_size(all), 10);
        assert_string_equal(s_at(all, "[9].kind"), "HorizontalPodAutoscaler");
        assert_int_equal(json_integer_value(at(all, "[9].spec.maxReplicas")), 5);
        assert_int_equal(json_integer_value(at(
                                 all, "[9].spec.metrics.[0].resource.target.averageUtilization")),
                         70);
        d = json_array_get(all, 8);
        assert_null(at(d, "spec.replicas"));
        json_decref(all);
        json_decref(ing);
        json_decref(q);
        json_decref(np);
}

static void bad_apps_refused(void **state)
{
        struct k8s_app a = app();
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(k8s_app_check(&a, &err), 0);
        a.uid = 0;
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "root"));
        ad_error_release(&err);
        a = app();
        a.app = "Bad_Name";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        a = app();
        a.port = 70000;
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        a = app();
        a.autoscale_max = 2;
        a.autoscale_min = 3;
        a.autoscale_cpu = 50;
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
}

static void object_paths(void **state)
{
        struct k8s_app a = app();
        json_t *all = k8s_manifest_all(&a);
        const char *want[] = {
                "/api/v1/namespaces/ad-hello",
                "/api/v1/namespaces/ad-hello/resourcequotas/quota",
                "/api/v1/namespaces/ad-hello/limitranges/limits",
                "/api/v1/namespaces/ad-hello/configmaps/hello-env-0f3c2a9e1b2d",
                "/api/v1/namespaces/ad-hello/secrets/hello-env-0f3c2a9e1b2d",
                "/api/v1/namespaces/ad-hello/services/hello",
                "/apis/networking.k8s.io/v1/namespaces/ad-hello/networkpolicies/hello",
                "/apis/networking.k8s.io/v1/namespaces/ad-hello/ingresses/hello",
                "/apis/apps/v1/namespaces/ad-hello/deployments/hello",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                char *p = k8s_object_path(json_array_get(all, i));

                assert_non_null(p);
                assert_string_equal(p, want[i]);
                free(p);
        }
        json_decref(all);
}

static const char kubeconfig[] = "apiVersion: v1\n"
                                 "clusters:\n"
                                 "- name: c\n"
                                 "  cluster:\n"
                                 "    server: https://127.0.0.1:6443\n"
                                 "    certificate-authority-data: aGVsbG8=\n"
                                 "users:\n"
                                 "- name: u\n"
                                 "  user:\n"
                                 "    client-certificate: certs/u.crt\n"
                                 "    client-key: /abs/u.key\n"
                                 "- name: t\n"
                                 "  user: {token: tok}\n"
                                 "contexts:\n"
                                 "- {name: a, context: {cluster: c, user: u, namespace: ns}}\n"
                                 "- {name: b, context: {cluster: c, user: t}}\n"
                                 "current-context: a\n";

static void kubeconfig_contexts(void **state)
{
        struct k8s_kubeconfig kc;
        ad_error_t err = NULL;

        (void)state;
        assert_int_equal(k8s_kubeconfig_parse(&kc, kubeconfig, strlen(kubeconfig), NULL, &err), 0);
        assert_string_equal(kc.server, "https://127.0.0.1:6443");
        assert_int_equal(kc.ca_len, 5);
        assert_memory_equal(kc.ca_data, "hello", 5);
        assert_string_equal(kc.cert_file, "certs/u.crt");
        assert_string_equal(kc.key_file, "/abs/u.key");
        assert_null(kc.token);
        assert_string_equal(kc.namespace, "ns");
        k8s_kubeconfig_clear(&kc);
        assert_int_equal(k8s_kubeconfig_parse(&kc, kubeconfig, strlen(kubeconfig), "b", &err), 0);
        assert_string_equal(kc.token, "tok");
        assert_null(kc.cert_file);
        k8s_kubeconfig_clear(&kc);
        assert_int_equal(k8s_kubeconfig_parse(&kc, kubeconfig, strlen(kubeconfig), "zz", &err),
                         -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "no context `zz`"));
        ad_error_release(&err);
}

static void kubeconfig_refusals(void **state)
{
        static const struct {
                const char *text, *want;
        } cases[] = {
                { "clusters: [{name: c, cluster: {server: 'http://x:80'}}]\n"
                  "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
                  "https://" },
                { "clusters: [{name: c, cluster: {server: 'https://x', "
                  "insecure-skip-tls-verify: true}}]\n"
                  "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
                  "insecure-skip-tls-verify" },
                { "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
                  "users: [{name: u, user: {exec: {command: aws}}}]\n"
                  "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
                  "plugin" },
                { "clusters: [{name: c, cluster: {server: 'https://x', "
                  "certificate-authority-data: '!!!'}}]\n"
                  "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
                  "base64" },
                { "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
                  "users: [{name: u, user: {client-certificate: a.crt}}]\n"
                  "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
                  "needs its key" },
                { "[1, 2", "line" },
                { "contexts: []\n", "current-context" },
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct k8s_kubeconfig kc;
                ad_error_t err = NULL;

                assert_true(k8s_kubeconfig_parse(&kc, cases[i].text, strlen(cases[i].text), NULL,
                                                 &err) < 0);
                if (strstr(ad_error_message(err), cases[i].want) == NULL)
                        fail_msg("case %zu: `%s` lacks `%s`", i, ad_error_message(err),
                                 cases[i].want);
                ad_error_release(&err);
        }
}

static const struct k8s_process procs[] = {
        { "worker", "python worker.py", 2 },
        { "clock", "python clock.py", 0 },
};

/* A process type: a Deployment of its own, same image, env objects,
 * security context and resources as web; its command; no port, probe,
 * Service or Ingress; pods the web selector does not match. */
static void process_types_deployments(void **state)
{
        struct k8s_app a = app();
        json_t *d, *all, *np;
        const json_t *c, *caps, *pl;

        (void)state;
        a.processes = procs;
        a.n_processes = 2;
        d = k8s_manifest_process_deployment(&a, &procs[0]);
        c = at(d, "spec.template.spec.containers.[0]");
        assert_non_null(d);
        assert_string_equal(s_at(d, "kind"), "Deployment");
        assert_string_equal(s_at(d, "metadata.name"), "hello-worker");
        assert_string_equal(s_at(d, "metadata.namespace"), "ad-hello");
        assert_string_equal(json_string_value(json_object_get(at(d, "metadata.labels"),
                                                              "app-deployer.process")),
                            "worker");
        assert_int_equal(json_integer_value(at(d, "spec.replicas")), 2);
        assert_int_equal(json_integer_value(at(d, "spec.minReadySeconds")), 2);
        assert_string_equal(s_at(c, "image"), "127.0.0.1:5000/hello:abc123");
        assert_string_equal(s_at(c, "command.[0]"), "/bin/sh");
        assert_string_equal(s_at(c, "command.[1]"), "-c");
        assert_string_equal(s_at(c, "command.[2]"), "python worker.py");
        assert_string_equal(s_at(c, "envFrom.[0].configMapRef.name"), "hello-env-0f3c2a9e1b2d");
        assert_string_equal(s_at(c, "envFrom.[1].secretRef.name"), "hello-env-0f3c2a9e1b2d");
        assert_string_equal(s_at(c, "resources.limits.cpu"), "500m");
        assert_string_equal(s_at(c, "resources.requests.memory"), "256Mi");
        assert_null(at(c, "ports"));
        assert_null(at(c, "readinessProbe"));
        assert_null(at(c, "livenessProbe"));
        assert_true(json_is_true(at(c, "securityContext.runAsNonRoot")));
        assert_true(json_is_true(at(c, "securityContext.readOnlyRootFilesystem")));
        assert_true(json_is_false(at(c, "securityContext.allowPrivilegeEscalation")));
        caps = at(c, "securityContext.capabilities.drop");
        assert_int_equal(json_array_size(caps), 1);
        assert_string_equal(json_string_value(json_array_get(caps, 0)), "ALL");
        assert_int_equal(json_integer_value(at(d, "spec.template.spec.securityContext.runAsUser")),
                         10001);
        assert_true(json_is_false(at(d, "spec.template.spec.automountServiceAccountToken")));
        /* The web Deployment's, Service's and NetworkPolicy's selector
         * (app-deployer.app) must not match a worker's pods. */
        pl = at(d, "spec.template.metadata.labels");
        assert_null(json_object_get(pl, "app-deployer.app"));
        assert_string_equal(json_string_value(json_object_get(pl, "app-deployer.process")),
                            "worker");
        assert_string_equal(json_string_value(json_object_get(pl, "app-deployer.deployment")), DEP);
        assert_string_equal(json_string_value(json_object_get(at(d, "spec.selector.matchLabels"),
                                                              "app-deployer.process")),
                            "worker");
        assert_null(json_object_get(at(d, "spec.selector.matchLabels"), "app-deployer.app"));
        json_decref(d);

        /* Scaled to 0: a Deployment at 0, not left out. */
        d = k8s_manifest_process_deployment(&a, &procs[1]);
        assert_string_equal(s_at(d, "metadata.name"), "hello-clock");
        assert_non_null(at(d, "spec.replicas"));
        assert_int_equal(json_integer_value(at(d, "spec.replicas")), 0);
        json_decref(d);

        /* The release: web's objects, the processes' policy, a Deployment
         * per type; still no Service or Ingress of theirs. */
        all = k8s_manifest_all(&a);
        assert_int_equal(json_array_size(all), 12);
        assert_string_equal(s_at(all, "[8].metadata.name"), "hello");
        assert_string_equal(s_at(all, "[9].kind"), "NetworkPolicy");
        assert_string_equal(s_at(all, "[9].metadata.name"), "hello-processes");
        assert_string_equal(s_at(all, "[10].metadata.name"), "hello-worker");
        assert_string_equal(s_at(all, "[11].metadata.name"), "hello-clock");
        np = json_array_get(all, 9);
        assert_int_equal(json_array_size(at(np, "spec.ingress")), 0);
        assert_int_equal(json_array_size(at(np, "spec.policyTypes")), 2);
        assert_string_equal(s_at(np, "spec.podSelector.matchExpressions.[0].key"),
                            "app-deployer.process");
        assert_string_equal(s_at(np, "spec.podSelector.matchExpressions.[0].operator"), "Exists");
        assert_int_equal(json_integer_value(at(np, "spec.egress.[0].ports.[0].port")), 53);
        json_decref(all);
        a.n_processes = 0;
        assert_null(k8s_manifest_process_network_policy(&a));
}

static void bad_process_types_refused(void **state)
{
        struct k8s_app a = app();
        struct k8s_process p[] = { { "worker", "run", 1 } };
        ad_error_t err = NULL;

        (void)state;
        a.processes = p;
        a.n_processes = 1;
        assert_int_equal(k8s_app_check(&a, &err), 0);
        p[0].name = "web";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "process type"));
        ad_error_release(&err);
        p[0].name = "Work_er";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        ad_error_release(&err);
        p[0].name = "worker";
        p[0].command = "";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "no command"));
        ad_error_release(&err);
        p[0].command = "run";
        a.app = "abcdefghij-abcdefghij-abcdefghij-abcdefg";
        p[0].name = "a-process-type-of-thirty-chars";
        assert_int_equal(k8s_app_check(&a, &err), -AD_ERR_INVALID);
        assert_non_null(strstr(ad_error_message(err), "63"));
        ad_error_release(&err);
}

/* A one-off command's Pod: the release's image, env and security
 * context, never restarted, bounded in time, not selected by the app's
 * Service or policy. */
static void run_pod(void **state)
{
        struct k8s_app a = app();
        json_t *p = k8s_manifest_run_pod(&a, "hello-run-1a2b3c4d", "echo hi; exit 3", 60);
        const json_t *c = at(p, "spec.containers.[0]");
        char *path;

        (void)state;
        assert_non_null(p);
        assert_string_equal(s_at(p, "kind"), "Pod");
        assert_string_equal(s_at(p, "metadata.namespace"), "ad-hello");
        assert_string_equal(
                json_string_value(json_object_get(at(p, "metadata.labels"), "app-deployer.run")),
                "hello");
        assert_null(json_object_get(at(p, "metadata.labels"), "app-deployer.app"));
        assert_string_equal(s_at(p, "spec.restartPolicy"), "Never");
        assert_int_equal(json_integer_value(at(p, "spec.activeDeadlineSeconds")), 60);
        assert_string_equal(s_at(c, "image"), "127.0.0.1:5000/hello:abc123");
        assert_string_equal(s_at(c, "command.[2]"), "echo hi; exit 3");
        assert_string_equal(s_at(c, "envFrom.[1].secretRef.name"), "hello-env-0f3c2a9e1b2d");
        assert_string_equal(s_at(c, "resources.limits.memory"), "256Mi");
        assert_null(at(c, "ports"));
        assert_true(json_is_true(at(c, "securityContext.runAsNonRoot")));
        assert_true(json_is_false(at(c, "securityContext.allowPrivilegeEscalation")));
        assert_string_equal(s_at(c, "securityContext.capabilities.drop.[0]"), "ALL");
        assert_int_equal(json_integer_value(at(p, "spec.securityContext.runAsUser")), 10001);
        path = k8s_object_path(p);
        assert_non_null(path);
        assert_string_equal(path, "/api/v1/namespaces/ad-hello/pods/hello-run-1a2b3c4d");
        free(path);
        json_decref(p);
}

/* The release phase's Job: one pod of the release's image, env, security
 * context and resources, never retried, bounded in time, not selected by
 * the app's Service or web policy; its own policy lets nothing in and out
 * only as the web's. */
static void release_job(void **state)
{
        struct k8s_app a = app();
        json_t *j = k8s_manifest_release_job(&a, "python3 manage.py migrate --noinput", 300);
        json_t *np = k8s_manifest_release_network_policy(&a);
        json_t *web = k8s_manifest_deployment(&a);
        const json_t *c = at(j, "spec.template.spec.containers.[0]");
        const json_t *wc = at(web, "spec.template.spec.containers.[0]");
        const json_t *pl = at(j, "spec.template.metadata.labels");
        char name[K8S_NAME_MAX];
        char *path;

        (void)state;
        assert_non_null(j);
        assert_non_null(np);
        k8s_release_job_name(name, "hello", DEP);
        assert_string_equal(name, "hello-release-0f3c2a9e1b2d");
        assert_string_equal(s_at(j, "kind"), "Job");
        assert_string_equal(s_at(j, "apiVersion"), "batch/v1");
        assert_string_equal(s_at(j, "metadata.name"), name);
        assert_string_equal(s_at(j, "metadata.namespace"), "ad-hello");
        assert_int_equal(json_integer_value(at(j, "spec.backoffLimit")), 0);
        assert_int_equal(json_integer_value(at(j, "spec.activeDeadlineSeconds")), 300);
        assert_true(json_integer_value(at(j, "spec.ttlSecondsAfterFinished")) > 0);
        assert_string_equal(s_at(j, "spec.template.spec.restartPolicy"), "Never");
        assert_string_equal(json_string_value(json_object_get(pl, K8S_LABEL_RELEASE)), "hello");
        assert_null(json_object_get(pl, "app-deployer.app"));
        assert_null(json_object_get(pl, K8S_LABEL_PROCESS));
        assert_null(json_object_get(at(j, "metadata.labels"), "app-deployer.app"));
        assert_string_equal(s_at(c, "command.[0]"), "/bin/sh");
        assert_string_equal(s_at(c, "command.[1]"), "-c");
        assert_string_equal(s_at(c, "command.[2]"), "python3 manage.py migrate --noinput");
        assert_null(at(c, "ports"));
        assert_null(at(c, "readinessProbe"));
        /* As the web container: image, env objects, resources, security. */
        assert_string_equal(s_at(c, "image"), s_at(wc, "image"));
        assert_true(json_equal(at(c, "envFrom"), at(wc, "envFrom")));
        assert_true(json_equal(at(c, "env"), at(wc, "env")));
        assert_true(json_equal(at(c, "resources"), at(wc, "resources")));
        assert_true(json_equal(at(c, "securityContext"), at(wc, "securityContext")));
        assert_true(json_equal(at(j, "spec.template.spec.securityContext"),
                               at(web, "spec.template.spec.securityContext")));
        assert_true(json_is_true(at(c, "securityContext.readOnlyRootFilesystem")));
        assert_true(json_is_false(at(c, "securityContext.allowPrivilegeEscalation")));
        assert_true(json_is_false(at(j, "spec.template.spec.automountServiceAccountToken")));
        path = k8s_object_path(j);
        assert_non_null(path);
        assert_string_equal(path,
                            "/apis/batch/v1/namespaces/ad-hello/jobs/hello-release-0f3c2a9e1b2d");
        free(path);
        /* Its policy: selects the release pods only; nothing in; out as
         * the web's (DNS and outside the private ranges). */
        assert_string_equal(s_at(np, "metadata.name"), "hello-release");
        assert_string_equal(json_string_value(json_object_get(
                                    at(np, "spec.podSelector.matchLabels"), K8S_LABEL_RELEASE)),
                            "hello");
        assert_int_equal(json_object_size(at(np, "spec.podSelector.matchLabels")), 1);
        assert_int_equal(json_array_size(at(np, "spec.policyTypes")), 2);
        assert_int_equal(json_array_size(at(np, "spec.ingress")), 0);
        {
                json_t *wnp = k8s_manifest_network_policy(&a);

                assert_true(json_equal(at(np, "spec.egress"), at(wnp, "spec.egress")));
                json_decref(wnp);
        }
        json_decref(web);
        json_decref(np);
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(deployment_carries_security_probes_limits),
                cmocka_unit_test(env_split_between_config_map_and_secret),
                cmocka_unit_test(ingress_quota_policy_hpa),
                cmocka_unit_test(ingress_custom_domains),
                cmocka_unit_test(bad_apps_refused),
                cmocka_unit_test(object_paths),
                cmocka_unit_test(process_types_deployments),
                cmocka_unit_test(bad_process_types_refused),
                cmocka_unit_test(run_pod),
                cmocka_unit_test(release_job),
                cmocka_unit_test(kubeconfig_contexts),
                cmocka_unit_test(kubeconfig_refusals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
