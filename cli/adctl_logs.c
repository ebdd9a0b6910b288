/* adctl logs: the stored lines, or -f to follow them as Server-Sent Events
 * until the deployment is done. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "adctl.h"

/* A followed stream may last as long as a build: a day at most. */
#define FOLLOW_TIMEOUT_MS (24L * 3600 * 1000)
#define SSE_LINE_MAX (64 * 1024)
#define LOGS_MAX_BODY (128 * 1024 * 1024)

/* The SSE parser's state (https://html.spec.whatwg.org/#event-stream-interpretation). */
struct sse {
        bool json;
        bool app; /* an app's runtime log: data is a JSON line object */
        char line[SSE_LINE_MAX];
        size_t line_len;
        char event[32];
        char id[32];
        char *data; /* the data fields of the message so far, '\n'-joined */
        size_t data_len;
        bool ended; /* an "end" event came */
        bool error; /* an "error" event came */
        bool idle;  /* an "idle" event came: the server ended a quiet stream */
        char end_status[32];
};

static void sse_dispatch(struct sse *s)
{
        const char *data = s->data ? s->data : "";

        if (s->app && (strcmp(s->event, "end") == 0 || strcmp(s->event, "idle") == 0 ||
                       strcmp(s->event, "error") == 0)) {
                json_auto_t *o = json_loads(data, 0, NULL);
                const char *reason = json_string_value(json_object_get(o, "reason"));

                s->ended = true;
                s->error = strcmp(s->event, "error") == 0;
                fprintf(stderr, "adctl: the log stream ended: %s\n", reason ? reason : data);
        } else if (s->app && s->data) {
                json_auto_t *o = json_loads(data, 0, NULL);
                const char *line = json_string_value(json_object_get(o, "line"));
                const char *process = json_string_value(json_object_get(o, "process"));

                if (s->json || line == NULL || process == NULL)
                        printf("%s\n", data);
                else
                        printf("%s.%d | %s\n", process,
                               (int)json_integer_value(json_object_get(o, "replica")), line);
                fflush(stdout);
        } else if (strcmp(s->event, "end") == 0) {
                s->ended = true;
                snprintf(s->end_status, sizeof(s->end_status), "%s", data);
        } else if (strcmp(s->event, "idle") == 0) {
                s->idle = true;
        } else if (strcmp(s->event, "error") == 0) {
                s->error = true;
                fprintf(stderr, "adctl: the log stream failed: %s\n", data);
        } else if (s->data) {
                if (s->json) {
                        json_auto_t *o =
                                json_pack("{s:I,s:s}", "seq", (json_int_t)strtoll(s->id, NULL, 10),
                                          "line", data);
                        char *text = json_dumps(o, JSON_COMPACT);

                        if (text)
                                printf("%s\n", text);
                        free(text);
                } else {
                        printf("%s\n", data);
                }
                fflush(stdout);
        }
        free(s->data);
        s->data = NULL;
        s->data_len = 0;
        s->event[0] = '\0';
}

static int sse_field(struct sse *s, const char *line)
{
        const char *colon = strchr(line, ':');
        const char *value = colon ? colon + 1 : "";
        size_t name_len = colon ? (size_t)(colon - line) : strlen(line);

        if (*value == ' ')
                value++;
        if (name_len == 4 && strncmp(line, "data", 4) == 0) {
                size_t n = strlen(value);
                char *d = realloc(s->data, s->data_len + n + 2);

                if (d == NULL)
                        return -1;
                if (s->data)
                        d[s->data_len++] = '\n';
                memcpy(d + s->data_len, value, n + 1);
                s->data = d;
                s->data_len += n;
        } else if (name_len == 5 && strncmp(line, "event", 5) == 0) {
                snprintf(s->event, sizeof(s->event), "%s", value);
        } else if (name_len == 2 && strncmp(line, "id", 2) == 0) {
                snprintf(s->id, sizeof(s->id), "%s", value);
        }
        /* Comments (": keepalive") and unknown fields are ignored. */
        return 0;
}

static int sse_chunk(const char *data, size_t len, void *ud)
{
        struct sse *s = ud;

        for (size_t i = 0; i < len; i++) {
                char c = data[i];

                if (c == '\r')
                        continue;
                if (c != '\n') {
                        /* Longer lines are cut: the server's are shorter. */
                        if (s->line_len + 1 < sizeof(s->line))
                                s->line[s->line_len++] = c;
                        continue;
                }
                s->line[s->line_len] = '\0';
                /* Nothing counts after the end or error event. */
                if (s->ended || s->error) {
                        s->line_len = 0;
                        continue;
                }
                if (s->line_len == 0)
                        sse_dispatch(s);
                else if (s->line[0] != ':' && sse_field(s, s->line) < 0)
                        return -1;
                s->line_len = 0;
        }
        return 0;
}

