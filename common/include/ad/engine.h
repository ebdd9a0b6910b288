/* A client for the container engine's Docker Engine API (podman's
 * compatible service, or Docker) over its unix socket.
 *
 * Only what the platform needs: bridge networks, images (pulled from a
 * registry, built from a tar context, pushed, listed by label), containers
 * (create, start, stop, remove, inspect, list by label, logs).  Errors follow error.h, mapped from
 * the engine's answers:
 *
 *   engine unreachable (no socket, refused, timed out)  AD_ERR_UNAVAILABLE / AD_ERR_TIMEOUT
 *   404, or podman's 500 "no such ..." / "not found"     AD_ERR_NOT_FOUND
 *   409, or podman's 500 "already exists/in use",
 *        "is being used"                                 AD_ERR_CONFLICT
 *   400                                                   AD_ERR_INVALID
 *   other answers                                         AD_ERR_GENERIC
 *
 * each with the engine's own message.  Podman answers 500 where Docker
 * answers 409 (a network or container name taken, a network in use), so
 * the mapping also reads the body's "cause".
 *
 * Labels and filters are "key=value" strings in NULL-terminated arrays.
 * Every call is a fresh request: an ad_engine may be used by one thread at
 * a time, and several engines may live side by side.
 */
#ifndef AD_ENGINE_H
#define AD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ad/error.h"

/* The API version every request is made with (podman 4 serves 1.41). */
#define AD_ENGINE_API_VERSION "v1.41"
#define AD_ENGINE_ID_MAX 64
/* "sha256:" and 64 hex digits. */
#define AD_ENGINE_DIGEST_LEN 71
/* An image ID: 64 lowercase hex digits. */
#define AD_ENGINE_IMAGE_ID_LEN 64

typedef struct ad_engine ad_engine;

/* Makes a client for the engine at socket_path; no request is made. */
int ad_engine_open(ad_engine **out, const char *socket_path, ad_error_t *err);
void ad_engine_close(ad_engine *e);

/* Called with the ID of each half-written image the client meets (see
 * ad_engine_half_written_image) once it tried to remove it: ERROR is NULL
 * when the store no longer has it, else why the removal failed.  The
 * client itself never logs; a service logs from here. */
typedef void (*ad_engine_repair_fn)(const char *image_id, const char *error, void *ud);
void ad_engine_on_repair(ad_engine *e, ad_engine_repair_fn fn, void *ud);

/* GET /_ping: 0 when the engine answers. */
int ad_engine_ping(ad_engine *e, ad_error_t *err);

/* --- networks --------------------------------------------------------- */

/* Creates a bridge network; AD_ERR_CONFLICT when the name is taken. */
int ad_engine_network_create(ad_engine *e, const char *name, const char *const *labels,
                             ad_error_t *err);

/* Creates the network unless it exists (idempotent, safe against a
 * concurrent creator); *created (optional) tells which. */
int ad_engine_network_ensure(ad_engine *e, const char *name, const char *const *labels,
                             bool *created, ad_error_t *err);

/* 0 when the network exists, AD_ERR_NOT_FOUND when not; *labels_json
 * (optional) receives its labels as a JSON object text (caller frees). */
int ad_engine_network_inspect(ad_engine *e, const char *name, char **labels_json, ad_error_t *err);

/* AD_ERR_NOT_FOUND when already gone; AD_ERR_CONFLICT while containers
 * are attached. */
int ad_engine_network_remove(ad_engine *e, const char *name, ad_error_t *err);

/* Names of the networks carrying every label in `filters`; *names is a
 * NULL-terminated array, free it with ad_engine_strv_free(). */
int ad_engine_network_list(ad_engine *e, const char *const *filters, char ***names,
                           ad_error_t *err);

void ad_engine_strv_free(char **v);

/* --- images ------------------------------------------------------------ */

/* Credentials for the registry `server` (host:port, as image references
 * name it): sent with every pull and push (X-Registry-Auth) and build
 * (X-Registry-Config, for a FROM of that registry), keyed by the server
 * so the engine gives them to no other registry.  Never logged; wiped by
 * ad_engine_close(). */
int ad_engine_set_registry_auth(ad_engine *e, const char *server, const char *username,
                                const char *password, ad_error_t *err);

/* *exists is true when the image (name:tag or id) is in the engine's
 * store. */
