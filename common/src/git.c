/* Bounded clones with libgit2: see ad/git.h for the contract.
 *
 * libgit2 1.5 has no network timeouts: a server that accepts the
 * connection and then says nothing blocks git_clone forever.  So the clone
 * runs in a forked child that the caller kills at the deadline; the child
 * also enforces the size and time limits itself (transfer-progress
 * callback) so an oversized repository stops early with a clear message.
 * The child reports its outcome over a pipe: the error kind, libgit2's
 * text and the checked-out sha.
 */
#include "ad/git.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/limits.h"
#include "ad/netguard.h"

#define DEFAULT_MAX_BYTES ((uint64_t)512 * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS ((int64_t)5 * 60 * 1000)
#define MAX_TREE_ENTRIES 200000
#define MAX_RMTREE_DEPTH 256
/* After the deadline the child gets this long to report before SIGKILL. */
#define KILL_GRACE_MS 2000

enum abort_reason { ABORT_NONE, ABORT_SIZE, ABORT_TIME };

/* What the child tells the parent (fixed size: one write, one read). */
struct clone_result {
        int kind; /* 0: success, else enum ad_error_kind */
        int status;
        char sha[AD_GIT_SHA_LEN + 1];
        char msg[2048];
};

struct clone_ctx {
        uint64_t max_bytes;
        int64_t deadline_ms;
        enum abort_reason aborted;
        uint64_t received;
};

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
        const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");

        git_libgit2_init();
        /* Debian's libgit2 uses mbedTLS, which ignores OpenSSL's variables:
         * honour them so an operator's CA bundle (a TLS-inspecting proxy)
         * works for clones as it does for everything else. */
        if ((file && *file) || (dir && *dir))
                git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file && *file ? file : NULL,
                                 dir && *dir ? dir : NULL);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- URL check ------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* host[:port] after an optional userinfo@, up to the first '/'. */
static int check_authority(const char *url, const char *auth, size_t len, ad_error_t *err)
{
        const char *at = memrchr(auth, '@', len);
        const char *host = at ? at + 1 : auth;
        size_t host_len = len - (size_t)(host - auth), name_len;

        if (host_len == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "repository URL `%s` has no host",
                                     url);
        if (host[0] == '[') {
                const char *close = memchr(host, ']', host_len);
                if (close == NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "repository URL `%s`: unterminated [IPv6] host", url);
                name_len = (size_t)(close - host) + 1;
        } else {
                name_len = strspn(host, "abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
                if (name_len > host_len)
                        name_len = host_len;
                if (name_len == 0 || host[0] == '-' || host[0] == '.')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "repository URL `%s` has an invalid host", url);
        }
        if (name_len == host_len)
                return 0;
        if (host[name_len] != ':' || name_len + 1 == host_len ||
            strspn(host + name_len + 1, "0123456789") != host_len - name_len - 1 ||
            host_len - name_len - 1 > 5)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "repository URL `%s` has an invalid host or port", url);
        return 0;
}

