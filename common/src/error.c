#include "ad/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
        char *s = NULL;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

static int make(ad_error_t *err, int kind, int status, char *msg)
{
        struct ad_error_s *e;

        if (err == NULL || *err != NULL) {
                /* Never overwrite a lower error: keep the first one. */
                free(msg);
                return -kind;
        }
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
                free(msg);
                return -kind;
        }
        e->kind = kind;
        e->status = status;
        e->msg = msg ? msg : strdup("out of memory");
        *err = e;
        return -kind;
}

int ad_error_make(ad_error_t *err, int kind, int status, const char *fmt, ...)
{
        va_list ap;
        char *msg;

        va_start(ap, fmt);
        msg = vformat(fmt, ap);
        va_end(ap);
        return make(err, kind, status, msg);
}

int ad_error_make_errno(ad_error_t *err, int errnum, const char *fmt, ...)
{
        va_list ap;
        char *msg, *full = NULL;

        va_start(ap, fmt);
        msg = vformat(fmt, ap);
        va_end(ap);
        if (msg && asprintf(&full, "%s: %s", msg, strerror(errnum)) < 0)
                full = NULL;
        free(msg);
        return make(err, AD_ERR_IO, errnum, full);
}

int ad_error_wrap(ad_error_t *err, const char *fmt, ...)
{
        va_list ap;
        char *ctx, *full = NULL;

        if (err == NULL || *err == NULL)
                return -AD_ERR_GENERIC;
        va_start(ap, fmt);
        ctx = vformat(fmt, ap);
        va_end(ap);
        if (ctx && asprintf(&full, "%s: %s", ctx, (*err)->msg) >= 0) {
                free((*err)->msg);
                (*err)->msg = full;
        }
        free(ctx);
        return -(*err)->kind;
}

int ad_error_is_retryable(const ad_error_t err)
{
        return err != NULL && (err->kind == AD_ERR_UNAVAILABLE || err->kind == AD_ERR_TIMEOUT ||
                               err->kind == AD_ERR_CONFLICT);
}

const char *ad_error_message(const ad_error_t err)
{
        return err ? err->msg : "no error";
}

void ad_error_release(ad_error_t *err)
{
        if (err == NULL || *err == NULL)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}
