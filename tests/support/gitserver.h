/* A real git server for tests: `git daemon` on a free loopback port,
 * serving repositories made from folders (git init + commit). */
#ifndef AD_TEST_GITSERVER_H
#define AD_TEST_GITSERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct test_gitserver {
        char root[256];
        int port;
        pid_t pid;
};

static inline int test_free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static inline int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_sh(const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd);
}

static inline int test_gitserver_start(struct test_gitserver *g)
{
        snprintf(g->root, sizeof(g->root), "/tmp/adtest-git-XXXXXX");
        if (mkdtemp(g->root) == NULL)
                return -1;
        g->port = test_free_port();
        g->pid = fork();
        if (g->pid == 0) {
                char port[32], base[300];
                snprintf(port, sizeof(port), "--port=%d", g->port);
                snprintf(base, sizeof(base), "--base-path=%s", g->root);
                execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", port,
                       "--export-all", base, g->root, (char *)NULL);
                _exit(127);
        }
        {
                /* Clones refuse loopback: services started after this
                 * (they inherit the environment) may reach exactly this
                 * server, as tests/support/git_repos.sh does for scripts. */
                char allow[64];
                snprintf(allow, sizeof(allow), "127.0.0.1:%d", g->port);
                setenv("AD_ANALYZER_CLONE_ALLOWLIST", allow, 1);
                setenv("AD_BUILDER_CLONE_ALLOWLIST", allow, 1);
                setenv("AD_API_CLONE_ALLOWLIST", allow, 1);
        }
        for (int i = 0; i < 50; i++) {
                if (test_sh("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null", g->port) == 0)
                        return 0;
                usleep(100000);
        }
        return -1;
}

/* Makes <root>/<name> a repository holding a copy of `src` (one commit on
 * branch main). */
static inline int test_gitserver_add(struct test_gitserver *g, const char *name, const char *src)
{
        return test_sh("set -e; d=%s/%s; rm -rf \"$d\"; mkdir -p \"$d\"; cp -r %s/. \"$d\"/; "
                       "rm -rf \"$d/node_modules\"; cd \"$d\"; git init -q -b main; git add -A; "
                       "git -c user.name=t -c user.email=t@localhost commit -qm init",
                       g->root, name, src);
}

static inline void test_gitserver_stop(struct test_gitserver *g)
{
        if (g->pid > 0) {
                kill(g->pid, SIGTERM);
                waitpid(g->pid, NULL, 0);
        }
        test_sh("rm -rf %s", g->root);
}

#endif
