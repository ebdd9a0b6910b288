/* The runtime log collector: every app container's stdout and stderr,
 * followed from the engine and stored in app_logs (migration 017).
 *
 * Exactly one follower per container across deployer replicas and
 * restarts: a follower holds a PostgreSQL session advisory lock on the
 * container's name, taken on the collector's own connection; a deployer
 * that dies closes that connection and so lets go of its containers, and
 * another replica (or the same one restarted) takes them at its next scan.
 * A follower resumes from the container's cursor (app_log_cursors: the
 * last stored line's engine timestamp and how many lines carry exactly
 * that timestamp), asks the engine for the lines since a second before
 * it, and skips those already stored: no line is stored twice or lost.
 * The lines and the cursor are written in one transaction. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/db.h"
#include "ad/log.h"
#include "ad/names.h"
#include "deploy.h"

#define SCAN_MS 1000
/* A follow is a request with a deadline: it is made again from the cursor. */
#define FOLLOW_TIMEOUT_MS (5L * 60 * 1000)
#define TRIM_EVERY 200
#define BATCH_MAX 256
#define FINISHED_MAX 256

struct follower {
        struct collector *c;
        struct follower *next;
        char id[AD_ENGINE_ID_MAX + 1];
        char name[128];
        char app[64];
        char process[AD_PROCESS_NAME_MAX + 1];
        int replica;
        unsigned gen; /* the connection generation its lock was taken on */
        bool done;
        bool ended; /* the container stopped and every line is stored */
        pthread_t thread;
        /* resume state */
        int64_t last_ns;
        int at_last;
        int64_t skip_ns;
        int skip_left;
        long since_trim;
        /* lines read, not yet stored */
        struct pending {
                int stream;
                int64_t ns;
                char *text;
        } batch[BATCH_MAX];
        size_t n;
        bool failed;
};

struct collector {
        struct deployer *dp;
        pthread_mutex_t mu; /* db, gen, the follower list */
        ad_db *db;
        unsigned gen;
        /* The server process of db's session: the locks live there.  The
         * db layer reconnects on its own after a lost connection; a new
         * process means the locks are gone. */
        char backend_pid[16];
        struct follower *list;
        char finished[FINISHED_MAX][AD_ENGINE_ID_MAX + 1];
        size_t next_finished;
        pthread_t scanner;
};

static atomic_bool stopping;

