/* The context written on a thread into a pipe: see builder_stream.h. */
#include "builder_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ad/cleanup.h"
#include "ad/event.h"

static void *produce(void *ud)
{
        struct builder_stream *s = ud;
        int64_t t0 = ad_monotonic_ms();

        s->ret = builder_tar_dir(s->wfd, s->dir, s->max_bytes, &s->stats, &s->err);
        s->ms = ad_monotonic_ms() - t0;
        /* The reader's end of file: it then joins this thread and learns
         * whether the archive is whole. */
        close(s->wfd);
        s->wfd = -1;
        return NULL;
}

int builder_stream_start(struct builder_stream *s, const char *dir, uint64_t max_bytes,
                         ad_error_t *err)
{
        sigset_t pipe_sig, old;
        int fds[2], rc;

        memset(s, 0, sizeof(*s));
        s->rfd = s->wfd = -1;
        s->dir = dir;
        s->max_bytes = max_bytes;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return ad_error_make_errno(err, errno, "cannot make a pipe for the build context");
        s->rfd = fds[0];
        s->wfd = fds[1];
        /* A bigger pipe, fewer wake-ups; the default is fine too. */
        (void)fcntl(s->wfd, F_SETPIPE_SZ, 1024 * 1024);
        /* A write into a pipe whose reader left must fail with EPIPE, not
         * kill the process: the thread starts with SIGPIPE blocked. */
        sigemptyset(&pipe_sig);
        sigaddset(&pipe_sig, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
        rc = pthread_create(&s->thread, NULL, produce, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
                close(s->rfd);
                close(s->wfd);
                s->rfd = s->wfd = -1;
                return ad_error_make(err, AD_ERR_GENERIC, rc,
                                     "cannot start the build context's writer: %s", strerror(rc));
        }
        s->running = true;
        return 0;
}

static void join(struct builder_stream *s)
{
        if (!s->running)
                return;
        pthread_join(s->thread, NULL);
        s->running = false;
}

ssize_t builder_stream_read(char *buf, size_t size, void *ud, ad_error_t *err)
{
        struct builder_stream *s = ud;
        ssize_t n;

        if (s->rfd < 0)
                return ad_error_make(err, AD_ERR_GENERIC, 0, "the build context is closed");
        do
                n = read(s->rfd, buf, size);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return ad_error_make_errno(err, errno, "cannot read the build context");
        if (n > 0)
                return n;
        /* End of the pipe: the writer is done, whole or not. */
        join(s);
        if (s->ret < 0) {
                s->aborted = true;
                return ad_error_make(err, s->err ? s->err->kind : AD_ERR_GENERIC,
                                     s->err ? s->err->status : 0, "%s",
                                     s->err ? ad_error_message(s->err)
                                            : "the build context could not be made");
        }
        return 0;
}

void builder_stream_finish(struct builder_stream *s)
{
        if (s->rfd >= 0)
                close(s->rfd);
        s->rfd = -1;
        join(s);
}

void builder_stream_clear(struct builder_stream *s)
{
        builder_stream_finish(s);
        ad_error_release(&s->err);
}