int ad_engine_image_exists(ad_engine *e, const char *ref, bool *exists, ad_error_t *err);

/* What identifies the local image `ref` (name:tag or id): *id, its
 * content's digest ("sha256:..." of its config: equal ids, equal layers),
 * and *repo_digests ("name@sha256:...", NULL-terminated, free with
 * ad_engine_strv_free), the manifests the engine knows it by: those it
 * pulled, and the one it wrote when it built the image, which is not the
 * digest of the manifest a push to a registry makes (the layers are
 * compressed then).  AD_ERR_NOT_FOUND when absent. */
int ad_engine_image_identity(ad_engine *e, const char *ref, char **id, char ***repo_digests,
                             ad_error_t *err);

/* Pulls ref ("registry/name:tag").  The engine answers 200 and reports
 * failures inside its progress stream: they are turned into errors here
 * (a missing tag or repository is AD_ERR_NOT_FOUND, a registry that does
 * not answer AD_ERR_UNAVAILABLE).  insecure adds tlsVerify=false for a
 * plain-HTTP registry (podman also needs the registry listed as insecure
 * in registries.conf). */
int ad_engine_image_pull(ad_engine *e, const char *ref, bool insecure, ad_error_t *err);

/* Pulls ref only when the store lacks it; *pulled (optional) tells which. */
int ad_engine_image_ensure(ad_engine *e, const char *ref, bool insecure, bool *pulled,
                           ad_error_t *err);

/* AD_ERR_NOT_FOUND when already gone. */
int ad_engine_image_remove(ad_engine *e, const char *ref, bool force, ad_error_t *err);

/* Names (repo:tag) of the images carrying every label in `filters`, the
 * newest image's first (by its creation time); *refs is a NULL-terminated
 * array, free it with ad_engine_strv_free(). */
int ad_engine_image_list(ad_engine *e, const char *const *filters, char ***refs, ad_error_t *err);

/* --- building and pushing ---------------------------------------------- */

/* Each line of build output, without its newline. */
typedef void (*ad_engine_line_fn)(const char *line, void *ud);

/* Fills buf with up to size bytes of the build context; returns how many,
 * 0 at the end of the archive, or negative with *err set when the context
 * cannot be made (too large, an unreadable file). */
typedef ssize_t (*ad_engine_context_fn)(char *buf, size_t size, void *ud, ad_error_t *err);

struct ad_engine_build {
        const char *const *tags;   /* full references, NULL-terminated */
        const char *dockerfile;    /* path inside the context */
        const char *const *labels; /* "key=value", NULL-terminated */
        /* The context tar, read as it is uploaded (it needs no copy on
         * disk).  A negative return aborts the upload: the engine never
         * sees the end of the body, so it builds nothing from a cut
         * context, and ad_engine_image_build returns the callback's
         * error as it is. */
        ad_engine_context_fn context_read;
        void *context_ud;
        int64_t timeout_ms;
        ad_engine_line_fn on_line; /* optional */
        void *ud;
        bool (*cancel)(void); /* optional: true abandons the build */
        /* Isolation of the RUN steps.  network: "private" (the default, a
         * network namespace of its own on the engine's bridge: the host's
         * loopback services are not there), "none" (no network at all).
         * memory_bytes and cpu_millis: 0 means no limit. */
        const char *network;
        uint64_t memory_bytes;
        long cpu_millis;
        /* The cgroup the RUN steps' containers are made in (the engine's
         * cgroupparent; with cgroupfs, a path such as "/a/b"), NULL: the
         * engine's default.  A limit set on its parent (pids.max) holds
         * for every step. */
        const char *cgroup_parent;
};

struct ad_engine_build_result {
        char *image_id;     /* "sha256:..." when the engine said */
        char *error;        /* set: the build itself failed (the engine's message) */
        long layers_cached; /* steps the engine took from its cache */
        long steps;
};

/* POST /build with the context tar (context_read) streamed as the body;
 * the engine's output stream (JSON lines) is read as it
 * comes.  Returns 0 when the engine ran the build (check res->error: a
 * failing Dockerfile is a result, not an error); context_read's error
 * when it failed; AD_ERR_UNAVAILABLE / AD_ERR_TIMEOUT when the
 * engine is unreachable, goes away or is too slow; AD_ERR_GENERIC
 * "cancelled" when req->cancel said so.  Release res with
 * ad_engine_build_result_clear(). */
