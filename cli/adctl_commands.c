/* adctl ls, status, rm, rollback. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"
#include "ad/http.h"
#include "adctl.h"

#define LS_MAX_PAGES 1000

static const struct option common_longopts[] = {
        ADCTL_COMMON_LONGOPTS,
};

/* Parses `adctl CMD ID` with the common options.  Returns true with *id
 * set to go on; false with *exit_code set to stop. */
static bool parse_id_args(struct adctl *ctl, int argc, char **argv, const char **id, int *exit_code)
{
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", common_longopts, NULL)) != -1) {
                *exit_code = adctl_common_option(ctl, c, argv[0], argv);
                if (*exit_code != ADCTL_OPT_NEXT)
                        return false;
        }
        if (optind >= argc) {
                *exit_code = adctl_usage_error(argv[0], "the deployment ID is missing");
                return false;
        }
        if (optind + 1 < argc) {
                *exit_code =
                        adctl_usage_error(argv[0], "unexpected argument `%s`", argv[optind + 1]);
                return false;
        }
        *id = argv[optind];
        return true;
}

/* Sends a request about one deployment; prints the raw reply with --json.
 * Returns 0 with *reply filled for the caller to print, or an exit code. */
static int request_id(const struct adctl *ctl, const char *method, const char *id,
                      const char *suffix, struct adctl_reply *reply, long ok_status)
{
        cleanup_free char *path = adctl_deployment_path(id, suffix);
        struct adctl_call call = { .method = method, .path = path };
        int ret;

        if (path == NULL)
                return ADCTL_EXIT_FAILURE;
        if (adctl_request(ctl, &call, reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply->status != ok_status) {
                ret = adctl_fail(ctl, reply);
                adctl_reply_free(reply);
                return ret;
        }
        return 0;
}

/* "2026-11-26T22:27:55.959Z" -> "2026-11-26 22:27:55" */
static const char *short_time(const char *ts, char *buf, size_t size)
{
        snprintf(buf, size, "%.19s", ts);
        if (strlen(buf) > 10 && buf[10] == 'T')
                buf[10] = ' ';
        return buf;
}

static void print_rows(json_t *items, bool header)
{
        size_t i;
        json_t *d;

        if (header)
                printf("%-36s  %-24s  %-12s  %-19s  %s\n", "ID", "APP", "STATUS", "CREATED (UTC)",
                       "URL");
        json_array_foreach (items, i, d) {
                char when[32];

                printf("%-36s  %-24s  %-12s  %-19s  %s\n", adctl_str(d, "id"), adctl_str(d, "app"),
                       adctl_str(d, "status"),
                       short_time(adctl_str(d, "created_at"), when, sizeof(when)),
                       adctl_str(d, "url"));
        }
}

int adctl_cmd_ls(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "limit", required_argument, NULL, 'l' },
                { "cursor", required_argument, NULL, 'c' },
                { "all", no_argument, NULL, 'a' },
                ADCTL_COMMON_LONGOPTS,
        };
        cleanup_free char *cursor = NULL;
        json_auto_t *all = json_array();
        const char *limit = NULL;
        bool every = false;
        int c, opt, ret = ADCTL_EXIT_OK;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "l:c:ah", longopts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        limit = optarg;
                        break;
                case 'c':
                        free(cursor);
                        cursor = strdup(optarg);
                        break;
                case 'a':
                        every = true;
                        break;
                default:
                        if ((opt = adctl_common_option(ctl, c, "ls", argv)) != ADCTL_OPT_NEXT)
                                return opt;
                        break;
                }
        }
        if (optind < argc)
                return adctl_usage_error("ls", "unexpected argument `%s`", argv[optind]);

        for (int page = 0; page < LS_MAX_PAGES; page++) {
                cleanup_free char *path = NULL, *esc_limit = NULL, *esc_cursor = NULL;
                struct adctl_call call = { 0 };
                struct adctl_reply reply;
                const char *next;

                esc_limit = limit ? ad_http_escape(limit) : NULL;
                esc_cursor = cursor ? ad_http_escape(cursor) : NULL;
                if (asprintf(&path, "/deployments?limit=%s%s%s", esc_limit ? esc_limit : "20",
                             esc_cursor ? "&cursor=" : "", esc_cursor ? esc_cursor : "") < 0)
                        return ADCTL_EXIT_FAILURE;
                call.path = path;
                if (adctl_request(ctl, &call, &reply) < 0)
                        return ADCTL_EXIT_FAILURE;
                if (reply.status != 200 ||
                    !json_is_array(json_object_get(reply.doc, "deployments"))) {
                        ret = adctl_fail(ctl, &reply);
                        adctl_reply_free(&reply);
                        return ret;
                }
                if (ctl->json && !every)
                        adctl_print_raw(&reply);
                else if (ctl->json)
                        json_array_extend(all, json_object_get(reply.doc, "deployments"));
                else
                        print_rows(json_object_get(reply.doc, "deployments"), page == 0);
                next = adctl_str(reply.doc, "next_cursor");
                free(cursor);
                cursor = *next ? strdup(next) : NULL;
                adctl_reply_free(&reply);
                if (cursor == NULL)
                        break;
                if (!every) {
                        if (!ctl->json)
                                fprintf(stderr, "(more: adctl ls --cursor %s, or --all)\n", cursor);
                        break;
                }
        }
        if (ctl->json && every) {
                json_auto_t *doc = json_pack("{s:O,s:n}", "deployments", all, "next_cursor");
                char *text = json_dumps(doc, JSON_COMPACT);

                if (text)
                        printf("%s\n", text);
                free(text);
        }
        return ret;
}