static int follow(const struct adctl *ctl, const char *id)
{
        cleanup_free char *path = adctl_deployment_path(id, "/logs?follow=1");
        char last_id[64] = "";
        const char *headers[] = { "Accept: text/event-stream", NULL, NULL };
        struct adctl_call call = {
                .path = path,
                .headers = headers,
                .timeout_ms = FOLLOW_TIMEOUT_MS,
                .on_chunk = sse_chunk,
        };
        struct adctl_reply reply = { 0 };
        struct sse *s = calloc(1, sizeof(*s));
        int ret = ADCTL_EXIT_OK, got;

        if (s == NULL || path == NULL) {
                free(s);
                return ADCTL_EXIT_FAILURE;
        }
        s->json = ctl->json;
        call.chunk_ud = s;
        /* The server closes the stream after the end (or error) event,
         * and after an idle one (api.follower_idle_timeout_s): then adctl
         * follows on from the last line it printed. */
        for (;;) {
                s->idle = false;
                got = adctl_request(ctl, &call, &reply);
                if (got < 0 || !s->idle || s->ended || s->error)
                        break;
                adctl_reply_free(&reply);
                snprintf(last_id, sizeof(last_id), "Last-Event-ID: %s", s->id[0] ? s->id : "0");
                headers[1] = last_id;
                s->line_len = 0;
        }
        if (got < 0) {
                ret = ADCTL_EXIT_FAILURE;
        } else if (s->error) {
                ret = ADCTL_EXIT_FAILURE;
        } else if (!s->ended && reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
        } else if (!s->ended) {
                fprintf(stderr, "adctl: the log stream ended early; run the command again\n");
                ret = ADCTL_EXIT_FAILURE;
        } else if (ctl->json) {
                json_auto_t *o = json_pack("{s:s,s:s}", "event", "end", "status", s->end_status);
                char *text = json_dumps(o, JSON_COMPACT);

                if (text)
                        printf("%s\n", text);
                free(text);
        } else {
                fprintf(stderr, "-- deployment %s --\n", s->end_status);
        }
        adctl_reply_free(&reply);
        free(s->data);
        free(s);
        return ret;
}

/* adctl logs APP --tail: the app's stored runtime log lines, the last
 * `lines` first, then each new one as it comes (across redeploys and
 * deployer restarts), until the app is gone or the server ends the
 * stream. */
int adctl_follow_app(const struct adctl *ctl, const char *app, const char *lines)
{
        cleanup_free char *path = NULL;
        const char *headers[] = { "Accept: text/event-stream", NULL };
        struct adctl_call call = {
                .headers = headers,
                .timeout_ms = FOLLOW_TIMEOUT_MS,
                .on_chunk = sse_chunk,
        };
        struct adctl_reply reply = { 0 };
        struct sse *s;
        int ret = ADCTL_EXIT_OK;

        if (asprintf(&path, "/apps/%s/logs?follow=1&tail=%s", app, lines) < 0)
                return ADCTL_EXIT_FAILURE;
        s = calloc(1, sizeof(*s));
        if (s == NULL)
                return ADCTL_EXIT_FAILURE;
        s->json = ctl->json;
        s->app = true;
        call.path = path;
        call.chunk_ud = s;
        if (adctl_request(ctl, &call, &reply) < 0)
                ret = ADCTL_EXIT_FAILURE;
        else if (s->error)
                ret = ADCTL_EXIT_FAILURE;
        else if (!s->ended && reply.status != 200)
                ret = adctl_fail(ctl, &reply);
        else if (!s->ended) {
                fprintf(stderr, "adctl: the log stream ended early; run the command again\n");
                ret = ADCTL_EXIT_FAILURE;
        }
        adctl_reply_free(&reply);
        free(s->data);
        free(s);
        return ret;
}

int adctl_cmd_logs(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "follow", no_argument, NULL, 'f' },
                ADCTL_COMMON_LONGOPTS,
        };
        cleanup_free char *path = NULL;
        struct adctl_call call = { .max_body = LOGS_MAX_BODY, .timeout_ms = 120000 };
        struct adctl_reply reply;
        bool follow_logs = false;
        const char *id;
        int c, opt, ret;

        /* adctl logs APP: an app name rather than a deployment id. */
        for (int i = 1; i < argc; i++) {
                if (argv[i][0] == '-') {
                        if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--lines") == 0)
                                i++;
                        continue;
                }
                if (!adctl_is_uuid(argv[i]))
                        return adctl_app_logs(ctl, argc, argv);
                break;
        }
        opterr = 0;
        while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        follow_logs = true;
                        break;
                default:
                        if ((opt = adctl_common_option(ctl, c, "logs", argv)) != ADCTL_OPT_NEXT)
                                return opt;
                        break;
                }
        }
        if (optind >= argc)
                return adctl_usage_error("logs", "the deployment ID is missing");
        if (optind + 1 < argc)
                return adctl_usage_error("logs", "unexpected argument `%s`", argv[optind + 1]);
        id = argv[optind];
        if (follow_logs)
                return follow(ctl, id);

        path = adctl_deployment_path(id, ctl->json ? "/logs?format=json" : "/logs");
        if (path == NULL)
                return ADCTL_EXIT_FAILURE;
        call.path = path;
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
                adctl_reply_free(&reply);
                return ret;
        }
        fwrite(reply.body, 1, reply.len, stdout);
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}
