/* Deployment and event ids: UUIDs, random or derived.  In the base layer,
 * so adctl can check an id without the event contract. */
#ifndef AD_UUID_H
#define AD_UUID_H

#include <stdbool.h>

#define AD_UUID_LEN 36

/* Writes a random (v4) UUID and its terminating NUL into out. */
void ad_uuid_v4(char out[AD_UUID_LEN + 1]);
bool ad_uuid_valid(const char *s);

/* A UUID derived from base and salt (SHA-256, shaped as a version 5
 * UUID): a step's output event gets an id derived from its input event's
 * id, so a redelivered input re-publishes the same id and the server (or
 * the coordinator's event log) drops the copy. */
void ad_uuid_derive(char out[AD_UUID_LEN + 1], const char *base, const char *salt);

#endif
