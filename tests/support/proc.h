/* Runs a service binary as a child process for integration tests, and
 * waits for its JSON "ready" line (which carries its http port). */
#ifndef AD_TEST_PROC_H
#define AD_TEST_PROC_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_proc {
        pid_t pid;
        char log[256];
        int http_port;
};

static inline void test_sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* Starts bin/<name> with the environment plus extra "K=V" entries
 * (NULL-terminated); waits up to 30 s for its ready line.  0 on success.
 * `tag` (optional) tells replicas of one service apart in their log
 * file's name. */
static inline int test_proc_start_tagged(struct test_proc *p, const char *name, const char *tag,
                                         const char *const *extra)
{
        char path[512];

        snprintf(path, sizeof(path), "%s/bin/%s", AD_BINARY_DIR, name);
        snprintf(p->log, sizeof(p->log), "/tmp/adtest-%s%s%s-%d.log", name, tag ? "-" : "",
                 tag ? tag : "", (int)getpid());
        p->http_port = 0;
        /* Truncated here, not in the child: a restarted service must not
         * be taken as ready on its previous run's line. */
        unlink(p->log);
        p->pid = fork();
        if (p->pid < 0)
                return -1;
        if (p->pid == 0) {
                int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                setenv("AD_HTTP_PORT", "0", 1);
                for (size_t i = 0; extra && extra[i]; i++)
                        putenv(strdup(extra[i]));
                execl(path, path, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 300; i++) {
                FILE *f = fopen(p->log, "r");
                char line[4096];

                while (f && fgets(line, sizeof(line), f)) {
                        char *r = strstr(line, "\"msg\":\"ready\"");
                        char *port = strstr(line, "\"http_port\":");
                        if (r && port) {
                                p->http_port = atoi(port + strlen("\"http_port\":"));
                                fclose(f);
                                return 0;
                        }
                }
                if (f)
                        fclose(f);
                if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
                        p->pid = 0;
                        return -1;
                }
                test_sleep_ms(100);
        }
        return -1;
}

static inline int test_proc_start(struct test_proc *p, const char *name, const char *const *extra)
{
        return test_proc_start_tagged(p, name, NULL, extra);
}

/* Purges the DEPLOY stream and deletes the services' durable consumers:
 * services started afterwards see only this test's events. */
static inline int test_bus_reset(void)
{
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "%s/tests/ad_test_bus_reset", AD_BINARY_DIR);
        return system(cmd) == 0 ? 0 : -1;
}

/* SIGTERM, then waits; returns the exit status (or -1). */
static inline int test_proc_stop(struct test_proc *p)
{
        int status = 0;

        if (p->pid <= 0)
                return -1;
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 150; i++) {
                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        p->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                }
                test_sleep_ms(100);
        }
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        p->pid = 0;
        return -1;
}

static inline void test_proc_dump(const struct test_proc *p)
{
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", p->log);
        if (system(cmd) != 0)
                fprintf(stderr, "(no log)\n");
}

#endif