int ad_git_url_check(const char *url, bool allow_local, ad_error_t *err)
{
        static const char *const remote[] = { "https://", "http://", "git://" };
        const char *rest = NULL, *slash, *colon;
        size_t len;

        if (url == NULL || *url == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "the repository URL is empty");
        len = strlen(url);
        if (len > AD_REPO_URL_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the repository URL is longer than %d bytes", AD_REPO_URL_MAX);
        for (const unsigned char *p = (const unsigned char *)url; *p; p++)
                if (*p <= ' ' || *p == 0x7f)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "the repository URL contains whitespace or a "
                                             "control character");
        /* Would be an option to a git command line somewhere downstream. */
        if (url[0] == '-')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the repository URL `%s` must not start with '-'", url);

        if (has_prefix(url, "file://") || url[0] == '/') {
                if (!allow_local)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "local repositories (`%s`) are not allowed here: "
                                             "use an https://, http:// or git:// URL",
                                             url);
                if (has_prefix(url, "file://") && url[7] != '/')
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "file URL `%s` must have an absolute path "
                                             "(file:///path)",
                                             url);
                return 0;
        }
        for (size_t i = 0; i < AD_ARRAY_SIZE(remote); i++)
                if (has_prefix(url, remote[i]))
                        rest = url + strlen(remote[i]);
        if (rest == NULL) {
                colon = strstr(url, "://");
                if (has_prefix(url, "ssh://") ||
                    (colon == NULL && strchr(url, ':') != NULL && strchr(url, '@') != NULL))
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "ssh repository URLs (`%s`) are not supported: use "
                                             "https://",
                                             url);
                if (colon != NULL)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "unsupported scheme `%.*s` in `%s`: use https://, "
                                             "http:// or git://",
                                             (int)(colon - url > 16 ? 16 : colon - url), url, url);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "`%s` is not a repository URL: use https://, http:// or "
                                     "git://",
                                     url);
        }
        slash = strchr(rest, '/');
        if (check_authority(url, rest, slash ? (size_t)(slash - rest) : strlen(rest), err) < 0)
                return -AD_ERR_INVALID;
        if (slash == NULL || slash[1] == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "repository URL `%s` has no repository path", url);
        return 0;
}

/* ---- Where a clone may go --------------------------------------------- */

static bool is_local_url(const char *url)
{
        return has_prefix(url, "file://") || url[0] == '/';
}

/* The early refusal: an IP literal in any spelling, or a name that is
 * loopback by definition (RFC 6761), that is not public and not on the
 * allowlist.  Names are resolved at connect time (guard_connect). */
static int host_check(const char *url, const struct ad_net_allowlist *al, ad_error_t *err)
{
        char host[AD_NET_HOST_MAX + 1];
        struct sockaddr_storage ss;
        enum ad_addr_class cls = AD_ADDR_PUBLIC;
        unsigned port;
        size_t n;

        if (is_local_url(url))
                return 0; /* allow_local's business */
        if (ad_url_host_port(url, host, sizeof(host), &port, err) < 0)
                return ad_error_wrap(err, "repository URL");
        n = strlen(host);
        if (ad_ip_literal_parse(&ss, host, n) == 1)
                cls = ad_addr_classify((struct sockaddr *)&ss);
        else if (strchr(host, ':') != NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "repository URL `%s`: `%s` is not a valid IPv6 address", url,
                                     host);
        else if (strcmp(host, "localhost") == 0 || strcmp(host, "localhost.") == 0 ||
                 (n > 10 && strcmp(host + n - 10, ".localhost") == 0) ||
                 (n > 11 && strcmp(host + n - 11, ".localhost.") == 0))
                cls = AD_ADDR_LOOPBACK;
        if (cls == AD_ADDR_PUBLIC || ad_net_allowlist_match(al, host, port, NULL))
                return 0;
        return ad_error_make(err, AD_ERR_INVALID, 0,
                             "repository URL `%s`: the host is %s; only repositories on public "
                             "hosts can be cloned (an operator can allowlist an exact host:port)",
                             url, ad_addr_class_name(cls));
}

