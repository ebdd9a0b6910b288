/* The build context made while the engine receives it: builder_tar_dir
 * runs on a thread of its own and writes into a pipe that the upload
 * reads (builder_stream_read, an ad_engine_context_fn).  Nothing of the
 * context goes to disk, and the engine starts reading it at once.
 *
 * The contract that matters: at the pipe's end the reader waits for the
 * writer, and when the writer failed (too large, too many entries, an
 * unreadable file) the read fails with the writer's error.  The upload is
 * then aborted, never ended as if the cut archive were whole, so the
 * engine builds nothing from it.
 *
 *   builder_stream_start(&s, dir, max, err);
 *   ... ad_engine_image_build(.context_read = builder_stream_read,
 *                             .context_ud = &s) ...
 *   builder_stream_finish(&s);      always, whatever the engine said
 */
#ifndef AD_BUILDER_STREAM_H
#define AD_BUILDER_STREAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ad/error.h"
#include "builder_tar.h"

struct builder_stream {
        const char *dir; /* borrowed: outlives the stream */
        uint64_t max_bytes;
        int rfd, wfd;
        pthread_t thread;
        bool running; /* the writer thread is to be joined */
        /* The writer's, readable after builder_stream_finish(): */
        struct builder_tar_stats stats; /* bytes: the archive's (so far, on failure) */
        int ret;
        ad_error_t err;
        int64_t ms;   /* how long the writer ran */
        bool aborted; /* a read failed with the writer's error */
};

/* Starts writing the archive of dir (builder_tar_dir's rules, bounded by
 * max_bytes) into a new pipe. */
int builder_stream_start(struct builder_stream *s, const char *dir, uint64_t max_bytes,
                         ad_error_t *err);

/* ad_engine_context_fn: the next bytes of the archive; 0 once the writer
 * finished it; negative (a copy of the writer's error in *err, and
 * s->aborted) when the writer failed. */
ssize_t builder_stream_read(char *buf, size_t size, void *ud, ad_error_t *err);

/* Closes the pipe (a writer still blocked on it fails with EPIPE) and
 * waits for the writer.  Then s->ret / s->err / s->stats / s->ms say how
 * it went.  Safe to call twice, and on a stream that never started. */
void builder_stream_finish(struct builder_stream *s);

/* Releases s->err. */
void builder_stream_clear(struct builder_stream *s);

#endif