int ad_engine_image_build(ad_engine *e, const struct ad_engine_build *req,
                          struct ad_engine_build_result *res, ad_error_t *err);
void ad_engine_build_result_clear(struct ad_engine_build_result *res);

/* Pushes name:tag (name = registry/app) to its plain-HTTP registry.
 * *digest (optional) receives the pushed manifest's digest when the engine
 * reports it, else NULL.  A failed push is AD_ERR_UNAVAILABLE (the
 * registry is the usual cause), a missing local image AD_ERR_NOT_FOUND. */
int ad_engine_image_push(ad_engine *e, const char *name, const char *tag, int64_t timeout_ms,
                         bool (*cancel)(void), char **digest, ad_error_t *err);

/* Finds "sha256:<64 hex>" after "digest: " in a push status line (exposed
 * for tests); false when absent. */
bool ad_engine_find_digest(const char *text, char out[AD_ENGINE_DIGEST_LEN + 1]);

/* Finds the image ID in podman's "locating item named ... for image with
 * ID "<id>"" error: an image record left without its manifest by an
 * engine stopped mid-write.  Every call of this client that meets one
 * removes it and asks again (or, for a build, fails retryably).  Exposed
 * for tests; false when TEXT is another error. */
bool ad_engine_half_written_image(const char *text, char id[AD_ENGINE_IMAGE_ID_LEN + 1]);

/* --- containers -------------------------------------------------------- */

struct ad_container_spec {
        const char *name;
        const char *image;
        const char *const *cmd;    /* NULL: the image's */
        const char *const *env;    /* "NAME=value" */
        const char *const *labels; /* "key=value" */
        const char *network;       /* NULL: the engine's default */
        /* Published on host_ip with a host port the engine chooses; 0: none. */
        unsigned container_port;
        const char *host_ip; /* NULL: 127.0.0.1 */
        const char *user;    /* "uid:gid"; NULL: the image's */
        int64_t memory_bytes;
        int64_t nano_cpus; /* 1e9 = one core */
        int64_t pids_limit;
        bool cap_drop_all;
        bool no_new_privileges;
        bool read_only_rootfs;      /* adds a tmpfs on /tmp */
        const char *restart_policy; /* "no", "always", "unless-stopped", "on-failure" */
};

/* *id receives the new container's id (caller frees).  AD_ERR_CONFLICT
 * when the name is taken. */
int ad_engine_container_create(ad_engine *e, const struct ad_container_spec *spec, char **id,
                               ad_error_t *err);

/* Starting a running container is a success. */
int ad_engine_container_start(ad_engine *e, const char *id, ad_error_t *err);

/* Sets a running container's CPU limit to nano_cpus (1e9 = one CPU) in
 * its cgroup only: the limit it was created with comes back when it is
 * restarted.  The deployer lifts a starting release's limit with it and
 * puts it back once the release answers (deployer.startup_cpus). */
int ad_engine_container_set_cpus(ad_engine *e, const char *id, int64_t nano_cpus, ad_error_t *err);

/* SIGTERM, then SIGKILL after timeout_s; stopping a stopped container is a
 * success, a missing one AD_ERR_NOT_FOUND. */
int ad_engine_container_stop(ad_engine *e, const char *id, int timeout_s, ad_error_t *err);

/* force removes a running container; AD_ERR_NOT_FOUND when already gone. */
int ad_engine_container_remove(ad_engine *e, const char *id, bool force, ad_error_t *err);

/* What inspect and list tell about a container.  Strings are owned by the
 * struct: release with ad_container_clear(). */
struct ad_container {
        char *id;
        char *name; /* without the leading '/' */
        char *image;
        char *state;      /* created, running, paused, restarting, exited, dead... */
        char *app;        /* label app-deployer.app, "" if none */
        char *deployment; /* label app-deployer.deployment, "" if none */
        bool running;
        int exit_code;           /* inspect only */
        int restart_count;       /* inspect only */
        int64_t created;         /* Unix seconds */
        unsigned container_port; /* the first published port, 0 if none */
        unsigned host_port;
        char *host_ip;
};

void ad_container_clear(struct ad_container *c);
void ad_container_list_free(struct ad_container *list, size_t n);

/* True for states in which the container serves or will soon again. */
bool ad_container_live(const struct ad_container *c);