int ad_git_url_check_host(const char *url, const char *allowlist, ad_error_t *err)
{
        struct ad_net_allowlist *al;
        int ret;

        al = calloc(1, sizeof(*al));
        if (al == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        ret = ad_net_allowlist_parse(al, allowlist, err);
        if (ret < 0)
                ad_error_wrap(err, "clone allowlist");
        else
                ret = host_check(url, al, err);
        free(al);
        return ret;
}

/* The authority: libgit2 opens every plain TCP connection (git://,
 * http://, and under TLS for https://) through the registered standard
 * stream, the first one and one per redirect.  This stream resolves the
 * host itself, refuses when any address is not public (unless the
 * host:port is allowlisted) and connects to the addresses it checked, so a
 * second resolution cannot swap them (DNS rebinding).  Registered only in
 * the clone's child process. */
struct guard_stream {
        git_stream parent;
        char *host, *port;
        int fd;
};

static struct {
        const struct ad_net_allowlist *al;
        bool refused;
        char why[512];
} guard;

static int guard_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int guard_fail(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(guard.why, sizeof(guard.why), fmt, ap);
        va_end(ap);
        git_error_set_str(GIT_ERROR_NET, guard.why);
        return -1;
}

static int guard_connect(git_stream *stream)
{
        struct guard_stream *g = (struct guard_stream *)stream;
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;
        unsigned port = 0;
        int rc;

        if (g->port[0] == '\0' || g->port[strspn(g->port, "0123456789")] != '\0' ||
            strlen(g->port) > 5 || (port = (unsigned)atoi(g->port)) == 0 || port > 65535) {
                guard.refused = true;
                return guard_fail("the repository's server named an invalid port");
        }
        rc = getaddrinfo(g->host, g->port, &hints, &res);
        if (rc != 0 || res == NULL)
                return guard_fail("cannot resolve the host `%s`", g->host);
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                enum ad_addr_class cls = ad_addr_classify(ai->ai_addr);

                if (cls != AD_ADDR_PUBLIC &&
                    !ad_net_allowlist_match(guard.al, g->host, port, ai->ai_addr)) {
                        freeaddrinfo(res);
                        guard.refused = true;
                        return guard_fail("the host `%s` is or resolves to %s; only "
                                          "repositories on public hosts can be cloned",
                                          g->host, ad_addr_class_name(cls));
                }
        }
        for (struct addrinfo *ai = res; ai && g->fd < 0; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0)
                        continue;
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                        g->fd = fd;
                else
                        close(fd);
        }
        freeaddrinfo(res);
        if (g->fd < 0)
                return guard_fail("cannot connect to the host `%s`", g->host);
        return 0;
}

static ssize_t guard_read(git_stream *stream, void *data, size_t len)
{
        struct guard_stream *g = (struct guard_stream *)stream;
        ssize_t n;

        while ((n = recv(g->fd, data, len, 0)) < 0 && errno == EINTR)
                ;
        if (n < 0)
                guard_fail("the connection to the repository's server failed");
        return n;
}

static ssize_t guard_write(git_stream *stream, const char *data, size_t len, int flags)
{
        struct guard_stream *g = (struct guard_stream *)stream;
        size_t done = 0;

        (void)flags;
        while (done < len) {
                ssize_t n = send(g->fd, data + done, len - done, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        guard_fail("the connection to the repository's server failed");
                        return -1;
                }
                done += (size_t)n;
        }
        return (ssize_t)len;
}

static int guard_close(git_stream *stream)
{
        struct guard_stream *g = (struct guard_stream *)stream;

        if (g->fd >= 0)
                close(g->fd);
        g->fd = -1;
        return 0;
}

static void guard_free(git_stream *stream)
{
        struct guard_stream *g = (struct guard_stream *)stream;

        guard_close(stream);
        free(g->host);
        free(g->port);
        free(g);
}

static int guard_init(git_stream **out, const char *host, const char *port)
{
        struct guard_stream *g = calloc(1, sizeof(*g));

        if (g == NULL || (g->host = strdup(host)) == NULL || (g->port = strdup(port)) == NULL) {
                if (g)
                        free(g->host);
                free(g);
                git_error_set_str(GIT_ERROR_NOMEMORY, "out of memory");
                return -1;
        }
        g->fd = -1;
        g->parent.version = GIT_STREAM_VERSION;
        g->parent.connect = guard_connect;
        g->parent.read = guard_read;
        g->parent.write = guard_write;
        g->parent.close = guard_close;
        g->parent.free = guard_free;
        *out = &g->parent;
        return 0;
}

static int guard_register(const struct ad_net_allowlist *al)
{
        static git_stream_registration reg = {
                .version = GIT_STREAM_VERSION,
                .init = guard_init,
        };

        guard.al = al;
        return git_stream_register(GIT_STREAM_STANDARD, &reg);
}

/* ---- The clone (runs in the child) ------------------------------------ */

