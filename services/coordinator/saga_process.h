/* Process types in the saga (issue 15): what the coordinator stores of a
 * release's other process types (worker, clock...) and how a release made
 * again from a stored build (config change, scale, rollback) gets them
 * back, at the app's scale. */
#ifndef AD_SAGA_PROCESS_H
#define AD_SAGA_PROCESS_H

#include <jansson.h>
#include <stddef.h>

#include "ad/analysis.h"
#include "ad/event.h"

/* [{"name", "command", "replicas"}] of processes (builds.processes), or
 * {"name": replicas} (releases.processes) when !with_command.  NULL when
 * out of memory. */
char *saga_processes_json(Appdeployer__V1__Process *const *p, size_t n, bool with_command);

/* The process types of a release made from a build: the build's
 * (builds.processes text), each at the replicas the request's scale gives
 * it, else the app's scale (apps.process_replicas text), else the
 * build's.  Strings are borrowed from `owner` (kept until the release is
 * published, then released with saga_procs_clear). */
struct saga_procs {
        Appdeployer__V1__Process v[AD_PROCESSES_MAX];
        Appdeployer__V1__Process *p[AD_PROCESSES_MAX];
        size_t n;
        json_t *owner;
};
void saga_procs_load(struct saga_procs *out, const char *build_text, const char *app_scale_text,
                     Appdeployer__V1__Process *const *scale, size_t n_scale);
void saga_procs_clear(struct saga_procs *sp);

/* {"name": replicas} of a scale request's entries, for apps.process_replicas
 * (merged with ||).  NULL when out of memory. */
char *saga_scale_json(Appdeployer__V1__Process *const *scale, size_t n);

#endif