int ad_engine_container_inspect(ad_engine *e, const char *id, struct ad_container *out,
                                ad_error_t *err);

/* Containers carrying every label in `filters` (all states when `all`),
 * newest first. */
int ad_engine_container_list(ad_engine *e, const char *const *filters, bool all,
                             struct ad_container **out, size_t *n, ad_error_t *err);

/* The last `tail` lines (0: all) of stdout and stderr, interleaved, as
 * text: the engine's multiplexed stream (8-byte frame headers when the
 * container has no TTY) is taken apart here.  At most max_bytes are kept
 * (0: 64 KiB); *out is NUL-terminated, the caller frees it. */
int ad_engine_container_logs(ad_engine *e, const char *id, int tail, size_t max_bytes, char **out,
                             ad_error_t *err);

/* Demultiplexes a Docker log stream (exposed for tests): frames are
 * [stream, 0, 0, 0, size32 big-endian] + payload; data not framed that way
 * is copied as is.  Returns the text length written to out (out must hold
 * len + 1 bytes). */
size_t ad_engine_demux_logs(const char *data, size_t len, char *out);

/* --- following a container's log ---------------------------------------- */

/* Streams GET /containers/{id}/logs?follow=1&stdout=1&stderr=1&timestamps=1
 * (since=`since`, Unix seconds, when not NULL) to on_chunk as the engine
 * sends it (raw: feed it to an ad_engine_log_reader).  Returns when the
 * engine ends the stream (the container stopped), after timeout_ms, or
 * when on_chunk returns non-zero or cancel() says so (AD_ERR_GENERIC
 * "cancelled").  AD_ERR_NOT_FOUND: no such container. */
int ad_engine_container_follow(ad_engine *e, const char *id, const char *since, long timeout_ms,
                               bool (*cancel)(void),
                               int (*on_chunk)(const char *data, size_t len, void *ud), void *ud,
                               ad_error_t *err);

/* The longest log line kept; longer ones are cut there. */
#define AD_ENGINE_LOG_LINE_MAX 16384

/* One line of a followed log: its stream (1 stdout, 2 stderr), the
 * engine's timestamp as nanoseconds since the epoch (0 when the line had
 * none it could read) and as text, and the line without its newline. */
struct ad_engine_log_line {
        int stream;
        int64_t ts_ns;
        const char *ts_text;
        const char *text;
        size_t len;
};

typedef void (*ad_engine_log_fn)(const struct ad_engine_log_line *line, void *ud);

/* Takes a multiplexed log stream with timestamps apart, in chunks of any
 * size: frames [stream, 0, 0, 0, size32 big-endian] + payload, each
 * payload "<RFC 3339 time> <text>" where text is a whole line or a part
 * of one (podman sends a line written in several writes as several
 * frames, each with its time): the parts are joined until the newline
 * and the line gets the time of its first part.  Data that is not framed
 * (a TTY container) is read as stdout, a time at each line's start.
 * Bounded: lines are cut at AD_ENGINE_LOG_LINE_MAX. */
struct ad_engine_log_reader {
        ad_engine_log_fn fn;
        void *ud;
        unsigned char hdr[8];
        size_t hdr_len;
        uint32_t remain; /* payload bytes left in the current frame */
        int stream;
        bool raw;
        bool in_ts; /* reading the time at the start of a frame (raw: of a line) */
        char ts[48];
        size_t ts_len;
        int64_t frame_ns;
        char frame_ts[48];
        char line[2][AD_ENGINE_LOG_LINE_MAX + 1];
        size_t line_len[2];
        int64_t line_ns[2];
        char line_ts[2][48];
        bool started[2]; /* the line has its time */
        bool cut[2];     /* the current line went past the bound: drop the rest */
};

void ad_engine_log_reader_init(struct ad_engine_log_reader *r, ad_engine_log_fn fn, void *ud);
void ad_engine_log_reader_feed(struct ad_engine_log_reader *r, const char *data, size_t len);
/* Hands over a last line not ended by a newline. */
void ad_engine_log_reader_end(struct ad_engine_log_reader *r);

/* "2026-12-06T16:30:01.123456789Z" or "...+01:00" (fraction optional) as
 * nanoseconds since the epoch; -1 when it is not such a time. */
int64_t ad_engine_parse_rfc3339_ns(const char *s, size_t len);

#endif