static int set_result(struct clone_result *r, int kind, int status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int set_result(struct clone_result *r, int kind, int status, const char *fmt, ...)
{
        va_list ap;

        r->kind = kind;
        r->status = status;
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
        va_end(ap);
        return -1;
}

static int check_limits(struct clone_ctx *ctx)
{
        if (ctx->received > ctx->max_bytes) {
                ctx->aborted = ABORT_SIZE;
                return -1;
        }
        if (now_ms() > ctx->deadline_ms) {
                ctx->aborted = ABORT_TIME;
                return -1;
        }
        return 0;
}

static int on_transfer(const git_indexer_progress *stats, void *payload)
{
        struct clone_ctx *ctx = payload;

        ctx->received = stats->received_bytes;
        return check_limits(ctx);
}

/* Remote messages ("Counting objects...") arrive before the pack: a
 * chance to honour the deadline while the server works. */
static int on_sideband(const char *str, int len, void *payload)
{
        (void)str;
        (void)len;
        return check_limits(payload);
}

static bool text_has(const char *text, const char *needle)
{
        return text != NULL && strcasestr(text, needle) != NULL;
}

/* Converts libgit2's error into our kind, keeping its text. */
static int clone_error(struct clone_result *r, const struct clone_ctx *ctx, int code,
                       const char *url)
{
        const git_error *e = git_error_last();
        const char *text = e && e->message ? e->message : "unknown libgit2 error";
        int klass = e ? e->klass : 0;

        if (guard.refused)
                return set_result(r, AD_ERR_INVALID, code, "cannot clone %s: %s", url, guard.why);
        if (ctx->aborted == ABORT_SIZE)
                return set_result(r, AD_ERR_TOO_LARGE, code,
                                  "%s: the repository is larger than the limit of %llu MiB", url,
                                  (unsigned long long)(ctx->max_bytes / (1024 * 1024)));
        if (ctx->aborted == ABORT_TIME)
                return set_result(r, AD_ERR_TIMEOUT, code,
                                  "%s: the clone did not finish in time (%llu MiB received)", url,
                                  (unsigned long long)(ctx->received / (1024 * 1024)));
        if (code == GIT_ENOTFOUND || text_has(text, "status code: 404") ||
            text_has(text, "could not find repository") || text_has(text, "not exported") ||
            text_has(text, "does not appear to be a git repository") ||
            text_has(text, "repository not found") ||
            (is_local_url(url) &&
             (text_has(text, "failed to resolve path") ||
              text_has(text, "unsupported URL protocol") || text_has(text, "no such file"))))
                return set_result(r, AD_ERR_NOT_FOUND, code, "repository %s not found: %s", url,
                                  text);
        if (code == GIT_EAUTH || text_has(text, "status code: 401") ||
            text_has(text, "status code: 403") || text_has(text, "authentication required"))
                return set_result(r, AD_ERR_NOT_FOUND, code,
                                  "repository %s not found or private (it asks for credentials): "
                                  "%s",
                                  url, text);
        /* Below, never libgit2's socket text ("connection refused",
         * addresses, ports): what a user sees must not map a network. */
        if (code == GIT_ECERTIFICATE || klass == GIT_ERROR_SSL)
                return set_result(r, AD_ERR_UNAVAILABLE, code,
                                  "cannot fetch %s: the server's TLS certificate could not be "
                                  "verified",
                                  url);
        if (klass == GIT_ERROR_NET || klass == GIT_ERROR_OS)
                return set_result(r, AD_ERR_UNAVAILABLE, code, "cannot fetch %s: %s", url,
                                  guard.why[0] ? guard.why
                                               : "the connection to the repository's server "
                                                 "failed");
        if (klass == GIT_ERROR_HTTP)
                return set_result(r, AD_ERR_UNAVAILABLE, code, "cannot fetch %s: %s", url, text);
        return set_result(r, AD_ERR_GENERIC, code, "cannot clone %s: %s", url, text);
}

static bool ref_shape_ok(const char *ref)
{
        size_t n = strlen(ref);

        if (n == 0 || n > AD_REF_MAX || ref[0] == '-' || ref[0] == '/' || ref[n - 1] == '/' ||
            strstr(ref, "..") != NULL || strstr(ref, "//") != NULL || strstr(ref, "@{") != NULL)
                return false;
        return ref[strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789._/-+@")] == '\0';
}

static bool is_hex(const char *s, size_t min, size_t max)
{
        size_t n = strspn(s, "0123456789abcdefABCDEF");

        return s[n] == '\0' && n >= min && n <= max;
}

/* Peels a reference name to a commit; GIT_ENOTFOUND when absent. */
static int lookup_ref_commit(git_commit **out, git_repository *repo, const char *name)
{
        git_reference *ref = NULL;
        git_object *obj = NULL;
        int rc;

        rc = git_reference_lookup(&ref, repo, name);
        if (rc == 0)
                rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
        git_reference_free(ref);
        if (rc == 0)
                *out = (git_commit *)obj;
        return rc;
}

/* A branch (remote-tracking after the clone), a tag, a full ref name or a
 * (possibly abbreviated) commit sha. */
static int resolve_ref(git_commit **out, git_repository *repo, const char *ref,
                       struct clone_result *r, const char *url)
{
        char name[AD_REF_MAX + 64];
        int rc = GIT_ENOTFOUND;

        if (ref == NULL || *ref == '\0') {
                git_reference *head = NULL;
                git_object *obj = NULL;

                rc = git_repository_head(&head, repo);
                if (rc == 0)
                        rc = git_reference_peel(&obj, head, GIT_OBJECT_COMMIT);
                git_reference_free(head);
                if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND)
                        return set_result(r, AD_ERR_NOT_FOUND, rc,
                                          "repository %s has no default branch (is it empty?)",
                                          url);
                if (rc < 0)
                        return clone_error(r, &(struct clone_ctx){ 0 }, rc, url);
                *out = (git_commit *)obj;
                return 0;
        }
        if (!ref_shape_ok(ref))
                return set_result(r, AD_ERR_INVALID, 0,
                                  "`%s` is not a valid branch, tag or commit name", ref);

        if (has_prefix(ref, "refs/heads/")) {
                snprintf(name, sizeof(name), "refs/remotes/origin/%s", ref + 11);
                rc = lookup_ref_commit(out, repo, name);
        } else if (has_prefix(ref, "refs/")) {
                rc = lookup_ref_commit(out, repo, ref);
        } else {
                snprintf(name, sizeof(name), "refs/remotes/origin/%s", ref);
                rc = lookup_ref_commit(out, repo, name);
                if (rc == GIT_ENOTFOUND) {
                        snprintf(name, sizeof(name), "refs/tags/%s", ref);
                        rc = lookup_ref_commit(out, repo, name);
                }
        }
        if (rc == GIT_ENOTFOUND && is_hex(ref, 4, GIT_OID_HEXSZ)) {
                git_oid oid;
                git_object *obj = NULL;

                rc = git_oid_fromstrn(&oid, ref, strlen(ref));
                if (rc == 0)
                        rc = git_object_lookup_prefix(&obj, repo, &oid, strlen(ref),
                                                      GIT_OBJECT_ANY);
                if (rc == 0) {
                        git_object *peeled = NULL;
                        rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
                        git_object_free(obj);
                        if (rc == 0)
                                *out = (git_commit *)peeled;
                        else
                                rc = GIT_ENOTFOUND;
                } else if (rc == GIT_EAMBIGUOUS) {
                        return set_result(r, AD_ERR_INVALID, rc,
                                          "commit `%s` is ambiguous in %s: give more digits", ref,
                                          url);
                }
        }
        if (rc == GIT_ENOTFOUND)
                return set_result(r, AD_ERR_NOT_FOUND, rc, "no branch, tag or commit `%s` in %s",
                                  ref, url);
        if (rc < 0)
                return clone_error(r, &(struct clone_ctx){ 0 }, rc, url);
        return 0;
}

struct tree_size {
        git_odb *odb;
        uint64_t bytes, max;
        size_t entries;
        int over; /* 1: bytes, 2: entries */
};

static int on_tree_entry(const char *root, const git_tree_entry *entry, void *payload)
{
        struct tree_size *ts = payload;
        size_t len = 0;
        git_object_t type;

        (void)root;
        if (++ts->entries > MAX_TREE_ENTRIES) {
                ts->over = 2;
                return -1;
        }
        if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
                return 0;
        if (git_odb_read_header(&len, &type, ts->odb, git_tree_entry_id(entry)) < 0)
                return 0; /* checkout will report a missing object */
        ts->bytes += len;
        if (ts->bytes > ts->max) {
                ts->over = 1;
                return -1;
        }
        return 0;
}

/* Compressed packs expand: bound what the checkout writes too. */
static int check_tree_size(git_repository *repo, git_commit *commit, uint64_t max,
                           struct clone_result *r, const char *url)
{
        struct tree_size ts = { .max = max };
        git_tree *tree = NULL;
        int rc;

        rc = git_repository_odb(&ts.odb, repo);
        if (rc == 0)
                rc = git_commit_tree(&tree, commit);
        if (rc == 0)
                rc = git_tree_walk(tree, GIT_TREEWALK_PRE, on_tree_entry, &ts);
        git_tree_free(tree);
        git_odb_free(ts.odb);
        if (ts.over == 1)
                return set_result(r, AD_ERR_TOO_LARGE, 0,
                                  "%s: the checked-out files are larger than the limit of %llu MiB",
                                  url, (unsigned long long)(max / (1024 * 1024)));
        if (ts.over == 2)
                return set_result(r, AD_ERR_TOO_LARGE, 0, "%s: more than %d files and directories",
                                  url, MAX_TREE_ENTRIES);
        if (rc < 0)
                return clone_error(r, &(struct clone_ctx){ 0 }, rc, url);
        return 0;
}

static void clone_child(const char *url, const char *ref, const char *dir,
                        const struct ad_git_limits *limits, int64_t deadline_ms,
                        struct clone_result *r)
{
        git_clone_options opts;
        git_checkout_options co;
        struct clone_ctx ctx = { .max_bytes = limits->max_bytes, .deadline_ms = deadline_ms };
        git_repository *repo = NULL;
        git_commit *commit = NULL;
        int rc;

        /* The *_INIT macros leave fields out: -Wmissing-field-initializers. */
        git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
        git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
        /* Checkout waits until the ref is known and the tree size checked. */
        opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
        opts.fetch_opts.callbacks.transfer_progress = on_transfer;
        opts.fetch_opts.callbacks.sideband_progress = on_sideband;
        opts.fetch_opts.callbacks.payload = &ctx;
        opts.fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
        opts.fetch_opts.proxy_opts.type = GIT_PROXY_AUTO;

        /* The child's own copy: it lives until _exit (checked already). */
        static struct ad_net_allowlist allow;

        if (ad_net_allowlist_parse(&allow, limits->allowlist, NULL) < 0 ||
            guard_register(&allow) < 0) {
                clone_error(r, &ctx, -1, url);
                goto out;
        }
        rc = git_clone(&repo, url, dir, &opts);
        if (rc < 0) {
                clone_error(r, &ctx, rc, url);
                goto out;
        }
        if (check_limits(&ctx) < 0) {
                clone_error(r, &ctx, rc, url);
                goto out;
        }
        if (resolve_ref(&commit, repo, ref, r, url) < 0)
                goto out;
        if (check_tree_size(repo, commit, limits->max_bytes, r, url) < 0)
                goto out;
        co.checkout_strategy = GIT_CHECKOUT_FORCE;
        rc = git_checkout_tree(repo, (const git_object *)commit, &co);
        if (rc == 0)
                rc = git_repository_set_head_detached(repo, git_commit_id(commit));
        if (rc < 0) {
                clone_error(r, &ctx, rc, url);
                goto out;
        }
        git_oid_tostr(r->sha, sizeof(r->sha), git_commit_id(commit));
        r->kind = 0;
out:
        git_commit_free(commit);
        git_repository_free(repo);
}

/* ---- The parent ------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Reads the child's result until the deadline; 1 when read, 0 on timeout,
 * -1 when the child died without reporting. */
static int read_result(int fd, struct clone_result *r, int64_t deadline_ms)
{
        size_t got = 0;

        while (got < sizeof(*r)) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = deadline_ms - now_ms();
                ssize_t n;
                int pr;

                if (left <= 0)
                        return 0;
                pr = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
                if (pr < 0 && errno != EINTR)
                        return -1;
                if (pr <= 0)
                        continue;
                n = read(fd, (char *)r + got, sizeof(*r) - got);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        return -1;
                got += (size_t)n;
        }
        return 1;
}