static void field(const char *label, const char *value)
{
        if (value && *value)
                printf("%-10s %s\n", label, value);
}

static void print_steps(json_t *steps)
{
        size_t i;
        json_t *s;

        if (json_array_size(steps) == 0)
                return;
        printf("steps:\n");
        json_array_foreach (steps, i, s) {
                json_t *ms = json_object_get(s, "duration_ms");

                if (json_is_integer(ms))
                        printf("  %-12s %-12s %7.1fs\n", adctl_str(s, "step"),
                               adctl_str(s, "status"), (double)json_integer_value(ms) / 1000.0);
                else
                        printf("  %-12s %s\n", adctl_str(s, "step"), adctl_str(s, "status"));
        }
}

/* Each moment of the deployment (time of day in UTC, and since it was
 * accepted), then the hops: the time between a step's end and the next
 * one's start, when no step worked on it. */
static void print_timeline(const json_t *d)
{
        const json_t *events = json_object_get(d, "timeline");
        const json_t *hops = json_object_get(d, "hops");
        const json_t *e;
        size_t i;

        if (json_array_size(events) == 0)
                return;
        printf("timeline (UTC):\n");
        json_array_foreach ((json_t *)events, i, e) {
                const char *at = adctl_str(e, "at");

                printf("  %-26s %.12s %+8.3fs\n", adctl_str(e, "event"),
                       strlen(at) >= 23 ? at + 11 : at,
                       (double)json_integer_value(json_object_get(e, "elapsed_ms")) / 1000.0);
        }
        if (json_array_size(hops) == 0)
                return;
        printf("hops (no step working): %lld ms\n",
               (long long)json_integer_value(json_object_get(d, "hops_total_ms")));
        json_array_foreach ((json_t *)hops, i, e) {
                char hop[128];

                snprintf(hop, sizeof(hop), "%s -> %s", adctl_str(e, "from"), adctl_str(e, "to"));
                printf("  %-44s %6lld ms\n", hop,
                       (long long)json_integer_value(json_object_get(e, "duration_ms")));
        }
}

/* What the analyzer decided and why: one line per field it explained. */
static void print_analysis(const json_t *analysis)
{
        const json_t *why = json_object_get(analysis, "why");
        const char *key;
        const json_t *v;

        if (!json_is_object(analysis))
                return;
        printf("analysis:    %s%s%s, start `%s`\n", adctl_str(analysis, "language"),
               *adctl_str(analysis, "framework") ? "/" : "", adctl_str(analysis, "framework"),
               adctl_str(analysis, "startCommand"));
        if (!json_is_object(why))
                return;
        printf("why:\n");
        json_object_foreach ((json_t *)why, key, v)
                if (json_is_string(v))
                        printf("  %-16s %s\n", key, json_string_value(v));
}

