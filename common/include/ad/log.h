/* Structured logging: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-26T22:40:01.123Z","level":"info","service":"builder",
 *    "msg":"build finished","deployment_id":"...","duration_ms":5321}
 *
 * Service code logs; library code returns errors (STYLE.md).  Values whose
 * key looks secret (password, secret, token, key) are replaced by "***",
 * and credentials inside URLs are masked, so secrets never reach a log.
 */
#ifndef AD_LOG_H
#define AD_LOG_H

#include <jansson.h>
#include <stdio.h>

enum ad_log_level { AD_LOG_DEBUG = 0, AD_LOG_INFO, AD_LOG_WARN, AD_LOG_ERROR };

void ad_log_init(const char *service, enum ad_log_level min_level);
int ad_log_level_parse(const char *s, enum ad_log_level *out);

/* Redirects output (tests); NULL restores stderr. */
void ad_log_set_stream(FILE *f);

/* Logs msg with string fields given as key, value pairs ending in NULL. */
void ad_log(enum ad_log_level level, const char *msg, ...) __attribute__((sentinel));

/* Logs msg with the fields of `fields` (a JSON object, reference stolen;
 * may be NULL). */
void ad_log_json(enum ad_log_level level, const char *msg, json_t *fields);

#endif
