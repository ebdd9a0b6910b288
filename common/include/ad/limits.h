/* Limits every service applies to the same input, in one place: the API
 * refuses a request past one of them with a 400 naming it, and a step
 * given an event past one (published by another system straight onto the
 * bus) fails the deployment with the same words.  Nothing is ever cut to
 * fit.  The app name's limit is AD_APP_NAME_MAX (ad/names.h). */
#ifndef AD_LIMITS_H
#define AD_LIMITS_H

#define AD_REPO_URL_MAX 2048         /* bytes of a repository URL */
#define AD_REF_MAX 255               /* bytes of a git ref (branch, tag, sha) */
#define AD_ENV_MAX_VARS 100          /* environment variables per deployment */
#define AD_ENV_NAME_MAX 255          /* bytes of a variable's name */
#define AD_ENV_VALUE_MAX (32 * 1024) /* bytes of a variable's value, in clear */

#endif
