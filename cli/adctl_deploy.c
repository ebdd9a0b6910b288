/* adctl deploy: queue a deployment, and with --wait follow it to the end. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ad/cleanup.h"
#include "ad/status.h"
#include "adctl.h"

#define POLL_MS 500
/* Consecutive failed polls (the API restarting) before --wait gives up. */
#define MAX_POLL_FAILURES 20

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

/* --env K=V, or --env K to pass K's value from this environment. */
static int add_env(json_t *env, const char *arg)
{
        const char *eq = strchr(arg, '=');
        char name[256];

        if (eq == NULL) {
                const char *v = getenv(arg);

                if (v == NULL)
                        return adctl_usage_error("deploy",
                                                 "--env %s: no `=` and no %s in the environment",
                                                 arg, arg);
                return json_object_set_new(env, arg, json_string(v)) == 0 ? 0 : -1;
        }
        if (eq == arg || (size_t)(eq - arg) >= sizeof(name))
                return adctl_usage_error("deploy", "--env `%.*s...`: expected NAME=VALUE",
                                         (int)(eq - arg > 32 ? 32 : eq - arg), arg);
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = '\0';
        if (json_object_get(env, name))
                return adctl_usage_error("deploy", "--env %s is given twice", name);
        json_object_set_new(env, name, json_string(eq + 1));
        return 0;
}

/* A local directory given as "." or "./app" becomes the absolute path the
 * API needs (it accepts local sources only when configured to). */
static char *repo_arg(const char *arg)
{
        struct stat st;

        if (strstr(arg, "://") == NULL && arg[0] != '/' && stat(arg, &st) == 0 &&
            S_ISDIR(st.st_mode)) {
                char *abs = realpath(arg, NULL);

                if (abs)
                        return abs;
        }
        return strdup(arg);
}

static void print_state(const char *state, double seconds)
{
        if (seconds >= 0)
                printf("%-14s %6.1fs\n", state, seconds);
        else
                printf("%s\n", state);
        fflush(stdout);
}

/* The state a deployment is in while `step` runs. */
static const char *step_state(const char *step)
{
        static const char *const map[][2] = {
                { "analyze", "ANALYZING" },
                { "build", "BUILDING" },
                { "provision", "PROVISIONING" },
                { "deploy", "DEPLOYING" },
        };

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(step, map[i][0]) == 0)
                        return map[i][1];
        return step;
}

/* Prints the steps that ended since the last poll, with the duration the
 * coordinator recorded: a state shorter than the poll interval is still
 * shown. */
static void print_new_steps(const json_t *doc, size_t *printed)
{
        const json_t *steps = json_object_get(doc, "steps");
        size_t i;
        json_t *s;

        json_array_foreach (steps, i, s) {
                const json_t *ended = json_object_get(s, "ended_at");
                const char *step = json_string_value(json_object_get(s, "step"));

                if (i < *printed)
                        continue;
                if (ended == NULL || json_is_null(ended) || step == NULL)
                        break;
                print_state(step_state(step),
                            (double)json_integer_value(json_object_get(s, "duration_ms")) / 1000.0);
                *printed = i + 1;
        }
}

/* Polls the deployment until a final status, printing each state when it
 * ends.  Returns the exit code. */
static int wait_for(const struct adctl *ctl, const char *id, double start, long timeout_s)
{
        cleanup_free char *path = adctl_deployment_path(id, NULL);
        char state[64] = "QUEUED";
        size_t printed = 0;
        int failures = 0;

        if (path == NULL)
                return ADCTL_EXIT_FAILURE;
        for (;;) {
                struct adctl_call call = { .path = path };
                struct adctl_reply reply;
                const char *status;

                sleep_ms(POLL_MS);
                if (timeout_s > 0 && now_s() - start > (double)timeout_s) {
                        fprintf(stderr,
                                "adctl: still %s after %lds; the deployment goes on: "
                                "adctl status %s\n",
                                state, timeout_s, id);
                        return ADCTL_EXIT_FAILURE;
                }
                if (adctl_request(ctl, &call, &reply) < 0) {
                        if (++failures >= MAX_POLL_FAILURES)
                                return ADCTL_EXIT_FAILURE;
                        continue;
                }
                if (reply.status >= 500 && ++failures < MAX_POLL_FAILURES) {
                        adctl_reply_free(&reply);
                        continue;
                }
                if (reply.status != 200) {
                        int ret = adctl_fail(ctl, &reply);

                        adctl_reply_free(&reply);
                        return ret;
                }
                failures = 0;
                status = adctl_str(reply.doc, "status");
                if (*status && strcmp(status, state) != 0) {
                        if (!ctl->json && strcmp(state, "QUEUED") == 0)
                                print_state(state, now_s() - start);
                        snprintf(state, sizeof(state), "%s", status);
                }
                if (!ctl->json)
                        print_new_steps(reply.doc, &printed);
                if (ad_status_final(state)) {
                        /* SUPERSEDED: it was exposed, and a newer
                         * deployment of the app already replaced it. */
                        int ret = ad_status_served(ad_status_parse(state)) ? ADCTL_EXIT_OK
                                                                           : ADCTL_EXIT_FAILURE;

                        if (ctl->json) {
                                adctl_print_raw(&reply);
                        } else {
                                print_state(state, -1);
                                if (ret == ADCTL_EXIT_OK)
                                        printf("%s\n", adctl_str(reply.doc, "url"));
                                else if (*adctl_str(reply.doc, "error"))
                                        fprintf(stderr, "adctl: deployment %s failed%s%s: %s\n", id,
                                                *adctl_str(reply.doc, "failed_step") ? " at step "
                                                                                     : "",
                                                adctl_str(reply.doc, "failed_step"),
                                                adctl_str(reply.doc, "error"));
                                else
                                        fprintf(stderr, "adctl: deployment %s ended %s\n", id,
                                                state);
                        }
                        adctl_reply_free(&reply);
                        return ret;
                }
                adctl_reply_free(&reply);
        }
}