static int clone_url(const char *url, const char *ref, const char *dir,
                     const struct ad_git_limits *limits, char sha[AD_GIT_SHA_LEN + 1],
                     ad_error_t *err);

/* Every copy of password (n bytes) in msg replaced by "***", or as many
 * '*' as it has bytes when shorter: in place, never longer. */
static void hide(char *msg, const char *password, size_t n)
{
        size_t m = n < 3 ? n : 3;
        char *p = msg;

        if (n == 0)
                return;
        while ((p = strstr(p, password)) != NULL) {
                memset(p, '*', m);
                memmove(p + m, p + n, strlen(p + n) + 1);
                p += m;
        }
}

/* A URL's credential (https://user:token@host/...) is sent to its server
 * and never shown: the errors' texts (libgit2's included) get "***". */
int ad_git_clone(const char *url, const char *ref, const char *dir,
                 const struct ad_git_limits *limits, char sha[AD_GIT_SHA_LEN + 1], ad_error_t *err)
{
        const char *auth = url ? strstr(url, "://") : NULL;
        int ret = clone_url(url, ref, dir, limits, sha, err);

        if (ret < 0 && err && *err && (*err)->msg && auth) {
                size_t n = strcspn(auth + 3, "/?#");
                const char *at = memrchr(auth + 3, '@', n);
                const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;

                if (colon && at > colon + 1) {
                        char *password = strndup(colon + 1, (size_t)(at - colon - 1));

                        if (password) {
                                hide((*err)->msg, password, strlen(password));
                                explicit_bzero(password, strlen(password));
                                free(password);
                        }
                }
        }
        return ret;
}

