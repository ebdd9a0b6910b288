/* The release phase (release_phase.h).
 *
 * Idempotent on a redelivery of deploy.provisioned:
 * - a command that exited 0 in an earlier attempt is not run again: its
 *   output went into the deployment's log with DONE_LINE last, and that
 *   line is looked for first;
 * - a container of this deployment's release phase that is still there
 *   (the deployer died while it ran, or before it was removed) is reused
 *   with its result rather than removed and run again: one still running
 *   is waited for, one that exited is read, one only created is started.
 *   Migrations should be idempotent, but need not be fast or cheap.
 * - a container of that name from another image or deployment is removed
 *   and the command runs in a new one. */
#include "release_phase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/names.h"
#include "container.h"

#define NAME_LEN 128
#define POLL_MS 200
#define LOG_LINES RELEASE_LOG_LINES
#define LOG_BYTES RELEASE_LOG_BYTES
#define REASON_LINES 10
#define DONE_LINE "==> release command exited 0"

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

bool release_phase_wanted(const Appdeployer__V1__DeployProvisioned *pv)
{
        return pv->release_command && *pv->release_command;
}

int release_phase_needed(struct ad_step_run *run, struct deployer *dp,
                         const Appdeployer__V1__DeployProvisioned *pv, const char *dep,
                         ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        int ret;

        if (!release_phase_wanted(pv))
                return 0;
        ret = ad_db_exec(dp->svc->db, &r,
                         "SELECT 1 FROM deployment_logs WHERE deployment_id = $1::uuid AND "
                         "source = 'release' AND line = '" DONE_LINE "' LIMIT 1",
                         1, (const char *[]){ dep }, err);
        if (ret < 0)
                return ad_error_wrap(err, "the deployment's release log");
        if (PQntuples(r) > 0) {
                ad_step_log_str(run, "release", "ran before");
                return 0;
        }
        return 1;
}

/* Release-phase containers of the app's other deployments that are not
 * running (a deployer that died after its command ended left them). */
static void remove_leftovers(struct deployer *dp, const char *app, const char *name)
{
        char label[NAME_LEN];
        const char *filters[] = { label, NULL };
        struct ad_container *list = NULL;
        size_t n = 0;

        snprintf(label, sizeof(label), "%s=%s", AD_LABEL_RELEASE, app);
        if (ad_engine_container_list(dp->engine, filters, true, &list, &n, NULL) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].name, name) != 0 && !ad_container_live(&list[i]))
                        ad_engine_container_remove(dp->engine, list[i].id, true, NULL);
        ad_container_list_free(list, n);
}

struct outcome {
        int exit_code;
        bool timed_out;
        long ms;
};

/* Waits until the container exits or the timeout; a deployer stopping
 * leaves it running for the redelivery (AD_ERR_UNAVAILABLE). */
static int wait_exit(struct deployer *dp, const char *id, struct outcome *o, ad_error_t *err)
{
        int64_t t0 = ad_monotonic_ms(), deadline = t0 + dp->release_timeout_s * 1000;
        long pause = 20; /* doubling to POLL_MS: a short command is seen soon */

        for (;;) {
                struct ad_container c = { 0 };
                int ret = ad_engine_container_inspect(dp->engine, id, &c, err);

                if (ret < 0)
                        return ret;
                if (!c.running && c.state && strcmp(c.state, "created") != 0) {
                        o->exit_code = c.exit_code;
                        ad_container_clear(&c);
                        break;
                }
                ad_container_clear(&c);
                if (ad_monotonic_ms() >= deadline) {
                        o->timed_out = true;
                        o->exit_code = 137;
                        ad_engine_container_stop(dp->engine, id, 0, NULL);
                        break;
                }
                if (ad_service_stopping())
                        return ad_error_make(err, AD_ERR_UNAVAILABLE, 0,
                                             "deployer stopping while the release command runs");
                sleep_ms(pause);
                pause = pause * 2 > POLL_MS ? POLL_MS : pause * 2;
        }
        o->ms = (long)(ad_monotonic_ms() - t0);
        return 0;
}

/* The last n lines of s, which ends with no newline (a pointer into it). */
static const char *last_lines(const char *s, int n)
{
        const char *p = s + strlen(s);

        while (p > s) {
                if (p[-1] == '\n' && --n == 0)
                        break;
                p--;
        }
        return p;
}