int adctl_cmd_status(struct adctl *ctl, int argc, char **argv)
{
        struct adctl_reply reply;
        const char *id = NULL;
        json_t *d, *build, *containers;
        char created[32], updated[32], line[512];
        int ret;

        if (!parse_id_args(ctl, argc, argv, &id, &ret))
                return ret;
        ret = request_id(ctl, NULL, id, NULL, &reply, 200);
        if (ret != 0)
                return ret;
        if (ctl->json) {
                adctl_print_raw(&reply);
                adctl_reply_free(&reply);
                return ADCTL_EXIT_OK;
        }
        d = reply.doc;
        field("id:", adctl_str(d, "id"));
        field("app:", adctl_str(d, "app"));
        field("status:", adctl_str(d, "status"));
        snprintf(line, sizeof(line), "%s%s%s%s", adctl_str(d, "repo_url"),
                 *adctl_str(d, "ref") ? " (" : "", adctl_str(d, "ref"),
                 *adctl_str(d, "ref") ? ")" : "");
        field("repo:", line);
        field("commit:", adctl_str(d, "git_sha"));
        field("url:", adctl_str(d, "url"));
        field("ip:", adctl_str(d, "ip"));
        containers = json_object_get(d, "containers");
        if (json_array_size(containers) > 0) {
                snprintf(line, sizeof(line), "%zu (%.12s%s)", json_array_size(containers),
                         json_string_value(json_array_get(containers, 0))
                                 ? json_string_value(json_array_get(containers, 0))
                                 : "?",
                         json_array_size(containers) > 1 ? ", ..." : "");
                field("replicas:", line);
        }
        field("created:", short_time(adctl_str(d, "created_at"), created, sizeof(created)));
        field("updated:", short_time(adctl_str(d, "updated_at"), updated, sizeof(updated)));
        if (*adctl_str(d, "error")) {
                snprintf(line, sizeof(line), "%s%s%s%s", adctl_str(d, "error"),
                         *adctl_str(d, "failed_step") ? " (step " : "", adctl_str(d, "failed_step"),
                         *adctl_str(d, "failed_step") ? ")" : "");
                field("error:", line);
        }
        build = json_object_get(d, "build");
        if (json_is_object(build)) {
                snprintf(line, sizeof(line), "%s in %.1fs%s", adctl_str(build, "image"),
                         (double)json_integer_value(json_object_get(build, "duration_ms")) / 1000.0,
                         json_is_true(json_object_get(build, "cache_hit")) ? " (cached)" : "");
                field("image:", line);
        }
        print_steps(json_object_get(d, "steps"));
        print_timeline(d);
        print_analysis(json_object_get(d, "analysis"));
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

int adctl_cmd_rm(struct adctl *ctl, int argc, char **argv)
{
        struct adctl_reply reply;
        const char *id = NULL;
        int ret;

        /* adctl rm APP: an app name rather than a deployment id. */
        for (int i = 1; i < argc; i++) {
                if (argv[i][0] == '-')
                        continue;
                if (!adctl_is_uuid(argv[i]))
                        return adctl_app_rm(ctl, argc, argv);
                break;
        }

        if (!parse_id_args(ctl, argc, argv, &id, &ret))
                return ret;
        ret = request_id(ctl, "DELETE", id, NULL, &reply, 202);
        if (ret != 0)
                return ret;
        if (ctl->json)
                adctl_print_raw(&reply);
        else
                printf("Destroying deployment %s of app %s\n", adctl_str(reply.doc, "id"),
                       adctl_str(reply.doc, "app"));
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}

int adctl_cmd_rollback(struct adctl *ctl, int argc, char **argv)
{
        struct adctl_reply reply;
        const char *id = NULL;
        int ret;

        /* adctl rollback APP [N]: an app name rather than a deployment id. */
        for (int i = 1; i < argc; i++) {
                if (argv[i][0] == '-')
                        continue;
                if (!adctl_is_uuid(argv[i]))
                        return adctl_app_rollback(ctl, argc, argv);
                break;
        }

        if (!parse_id_args(ctl, argc, argv, &id, &ret))
                return ret;
        ret = request_id(ctl, "POST", id, "/rollback", &reply, 202);
        if (ret != 0)
                return ret;
        if (ctl->json) {
                adctl_print_raw(&reply);
        } else {
                printf("Rolling app %s back: new deployment %s\n", adctl_str(reply.doc, "app"),
                       adctl_str(reply.doc, "id"));
                printf("Follow it with: adctl status %s\n", adctl_str(reply.doc, "id"));
        }
        adctl_reply_free(&reply);
        return ADCTL_EXIT_OK;
}
