/* adctl, the command-line client of the REST API.
 *
 * Exit codes: 0 success, 1 the API refused or could not be reached (or a
 * waited-for deployment failed), 2 bad usage. */
#ifndef ADCTL_H
#define ADCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ADCTL_EXIT_OK 0
#define ADCTL_EXIT_FAILURE 1
#define ADCTL_EXIT_USAGE 2

#define ADCTL_DEFAULT_API "http://127.0.0.1:8080"

struct adctl {
        char api[1024];    /* base URL without a trailing '/' */
        bool json;         /* print the API's raw JSON */
        const char *token; /* $ADCTL_TOKEN: sent as Authorization: Bearer */
        /* The token is the key adctl login saved: requests carry a JWT
         * of POST /auth/token instead (adctl_jwt.c). */
        bool token_saved;
};

struct adctl_reply {
        long status;
        char *body; /* NUL-terminated */
        size_t len;
        json_t *doc; /* body parsed, NULL when not JSON */
};

struct adctl_call {
        const char *method; /* NULL: GET */
        const char *path;   /* "/deployments/..." */
        const char *body;   /* JSON, or NULL */
        const char *const *headers;
        long timeout_ms;                                         /* 0: 30 s */
        size_t max_body;                                         /* 0: the client's default */
        int (*on_chunk)(const char *data, size_t len, void *ud); /* streams the body */
        void *chunk_ud;
};

/* Sends a request to the API.  A transport failure prints "cannot reach
 * the API at ..." and returns -1; any HTTP status is a success here. */
int adctl_request(const struct adctl *ctl, const struct adctl_call *call,
                  struct adctl_reply *reply);
void adctl_reply_free(struct adctl_reply *reply);

/* For a reply that is not 2xx: prints the API's error message (or the raw
 * JSON with --json) and returns ADCTL_EXIT_FAILURE. */
int adctl_fail(const struct adctl *ctl, const struct adctl_reply *reply);

/* Prints the reply's body as it came (--json). */
void adctl_print_raw(const struct adctl_reply *reply);

/* "/deployments/<id>" + suffix with id percent-encoded; the caller frees. */
char *adctl_deployment_path(const char *id, const char *suffix);

/* Whether s has a UUID's shape (a deployment id rather than an app name). */
bool adctl_is_uuid(const char *s);

/* A field of a JSON object as a string, "" when missing or null. */
const char *adctl_str(const json_t *obj, const char *key);

/* Prints the message and the command's synopsis on stderr; returns
 * ADCTL_EXIT_USAGE. */
int adctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error for getopt's '?': names the option. */
int adctl_bad_option(const char *cmd, char **argv);

/* The long options every command takes, for adctl_common_option(): the
 * last entries of a command's getopt_long table, its terminator included. */
/* clang-format off */
#define ADCTL_COMMON_LONGOPTS                           \
        { "api", required_argument, NULL, 'A' },        \
        { "json", no_argument, NULL, 'J' },             \
        { "help", no_argument, NULL, 'h' },             \
        { NULL, 0, NULL, 0 }
/* clang-format on */

/* The options every command takes (--api, --json, --help), and the usage
 * error for any other: returns ADCTL_OPT_NEXT to go on parsing, else the
 * exit code to return. */
#define ADCTL_OPT_NEXT (-1)
int adctl_common_option(struct adctl *ctl, int c, const char *cmd, char **argv);

/* Prints a command's --help; returns ADCTL_EXIT_OK. */
int adctl_command_help(const char *cmd);

/* The commands: argv[0] is the command name. */
int adctl_cmd_deploy(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_ls(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_status(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_logs(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_rm(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_rollback(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_apps(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_info(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_ps(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_config(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_scale(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_releases(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_redeploy(struct adctl *ctl, int argc, char **argv);
/* adctl_tokens.c: tokens ls|create|rm, login, and the config file
 * login writes ($XDG_CONFIG_HOME or ~/.config, adctl/config): its token
 * is used when $ADCTL_TOKEN is not set, its api when no --api,
 * $ADCTL_API or $AD_API_URL is given. */
int adctl_cmd_tokens(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_login(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_audit(struct adctl *ctl, int argc, char **argv);
/* adctl_members.c: members ls|add|role|rm. */
int adctl_cmd_members(struct adctl *ctl, int argc, char **argv);
void adctl_config_load(struct adctl *ctl, bool api_given);
int adctl_cmd_domains(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_run(struct adctl *ctl, int argc, char **argv);
/* The config file's path, and its directory into dir (optional). */
int adctl_config_path(char *path, size_t size, char *dir, size_t dir_size);

/* adctl_jwt.c: the JWT for the saved key, cached in the config directory
 * (file jwt, mode 0600) until it nearly expires; renew: mint a new one
 * (after a 401).  NULL when the API issues none (requests then carry the
 * key).  adctl_jwt_forget() drops the cache (a new login). */
const char *adctl_jwt_get(const struct adctl *ctl, bool renew);
void adctl_jwt_forget(void);
/* One request with credential (NULL: none) as the bearer. */
int adctl_request_as(const struct adctl *ctl, const struct adctl_call *call,
                     struct adctl_reply *reply, const char *credential);
/* adctl rollback APP [N] (adctl_apps.c); ID-form rollback stays in
 * adctl_commands.c. */
int adctl_app_rollback(struct adctl *ctl, int argc, char **argv);
/* adctl logs APP [-n N]: the app's containers' last lines. */
int adctl_app_logs(struct adctl *ctl, int argc, char **argv);
/* adctl_logs.c: follows an app's runtime log (GET /apps/APP/logs?follow=1). */
int adctl_follow_app(const struct adctl *ctl, const char *app, const char *lines);
/* adctl rm APP: destroys the app and everything it owns. */
int adctl_app_rm(struct adctl *ctl, int argc, char **argv);

/* The command table (adctl.c): --help, the completion scripts and the
 * manual page are all made from it. */
struct adctl_command {
        const char *name;
        int (*fn)(struct adctl *ctl, int argc, char **argv);
        const char *synopsis;
        const char *help;
};
extern const struct adctl_command adctl_commands[];
extern const size_t adctl_n_commands;

/* adctl_completion.c: adctl completion bash|zsh, adctl man. */
int adctl_cmd_completion(struct adctl *ctl, int argc, char **argv);
int adctl_cmd_man(struct adctl *ctl, int argc, char **argv);

/* Follows deployment id to its end like deploy --wait (adctl_deploy.c);
 * returns the exit code. */
int adctl_wait(const struct adctl *ctl, const char *id, long timeout_s);

/* Sets the API's base URL (http:// or https://); prints why not and
 * returns -1 otherwise. */
int adctl_set_api(struct adctl *ctl, const char *url);

#endif