static bool cancelled(void)
{
        return atomic_load(&stopping) || ad_service_stopping();
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

/* The replica number of a container named ad-<app>-<12 hex>[-<n>]. */
static int replica_of(const char *name)
{
        const char *dash = strrchr(name, '-');
        char *end;
        long n;

        if (dash == NULL)
                return 1;
        n = strtol(dash + 1, &end, 10);
        return *end == '\0' && n > 1 && strlen(dash + 1) < 4 ? (int)n : 1;
}

/* PostgreSQL text must be UTF-8 without NUL: anything else becomes '?'. */
static void sanitize(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                int n = *p < 0x80             ? 1
                        : (*p & 0xe0) == 0xc0 ? 2
                        : (*p & 0xf0) == 0xe0 ? 3
                        : (*p & 0xf8) == 0xf0 ? 4
                                              : 0;
                int k;

                for (k = 1; k < n && (p[k] & 0xc0) == 0x80; k++)
                        ;
                if (n == 0 || k < n) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

/* No row (and no lock) when the app has no row: its lines would have no
 * app to belong to. $1: container, $2: app. */
static const char sql_lock[] = "SELECT pg_try_advisory_lock(hashtext('app-log:' || $1)) AS locked "
                               "FROM apps WHERE name = $2";
static const char sql_unlock[] = "SELECT pg_advisory_unlock(hashtext('app-log:' || $1))";
static const char sql_cursor[] =
        "SELECT last_ns, at_last FROM app_log_cursors WHERE container = $1";
static const char sql_insert[] =
        "INSERT INTO app_logs (app_name, container, process, replica, stream, logged_at, line) "
        "VALUES ($1, $2, $7, $3::int, $4, to_timestamp($5::bigint / 1e9), $6)";
static const char sql_save[] =
        "INSERT INTO app_log_cursors (container, app_name, last_ns, at_last) "
        "VALUES ($1, $2, $3::bigint, $4::int) ON CONFLICT (container) DO UPDATE "
        "SET last_ns = excluded.last_ns, at_last = excluded.at_last, updated_at = now()";
static const char sql_trim[] =
        "DELETE FROM app_logs WHERE app_name = $1 AND id <= (SELECT id FROM app_logs "
        "WHERE app_name = $1 ORDER BY id DESC OFFSET $2::int LIMIT 1)";
static const char sql_forget[] = "DELETE FROM app_log_cursors WHERE container = $1";

struct session_row {
        const char *pid;
};
static const struct ad_db_field session_fields[] = {
        AD_DB_FIELD(struct session_row, pid, AD_DB_TEXT, "pid"),
        AD_DB_FIELDS_END,
};
struct cursor_row {
        int64_t last_ns;
        int at_last;
};
static const struct ad_db_field cursor_fields[] = {
        AD_DB_FIELD(struct cursor_row, last_ns, AD_DB_INT64, "last_ns"),
        AD_DB_FIELD(struct cursor_row, at_last, AD_DB_INT, "at_last"),
        AD_DB_FIELDS_END,
};
struct lock_row {
        bool locked;
};
static const struct ad_db_field lock_fields[] = {
        AD_DB_FIELD(struct lock_row, locked, AD_DB_BOOL, "locked"),
        AD_DB_FIELDS_END,
};

static void batch_clear(struct follower *f)
{
        for (size_t i = 0; i < f->n; i++)
                free(f->batch[i].text);
        f->n = 0;
}

/* Whether db is still the session the locks were taken on; when not, the
 * followers of that session stop (the next scan locks again). */
static bool same_session(struct collector *c)
{
        cleanup_pgresult PGresult *r = NULL;
        struct session_row row;

        if (ad_db_exec(c->db, &r, "SELECT pg_backend_pid() AS pid", 0, NULL, NULL) < 0 ||
            ad_db_read_row(r, 0, session_fields, &row, NULL) < 0)
                return false;
        if (strcmp(row.pid, c->backend_pid) == 0)
                return true;
        c->gen++;
        snprintf(c->backend_pid, sizeof(c->backend_pid), "%s", row.pid);
        return false;
}

/* Stores the batch and the cursor in one transaction; only while this
 * follower's lock is still held (same connection generation). */
static int flush(struct follower *f)
{
        struct collector *c = f->c;
        cleanup_error ad_error_t err = NULL;
        int64_t last_ns = f->last_ns;
        int at_last = f->at_last, ret = 0;
        char rep[16], ns[32], at[16], keep[16];

        if (f->n == 0)
                return 0;
        snprintf(rep, sizeof(rep), "%d", f->replica);
        pthread_mutex_lock(&c->mu);
        if (c->db == NULL || c->gen != f->gen) {
                ret = -1;
                goto out;
        }
        ret = ad_db_begin(c->db, &err);
        if (ret == 0 && !same_session(c)) {
                ad_db_rollback(c->db);
                ret = -1;
                goto out;
        }
        for (size_t i = 0; ret == 0 && i < f->n; i++) {
                const char *p[7] = { f->app,    f->name,
                                     rep,       f->batch[i].stream == 2 ? "stderr" : "stdout",
                                     ns,        f->batch[i].text,
                                     f->process };

                snprintf(ns, sizeof(ns), "%lld", (long long)f->batch[i].ns);
                ret = ad_db_exec(c->db, NULL, sql_insert, 7, p, &err);
                if (f->batch[i].ns == last_ns) {
                        at_last++;
                } else if (f->batch[i].ns > 0) {
                        last_ns = f->batch[i].ns;
                        at_last = 1;
                }
        }
        if (ret == 0) {
                const char *p[4] = { f->name, f->app, ns, at };

                snprintf(ns, sizeof(ns), "%lld", (long long)last_ns);
                snprintf(at, sizeof(at), "%d", at_last);
                ret = ad_db_exec(c->db, NULL, sql_save, 4, p, &err);
        }
        if (ret == 0)
                ret = ad_db_commit(c->db, &err);
        if (ret < 0) {
                ad_db_rollback(c->db);
                ad_log(AD_LOG_WARN, "cannot store log lines", "container", f->name, "error",
                       ad_error_message(err), NULL);
                goto out;
        }
        f->last_ns = last_ns;
        f->at_last = at_last;
        f->since_trim += (long)f->n;
        if (f->since_trim >= TRIM_EVERY) {
                const char *p[2] = { f->app, keep };

                snprintf(keep, sizeof(keep), "%ld", c->dp->app_log_lines);
                ad_error_release(&err);
                if (ad_db_exec(c->db, NULL, sql_trim, 2, p, &err) == 0)
                        f->since_trim = 0;
        }
out:
        pthread_mutex_unlock(&c->mu);
        batch_clear(f);
        return ret;
}

static void on_line(const struct ad_engine_log_line *l, void *ud)
{
        struct follower *f = ud;
        char *text;

        if (f->failed)
                return;
        /* Already stored before a restart or an earlier follow. */
        if (l->ts_ns > 0 && l->ts_ns < f->skip_ns)
                return;
        if (l->ts_ns > 0 && l->ts_ns == f->skip_ns && f->skip_left > 0) {
                f->skip_left--;
                return;
        }
        text = strndup(l->text, l->len);
        if (text == NULL)
                return;
        sanitize(text);
        f->batch[f->n].stream = l->stream;
        f->batch[f->n].ns = l->ts_ns;
        f->batch[f->n].text = text;
        if (++f->n == BATCH_MAX && flush(f) < 0)
                f->failed = true;
}

static int on_chunk(const char *data, size_t len, void *ud)
{
        struct ad_engine_log_reader *r = ud;
        struct follower *f = r->ud;

        ad_engine_log_reader_feed(r, data, len);
        if (!f->failed && flush(f) < 0)
                f->failed = true;
        return f->failed ? -1 : 0;
}

/* Reads the cursor; -1 when the lock is no longer this follower's. */
static int load_cursor(struct follower *f)
{
        struct collector *c = f->c;
        cleanup_pgresult PGresult *r = NULL;
        cleanup_error ad_error_t err = NULL;
        const char *p[1] = { f->name };
        struct cursor_row row;
        int ret = -1;

        pthread_mutex_lock(&c->mu);
        if (c->db && c->gen == f->gen && ad_db_exec(c->db, &r, sql_cursor, 1, p, NULL) == 0) {
                ret = 0;
                if (PQntuples(r) == 1 && ad_db_read_row(r, 0, cursor_fields, &row, &err) == 0) {
                        f->last_ns = row.last_ns;
                        f->at_last = row.at_last;
                } else if (err) {
                        ad_log(AD_LOG_WARN,
                               "log collector: unreadable cursor, reading from the start",
                               "container", f->name, "error", ad_error_message(err), NULL);
                }
        }
        pthread_mutex_unlock(&c->mu);
        f->skip_ns = f->last_ns;
        f->skip_left = f->at_last;
        return ret;
}

static void *follow_main(void *arg)
{
        struct follower *f = arg;
        struct collector *c = f->c;
        struct ad_engine_log_reader *r = malloc(sizeof(*r));
        ad_engine *engine = NULL;
        bool gone = false;

        if (r == NULL || ad_engine_open(&engine, c->dp->ingress.engine_socket, NULL) < 0)
                goto out;
        ad_log(AD_LOG_INFO, "following a container's log", "app", f->app, "container", f->name,
               NULL);
        while (!cancelled()) {
                cleanup_error ad_error_t err = NULL;
                struct ad_container info = { 0 };
                char since[32];
                int ret;

                if (load_cursor(f) < 0)
                        break;
                /* A second before the cursor: whether the engine's since is
                 * inclusive or not, nothing after the cursor is missed. */
                snprintf(since, sizeof(since), "%lld",
                         (long long)(f->last_ns / 1000000000LL > 0 ? f->last_ns / 1000000000LL - 1
                                                                   : 0));
                ad_engine_log_reader_init(r, on_line, f);
                f->failed = false;
                ret = ad_engine_container_follow(engine, f->id, f->last_ns ? since : NULL,
                                                 FOLLOW_TIMEOUT_MS, cancelled, on_chunk, r, &err);
                if (f->failed)
                        break; /* the store failed or the lock is gone */
                ret = ad_engine_container_inspect(engine, f->id, &info, NULL);
                gone = ret == -AD_ERR_NOT_FOUND;
                if (gone || (ret == 0 && !ad_container_live(&info))) {
                        /* The container is done: its last line may lack a newline. */
                        ad_engine_log_reader_end(r);
                        f->ended = flush(f) == 0;
                        ad_container_clear(&info);
                        break;
                }
                ad_container_clear(&info);
                batch_clear(f);
                if (err)
                        sleep_ms(SCAN_MS);
        }
out:
        batch_clear(f);
        pthread_mutex_lock(&c->mu);
        /* Unlocked even when the session changed: a lock the scan took on
         * a silently reconnected session must not stay held. */
        if (c->db) {
                const char *p[1] = { f->name };

                if (gone)
                        ad_db_exec(c->db, NULL, sql_forget, 1, p, NULL);
                ad_db_exec(c->db, NULL, sql_unlock, 1, p, NULL);
        }
        f->done = true;
        pthread_mutex_unlock(&c->mu);
        ad_engine_close(engine);
        free(r);
        return NULL;
}

/* Joins followers that are done. */
static void reap(struct collector *c, bool all)
{
        for (;;) {
                struct follower **pp, *f = NULL;

                pthread_mutex_lock(&c->mu);
                for (pp = &c->list; *pp; pp = &(*pp)->next)
                        if ((*pp)->done || all) {
                                f = *pp;
                                *pp = f->next;
                                break;
                        }
                pthread_mutex_unlock(&c->mu);
                if (f == NULL)
                        return;
                pthread_join(f->thread, NULL);
                if (f->ended) {
                        snprintf(c->finished[c->next_finished], AD_ENGINE_ID_MAX + 1, "%s", f->id);
                        c->next_finished = (c->next_finished + 1) % FINISHED_MAX;
                }
                free(f);
        }
}

/* Containers this deployer followed to their end (stopped, not removed):
 * not followed again until a restart, when each is read once more from
 * its cursor (nothing new). */
static bool finished(struct collector *c, const char *id)
{
        for (size_t i = 0; i < FINISHED_MAX; i++)
                if (strcmp(c->finished[i], id) == 0)
                        return true;
        return false;
}

static bool followed(struct collector *c, const char *id)
{
        for (struct follower *f = c->list; f; f = f->next)
                if (strcmp(f->id, id) == 0)
                        return true;
        return false;
}

/* One scan: (re)connects, takes the lock of every app container nobody
 * follows, and starts its follower. */
static void scan(struct collector *c, ad_engine *engine)
{
        const char *filters[] = { AD_LABEL_APP, NULL };
        struct ad_container *list = NULL;
        cleanup_error ad_error_t err = NULL;
        size_t n = 0;

        pthread_mutex_lock(&c->mu);
        if (c->db && ad_db_ping(c->db) < 0) {
                /* The connection and every lock on it are gone. */
                ad_db_close(c->db);
                c->db = NULL;
                c->gen++;
        }
        if (c->db == NULL &&
            ad_db_connect(&c->db,
                          ad_config_get_string(c->dp->svc->cfg, c->dp->svc->tables, "database.url"),
                          &err) < 0) {
                pthread_mutex_unlock(&c->mu);
                ad_log(AD_LOG_WARN, "log collector: no database", "error", ad_error_message(err),
                       NULL);
                return;
        }
        /* A session other than the locks' (a reconnection): followers stop. */
        same_session(c);
        pthread_mutex_unlock(&c->mu);
        if (ad_engine_container_list(engine, filters, true, &list, &n, &err) < 0) {
                ad_log(AD_LOG_WARN, "log collector: cannot list containers", "error",
                       ad_error_message(err), NULL);
                return;
        }
        for (size_t i = 0; i < n && !cancelled(); i++) {
                cleanup_pgresult PGresult *r = NULL;
                const char *p[2] = { list[i].name, list[i].app };
                struct lock_row row;
                struct follower *f;
                bool locked;

                if (!list[i].app || !ad_app_name_valid(list[i].app) || finished(c, list[i].id))
                        continue;
                pthread_mutex_lock(&c->mu);
                locked = !followed(c, list[i].id) && c->db &&
                         ad_db_exec(c->db, &r, sql_lock, 2, p, NULL) == 0 && PQntuples(r) == 1 &&
                         ad_db_read_row(r, 0, lock_fields, &row, NULL) == 0 && row.locked;
                pthread_mutex_unlock(&c->mu);
                if (!locked)
                        continue;
                f = calloc(1, sizeof(*f));
                if (f == NULL)
                        break;
                f->c = c;
                snprintf(f->id, sizeof(f->id), "%s", list[i].id);
                snprintf(f->name, sizeof(f->name), "%s", list[i].name);
                snprintf(f->app, sizeof(f->app), "%s", list[i].app);
                f->replica = replica_of(list[i].name);
                ad_name_process_type(f->process, list[i].name, list[i].app);
                pthread_mutex_lock(&c->mu);
                f->gen = c->gen;
                if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
                        ad_db_exec(c->db, NULL, sql_unlock, 1, p, NULL);
                        pthread_mutex_unlock(&c->mu);
                        free(f);
                        continue;
                }
                f->next = c->list;
                c->list = f;
                pthread_mutex_unlock(&c->mu);
        }
        ad_container_list_free(list, n);
}

static void *scan_main(void *arg)
{
        struct collector *c = arg;
        ad_engine *engine = NULL;

        if (ad_engine_open(&engine, c->dp->ingress.engine_socket, NULL) < 0)
                return NULL;
        while (!cancelled()) {
                reap(c, false);
                scan(c, engine);
                for (int i = 0; i < SCAN_MS / 100 && !cancelled(); i++)
                        sleep_ms(100);
        }
        ad_engine_close(engine);
        return NULL;
}

int collector_start(struct collector **out, struct deployer *dp, ad_error_t *err)
{
        struct collector *c;

        *out = NULL;
        if (!dp->collect_logs || dp->engine == NULL)
                return 0;
        c = calloc(1, sizeof(*c));
        if (c == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "out of memory");
        c->dp = dp;
        pthread_mutex_init(&c->mu, NULL);
        if (pthread_create(&c->scanner, NULL, scan_main, c) != 0) {
                free(c);
                return ad_error_make(err, AD_ERR_GENERIC, 0, "cannot start the log collector");
        }
        *out = c;
        return 0;
}

void collector_stop(struct collector *c)
{
        if (c == NULL)
                return;
        atomic_store(&stopping, true);
        pthread_join(c->scanner, NULL);
        reap(c, true);
        ad_db_close(c->db);
        pthread_mutex_destroy(&c->mu);
        free(c);
}
