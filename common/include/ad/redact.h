/* Passwords out of URLs before they are shown: in logs, error texts and
 * --print-config.  In the base layer, so a client (the bus) can word its
 * errors without the runtime's logger. */
#ifndef AD_REDACT_H
#define AD_REDACT_H

/* A copy of url (or of every URL of a comma-separated list, as NATS
 * server lists are) with any password replaced by "***"; NULL for NULL or
 * out of memory.  The caller frees it. */
char *ad_redact_url(const char *url);

#endif