static int clone_url(const char *url, const char *ref, const char *dir,
                     const struct ad_git_limits *limits, char sha[AD_GIT_SHA_LEN + 1],
                     ad_error_t *err)
{
        struct ad_git_limits lim = limits ? *limits : (struct ad_git_limits){ 0 };
        struct clone_result *r;
        int64_t deadline;
        int fds[2], status = 0, got, ret;
        pid_t pid;

        ret = ad_git_url_check(url, lim.allow_local, err);
        if (ret == 0)
                ret = ad_git_url_check_host(url, lim.allowlist, err);
        if (ret < 0)
                return ret;
        if (ref && *ref && !ref_shape_ok(ref))
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "`%s` is not a valid branch, tag or commit name", ref);
        if (dir == NULL || *dir == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "no directory to clone into");
        if (access(dir, F_OK) == 0)
                return ad_error_make(err, AD_ERR_CONFLICT, EEXIST, "%s already exists", dir);
        if (lim.max_bytes == 0)
                lim.max_bytes = DEFAULT_MAX_BYTES;
        if (lim.timeout_ms <= 0)
                lim.timeout_ms = DEFAULT_TIMEOUT_MS;

        pthread_once(&git_once, git_init_once);
        r = calloc(1, sizeof(*r));
        if (r == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        if (pipe2(fds, O_CLOEXEC) < 0) {
                free(r);
                return ad_error_make_errno(err, errno, "pipe");
        }
        deadline = now_ms() + lim.timeout_ms;
        pid = fork();
        if (pid < 0) {
                ret = ad_error_make_errno(err, errno, "fork");
                close(fds[0]);
                close(fds[1]);
                free(r);
                return ret;
        }
        if (pid == 0) {
                /* Dies with its parent; never runs the parent's handlers. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                close(fds[0]);
                r->kind = AD_ERR_GENERIC;
                snprintf(r->msg, sizeof(r->msg), "clone of %s failed", url);
                clone_child(url, ref, dir, &lim, deadline, r);
                write_all(fds[1], r, sizeof(*r));
                _exit(0);
        }

        close(fds[1]);
        got = read_result(fds[0], r, deadline + KILL_GRACE_MS);
        close(fds[0]);
        if (got <= 0)
                kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;

        if (got == 0)
                ret = ad_error_make(err, AD_ERR_TIMEOUT, 0,
                                    "%s: the clone did not finish in %lld s", url,
                                    (long long)(lim.timeout_ms / 1000));
        else if (got < 0)
                ret = ad_error_make(err, AD_ERR_GENERIC, status,
                                    "%s: the clone process died (wait status %d)", url, status);
        else if (r->kind != 0)
                ret = ad_error_make(err, r->kind, r->status, "%s", r->msg);
        else
                ret = 0;

        if (ret < 0) {
                /* Leave nothing half-cloned behind. */
                ad_rmtree(dir, NULL);
        } else {
                memcpy(sha, r->sha, AD_GIT_SHA_LEN + 1);
        }
        free(r);
        return ret;
}

