/* A release's other process types (process.h). */
#include "process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/names.h"
#include "container.h"

#define NAME_LEN 128
#define LOG_LINES 20
#define LOG_BYTES 4096

static bool valid(const Appdeployer__V1__Process *p)
{
        return p->name && ad_process_name_valid(p->name, strlen(p->name)) &&
               strcmp(p->name, "web") != 0 && p->command && *p->command;
}

int process_count(struct ad_step_run *run, struct deployer *dp,
                  const Appdeployer__V1__DeployProvisioned *pv, size_t *total, ad_error_t *err)
{
        size_t n = 0;

        if (pv->n_processes > AD_PROCESSES_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "deploy.provisioned has %zu process types, at most %d",
                                     pv->n_processes, AD_PROCESSES_MAX);
        for (size_t i = 0; i < pv->n_processes; i++) {
                const Appdeployer__V1__Process *p = pv->processes[i];

                if (!valid(p))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "deploy.provisioned: process type `%.40s` is not "
                                             "valid or has no command",
                                             p->name ? p->name : "");
                if (p->replicas > (uint32_t)dp->max_replicas) {
                        cleanup_free char *reason = NULL;

                        if (asprintf(&reason,
                                     "process type %s asks for %u replicas; this platform runs "
                                     "at most %ld per process type (deployer.max_replicas)",
                                     p->name, p->replicas, dp->max_replicas) < 0)
                                reason = NULL;
                        ad_step_fail(run, false, reason ? reason : "too many replicas", err);
                        return 1;
                }
                n += p->replicas;
        }
        *total = n;
        return 0;
}

int process_start(struct deployer *dp, const Appdeployer__V1__DeployProvisioned *pv,
                  const struct ad_container_spec *web, const char *deployment_id,
                  struct process_set *out, ad_error_t *err)
{
        size_t total = 0, k = 0;
        char base[NAME_LEN / 2], plabel[NAME_LEN];
        const char *labels[8];
        size_t nl = 0;
        int ret = 0;

        memset(out, 0, sizeof(*out));
        for (size_t i = 0; i < pv->n_processes; i++)
                total += pv->processes[i]->replicas;
        if (total == 0)
                return 0;
        out->cap = total;
        out->cs = calloc(total, sizeof(*out->cs));
        out->type = calloc(total, sizeof(*out->type));
        if (out->cs == NULL || out->type == NULL) {
                process_set_clear(out);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        for (; web->labels && web->labels[nl] && nl < AD_ARRAY_SIZE(labels) - 2; nl++)
                labels[nl] = web->labels[nl];
        labels[nl + 1] = NULL;
        ad_name_container(base, sizeof(base), pv->app_name, deployment_id);
        for (size_t i = 0; ret == 0 && i < pv->n_processes; i++) {
                const Appdeployer__V1__Process *p = pv->processes[i];
                const char *cmd[] = { "/bin/sh", "-c", p->command, NULL };

                snprintf(plabel, sizeof(plabel), "%s=%s", AD_LABEL_PROCESS, p->name);
                labels[nl] = plabel;
                for (uint32_t r = 0; ret == 0 && r < p->replicas; r++) {
                        char name[NAME_LEN];
                        struct ad_container_spec spec = *web;

                        snprintf(name, sizeof(name), "%s-%.30s-%u", base, p->name, r + 1);
                        spec.name = name;
                        spec.cmd = cmd;
                        spec.labels = labels;
                        spec.container_port = 0; /* no port, no route */
                        bool reused;

                        ret = container_ensure(dp, &spec, deployment_id, CONTAINER_REUSE_RUNNING,
                                               &out->cs[k], &reused, err);
                        if (ret == 0)
                                out->type[k++] = p->name;
                }
        }
        out->n = k;
        out->started_ms = ad_monotonic_ms();
        return ret;
}

int process_check(struct deployer *dp, const struct process_set *ps, char **why)
{
        int64_t left = ps->started_ms + PROCESS_SETTLE_MS - ad_monotonic_ms();

        *why = NULL;
        if (ps->n == 0)
                return 0;
        if (left > 0) {
                struct timespec ts = { left / 1000, (left % 1000) * 1000000L };

                nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < ps->n; i++) {
                struct ad_container s = { 0 };
                cleanup_free char *logs = NULL;
                bool ok;

                if (ad_engine_container_inspect(dp->engine, ps->cs[i].id, &s, NULL) < 0)
                        ok = false;
                else
                        ok = s.running && s.restart_count == 0;
                if (ok) {
                        ad_container_clear(&s);
                        continue;
                }
                ad_engine_container_logs(dp->engine, ps->cs[i].id, LOG_LINES, LOG_BYTES, &logs,
                                         NULL);
                if (asprintf(why,
                             "process %s (container %s) did not keep running for %.1f s after "
                             "its start (%s with exit code %d, restarted %d times); the previous "
                             "release, if any, keeps running. Last log lines:\n%s",
                             ps->type[i], ps->cs[i].name, PROCESS_SETTLE_MS / 1000.0,
                             s.state ? s.state : "gone", s.exit_code, s.restart_count,
                             logs && *logs ? logs : "(none)") < 0)
                        *why = NULL;
                ad_container_clear(&s);
                return 1;
        }
        return 0;
}

void process_remove(struct deployer *dp, const struct process_set *ps)
{
        for (size_t i = 0; i < ps->n; i++)
                if (ps->cs[i].id)
                        release_remove(dp, ps->cs[i].id, NULL);
}

void process_exposed(const Appdeployer__V1__DeployProvisioned *pv, Appdeployer__V1__Process *v,
                     Appdeployer__V1__Process **p, size_t *n)
{
        *n = 0;
        for (size_t i = 0; i < pv->n_processes && i < AD_PROCESSES_MAX; i++) {
                appdeployer__v1__process__init(&v[i]);
                v[i].name = pv->processes[i]->name;
                v[i].replicas = pv->processes[i]->replicas;
                p[i] = &v[i];
                (*n)++;
        }
}

void process_set_clear(struct process_set *ps)
{
        ad_container_list_free(ps->cs, ps->cap);
        free(ps->type);
        memset(ps, 0, sizeof(*ps));
}
