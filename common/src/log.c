#include "ad/log.h"
#include "ad/redact.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *log_service = "app-deployer";
static enum ad_log_level log_min = AD_LOG_INFO;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void ad_log_init(const char *service, enum ad_log_level min_level)
{
        log_service = service;
        log_min = min_level;
}

void ad_log_set_stream(FILE *f)
{
        log_stream = f;
}

int ad_log_level_parse(const char *s, enum ad_log_level *out)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcasecmp(s, level_names[i]) == 0) {
                        *out = (enum ad_log_level)i;
                        return 0;
                }
        return -1;
}

static int key_is_secret(const char *key)
{
        static const char *const words[] = { "password", "passwd",  "secret",      "token",
                                             "apikey",   "api_key", "private_key", "credential" };
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strcasestr(key, words[i]))
                        return 1;
        return 0;
}

static void redact_fields(json_t *fields)
{
        const char *key;
        json_t *value;

        json_object_foreach (fields, key, value) {
                if (key_is_secret(key)) {
                        json_object_set_new(fields, key, json_string("***"));
                } else if (json_is_string(value) && strstr(json_string_value(value), "://")) {
                        char *r = ad_redact_url(json_string_value(value));
                        if (r) {
                                json_object_set_new(fields, key, json_string(r));
                                free(r);
                        }
                }
        }
}

void ad_log_json(enum ad_log_level level, const char *msg, json_t *fields)
{
        struct timeval tv;
        struct tm tm;
        char ts[96];
        json_t *line;
        char *text;

        if (level < log_min) {
                json_decref(fields);
                return;
        }
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(tv.tv_usec / 1000));

        line = json_object();
        json_object_set_new(line, "ts", json_string(ts));
        json_object_set_new(line, "level", json_string(level_names[level]));
        json_object_set_new(line, "service", json_string(log_service));
        json_object_set_new(line, "msg", json_string(msg ? msg : ""));
        if (fields) {
                redact_fields(fields);
                json_object_update_missing(line, fields);
                json_decref(fields);
        }
        text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(line);
        if (text == NULL)
                return;
        pthread_mutex_lock(&log_lock);
        fprintf(log_stream ? log_stream : stderr, "%s\n", text);
        fflush(log_stream ? log_stream : stderr);
        pthread_mutex_unlock(&log_lock);
        free(text);
}

void ad_log(enum ad_log_level level, const char *msg, ...)
{
        va_list ap;
        json_t *fields;
        const char *k, *v;

        if (level < log_min)
                return;
        fields = json_object();
        va_start(ap, msg);
        while ((k = va_arg(ap, const char *)) != NULL) {
                v = va_arg(ap, const char *);
                json_object_set_new(fields, k, v ? json_string(v) : json_null());
        }
        va_end(ap);
        ad_log_json(level, msg, fields);
}