/* ---- rmtree ----------------------------------------------------------- */

/* Empties the directory fd refers to (and closes it); never follows a
 * symlink: links are unlinked, directories opened with O_NOFOLLOW. */
static int rmtree_fd(int dfd, const char *path, int depth, ad_error_t *err)
{
        DIR *d;
        struct dirent *de;
        int ret = 0;

        if (depth > MAX_RMTREE_DEPTH) {
                close(dfd);
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0, "%s: nested too deeply", path);
        }
        d = fdopendir(dfd);
        if (d == NULL) {
                ret = ad_error_make_errno(err, errno, "cannot read %s", path);
                close(dfd);
                return ret;
        }
        while ((errno = 0, de = readdir(d)) != NULL) {
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        ret = ad_error_make_errno(err, errno, "cannot stat %s/%s", path,
                                                  de->d_name);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        cleanup_free char *sub = NULL;
                        int fd = openat(dirfd(d), de->d_name,
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (fd < 0) {
                                ret = ad_error_make_errno(err, errno, "cannot open %s/%s", path,
                                                          de->d_name);
                                break;
                        }
                        if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
                                close(fd);
                                ret = ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
                                break;
                        }
                        ret = rmtree_fd(fd, sub, depth + 1, err);
                        if (ret < 0)
                                break;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                                ret = ad_error_make_errno(err, errno, "cannot remove %s", sub);
                                break;
                        }
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
                        ret = ad_error_make_errno(err, errno, "cannot remove %s/%s", path,
                                                  de->d_name);
                        break;
                }
        }
        if (ret == 0 && errno != 0)
                ret = ad_error_make_errno(err, errno, "cannot read %s", path);
        closedir(d);
        return ret;
}

int ad_rmtree(const char *dir, ad_error_t *err)
{
        struct stat st;
        int fd, ret;

        if (dir == NULL || *dir == '\0' || strcmp(dir, "/") == 0)
                return ad_error_make(err, AD_ERR_INVALID, 0, "refusing to remove `%s`",
                                     dir ? dir : "(null)");
        if (lstat(dir, &st) < 0)
                return errno == ENOENT ? 0 : ad_error_make_errno(err, errno, "cannot stat %s", dir);
        if (!S_ISDIR(st.st_mode)) {
                if (unlink(dir) < 0 && errno != ENOENT)
                        return ad_error_make_errno(err, errno, "cannot remove %s", dir);
                return 0;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ad_error_make_errno(err, errno, "cannot open %s", dir);
        ret = rmtree_fd(fd, dir, 0, err);
        if (ret < 0)
                return ret;
        if (rmdir(dir) < 0 && errno != ENOENT)
                return ad_error_make_errno(err, errno, "cannot remove %s", dir);
        return 0;
}