int release_phase_run(struct ad_step_run *run, struct deployer *dp,
                      const Appdeployer__V1__DeployProvisioned *pv,
                      const struct ad_container_spec *web, ad_error_t *err)
{
        const char *dep = run->in->deployment_id;
        const char *cmd[] = { "/bin/sh", "-c", pv->release_command, NULL };
        char name[NAME_LEN], label_rel[NAME_LEN], label_dep[NAME_LEN];
        const char *labels[] = { label_rel, label_dep, NULL };
        struct ad_container_spec spec = *web;
        struct ad_container c = { 0 };
        const char *id;
        cleanup_free char *logs = NULL;
        cleanup_free char *reason = NULL;
        cleanup_error ad_error_t lerr = NULL;
        struct outcome o = { 0 };
        bool reused = false;
        int64_t t0;
        int ret;

        ret = release_phase_needed(run, dp, pv, dep, err);
        if (ret <= 0)
                return ret;
        ad_name_container(name, sizeof(name), pv->app_name, dep);
        strncat(name, "-release", sizeof(name) - strlen(name) - 1);
        snprintf(label_rel, sizeof(label_rel), "%s=%s", AD_LABEL_RELEASE, pv->app_name);
        snprintf(label_dep, sizeof(label_dep), "%s=%s", AD_LABEL_DEPLOYMENT, dep);
        spec.name = name;
        spec.cmd = cmd;
        spec.labels = labels;
        spec.container_port = 0; /* no port, no route */
        spec.host_ip = NULL;
        spec.restart_policy = "no";
        t0 = ad_monotonic_ms();
        remove_leftovers(dp, pv->app_name, name);
        ret = container_ensure(dp, &spec, dep, CONTAINER_REUSE_ANY, &c, &reused, err);
        if (ret < 0)
                return ret; /* a redelivery finds the container and reuses it */
        id = c.id;
        ret = wait_exit(dp, id, &o, err);
        if (ret < 0)
                goto out;
        ad_step_log_str(run, "release_container", name);
        ad_step_log_int(run, "release_reused", reused);
        ad_step_log_int(run, "release_exit_code", o.exit_code);
        ad_step_log_int(run, "release_ms", o.ms); /* from its start to its exit */
        ad_step_log_int(run, "release_phase_ms", (long long)(ad_monotonic_ms() - t0));
        if (ad_engine_container_logs(dp->engine, id, LOG_LINES, LOG_BYTES, &logs, &lerr) < 0) {
                ad_step_log_str(run, "release_logs_error", ad_error_message(lerr));
                ad_error_release(&lerr);
        }
        ret = release_phase_record(run, dp, dep, logs, o.exit_code, o.timed_out, &reason, err);
        if (ret < 0)
                goto out; /* run again rather than lose the record */
        if (ret == 0) {
                ret = ad_engine_container_remove(dp->engine, id, true, &lerr);
                if (ret < 0 && ret != -AD_ERR_NOT_FOUND)
                        ad_step_log_str(run, "release_remove_error", ad_error_message(lerr));
                ret = 0;
                goto out;
        }
        /* Gone before deploy.failed is out: whoever sees the failure sees
         * no container of the release.  (Should deploy.failed not go out,
         * the redelivery runs the command again.) */
        ad_engine_container_remove(dp->engine, id, true, NULL);
        ret = ad_step_fail(run, false, reason ? reason : "release command failed", err);
        if (ret == 0)
                ret = 1;
out:
        ad_container_clear(&c);
        return ret;
}

int release_phase_record(struct ad_step_run *run, struct deployer *dp, const char *dep, char *logs,
                         int exit_code, bool timed_out, char **reason, ad_error_t *err)
{
        cleanup_free char *text = NULL;
        cleanup_error ad_error_t lerr = NULL;
        int ret;

        *reason = NULL;
        for (size_t n = logs ? strlen(logs) : 0; n > 0 && logs[n - 1] == '\n'; n--)
                logs[n - 1] = '\0';
        if (exit_code == 0 && !timed_out) {
                /* The output and DONE_LINE in one statement: DONE_LINE
                 * stored means the output was too. */
                if (asprintf(&text, "%s%s" DONE_LINE, logs ? logs : "", logs && *logs ? "\n" : "") <
                    0)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                ret = release_store_lines(dp, dep, "release", text, LOG_LINES + 1, true, err);
                return ret < 0 ? ret : 0;
        }
        if (timed_out)
                ret = asprintf(&text, "%s%s==> release command killed after %ld s",
                               logs ? logs : "", logs && *logs ? "\n" : "", dp->release_timeout_s);
        else
                ret = asprintf(&text, "%s%s==> release command exited %d", logs ? logs : "",
                               logs && *logs ? "\n" : "", exit_code);
        if (ret < 0)
                text = NULL;
        if (text && release_store_lines(dp, dep, "release", text, LOG_LINES + 1, true, &lerr) < 0) {
                ad_step_log_str(run, "release_store_error", ad_error_message(lerr));
                ad_error_release(&lerr);
        }
        if (timed_out)
                ret = asprintf(reason,
                               "release command timed out after %ld s "
                               "(deployer.release_timeout_s): %s\nThe previous release, if any, "
                               "keeps serving.",
                               dp->release_timeout_s,
                               logs && *logs ? last_lines(logs, REASON_LINES) : "(no output)");
        else
                ret = asprintf(reason,
                               "release command failed (exit %d): %s\nThe previous release, if "
                               "any, keeps serving.",
                               exit_code,
                               logs && *logs ? last_lines(logs, REASON_LINES) : "(no output)");
        if (ret < 0)
                *reason = NULL;
        return 1;
}