int adctl_wait(const struct adctl *ctl, const char *id, long timeout_s)
{
        return wait_for(ctl, id, now_s(), timeout_s);
}

int adctl_cmd_deploy(struct adctl *ctl, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "name", required_argument, NULL, 'n' },
                { "ref", required_argument, NULL, 'r' },
                { "env", required_argument, NULL, 'e' },
                { "wait", no_argument, NULL, 'w' },
                { "timeout", required_argument, NULL, 't' },
                { "idempotency-key", required_argument, NULL, 'k' },
                ADCTL_COMMON_LONGOPTS,
        };
        json_auto_t *body = json_object();
        json_auto_t *env = json_object();
        cleanup_free char *text = NULL, *repo = NULL, *key_header = NULL;
        const char *headers[2] = { NULL, NULL };
        struct adctl_call call = { .method = "POST", .path = "/deployments" };
        struct adctl_reply reply;
        bool wait = false;
        long timeout_s = 0;
        double start;
        char *end;
        int c, opt, ret;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "n:r:e:wt:h", longopts, NULL)) != -1) {
                switch (c) {
                case 'n':
                        json_object_set_new(body, "name", json_string(optarg));
                        break;
                case 'r':
                        json_object_set_new(body, "ref", json_string(optarg));
                        break;
                case 'e':
                        ret = add_env(env, optarg);
                        if (ret != 0)
                                return ret;
                        break;
                case 'w':
                        wait = true;
                        break;
                case 't':
                        timeout_s = strtol(optarg, &end, 10);
                        if (*end || end == optarg || timeout_s < 0)
                                return adctl_usage_error("deploy",
                                                         "--timeout `%s`: expected "
                                                         "seconds",
                                                         optarg);
                        break;
                case 'k':
                        free(key_header);
                        if (asprintf(&key_header, "Idempotency-Key: %s", optarg) < 0)
                                return ADCTL_EXIT_FAILURE;
                        headers[0] = key_header;
                        break;
                default:
                        if ((opt = adctl_common_option(ctl, c, "deploy", argv)) != ADCTL_OPT_NEXT)
                                return opt;
                        break;
                }
        }
        /* GNU getopt moved the operands after the options. */
        if (optind >= argc)
                return adctl_usage_error("deploy", "the repository URL is missing");
        if (optind + 1 < argc)
                return adctl_usage_error("deploy", "unexpected argument `%s`", argv[optind + 1]);
        repo = repo_arg(argv[optind]);
        if (repo == NULL)
                return ADCTL_EXIT_FAILURE;

        json_object_set_new(body, "repo_url", json_string(repo));
        if (json_object_size(env) > 0)
                json_object_set(body, "env", env);
        text = json_dumps(body, JSON_COMPACT);
        call.body = text;
        call.headers = headers[0] ? headers : NULL;
        start = now_s();
        if (adctl_request(ctl, &call, &reply) < 0)
                return ADCTL_EXIT_FAILURE;
        if (reply.status != 202 && reply.status != 200) {
                ret = adctl_fail(ctl, &reply);
                adctl_reply_free(&reply);
                return ret;
        }
        if (ctl->json && !wait) {
                adctl_print_raw(&reply);
        } else if (!ctl->json) {
                printf("Deployment %s of app %s is %s\n", adctl_str(reply.doc, "id"),
                       adctl_str(reply.doc, "app"), adctl_str(reply.doc, "status"));
                if (!wait)
                        printf("Follow it with: adctl status %s\n", adctl_str(reply.doc, "id"));
                fflush(stdout);
        }
        ret = ADCTL_EXIT_OK;
        if (wait) {
                char id[64];

                snprintf(id, sizeof(id), "%s", adctl_str(reply.doc, "id"));
                ret = wait_for(ctl, id, start, timeout_s);
        }
        adctl_reply_free(&reply);
        return ret;
}
