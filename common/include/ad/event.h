/* Events: the protobuf envelope of proto/appdeployer/v1/events.proto, and
 * the subjects they travel on. */
#ifndef AD_EVENT_H
#define AD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ad/bus.h"
#include "ad/error.h"
#include "ad/uuid.h"
#include "appdeployer/v1/events.pb-c.h"

typedef Appdeployer__V1__Envelope ad_envelope;

#define AD_SUBJECT_REQUESTED "deploy.requested"
#define AD_SUBJECT_ANALYZED "deploy.analyzed"
#define AD_SUBJECT_BUILT "deploy.built"
#define AD_SUBJECT_PROVISIONED "deploy.provisioned"
#define AD_SUBJECT_EXPOSED "deploy.exposed"
#define AD_SUBJECT_FAILED "deploy.failed"
#define AD_SUBJECT_COMPENSATE "deploy.compensate"   /* .<step> */
#define AD_SUBJECT_COMPENSATED "deploy.compensated" /* .<step> */
#define AD_SUBJECT_DESTROY "deploy.destroy"
#define AD_SUBJECT_ROLLBACK "deploy.rollback"
#define AD_SUBJECT_RELEASE "deploy.release"
#define AD_SUBJECT_APP_DESTROY "deploy.app.destroy"
/* One-off commands: a core NATS request (not in the stream) on
 * "app.run.<app>", answered by a deployer (services/deployer/run.c). */
#define AD_SUBJECT_RUN_PREFIX "app.run."
#define AD_SUBJECT_RUN_ALL "app.run.*"
/* An app's custom domains put on its ingress: a core NATS request from the
 * API on "app.domains.<app>", answered by a deployer
 * (services/deployer/domains.c). */
#define AD_SUBJECT_DOMAINS_PREFIX "app.domains."
#define AD_SUBJECT_DOMAINS_ALL "app.domains.*"
/* Core NATS (not stored): build and runtime log lines of a deployment. */
#define AD_SUBJECT_LOGS "logs" /* .<deployment id> */

int64_t ad_now_ms(void);
int64_t ad_monotonic_ms(void);

/* Fills the envelope's header: a new event id, the time, the producer;
 * deployment_id and trace_id are borrowed (not copied). */
void ad_event_init(ad_envelope *env, const char *deployment_id, const char *trace_id,
                   uint32_t attempt, const char *producer, char event_id[AD_UUID_LEN + 1]);

/* Decodes and validates: size bound, UUID-shaped ids, a payload present.
 * Garbage gets AD_ERR_INVALID with a message naming what is wrong. */
int ad_event_unpack(ad_envelope **out, const void *data, size_t len, ad_error_t *err);
void ad_event_free(ad_envelope *env);

/* Packs and publishes with Nats-Msg-Id = event_id. */
int ad_event_publish(ad_bus *bus, const char *subject, const ad_envelope *env, bool *duplicate,
                     ad_error_t *err);

/* Packs into a new buffer (for the outbox). */
int ad_event_pack(const ad_envelope *env, uint8_t **out, size_t *len, ad_error_t *err);

/* The subject an envelope's payload travels on; "" when unknown. */
const char *ad_event_kind(const ad_envelope *env);

/* A deploy.requested within the contract's limits (ad/limits.h): a
 * repository URL, a ref, at most AD_ENV_MAX_VARS variables with names of
 * 1 to AD_ENV_NAME_MAX bytes.  AD_ERR_INVALID with the limit's words
 * otherwise: the API refuses the same with a 400, and a step given such an
 * event by another system fails the deployment with this message. */
int ad_requested_check(const Appdeployer__V1__DeployRequested *req, ad_error_t *err);

#endif
