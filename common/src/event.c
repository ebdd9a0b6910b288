#include "ad/event.h"

#include <errno.h>
#include <openssl/sha.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ad/limits.h"

void ad_uuid_v4(char out[AD_UUID_LEN + 1])
{
        unsigned char b[16];
        size_t got = 0;

        while (got < sizeof(b)) {
                ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* No entropy source at all: fall back rather
                         * than fail; ids only need to be unique. */
                        for (; got < sizeof(b); got++)
                                b[got] = (unsigned char)random();
                        break;
                }
                got += (size_t)n;
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(out, AD_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
}

bool ad_uuid_valid(const char *s)
{
        if (s == NULL || strlen(s) != AD_UUID_LEN)
                return false;
        for (int i = 0; i < AD_UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                             (s[i] >= 'A' && s[i] <= 'F'))) {
                        return false;
                }
        }
        return true;
}

void ad_uuid_derive(char out[AD_UUID_LEN + 1], const char *base, const char *salt)
{
        unsigned char md[SHA256_DIGEST_LENGTH];
        char buf[512];
        int n = snprintf(buf, sizeof(buf), "%s/%s", base, salt);

        SHA256((const unsigned char *)buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1, md);
        md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
        md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
        snprintf(out, AD_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
                 md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
                 md[12], md[13], md[14], md[15]);
}

int64_t ad_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ad_monotonic_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ad_event_init(ad_envelope *env, const char *deployment_id, const char *trace_id,
                   uint32_t attempt, const char *producer, char event_id[AD_UUID_LEN + 1])
{
        appdeployer__v1__envelope__init(env);
        ad_uuid_v4(event_id);
        env->event_id = event_id;
        env->deployment_id = (char *)deployment_id;
        env->trace_id = (char *)(trace_id ? trace_id : "");
        env->attempt = attempt ? attempt : 1;
        env->timestamp_ms = ad_now_ms();
        env->producer = (char *)(producer ? producer : "");
}

int ad_event_unpack(ad_envelope **out, const void *data, size_t len, ad_error_t *err)
{
        ad_envelope *env;

        if (len > AD_BUS_MAX_PAYLOAD)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "event is %zu bytes, the limit is %d", len,
                                     AD_BUS_MAX_PAYLOAD);
        env = appdeployer__v1__envelope__unpack(NULL, len, data);
        if (env == NULL)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "not an appdeployer.v1.Envelope protobuf message (%zu bytes)",
                                     len);
        if (!ad_uuid_valid(env->event_id)) {
                ad_event_free(env);
                return ad_error_make(err, AD_ERR_INVALID, 0, "envelope.event_id must be a UUID");
        }
        if (!ad_uuid_valid(env->deployment_id)) {
                ad_event_free(env);
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "envelope.deployment_id must be a UUID");
        }
        if (env->payload_case == APPDEPLOYER__V1__ENVELOPE__PAYLOAD__NOT_SET) {
                ad_event_free(env);
                return ad_error_make(err, AD_ERR_INVALID, 0, "envelope has no payload");
        }
        *out = env;
        return 0;
}

void ad_event_free(ad_envelope *env)
{
        if (env)
                appdeployer__v1__envelope__free_unpacked(env, NULL);
}

int ad_event_pack(const ad_envelope *env, uint8_t **out, size_t *len, ad_error_t *err)
{
        size_t n = appdeployer__v1__envelope__get_packed_size(env);
        uint8_t *buf;

        if (n > AD_BUS_MAX_PAYLOAD)
                return ad_error_make(err, AD_ERR_TOO_LARGE, 0,
                                     "event is %zu bytes, the limit is %d", n, AD_BUS_MAX_PAYLOAD);
        buf = malloc(n ? n : 1);
        if (buf == NULL)
                return ad_error_make(err, AD_ERR_GENERIC, ENOMEM, "out of memory");
        appdeployer__v1__envelope__pack(env, buf);
        *out = buf;
        *len = n;
        return 0;
}

int ad_event_publish(ad_bus *bus, const char *subject, const ad_envelope *env, bool *duplicate,
                     ad_error_t *err)
{
        uint8_t *buf = NULL;
        size_t len = 0;
        int ret;

        ret = ad_event_pack(env, &buf, &len, err);
        if (ret < 0)
                return ret;
        ret = ad_bus_publish(bus, subject, env->event_id, buf, len, duplicate, err);
        free(buf);
        if (ret < 0)
                return ad_error_wrap(err, "%s", subject);
        return 0;
}

const char *ad_event_kind(const ad_envelope *env)
{
        switch (env->payload_case) {
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_REQUESTED:
                return AD_SUBJECT_REQUESTED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ANALYZED:
                return AD_SUBJECT_ANALYZED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_BUILT:
                return AD_SUBJECT_BUILT;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_PROVISIONED:
                return AD_SUBJECT_PROVISIONED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_EXPOSED:
                return AD_SUBJECT_EXPOSED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_FAILED:
                return AD_SUBJECT_FAILED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATE:
                return AD_SUBJECT_COMPENSATE;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_COMPENSATED:
                return AD_SUBJECT_COMPENSATED;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_DESTROY:
                return AD_SUBJECT_DESTROY;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_ROLLBACK:
                return AD_SUBJECT_ROLLBACK;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_RELEASE:
                return AD_SUBJECT_RELEASE;
        case APPDEPLOYER__V1__ENVELOPE__PAYLOAD_APP_DESTROY:
                return AD_SUBJECT_APP_DESTROY;
        default:
                return "";
        }
}

int ad_requested_check(const Appdeployer__V1__DeployRequested *req, ad_error_t *err)
{
        size_t n;

        if (req->repo_url == NULL || *req->repo_url == '\0')
                return ad_error_make(err, AD_ERR_INVALID, 0, "the request has no repository URL");
        if (strlen(req->repo_url) > AD_REPO_URL_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the repository URL is longer than %d bytes", AD_REPO_URL_MAX);
        if (req->ref && strlen(req->ref) > AD_REF_MAX)
                return ad_error_make(err, AD_ERR_INVALID, 0, "the ref is longer than %d bytes",
                                     AD_REF_MAX);
        if (req->n_env > AD_ENV_MAX_VARS)
                return ad_error_make(err, AD_ERR_INVALID, 0,
                                     "the request has %zu environment variables, the limit is %d",
                                     req->n_env, AD_ENV_MAX_VARS);
        for (size_t i = 0; i < req->n_env; i++) {
                n = req->env[i] && req->env[i]->name ? strlen(req->env[i]->name) : 0;
                if (n == 0 || n > AD_ENV_NAME_MAX)
                        return ad_error_make(err, AD_ERR_INVALID, 0,
                                             "environment variable %zu has a name of %zu bytes: "
                                             "use 1 to %d",
                                             i + 1, n, AD_ENV_NAME_MAX);
        }
        return 0;
}
