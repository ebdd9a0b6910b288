/* Which images a Dockerfile may start from or copy from. */
#ifndef BUILDER_FROM_H
#define BUILDER_FROM_H

#include "ad/error.h"

/* Refuses (AD_ERR_INVALID, naming the line) a `FROM` or `COPY/ADD --from=`
 * whose image lives in the platform's registry (`registry`, host:port, in
 * any spelling of a loopback or private host with that port) under another
 * app's name than `app`: builds never read other apps' images.  Refuses
 * `ADD <url>` too: the engine fetches it from the host's network. */
int builder_from_check(const char *dockerfile, const char *registry, const char *app,
                       ad_error_t *err);

#endif
