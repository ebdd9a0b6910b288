#include "saga.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/names.h"
#include "ad/outbox.h"
#include "ad/status.h"
#include "saga_decide.h"
#include "saga_process.h"
#include "saga_release_decide.h"

/* Steps with side effects, newest first: the order of compensation. */
static const char *const compensable[] = { "deploy", "provision", "build" };

struct deployment {
        bool found;
        long version; /* as read with the row; set_status moves it on */
        char status[32];
        char app[AD_APP_NAME_MAX + 1];
        char kind[16];
        bool whole_app; /* destroyed with its app: shared images go too */
};

/* The rows this store reads, by column name (ad_db_read_row): see
 * docs/architecture.md, "Data access by owner". */
struct deployment_row {
        const char *status, *app_name, *kind;
        int64_t version;
};
static const struct ad_db_field deployment_fields[] = {
        AD_DB_FIELD(struct deployment_row, status, AD_DB_TEXT, "status"),
        AD_DB_FIELD(struct deployment_row, app_name, AD_DB_TEXT, "app_name"),
        AD_DB_FIELD(struct deployment_row, kind, AD_DB_TEXT, "kind"),
        AD_DB_FIELD(struct deployment_row, version, AD_DB_INT64, "version"),
        AD_DB_FIELDS_END,
};

/* A deployment step and the event it goes with (the sweeps, the next
 * compensation, an app destroy's next deployment). */
