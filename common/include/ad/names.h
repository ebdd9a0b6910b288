/* The names of everything a deployment owns, derived from the app name and
 * the deployment id, so a retried step finds what a crashed attempt made:
 *
 *   app name      DNS label: [a-z0-9-], 1..40 chars, no leading/trailing '-'
 *   network       ad-<app>                     (one per app, shared by releases)
 *   container     ad-<app>-<first 12 hex of the deployment id>
 *   caddy route   @id ad-route-<app>           (one per app: host <app>.<domain>)
 *   image         <registry>/<app>:<git sha> and <registry>/<app>:latest
 *   labels        app-deployer.app=<app>, app-deployer.deployment=<id>
 */
#ifndef AD_NAMES_H
#define AD_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "ad/error.h"

#define AD_APP_NAME_MAX 40
#define AD_LABEL_APP "app-deployer.app"
#define AD_LABEL_DEPLOYMENT "app-deployer.deployment"

bool ad_app_name_valid(const char *name);

/* The default app name: the repository's last path segment without .git,
 * lower-cased, other characters turned into '-'.  Fails when nothing
 * usable is left. */
int ad_app_name_from_url(char out[AD_APP_NAME_MAX + 1], const char *url, ad_error_t *err);

/* A custom domain of an app (issue 15): at most 253 characters, at least
 * two dot-separated labels of 1 to 63 characters of a-z, 0-9 and '-' (not
 * starting or ending with '-'), the last one not all digits (no IP
 * addresses), no wildcard.  Upper case is lowered and one trailing '.'
 * dropped into out; AD_ERR_INVALID with a message a user can act on
 * otherwise. */
#define AD_HOSTNAME_MAX 253
/* Most custom domains one app may have: the API refuses one more, and the
 * deployer routes at most this many. */
#define AD_APP_DOMAINS_MAX 100
int ad_hostname_normalize(char out[AD_HOSTNAME_MAX + 1], const char *in, size_t len,
                          ad_error_t *err);

/* A process type (a Procfile entry's name: web, worker, clock...): 1 to
 * AD_PROCESS_NAME_MAX characters of [a-z0-9-], starting with a letter and
 * not ending with '-'.  s[0..n) need not be NUL-terminated. */
#define AD_PROCESS_NAME_MAX 30
bool ad_process_name_valid(const char *s, size_t n);

/* The process type of an app's container named ad-<app>-<12 hex>[-<n>]
 * (web) or ad-<app>-<12 hex>-<type>-<n> (another process type), into out:
 * "web" for anything else. */
void ad_name_process_type(char out[AD_PROCESS_NAME_MAX + 1], const char *container,
                          const char *app);

void ad_name_network(char *out, size_t size, const char *app);
/* The first AD_DEPLOYMENT_HEX_LEN hex digits of a deployment id (its
 * dashes left out): the part of a container's, env object's or release
 * Job's name that names the deployment. */
#define AD_DEPLOYMENT_HEX_LEN 12
void ad_name_deployment_hex(char out[AD_DEPLOYMENT_HEX_LEN + 1], const char *deployment_id);

void ad_name_container(char *out, size_t size, const char *app, const char *deployment_id);
void ad_name_route(char *out, size_t size, const char *app);
void ad_name_image(char *out, size_t size, const char *registry, const char *app, const char *tag);

#endif
