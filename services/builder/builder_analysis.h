/* The analysis a deploy.analyzed event carries, as the build planner
 * wants it (struct ad_analysis). */
#ifndef AD_BUILDER_ANALYSIS_H
#define AD_BUILDER_ANALYSIS_H

#include "ad/analysis.h"
#include "ad/error.h"
#include "appdeployer/v1/events.pb-c.h"

#define BUILDER_MAX_ANALYSIS_JSON (1024 * 1024)

/* analysis_json (the analyzer's whole analysis) when present, with the
 * event's explicit fields laid over it when they are set: a system that
 * publishes deploy.analyzed itself may fill only those.  AD_ERR_INVALID
 * for malformed JSON.  *out is owned by the caller. */
int builder_analysis_from_event(struct ad_analysis **out, const Appdeployer__V1__DeployAnalyzed *ev,
                                ad_error_t *err);

#endif