struct step_row {
        const char *deployment_id, *trace_id, *step, *status;
        int64_t deadline_s;
};
static const struct ad_db_field overdue_fields[] = {
        AD_DB_FIELD(struct step_row, deployment_id, AD_DB_TEXT, "deployment_id"),
        AD_DB_FIELD(struct step_row, trace_id, AD_DB_TEXT, "trace_id"),
        AD_DB_FIELD(struct step_row, step, AD_DB_TEXT, "step"),
        AD_DB_FIELD(struct step_row, deadline_s, AD_DB_INT64, "deadline_s"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field silent_fields[] = {
        AD_DB_FIELD(struct step_row, deployment_id, AD_DB_TEXT, "deployment_id"),
        AD_DB_FIELD(struct step_row, trace_id, AD_DB_TEXT, "trace_id"),
        AD_DB_FIELD(struct step_row, step, AD_DB_TEXT, "step"),
        AD_DB_FIELD(struct step_row, status, AD_DB_TEXT, "status"),
        AD_DB_FIELDS_END,
};
static const struct ad_db_field step_fields[] = {
        AD_DB_FIELD(struct step_row, step, AD_DB_TEXT, "step"),
        AD_DB_FIELDS_END,
};

struct attempts_row {
        int64_t attempts;
};

struct target_row {
        const char *app_name, *repo_url, *ref, *created_at;
};

/* When a deployment was created, in microseconds since the epoch. */
struct created_row {
        int64_t created_us;
};

/* An app's row as a release request reads it. */
struct app_row {
        const char *repo_url, *ref, *env, *config_version;
        int web_replicas;
};

static void note(struct saga_result *res, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(struct saga_result *res, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(res->note, sizeof(res->note), fmt, ap);
        va_end(ap);
}

static int exec(ad_db *db, const char *sql, int n, const char *const *p, ad_error_t *err)
{
        return ad_db_exec(db, NULL, sql, n, p, err);
}

static int load(ad_db *db, const char *id, struct deployment *d, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[1] = { id };
        struct deployment_row row;
        int ret;

        memset(d, 0, sizeof(*d));
        ret = ad_db_exec(db, &r,
                         "SELECT status, app_name, kind, version FROM deployments WHERE id = $1 "
                         "FOR UPDATE",
                         1, p, err);
        if (ret < 0)
                return ret;
        if (PQntuples(r) == 0)
                return 0;
        ret = ad_db_read_row(r, 0, deployment_fields, &row, err);
        if (ret < 0)
                return ret;
        d->found = true;
        snprintf(d->status, sizeof(d->status), "%s", row.status);
        snprintf(d->app, sizeof(d->app), "%s", row.app_name);
        snprintf(d->kind, sizeof(d->kind), "%s", row.kind);
        d->version = (long)row.version;
        return 0;
}

/* Two coordinators, two guards.
 *
 * The row lock taken by load() (FOR UPDATE) serializes the transactions
 * of every coordinator on one deployment: a second one waits, then reads
 * the state the first committed and judges its event on it (applied,
 * late, or early and retried).  It also makes the deployment row the
 * first lock every transition takes, so two transitions never deadlock
 * on the tables they touch next.
 *
 * The compare-and-set below is the guarantee itself: a transition is
 * written only if the row is still at the version it was decided from;
 * otherwise nothing of the transaction is kept and the event is retried
 * (AD_ERR_CONFLICT: saga_apply() fails, the coordinator NAKs, the
 * redelivery is judged on the new state).  While load() holds the lock the
 * check cannot fail; it is what still holds if the state is ever read
 * without it (a snapshot, a cache, another code path).  The tests check it
 * on its own (tests/integration/test_two_coordinators.c); with FOR UPDATE
 * dropped, their racing coordinators end in this conflict instead of
 * waiting, and still apply one transition. */
int saga_transition(ad_db *db, const char *id, long expected_version, const char *status,
                    ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        char version[24];
        const char *p[3] = { id, status, version };
        int ret;

        snprintf(version, sizeof(version), "%ld", expected_version);
        ret = ad_db_exec(db, &r,
                         "UPDATE deployments SET status = $2, version = version + 1, "
                         "updated_at = now() WHERE id = $1 AND version = $3 RETURNING 1",
                         3, p, err);
        if (ret < 0)
                return ret;
        if (PQntuples(r) == 0)
                return ad_error_make(err, AD_ERR_CONFLICT, 0,
                                     "deployment %s is no longer at version %ld: another "
                                     "coordinator moved it first",
                                     id, expected_version);
        return 0;
}

static int set_status(ad_db *db, struct deployment *d, const char *id, const char *status,
                      ad_error_t *err)
{
        int ret = saga_transition(db, id, d->version, status, err);

        /* d->status stays the state the event was judged on. */
        if (ret == 0)
                d->version++;
        return ret;
}

static struct saga_deadlines deadlines = { 600, 1800, 300, 600, 60 };

void saga_set_deadlines(const struct saga_deadlines *d)
{
        deadlines = *d;
}

static long deadline_of(const char *step)
{
        if (!strcmp(step, "analyze"))
                return deadlines.analyze_s;
        if (!strcmp(step, "build"))
                return deadlines.build_s;
        if (!strcmp(step, "provision"))
                return deadlines.provision_s;
        return deadlines.deploy_s;
}

static int step_start(ad_db *db, const char *id, const char *step, ad_error_t *err)
{
        char secs[24];
        const char *p[3] = { id, step, secs };

        snprintf(secs, sizeof(secs), "%ld", deadline_of(step));
        return exec(db,
                    "INSERT INTO deployment_steps (deployment_id, step, status, deadline_at) "
                    "VALUES ($1, $2, 'running', now() + make_interval(secs => $3::int)) "
                    "ON CONFLICT (deployment_id, step) DO UPDATE "
                    "SET status = 'running', started_at = now(), ended_at = NULL, "
                    "deadline_at = now() + make_interval(secs => $3::int)",
                    3, p, err);
}

static int step_end(ad_db *db, const char *id, const char *step, const char *status,
                    ad_error_t *err)
{
        const char *p[3] = { id, step, status };

        return exec(db,
                    "INSERT INTO deployment_steps (deployment_id, step, status, ended_at) "
                    "VALUES ($1, $2, $3, now()) ON CONFLICT (deployment_id, step) DO UPDATE "
                    "SET status = $3, ended_at = now()",
                    3, p, err);
}

/* Asks (through the outbox) the service of `step` to undo its work, and
 * counts the request.  Each request is a new event (its id derived from
 * the deployment, the step and the attempt), since the services drop an
 * event id they have handled. */
static int request_compensation(ad_db *db, const char *deployment_id, const char *trace_id,
                                const char *step, const char *reason, ad_error_t *err)
{
        Appdeployer__V1__Compensate c = APPDEPLOYER__V1__COMPENSATE__INIT;
        cleanup_pgresult PGresult *r = NULL;
        const char *p[2] = { deployment_id, step };
        static const struct ad_db_field attempts_fields[] = {
                AD_DB_FIELD(struct attempts_row, attempts, AD_DB_INT64, "attempts"),
                AD_DB_FIELDS_END,
        };
        struct attempts_row row = { 0 };
        char id[AD_UUID_LEN + 1], subject[64], salt[96];
        ad_envelope env;
        int ret;

        ret = ad_db_exec(db, &r,
                         "UPDATE compensations SET status = 'requested', requested_at = now(), "
                         "attempts = attempts + 1 WHERE deployment_id = $1 AND step = $2 "
                         "RETURNING attempts",
                         2, p, err);
        if (ret == 0 && PQntuples(r))
                ret = ad_db_read_row(r, 0, attempts_fields, &row, err);
        if (ret < 0)
                return ret;
        ad_event_init(&env, deployment_id, trace_id, 1, "coordinator", id);
        snprintf(salt, sizeof(salt), "compensate/%s/%lld", step, (long long)row.attempts);
        ad_uuid_derive(id, deployment_id, salt);
        c.step = (char *)step;
        c.reason = (char *)reason;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE;
        env.compensate = &c;
        snprintf(subject, sizeof(subject), "%s.%s", AD_SUBJECT_COMPENSATE, step);
        return ad_outbox_add(db, subject, &env, err);
}

/* Publishes the next pending compensation, or ends the saga with `final`
 * when none is left. */
static int app_destroy_next(ad_db *db, const ad_envelope *in, const char *request, ad_error_t *err);

static int next_compensation(ad_db *db, struct deployment *d, const ad_envelope *in,
                             const char *final, struct saga_result *res, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        const char *p[2] = { in->deployment_id, NULL };
        struct step_row row;
        int ret;

        ret = ad_db_exec(db, &r,
                         "SELECT step FROM compensations WHERE deployment_id = $1 "
                         "AND status = 'pending' ORDER BY seq LIMIT 1",
                         1, p, err);
        if (ret < 0)
                return ret;
        if (PQntuples(r) == 0) {
                snprintf(res->status, sizeof(res->status), "%s", final);
                /* A destroyed deployment serves nothing: no URL to show. */
                if (strcmp(final, "DESTROYED") == 0) {
                        ret = exec(db, "UPDATE deployments SET url = NULL, ip = NULL WHERE id = $1",
                                   1, p, err);
                        if (ret < 0)
                                return ret;
                }
                ret = set_status(db, d, in->deployment_id, final, err);
                /* Part of an app's destroy: the next of its deployments. */
                if (ret == 0 && strcmp(final, "DESTROYED") == 0)
                        ret = app_destroy_next(db, in, NULL, err);
                return ret;
        }
        ret = ad_db_read_row(r, 0, step_fields, &row, err);
        if (ret < 0)
                return ret;
        return request_compensation(db, in->deployment_id, in->trace_id, row.step,
                                    strcmp(final, "DESTROYED") == 0 ? "destroy" : "rollback", err);
}

/* Plans the compensation of `step` as the next in line (*seq counts them),
 * skipping a build whose image another release of the app still runs, and
 * a rollback's build (it reused an image). */
static int plan_one(ad_db *db, const char *id, const struct deployment *d, const char *step,
                    int *seq, ad_error_t *err)
{
        char s[16];
        const char *p[3] = { id, step, s };

        /* A rollback, config or scale release reused an image; an app going
         * away takes every image. */
        if (!strcmp(step, "build") && !d->whole_app) {
                cleanup_pgresult PGresult *r = NULL;
                const char *q[1] = { id };
                int ret;

                if (strcmp(d->kind, "deploy") != 0)
                        return 0;
                ret = ad_db_exec(db, &r,
                                 "SELECT 1 FROM builds b JOIN releases r "
                                 "ON r.deployment_id <> b.deployment_id "
                                 "JOIN builds b2 ON b2.deployment_id = r.deployment_id "
                                 "WHERE b.deployment_id = $1 AND b2.image = b.image",
                                 1, q, err);
                if (ret < 0)
                        return ret;
                if (PQntuples(r) > 0)
                        return 0;
        }
        snprintf(s, sizeof(s), "%d", ++*seq);
        return exec(db,
                    "INSERT INTO compensations (deployment_id, step, seq) "
                    "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    3, p, err);
}

/* Plans the compensations of the first `n` steps of `compensable` (by
 * age, newest first). */
static int plan_compensations(ad_db *db, const char *id, const struct deployment *d, int n,
                              ad_error_t *err)
{
        int seq = 0, ret = 0;

        for (int i = 3 - n; i < 3 && ret == 0; i++)
                ret = plan_one(db, id, d, compensable[i], &seq, err);
        return ret;
}

static char *env_json(Appdeployer__V1__EnvVar **env, size_t n);

/* A deploy request makes or updates its app: repository, ref, and the
 * config (the request's env replaces it unless keep_config says the env is
 * the app's own).  The deployment records the config version it runs. */
static int remember_app(ad_db *db, const char *id, const char *app,
                        const Appdeployer__V1__DeployRequested *q, ad_error_t *err)
{
        cleanup_free char *env = env_json(q->env, q->n_env);
        const char *p[6] = { app,
                             q->repo_url ? q->repo_url : "",
                             q->ref ? q->ref : "",
                             env ? env : "{}",
                             q->keep_config ? "true" : "false",
                             id };

        return exec(db,
                    "WITH a AS (INSERT INTO apps (name, repo_url, ref, env) "
                    "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (name) DO UPDATE SET "
                    "repo_url = EXCLUDED.repo_url, ref = EXCLUDED.ref, "
                    "env = CASE WHEN $5::boolean THEN apps.env ELSE EXCLUDED.env END, "
                    "config_version = CASE WHEN $5::boolean OR (apps.env = '{}' AND "
                    "EXCLUDED.env = '{}') THEN apps.config_version "
                    "ELSE apps.config_version + 1 END, updated_at = now() "
                    "RETURNING config_version) "
                    "UPDATE deployments SET config_version = (SELECT config_version FROM a), "
                    "description = 'deploy ' || CASE WHEN $3 = '' THEN 'default branch' "
                    "ELSE $3 END WHERE id = $6::uuid",
                    6, p, err);
}

/* SAGA_FX_CREATE: the deployment row (ANALYZING) and its app. */
static int create_deployment(ad_db *db, const ad_envelope *in, ad_error_t *err)
{
        const Appdeployer__V1__DeployRequested *q = in->requested;
        char app[AD_APP_NAME_MAX + 1] = "unknown";
        int ret;

        if (q->app_name && *q->app_name)
                snprintf(app, sizeof(app), "%s", q->app_name);
        else
                ad_app_name_from_url(app, q->repo_url, NULL);
        {
                const char *p[6] = { in->deployment_id,
                                     app,
                                     q->repo_url ? q->repo_url : "",
                                     q->ref ? q->ref : "",
                                     q->requested_by ? q->requested_by : "",
                                     in->trace_id ? in->trace_id : "" };
                ret = exec(db,
                           "INSERT INTO deployments (id, app_name, repo_url, ref, requested_by, "
                           "trace_id, status) VALUES ($1, $2, $3, $4, $5, $6, 'ANALYZING')",
                           6, p, err);
        }
        if (ret == 0)
                ret = remember_app(db, in->deployment_id, app, q, err);
        return ret;
}

/* SAGA_FX_RECORD of deploy.analyzed: the analysis, stored only when it is
 * JSON (other systems publish too). */
static int record_analysis(ad_db *db, const ad_envelope *in, const struct deployment *d,
                           ad_error_t *err)
{
        const Appdeployer__V1__DeployAnalyzed *a = in->analyzed;
        json_error_t jerr;
        json_t *j = json_loads(a->analysis_json ? a->analysis_json : "", 0, &jerr);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        const char *p[4] = { in->deployment_id, a->git_sha ? a->git_sha : "", text,
                             a->app_name && ad_app_name_valid(a->app_name) ? a->app_name : d->app };
        int ret;

        ret = exec(db,
                   "UPDATE deployments SET git_sha = $2, analysis = $3::jsonb, "
                   "app_name = $4 WHERE id = $1",
                   4, p, err);
        free(text);
        json_decref(j);
        return ret;
}

static char *env_json(Appdeployer__V1__EnvVar **env, size_t n)
{
        json_t *o = json_object();
        char *s;

        for (size_t i = 0; i < n; i++)
                if (env[i]->name && env[i]->value)
                        json_object_set_new(o, env[i]->name, json_string(env[i]->value));
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return s;
}

/* SAGA_FX_RECORD of deploy.built: the build. */
static int record_build(ad_db *db, const ad_envelope *in, const struct deployment *d,
                        ad_error_t *err)
{
        const Appdeployer__V1__DeployBuilt *b = in->built;
        cleanup_free char *env = NULL, *tags = NULL;
        char dur[32], port[16], cpu[32], mem[16];
        int ret;

        env = env_json(b->env, b->n_env);
        {
                json_t *t = json_array();
                for (size_t i = 0; i < b->n_tags; i++)
                        json_array_append_new(t, json_string(b->tags[i]));
                tags = json_dumps(t, JSON_COMPACT);
                json_decref(t);
        }
        snprintf(dur, sizeof(dur), "%llu", (unsigned long long)b->build_duration_ms);
        snprintf(port, sizeof(port), "%u", b->port);
        snprintf(cpu, sizeof(cpu), "%g", b->resources ? b->resources->cpu : 0.0);
        snprintf(mem, sizeof(mem), "%u", b->resources ? b->resources->memory_mb : 0);
        {
                const char *p[11] = { in->deployment_id,
                                      b->image ? b->image : "",
                                      b->digest ? b->digest : "",
                                      tags,
                                      dur,
                                      b->cache_hit ? "true" : "false",
                                      d->app,
                                      port,
                                      cpu,
                                      mem,
                                      env };
                const char *sha[2] = { in->deployment_id, b->git_sha ? b->git_sha : "" };

                ret = exec(
                        db,
                        "INSERT INTO builds (deployment_id, image, digest, tags, duration_ms, "
                        "cache_hit, app_name, port, cpu, memory_mb, env, git_sha) VALUES ($1, "
                        "$2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5, $6, "
                        "$7, $8, $9, $10, $11::jsonb, '') ON CONFLICT (deployment_id) DO NOTHING",
                        11, p, err);
                if (ret == 0)
                        ret = exec(db, "UPDATE builds SET git_sha = $2 WHERE deployment_id = $1", 2,
                                   sha, err);
        }
        if (ret == 0 && b->release_command && *b->release_command)
                ret = exec(db, "UPDATE builds SET release_command = $2 WHERE deployment_id = $1", 2,
                           (const char *[]){ in->deployment_id, b->release_command }, err);
        if (ret == 0 && b->n_processes > 0) {
                cleanup_free char *procs = saga_processes_json(b->processes, b->n_processes, true);

                if (procs == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                ret = exec(db, "UPDATE builds SET processes = $2::jsonb WHERE deployment_id = $1",
                           2, (const char *[]){ in->deployment_id, procs }, err);
        }
        return ret;
}

/* SAGA_FX_RECORD of deploy.provisioned: the infrastructure and the URL. */
static int record_infrastructure(ad_db *db, const ad_envelope *in, ad_error_t *err)
{
        const Appdeployer__V1__DeployProvisioned *pv = in->provisioned;
        const char *p[6] = { in->deployment_id,
                             pv->network ? pv->network : "",
                             pv->host_name ? pv->host_name : "",
                             pv->url ? pv->url : "",
                             pv->tls ? "true" : "false",
                             pv->route_id ? pv->route_id : "" };
        int ret;

        ret = exec(db,
                   "INSERT INTO infrastructure (deployment_id, network, host_name, url, "
                   "tls, route_id) VALUES ($1, $2, $3, $4, $5, $6) "
                   "ON CONFLICT (deployment_id) DO NOTHING",
                   6, p, err);
        if (ret == 0)
                ret = exec(db, "UPDATE deployments SET url = $2 WHERE id = $1", 2,
                           (const char *[]){ in->deployment_id, pv->url ? pv->url : "" }, err);
        return ret;
}

/* SAGA_FX_RECORD of deploy.exposed: the URL, and the app's next release. */
static int record_release(ad_db *db, const ad_envelope *in, const struct deployment *d,
                          ad_error_t *err)
{
        const Appdeployer__V1__DeployExposed *x = in->exposed;
        cleanup_free char *ids = NULL;
        int ret;

        {
                json_t *a = json_array();
                for (size_t i = 0; i < x->n_container_ids; i++)
                        json_array_append_new(a, json_string(x->container_ids[i]));
                ids = json_dumps(a, JSON_COMPACT);
                json_decref(a);
        }
        {
                const char *p[3] = { in->deployment_id, x->url ? x->url : "", x->ip ? x->ip : "" };
                ret = exec(db, "UPDATE deployments SET url = $2, ip = $3 WHERE id = $1", 3, p, err);
        }
        /* The app's lock makes two exposures of one app take turns: the
         * later one always sees the earlier (release numbers, SUPERSEDED). */
        if (ret == 0)
                ret = exec(db, "SELECT pg_advisory_xact_lock(hashtext('app:' || $1))", 1,
                           (const char *[]){ d->app }, err);
        if (ret == 0) {
                const char *p[3] = { in->deployment_id, d->app, ids };
                ret = exec(db,
                           "INSERT INTO releases (app_name, deployment_id, image, container_ids, "
                           "version) SELECT $2, $1, coalesce((SELECT image FROM builds WHERE "
                           "deployment_id = $1), ''), "
                           "ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), "
                           "coalesce((SELECT max(version) FROM releases WHERE app_name = $2), 0) "
                           "+ 1",
                           3, p, err);
        }
        if (ret == 0 && x->n_processes > 0) {
                cleanup_free char *procs = saga_processes_json(x->processes, x->n_processes, false);

                if (procs == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                ret = exec(db, "UPDATE releases SET processes = $2::jsonb WHERE deployment_id = $1",
                           2, (const char *[]){ in->deployment_id, procs }, err);
        }
        return ret;
}

static int record(ad_db *db, const ad_envelope *in, const struct deployment *d, ad_error_t *err)
{
        switch (in->payload_case) {
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED:
                return record_analysis(db, in, d, err);
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT:
                return record_build(db, in, d, err);
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED:
                return record_infrastructure(db, in, err);
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED:
                return record_release(db, in, d, err);
        default:
                return 0;
        }
}

/* SAGA_FX_RECORD_FAILURE: what failed, and from which status. */
static int record_failure(ad_db *db, const ad_envelope *in, const char *step,
                          const struct deployment *d, ad_error_t *err)
{
        const Appdeployer__V1__DeployFailed *f = in->failed;
        const char *p[4] = { in->deployment_id, f->reason ? f->reason : "", step, d->status };

        return exec(db,
                    "UPDATE deployments SET error = $2, failed_step = $3, "
                    "failed_from = $4 WHERE id = $1",
                    4, p, err);
}

/* SAGA_FX_COMPENSATION_DONE; *waiting is false when no compensation of
 * `step` was requested (a duplicate or forged completion). */
static int compensation_done(ad_db *db, const char *id, const char *step, bool *waiting,
                             ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        int ret;

        ret = ad_db_exec(db, &r,
                         "UPDATE compensations SET status = 'done', done_at = now() "
                         "WHERE deployment_id = $1 AND step = $2 AND status = 'requested' "
                         "RETURNING 1",
                         2, (const char *[]){ id, step }, err);
        if (ret == 0)
                *waiting = PQntuples(r) > 0;
        return ret;
}

/* The handlers of the requests whose outcome reads other rows (below). */
static int on_rollback(ad_db *db, const ad_envelope *in, struct deployment *d,
                       struct saga_result *res, ad_error_t *err);
static int on_release(ad_db *db, const ad_envelope *in, struct deployment *d,
                      struct saga_result *res, ad_error_t *err);
static int on_app_destroy(ad_db *db, const ad_envelope *in, struct saga_result *res,
                          ad_error_t *err);

/* The envelope as saga_decide() sees it. */
static bool decided_event(const ad_envelope *in, struct saga_event *e)
{
        memset(e, 0, sizeof(*e));
        switch (in->payload_case) {
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED:
                e->kind = SAGA_EV_REQUESTED;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED:
                e->kind = SAGA_EV_ANALYZED;
                e->app = in->analyzed->app_name;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT:
                e->kind = SAGA_EV_BUILT;
                e->app = in->built->app_name;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED:
                e->kind = SAGA_EV_PROVISIONED;
                e->app = in->provisioned->app_name;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED:
                e->kind = SAGA_EV_EXPOSED;
                e->app = in->exposed->app_name;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED:
                e->kind = SAGA_EV_FAILED;
                e->step = in->failed->step;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED:
                e->kind = SAGA_EV_COMPENSATED;
                e->step = in->compensated->step;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_DESTROY:
                e->kind = SAGA_EV_DESTROY;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ROLLBACK:
                e->kind = SAGA_EV_ROLLBACK;
                e->target = in->rollback->target_deployment_id;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_RELEASE:
                e->kind = SAGA_EV_RELEASE;
                e->app = in->release->app_name;
                return true;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_APP_DESTROY:
                e->kind = SAGA_EV_APP_DESTROY;
                e->app = in->app_destroy->app_name;
                return true;
        default:
                return false;
        }
}

/* The thin layer over saga_decide(): applies its effects, in order, in
 * the caller's transaction.  Two judgements need rows the decision does
 * not see, and stay here: a build's compensation is skipped while another
 * release runs its image (plan_one), and a completion no compensation
 * waited for is ignored. */
static int decide_and_apply(ad_db *db, const ad_envelope *in, struct deployment *d,
                            const struct saga_event *e, struct saga_result *res, ad_error_t *err)
{
        struct saga_state s = { .found = d->found,
                                .status = ad_status_parse(d->status),
                                .app = d->app };
        struct saga_decision dec;
        int seq = 0, ret = 0;

        saga_decide(&s, e, &dec);
        switch (dec.verdict) {
        case SAGA_DECIDE_APPLY:
                break;
        case SAGA_DECIDE_RETRY:
                res->outcome = SAGA_RETRY;
                if (!d->found)
                        note(res, "deployment %s is not known yet", in->deployment_id);
                else
                        note(res, "%s", dec.note);
                return 0;
        case SAGA_DECIDE_IGNORE:
        case SAGA_DECIDE_DROP:
                res->outcome = dec.verdict == SAGA_DECIDE_DROP ? SAGA_DROPPED : SAGA_IGNORED;
                note(res, "%s", dec.note);
                return 0;
        }
        res->outcome = SAGA_APPLIED;
        snprintf(res->status, sizeof(res->status), "%s", ad_status_name(dec.next));
        for (size_t i = 0; i < dec.n_effects && ret == 0; i++) {
                const struct saga_effect *fx = &dec.effects[i];
                bool waiting = true;

                switch (fx->kind) {
                case SAGA_FX_CREATE:
                        ret = create_deployment(db, in, err);
                        break;
                case SAGA_FX_RECORD:
                        ret = record(db, in, d, err);
                        break;
                case SAGA_FX_RECORD_FAILURE:
                        ret = record_failure(db, in, fx->step, d, err);
                        break;
                case SAGA_FX_RECORD_FROM:
                        ret = exec(
                                db, "UPDATE deployments SET failed_from = $2 WHERE id = $1", 2,
                                (const char *[]){ in->deployment_id, ad_status_name(fx->status) },
                                err);
                        break;
                case SAGA_FX_REOPEN_COMPENSATIONS:
                        ret = exec(db,
                                   "UPDATE compensations SET status = 'pending' WHERE "
                                   "deployment_id = $1 AND status <> 'done'",
                                   1, (const char *[]){ in->deployment_id }, err);
                        break;
                case SAGA_FX_STEP_END:
                        ret = step_end(db, in->deployment_id, fx->step, fx->step_status, err);
                        break;
                case SAGA_FX_STEP_START:
                        ret = step_start(db, in->deployment_id, fx->step, err);
                        break;
                case SAGA_FX_STATUS:
                        /* A new row was written with its status (CREATE). */
                        if (d->found)
                                ret = set_status(db, d, in->deployment_id,
                                                 ad_status_name(fx->status), err);
                        break;
                case SAGA_FX_SUPERSEDE:
                        /* The app's earlier releases no longer serve (the
                         * deployer retired their containers): they are
                         * SUPERSEDED, so one deployment of an app shows
                         * EXPOSED. */
                        ret = exec(db,
                                   "UPDATE deployments SET status = 'SUPERSEDED', version = "
                                   "version + 1, updated_at = now() WHERE app_name = $1 AND "
                                   "status = 'EXPOSED' AND id <> $2",
                                   2, (const char *[]){ d->app, in->deployment_id }, err);
                        break;
                case SAGA_FX_PLAN_COMPENSATION:
                        ret = plan_one(db, in->deployment_id, d, fx->step, &seq, err);
                        break;
                case SAGA_FX_COMPENSATION_DONE:
                        ret = compensation_done(db, in->deployment_id, fx->step, &waiting, err);
                        if (ret == 0 && !waiting) {
                                res->outcome = SAGA_IGNORED;
                                snprintf(res->status, sizeof(res->status), "%s", d->status);
                                note(res, "no compensation of %s was waiting", fx->step);
                                return 0;
                        }
                        break;
                case SAGA_FX_NEXT_COMPENSATION:
                        ret = next_compensation(db, d, in, ad_status_name(fx->status), res, err);
                        break;
                /* Their handlers set the outcome: an unknown target or app
                 * is ignored there, with a note. */
                case SAGA_FX_ROLLBACK:
                        res->outcome = SAGA_IGNORED;
                        ret = on_rollback(db, in, d, res, err);
                        break;
                case SAGA_FX_RELEASE:
                        res->outcome = SAGA_IGNORED;
                        ret = on_release(db, in, d, res, err);
                        break;
                case SAGA_FX_APP_DESTROY:
                        res->outcome = SAGA_IGNORED;
                        ret = on_app_destroy(db, in, res, err);
                        break;
                }
        }
        return ret;
}

/* The columns of a release's build that running its image again needs
 * (struct reuse_row); `b` is builds, `r` releases, `d` the release's
 * deployment. */
#define REUSE_COLUMNS                                                                              \
        "b.image, b.digest, b.port, b.cpu, b.memory_mb, b.env::text AS env, b.git_sha, "           \
        "r.deployment_id, cardinality(r.container_ids) AS containers, r.version, "                 \
        "d.config_version"

struct reuse_row {
        const char *image, *digest, *env, *git_sha, *deployment_id;
        const char *version, *config_version; /* passed on as parameters */
        uint32_t port, memory_mb, containers;
        double cpu;
};
static const struct ad_db_field reuse_fields[] = {
        AD_DB_FIELD(struct reuse_row, image, AD_DB_TEXT, "image"),
        AD_DB_FIELD(struct reuse_row, digest, AD_DB_TEXT, "digest"),
        AD_DB_FIELD(struct reuse_row, port, AD_DB_UINT32, "port"),
        AD_DB_FIELD(struct reuse_row, cpu, AD_DB_DOUBLE, "cpu"),
        AD_DB_FIELD(struct reuse_row, memory_mb, AD_DB_UINT32, "memory_mb"),
        AD_DB_FIELD(struct reuse_row, env, AD_DB_TEXT, "env"),
        AD_DB_FIELD(struct reuse_row, git_sha, AD_DB_TEXT, "git_sha"),
        AD_DB_FIELD(struct reuse_row, deployment_id, AD_DB_TEXT, "deployment_id"),
        AD_DB_FIELD(struct reuse_row, containers, AD_DB_UINT32, "containers"),
        AD_DB_FIELD(struct reuse_row, version, AD_DB_TEXT, "version"),
        AD_DB_FIELD(struct reuse_row, config_version, AD_DB_TEXT_NULL, "config_version"),
        AD_DB_FIELDS_END,
};

/* The first row of r, when it has one, and what the decisions see of it
 * (`seen`, its strings borrowed from `row`): 1 read, 0 none, < 0 error. */
static int read_reuse(const PGresult *r, struct reuse_row *row, struct saga_reuse *seen,
                      ad_error_t *err)
{
        int ret;

        memset(row, 0, sizeof(*row));
        memset(seen, 0, sizeof(*seen));
        if (r == NULL || PQntuples(r) == 0)
                return 0;
        ret = ad_db_read_row(r, 0, reuse_fields, row, err);
        if (ret < 0)
                return ret;
        *seen = (struct saga_reuse){ .found = true,
                                     .deployment_id = row->deployment_id,
                                     .env = row->env,
                                     .config_version = row->config_version,
                                     .version = row->version,
                                     .containers = row->containers };
        return 1;
}

/* Starts deployment `id` (its row written, status BUILDING) from an image
 * an earlier release of the app built: its build step counts as reused,
 * and deploy.built goes out with the image, `env` (a JSON object of
 * sealed values) and `replicas`, so provisioning and deployment run again
 * with no build.  `row` is a result of REUSE_COLUMNS. */
/* The build's process types and the app's scale of them (NULL: none),
 * and the build's release command (NULL: none). */
struct procs_row {
        const char *processes, *replicas, *release_command;
};
static const struct ad_db_field procs_fields[] = {
        AD_DB_FIELD(struct procs_row, processes, AD_DB_TEXT_NULL, "processes"),
        AD_DB_FIELD(struct procs_row, replicas, AD_DB_TEXT_NULL, "replicas"),
        AD_DB_FIELD(struct procs_row, release_command, AD_DB_TEXT_NULL, "release_command"),
        AD_DB_FIELDS_END,
};

static int publish_reuse(ad_db *db, const ad_envelope *in, const char *id, const char *app,
                         const struct reuse_row *row, const char *env_text, uint32_t replicas,
                         ad_error_t *err)
{
        cleanup_pgresult PGresult *pr = NULL;
        struct procs_row procs_row = { 0 };
        struct saga_procs procs;
        const Appdeployer__V1__ReleaseRequested *q =
                in->payload_case == APPDEPLOYER__V1__ENVELOPE__PAYLOAD_RELEASE ? in->release : NULL;
        Appdeployer__V1__DeployBuilt b = APPDEPLOYER__V1__DEPLOY_BUILT__INIT;
        Appdeployer__V1__Resources res_msg = APPDEPLOYER__V1__RESOURCES__INIT;
        Appdeployer__V1__EnvVar *envs[128], envv[128];
        char event_id[AD_UUID_LEN + 1];
        const char *tags[1];
        ad_envelope env;
        json_t *envj;
        const char *k;
        json_t *v;
        size_t n = 0;
        int ret;

        ret = step_start(db, id, "build", err);
        if (ret < 0)
                return ret;
        /* The build's other process types, at the app's scale. */
        ret = ad_db_exec(db, &pr,
                         "SELECT (SELECT processes::text FROM builds WHERE deployment_id = $1) "
                         "AS processes, "
                         "(SELECT process_replicas::text FROM apps WHERE name = $2) AS replicas, "
                         "(SELECT release_command FROM builds WHERE deployment_id = $1) "
                         "AS release_command",
                         2, (const char *[]){ row->deployment_id, app }, err);
        if (ret == 0)
                ret = ad_db_read_row(pr, 0, procs_fields, &procs_row, err);
        if (ret < 0)
                return ret;
        ad_event_init(&env, id, in->trace_id, 1, "coordinator", event_id);
        ad_uuid_derive(event_id, in->event_id, "built");
        b.image = (char *)row->image;
        b.digest = (char *)row->digest;
        tags[0] = b.image;
        b.n_tags = 1;
        b.tags = (char **)tags;
        b.cache_hit = true;
        b.app_name = (char *)app;
        b.port = row->port;
        res_msg.cpu = row->cpu;
        res_msg.memory_mb = row->memory_mb;
        res_msg.replicas = replicas;
        b.resources = &res_msg;
        b.git_sha = (char *)row->git_sha;
        envj = json_loads(env_text, 0, NULL);
        json_object_foreach (envj, k, v) {
                if (n == AD_ARRAY_SIZE(envv))
                        break;
                appdeployer__v1__env_var__init(&envv[n]);
                envv[n].name = (char *)k;
                envv[n].value = (char *)json_string_value(v);
                envs[n] = &envv[n];
                n++;
        }
        b.n_env = n;
        b.env = envs;
        saga_procs_load(&procs, procs_row.processes, procs_row.replicas, q ? q->scale : NULL,
                        q ? q->n_scale : 0);
        b.n_processes = procs.n;
        b.processes = procs.p;
        /* The release phase runs again on a release without a build, as
         * Heroku's does on a config change or rollback. */
        b.release_command = (char *)(procs_row.release_command ?: "");
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT;
        env.built = &b;
        ret = ad_outbox_add(db, AD_SUBJECT_BUILT, &env, err);
        saga_procs_clear(&procs);
        json_decref(envj);
        return ret;
}

/* Ends a release request that cannot run: its deployment is FAILED with
 * `why`, nothing else changes. */
static int fail_request(ad_db *db, const char *id, const char *step, const char *why,
                        struct saga_result *res, ad_error_t *err)
{
        snprintf(res->status, sizeof(res->status), "FAILED");
        note(res, "%s", why);
        return exec(db,
                    "UPDATE deployments SET status = 'FAILED', error = $2, "
                    "failed_step = $3 WHERE id = $1",
                    3, (const char *[]){ id, why, step }, err);
}

/* deploy.rollback: loads the target and the app's releases, asks
 * saga_decide_rollback() (which runs the newest release older than the
 * target again), and applies its decision. */
static int on_rollback(ad_db *db, const ad_envelope *in, struct deployment *d,
                       struct saga_result *res, ad_error_t *err)
{
        static const struct ad_db_field target_fields[] = {
                AD_DB_FIELD(struct target_row, app_name, AD_DB_TEXT, "app_name"),
                AD_DB_FIELD(struct target_row, repo_url, AD_DB_TEXT, "repo_url"),
                AD_DB_FIELD(struct target_row, ref, AD_DB_TEXT, "ref"),
                AD_DB_FIELD(struct target_row, created_at, AD_DB_TEXT, "created_at"),
                AD_DB_FIELDS_END,
        };
        static const struct ad_db_field created_fields[] = {
                AD_DB_FIELD(struct created_row, created_us, AD_DB_INT64, "created_us"),
                AD_DB_FIELDS_END,
        };
        const char *target = in->rollback->target_deployment_id;
        cleanup_pgresult PGresult *t = NULL, *r = NULL;
        cleanup_free struct reuse_row *rows = NULL;
        cleanup_free struct saga_reuse *seen = NULL;
        cleanup_free int64_t *created = NULL;
        struct saga_rollback_input q = { .target = target };
        struct saga_request_decision dec;
        struct target_row tr = { 0 };
        struct created_row cr = { 0 };
        const struct reuse_row *from = NULL;
        size_t n;
        int ret;

        /* saga_decide() judged: no such deployment yet, a valid target id. */
        (void)d;
        ret = ad_db_exec(db, &t,
                         "SELECT app_name, repo_url, ref, created_at, "
                         "(extract(epoch FROM created_at) * 1000000)::bigint AS created_us "
                         "FROM deployments WHERE id = $1",
                         1, (const char *[]){ target }, err);
        if (ret < 0)
                return ret;
        q.target_found = PQntuples(t) > 0;
        if (q.target_found) {
                ret = ad_db_read_row(t, 0, target_fields, &tr, err);
                if (ret == 0)
                        ret = ad_db_read_row(t, 0, created_fields, &cr, err);
                if (ret < 0)
                        return ret;
                q.target_created_us = cr.created_us;
                /* The app's releases, newest first, with when their
                 * deployments were created. */
                ret = ad_db_exec(db, &r,
                                 "SELECT " REUSE_COLUMNS ", (extract(epoch FROM d.created_at) "
                                 "* 1000000)::bigint AS created_us "
                                 "FROM releases r JOIN builds b USING "
                                 "(deployment_id) JOIN deployments d ON d.id = r.deployment_id "
                                 "WHERE r.app_name = $1 ORDER BY r.id DESC",
                                 1, (const char *[]){ tr.app_name }, err);
                if (ret < 0)
                        return ret;
                n = (size_t)PQntuples(r);
                rows = calloc(n + 1, sizeof(*rows));
                seen = calloc(n + 1, sizeof(*seen));
                created = calloc(n + 1, sizeof(*created));
                if (rows == NULL || seen == NULL || created == NULL)
                        return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
                for (size_t i = 0; i < n; i++) {
                        ret = ad_db_read_row(r, (int)i, reuse_fields, &rows[i], err);
                        if (ret == 0)
                                ret = ad_db_read_row(r, (int)i, created_fields, &cr, err);
                        if (ret < 0)
                                return ret;
                        created[i] = cr.created_us;
                        seen[i] = (struct saga_reuse){ .found = true,
                                                       .deployment_id = rows[i].deployment_id,
                                                       .env = rows[i].env,
                                                       .config_version = rows[i].config_version,
                                                       .version = rows[i].version,
                                                       .containers = rows[i].containers };
                }
                q.n_releases = n;
                q.releases = seen;
                q.created_us = created;
        }
        if (saga_decide_rollback(&q, &dec) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        if (dec.verdict == SAGA_REQUEST_IGNORE) {
                note(res, "%s", dec.note);
                return 0;
        }
        if (dec.from)
                from = &rows[dec.from - seen];
        {
                const char *p[9] = { in->deployment_id,
                                     tr.app_name,
                                     tr.repo_url,
                                     tr.ref,
                                     in->trace_id ? in->trace_id : "",
                                     dec.rollback_of,
                                     from ? from->git_sha : "",
                                     from ? from->version : "",
                                     dec.description };
                ret = exec(db,
                           "INSERT INTO deployments (id, app_name, repo_url, ref, trace_id, "
                           "status, kind, rollback_of, git_sha, requested_by, config_version, "
                           "description) VALUES ($1, $2, $3, $4, $5, 'BUILDING', 'rollback', "
                           "$6, $7, 'rollback', (SELECT config_version FROM deployments WHERE "
                           "id = (SELECT deployment_id FROM releases WHERE app_name = $2 AND "
                           "version = nullif($8, '')::int)), $9)",
                           9, p, err);
        }
        res->outcome = SAGA_APPLIED;
        if (ret == 0 && dec.verdict == SAGA_REQUEST_FAIL)
                ret = fail_request(db, in->deployment_id, dec.failed_step, dec.note, res, err);
        else if (ret == 0) {
                snprintf(res->status, sizeof(res->status), "BUILDING");
                ret = publish_reuse(db, in, in->deployment_id, tr.app_name, from, dec.env,
                                    dec.replicas, err);
        }
        saga_request_decision_clear(&dec);
        return ret;
}

/* deploy.release: a config change, a scale or a rollback to a release
 * number.  Each is a new deployment of the app from an image it has, with
 * no build (publish_reuse), health-gated like any deployment.  The app's
 * row lock orders it with other changes of the same app, so two config
 * changes never lose one another.  Loads the app, its current release and
 * the numbered one, asks saga_decide_release(), and applies its decision. */
static int on_release(ad_db *db, const ad_envelope *in, struct deployment *d,
                      struct saga_result *res, ad_error_t *err)
{
        static const struct ad_db_field app_fields[] = {
                AD_DB_FIELD(struct app_row, repo_url, AD_DB_TEXT, "repo_url"),
                AD_DB_FIELD(struct app_row, ref, AD_DB_TEXT, "ref"),
                AD_DB_FIELD(struct app_row, env, AD_DB_TEXT, "env"),
                AD_DB_FIELD(struct app_row, config_version, AD_DB_TEXT, "config_version"),
                AD_DB_FIELD(struct app_row, web_replicas, AD_DB_INT, "web_replicas"),
                AD_DB_FIELDS_END,
        };
        static const struct ad_db_field image_times_fields[] = {
                AD_DB_FIELD(struct saga_reuse, image_built_us, AD_DB_INT64, "built_us"),
                AD_DB_FIELD(struct saga_reuse, image_removed_us, AD_DB_INT64, "removed_us"),
                AD_DB_FIELDS_END,
        };
        const Appdeployer__V1__ReleaseRequested *q = in->release;
        cleanup_pgresult PGresult *a = NULL, *src = NULL, *cur = NULL;
        struct app_row ar = { 0 };
        struct reuse_row cr, sr;
        struct saga_release_input ri = { 0 };
        struct saga_request_decision dec;
        const char *app = q->app_name ? q->app_name : "";
        cleanup_free const char **names = NULL;
        cleanup_free uint32_t *scale_replicas = NULL;
        char ver[16], replicas_text[16];
        int ret;

        /* saga_decide() judged: no such deployment yet, a valid app name. */
        (void)d;
        ret = ad_db_exec(db, &a,
                         "SELECT repo_url, ref, env::text AS env, config_version, web_replicas "
                         "FROM apps WHERE name = $1 FOR UPDATE",
                         1, (const char *[]){ app }, err);
        if (ret < 0)
                return ret;
        ri.app_found = PQntuples(a) > 0;
        if (ri.app_found && (ret = ad_db_read_row(a, 0, app_fields, &ar, err)) < 0)
                return ret;
        ri.app_env = ar.env;
        ri.app_config_version = ar.config_version;
        ri.app_web_replicas = ar.web_replicas;
        /* The current release: the app's exposed deployment. */
        ret = ad_db_exec(db, &cur,
                         "SELECT " REUSE_COLUMNS " FROM releases r JOIN builds b USING "
                         "(deployment_id) JOIN deployments d ON d.id = r.deployment_id "
                         "WHERE r.app_name = $1 AND d.status = 'EXPOSED' ORDER BY r.id DESC "
                         "LIMIT 1",
                         1, (const char *[]){ app }, err);
        if (ret == 0)
                ret = read_reuse(cur, &cr, &ri.current, err);
        if (ret < 0)
                return ret;
        memset(&sr, 0, sizeof(sr));
        snprintf(ver, sizeof(ver), "%u", q->rollback_to);
        if (q->rollback_to) {
                /* The release asked for, with when its image was last
                 * built and last removed by a build compensation (the
                 * decision judges whether it is still there). */
                ret = ad_db_exec(
                        db, &src,
                        "SELECT " REUSE_COLUMNS ", (extract(epoch FROM (SELECT max(created_at) "
                        "FROM builds WHERE image = b.image)) * 1000000)::bigint AS built_us, "
                        "coalesce((extract(epoch FROM (SELECT max(c.done_at) FROM builds b2 "
                        "JOIN compensations c ON c.deployment_id = b2.deployment_id AND "
                        "c.step = 'build' AND c.status = 'done' WHERE b2.image = b.image)) "
                        "* 1000000)::bigint, 0) AS removed_us FROM releases r JOIN builds b "
                        "USING (deployment_id) JOIN deployments d ON d.id = r.deployment_id "
                        "WHERE r.app_name = $1 AND r.version = $2::int",
                        2, (const char *[]){ app, ver }, err);
                if (ret == 0)
                        ret = read_reuse(src, &sr, &ri.numbered, err);
                if (ret > 0)
                        ret = ad_db_read_row(src, 0, image_times_fields, &ri.numbered, err);
                if (ret < 0)
                        return ret;
        }
        /* The request, as plain data (the names borrowed from it). */
        names = calloc(q->n_scale + 2 * q->n_set_env + 1, sizeof(*names));
        scale_replicas = calloc(q->n_scale + 1, sizeof(*scale_replicas));
        if (names == NULL || scale_replicas == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        ri.rollback_to = q->rollback_to;
        ri.web_replicas = q->web_replicas;
        ri.n_scale = q->n_scale;
        ri.scale_names = names;
        ri.scale_replicas = scale_replicas;
        for (size_t i = 0; i < q->n_scale; i++) {
                names[i] = q->scale[i]->name;
                scale_replicas[i] = q->scale[i]->replicas;
        }
        ri.n_set = q->n_set_env;
        ri.set_names = names + q->n_scale;
        ri.set_values = names + q->n_scale + q->n_set_env;
        for (size_t i = 0; i < q->n_set_env; i++) {
                names[q->n_scale + i] = q->set_env[i]->name;
                names[q->n_scale + q->n_set_env + i] = q->set_env[i]->value;
        }
        ri.n_unset = q->n_unset_env;
        ri.unset_names = (const char *const *)q->unset_env;
        if (saga_decide_release(&ri, &dec) < 0)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        {
                const char *p[7] = { in->deployment_id,
                                     app,
                                     ri.app_found ? ar.repo_url : "",
                                     ri.app_found ? ar.ref : "",
                                     in->trace_id ? in->trace_id : "",
                                     q->requested_by ? q->requested_by : "",
                                     dec.description };
                const char *p2[3] = { in->deployment_id, dec.kind, dec.rollback_of };

                ret = exec(db,
                           "INSERT INTO deployments (id, app_name, repo_url, ref, trace_id, "
                           "status, requested_by, description) VALUES ($1, $2, $3, $4, $5, "
                           "'BUILDING', $6, $7)",
                           7, p, err);
                if (ret == 0)
                        ret = exec(db,
                                   "UPDATE deployments SET kind = $2, rollback_of = $3::uuid, "
                                   "git_sha = (SELECT git_sha FROM deployments WHERE id = "
                                   "$3::uuid) WHERE id = $1",
                                   3, p2, err);
                if (ret < 0)
                        goto out;
        }
        res->outcome = SAGA_APPLIED;
        if (dec.verdict != SAGA_REQUEST_RUN) {
                ret = fail_request(db, in->deployment_id, dec.failed_step, dec.note, res, err);
                goto out;
        }
        snprintf(replicas_text, sizeof(replicas_text), "%u", dec.app_web_replicas);
        {
                const char *p[4] = { app, dec.env, dec.config_version, replicas_text };

                ret = exec(db,
                           "UPDATE apps SET env = $2::jsonb, config_version = coalesce($3::int, "
                           "(SELECT max(v) FROM (SELECT config_version AS v FROM apps WHERE name "
                           "= $1 UNION ALL SELECT config_version FROM deployments WHERE "
                           "app_name = $1) x) + 1), web_replicas = CASE WHEN $4::int > 0 "
                           "THEN $4::int ELSE web_replicas END, updated_at = now() WHERE name = $1",
                           4, p, err);
        }
        if (ret == 0 && dec.merge_scale) {
                cleanup_free char *scale = saga_scale_json(q->scale, q->n_scale);

                ret = scale ? exec(db,
                                   "UPDATE apps SET process_replicas = process_replicas || "
                                   "$2::jsonb WHERE name = $1",
                                   2, (const char *[]){ app, scale }, err)
                            : ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        }
        if (ret == 0)
                ret = exec(db,
                           "UPDATE deployments SET config_version = (SELECT config_version FROM "
                           "apps WHERE name = $2) WHERE id = $1",
                           2, (const char *[]){ in->deployment_id, app }, err);
        if (ret == 0) {
                snprintf(res->status, sizeof(res->status), "BUILDING");
                ret = publish_reuse(db, in, in->deployment_id, app,
                                    dec.from == &ri.numbered ? &sr : &cr, dec.env, dec.replicas,
                                    err);
        }
out:
        saga_request_decision_clear(&dec);
        return ret;
}

/* The deployments of an app's destroy, newest first, with what
 * saga_app_destroy_next() needs to know of each.  $1: the app destroy
 * request. */
#define APP_DESTROY_CANDIDATES                                                                     \
        "SELECT d.id, d.trace_id, d.status, d.kind, "                                              \
        "EXISTS (SELECT 1 FROM builds b WHERE b.deployment_id = d.id) AS has_build, "              \
        "EXISTS (SELECT 1 FROM compensations c WHERE c.deployment_id = d.id "                      \
        "AND c.step = 'build' AND c.status = 'done') AS build_removed "                            \
        "FROM deployments d WHERE d.app_destroy = $1::uuid ORDER BY d.created_at DESC"

/* Starts the destroy of the next deployment of an app's destroy (the
 * newest first, one at a time: an image goes only after the containers of
 * every later release that reused it; saga_app_destroy_next() picks it
 * among the request's deployments), when `in`'s deployment (or, given,
 * `request`) belongs to one.  A deployment with nothing to compensate ends
 * DESTROYED at once and the next one follows. */
static int app_destroy_next(ad_db *db, const ad_envelope *in, const char *request, ad_error_t *err)
{
        static const struct ad_db_field own_fields[] = {
                AD_DB_FIELD(struct step_row, deployment_id, AD_DB_TEXT, "app_destroy"),
                AD_DB_FIELDS_END,
        };
        static const struct ad_db_field candidate_fields[] = {
                AD_DB_FIELD(struct saga_destroy_candidate, id, AD_DB_TEXT, "id"),
                AD_DB_FIELD(struct saga_destroy_candidate, trace_id, AD_DB_TEXT, "trace_id"),
                AD_DB_FIELD(struct saga_destroy_candidate, status, AD_DB_TEXT, "status"),
                AD_DB_FIELD(struct saga_destroy_candidate, kind, AD_DB_TEXT, "kind"),
                AD_DB_FIELD(struct saga_destroy_candidate, has_build, AD_DB_BOOL, "has_build"),
                AD_DB_FIELD(struct saga_destroy_candidate, build_removed, AD_DB_BOOL,
                            "build_removed"),
                AD_DB_FIELDS_END,
        };
        cleanup_pgresult PGresult *own = NULL, *next = NULL;
        cleanup_free struct saga_destroy_candidate *c = NULL;
        struct step_row ownr;
        size_t n;
        int pick;
        struct saga_result one;
        struct deployment dd;
        ad_envelope e = *in;
        int ret;

        if (request == NULL) {
                ret = ad_db_exec(db, &own,
                                 "SELECT app_destroy FROM deployments WHERE id = $1 AND "
                                 "app_destroy IS NOT NULL",
                                 1, (const char *[]){ in->deployment_id }, err);
                if (ret < 0 || PQntuples(own) == 0)
                        return ret;
                ret = ad_db_read_row(own, 0, own_fields, &ownr, err);
                if (ret < 0)
                        return ret;
                request = ownr.deployment_id;
        }
        ret = ad_db_exec(db, &next, APP_DESTROY_CANDIDATES, 1, (const char *[]){ request }, err);
        if (ret < 0)
                return ret;
        n = (size_t)PQntuples(next);
        if (n == 0)
                return 0;
        c = calloc(n, sizeof(*c));
        if (c == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        for (size_t i = 0; i < n; i++) {
                ret = ad_db_read_row(next, (int)i, candidate_fields, &c[i], err);
                if (ret < 0)
                        return ret;
        }
        pick = saga_app_destroy_next(c, n);
        if (pick < 0)
                return 0;
        e.deployment_id = (char *)c[pick].id;
        e.trace_id = (char *)c[pick].trace_id;
        memset(&one, 0, sizeof(one));
        ret = load(db, e.deployment_id, &dd, err);
        if (ret < 0)
                return ret;
        dd.whole_app = true;
        if (!saga_app_destroy_takes_image(dd.status)) {
                struct saga_event destroy = { .kind = SAGA_EV_DESTROY };

                return decide_and_apply(db, &e, &dd, &destroy, &one, err);
        }
        /* Back to DESTROYING for the image it kept. */
        ret = plan_compensations(db, e.deployment_id, &dd, 1, err);
        if (ret == 0)
                ret = exec(db,
                           "UPDATE compensations SET status = 'pending' WHERE deployment_id = $1 "
                           "AND step = 'build' AND status <> 'done'",
                           1, (const char *[]){ e.deployment_id }, err);
        if (ret == 0)
                ret = set_status(db, &dd, e.deployment_id, "DESTROYING", err);
        if (ret == 0)
                ret = next_compensation(db, &dd, &e, "DESTROYED", &one, err);
        return ret;
}

/* deploy.app.destroy: every deployment of the app that still owns
 * something is destroyed (the destroy saga of each, newest first, taking
 * the images the app's releases shared), and the app and its releases are
 * forgotten.  Its envelope's deployment_id names the request. */
static int on_app_destroy(ad_db *db, const ad_envelope *in, struct saga_result *res,
                          ad_error_t *err)
{
        const char *app = in->app_destroy->app_name ? in->app_destroy->app_name : "";
        cleanup_pgresult PGresult *a = NULL, *marked = NULL;
        struct saga_request_decision dec;
        int ret;

        /* saga_decide() judged: a valid app name. */
        ret = ad_db_exec(db, &a, "SELECT 1 FROM apps WHERE name = $1 FOR UPDATE", 1,
                         (const char *[]){ app }, err);
        if (ret < 0)
                return ret;
        saga_decide_app_destroy(app, PQntuples(a) > 0, &dec);
        if (dec.verdict == SAGA_REQUEST_IGNORE) {
                note(res, "%s", dec.note);
                return 0;
        }
        /* Every deployment not destroyed already, and those keeping an
         * image: saga_app_destroy_next() picks among them. */
        ret = ad_db_exec(db, &marked,
                         "UPDATE deployments SET app_destroy = $2::uuid WHERE app_name = $1 AND "
                         "(status <> 'DESTROYED' OR kind = 'deploy') RETURNING 1",
                         2, (const char *[]){ app, in->deployment_id }, err);
        if (ret == 0)
                ret = app_destroy_next(db, in, in->deployment_id, err);
        if (ret == 0)
                ret = exec(db, "DELETE FROM releases WHERE app_name = $1", 1,
                           (const char *[]){ app }, err);
        if (ret == 0)
                ret = exec(db, "DELETE FROM apps WHERE name = $1", 1, (const char *[]){ app }, err);
        res->outcome = SAGA_APPLIED;
        snprintf(res->status, sizeof(res->status), "DESTROYING");
        note(res, "app %s: its %d deployments are destroyed one at a time", app,
             marked ? PQntuples(marked) : 0);
        return ret;
}

static int log_event(ad_db *db, const ad_envelope *env, const char *subject, const void *raw,
                     size_t raw_len, bool *fresh, ad_error_t *err)
{
        cleanup_pgresult PGresult *r = NULL;
        size_t esc_len = 0;
        unsigned char *esc = PQescapeByteaConn(ad_db_conn(db), raw, raw_len, &esc_len);
        int ret;

        if (esc == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        {
                const char *p[5] = { env->event_id, env->deployment_id, subject,
                                     env->producer ? env->producer : "", (const char *)esc };
                ret = ad_db_exec(db, &r,
                                 "INSERT INTO event_log (event_id, deployment_id, subject, "
                                 "producer, payload, applied) VALUES ($1, $2, $3, $4, $5, false) "
                                 "ON CONFLICT (event_id) DO NOTHING RETURNING id",
                                 5, p, err);
        }
        PQfreemem(esc);
        if (ret == 0)
                *fresh = PQntuples(r) > 0;
        return ret;
}

int saga_apply(ad_db *db, const ad_envelope *env, const void *raw, size_t raw_len,
               struct saga_result *res, ad_error_t *err)
{
        const char *subject = ad_event_kind(env);
        struct saga_event ev;
        struct deployment d;
        bool fresh = false;
        int ret;

        memset(res, 0, sizeof(*res));
        res->outcome = SAGA_IGNORED;
        ret = ad_db_begin(db, err);
        if (ret < 0)
                return ret;
        ret = log_event(db, env, subject, raw, raw_len, &fresh, err);
        if (ret < 0)
                goto fail;
        if (!fresh) {
                ad_db_rollback(db);
                res->outcome = SAGA_DUPLICATE;
                note(res, "event %s was applied before", env->event_id);
                return 0;
        }
        ret = load(db, env->deployment_id, &d, err);
        if (ret < 0)
                goto fail;
        snprintf(res->status, sizeof(res->status), "%s", d.found ? d.status : "");

        if (decided_event(env, &ev)) {
                ret = decide_and_apply(db, env, &d, &ev, res, err);
        } else if (!d.found) {
                /* Its deploy.requested may still be on its way. */
                res->outcome = SAGA_RETRY;
                note(res, "deployment %s is not known yet", env->deployment_id);
        } else {
                /* deploy.compensate.* is the coordinator's own output. */
                note(res, "%s is not an input of the coordinator", subject);
        }
        if (ret < 0)
                goto fail;
        if (res->outcome == SAGA_RETRY) {
                /* Not recorded: the redelivery must find it new. */
                ad_db_rollback(db);
                return 0;
        }
        {
                const char *p[3] = { env->event_id, res->outcome == SAGA_APPLIED ? "true" : "false",
                                     res->note };
                ret = exec(db, "UPDATE event_log SET applied = $2, note = $3 WHERE event_id = $1",
                           3, p, err);
                if (ret < 0)
                        goto fail;
        }
        return ad_db_commit(db, err);
fail:
        ad_db_rollback(db);
        return ret;
}

/* Fails one overdue step: a deploy.failed made here and applied like one
 * that came from the bus (so it is in the event log, and compensation
 * follows).  Its id is derived from the deployment and step, so two
 * coordinators sweeping at once apply it once. */
static int fail_overdue(ad_db *db, const char *deployment_id, const char *trace_id,
                        const char *step, long secs, int *acted, ad_error_t *err)
{
        Appdeployer__V1__DeployFailed f = APPDEPLOYER__V1__DEPLOY_FAILED__INIT;
        struct saga_result res;
        char id[AD_UUID_LEN + 1], salt[64], reason[256];
        uint8_t *buf = NULL;
        size_t len = 0;
        ad_envelope env;
        int ret;

        ad_event_init(&env, deployment_id, trace_id, 1, "coordinator", id);
        snprintf(salt, sizeof(salt), "deadline/%s", step);
        ad_uuid_derive(id, deployment_id, salt);
        snprintf(reason, sizeof(reason),
                 "step %s produced no event within its deadline (%ld s): its service may be "
                 "down or stuck; it was rolled back",
                 step, secs);
        f.step = (char *)step;
        f.reason = reason;
        f.retryable = true;
        env.payload_case = APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED;
        env.failed = &f;
        ret = ad_event_pack(&env, &buf, &len, err);
        if (ret < 0)
                return ret;
        ret = saga_apply(db, &env, buf, len, &res, err);
        free(buf);
        if (ret == 0 && res.outcome == SAGA_APPLIED && acted)
                (*acted)++;
        return ret;
}

int saga_sweep(ad_db *db, int *acted, ad_error_t *err)
{
        cleanup_pgresult PGresult *overdue = NULL, *silent = NULL;
        struct ad_db_rows rows;
        struct step_row s;
        char retry[24];
        const char *p[1] = { retry };
        int ret;

        if (acted)
                *acted = 0;
        ret = ad_db_exec(db, &overdue,
                         "SELECT s.deployment_id, d.trace_id, s.step, "
                         "extract(epoch FROM s.deadline_at - s.started_at)::bigint AS deadline_s "
                         "FROM deployment_steps s JOIN deployments d ON d.id = s.deployment_id "
                         "WHERE s.status = 'running' AND s.deadline_at < now() AND d.status IN "
                         "('ANALYZING', 'BUILDING', 'PROVISIONING', 'DEPLOYING') "
                         "ORDER BY s.deadline_at LIMIT 100",
                         0, NULL, err);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, overdue, overdue_fields, err);
        if (ret < 0)
                return ret;
        for (int i = 0; i < PQntuples(overdue); i++) {
                ret = ad_db_rows_read(&rows, i, &s, err);
                if (ret == 0)
                        ret = fail_overdue(db, s.deployment_id, s.trace_id, s.step,
                                           (long)s.deadline_s, acted, err);
                if (ret < 0)
                        return ret;
        }

        snprintf(retry, sizeof(retry), "%ld", deadlines.compensate_retry_s);
        ret = ad_db_exec(db, &silent,
                         "SELECT c.deployment_id, d.trace_id, c.step, d.status "
                         "FROM compensations c JOIN deployments d ON d.id = c.deployment_id "
                         "WHERE c.status = 'requested' AND d.status IN ('ROLLING_BACK', "
                         "'DESTROYING') AND c.requested_at < now() - make_interval(secs => "
                         "$1::int) ORDER BY c.requested_at LIMIT 100",
                         1, p, err);
        if (ret == 0)
                ret = ad_db_rows_init(&rows, silent, silent_fields, err);
        if (ret < 0)
                return ret;
        for (int i = 0; i < PQntuples(silent); i++) {
                ret = ad_db_rows_read(&rows, i, &s, err);
                if (ret == 0)
                        ret = ad_db_begin(db, err);
                if (ret < 0)
                        return ret;
                ret = request_compensation(
                        db, s.deployment_id, s.trace_id, s.step,
                        strcmp(s.status, "DESTROYING") == 0 ? "destroy" : "rollback", err);
                if (ret == 0)
                        ret = ad_db_commit(db, err);
                if (ret < 0) {
                        ad_db_rollback(db);
                        return ret;
                }
                if (acted)
                        (*acted)++;
        }
        return 0;
}
