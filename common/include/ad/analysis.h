/* The result of analysing a repository: what it is and how to run it.
 *
 * Produced by the analyzer (services/analyzer/detect.h), carried in the
 * deploy.analyzed event as JSON (ad_analysis_to_json), and consumed by the
 * builder (ad_buildplan_dockerfile) and the deployer (port, resources).
 *
 * Ownership: every pointer in the struct is owned by it and released by
 * ad_analysis_free().  String fields are never NULL in an analysis handed
 * out by the detector or by ad_analysis_from_json(): "unknown" is "".
 */
#ifndef AD_ANALYSIS_H
#define AD_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ad/error.h"

struct ad_analysis {
        char *language;        /* "node", "python", "go", "ruby", "php", "java",
                                * "rust", "dotnet", "elixir", "deno", "cpp",
                                * "static", "shell" or "dockerfile" */
        char *framework;       /* "express", "flask", "gin", ... or "" */
        char *version;         /* runtime version as declared, or "" */
        char *package_manager; /* "npm", "yarn", "pnpm", "bun", "pip", "poetry",
                                * "uv", "bundler", "maven", "cargo", ... or "" */
        char *install_command; /* dependencies only; "" when none needed */
        char *build_command;   /* run after the source is copied, or "" */
        char *start_command;   /* run with `sh -c`; "" when none found */
        unsigned port;         /* what the app listens on ($PORT is set) */

        /* Names of the environment variables the app reads, sorted and
         * unique; PORT is never listed (the platform sets it). */
        char **env_vars;
        size_t n_env_vars;

        /* Files the install command needs, relative to the repository root
         * (e.g. package.json, package-lock.json).  The build plan copies
         * these before the rest of the source so that an unchanged lockfile
         * reuses the cached install layer.  Empty: install after the copy. */
        char **dependency_files;
        size_t n_dependency_files;

        unsigned cpu_millis; /* resources.cpu, e.g. 500 -> "500m" */
        unsigned memory_mb;  /* resources.memory, e.g. 512 -> "512Mi" */

        char *go_main_package; /* "./cmd/foo" or "." (go only, else "") */
        char *static_root;     /* "." or "public" (static only, else "") */
        bool has_dockerfile;   /* the repository carries its own Dockerfile */
        char *dockerfile_path; /* "Dockerfile" or "Containerfile", or "" */

        /* Run once before every start (Procfile `release:`, deployer.yaml
         * `release`), e.g. database migrations; "" when none. */
        char *release_command;
        /* A single-page app: the build command writes static files here
         * (e.g. "dist") and the static image serves them; the start
         * command is then "" and port is the static image's. */
        char *output_dir;

        unsigned replicas;      /* deployer.yaml replicas; 1 by default */
        unsigned autoscale_min; /* deployer.yaml autoscaling; all 0: off */
        unsigned autoscale_max;
        unsigned autoscale_cpu; /* target CPU utilisation, percent */
        /* deployer.yaml backend: "engine" or "kubernetes"; NULL or "": the
         * platform's (deployer.backend). */
        char *backend;
        json_t *env; /* deployer.yaml env: name -> default value */
        /* Process types other than web and release (a Procfile's worker:,
         * clock:...): name -> command, run in containers of the same image
         * with no port or route.  NULL or {}: none.  At most
         * AD_PROCESSES_MAX, names as ad_process_name_valid(). */
        json_t *processes;

        json_t *why; /* JSON field name -> explanation string (owned ref) */
};

#define AD_PROCESSES_MAX 16

/* Accepts NULL. */
void ad_analysis_free(struct ad_analysis *a);

#define cleanup_analysis __attribute__((cleanup(ad_analysis_freep)))
static inline void ad_analysis_freep(struct ad_analysis **a)
{
        ad_analysis_free(*a);
}

/* Returns a new reference, NULL only when out of memory.  Shape:
 *   { "language": "node", "framework": "express", "version": "18",
 *     "packageManager": "npm", "installCommand": "npm ci --omit=dev",
 *     "buildCommand": "", "startCommand": "npm start", "port": 3000,
 *     "envVars": ["DATABASE_URL"],
 *     "dependencyFiles": ["package.json", "package-lock.json"],
 *     "resources": { "cpu": "500m", "memory": "512Mi" },
 *     "goMainPackage": "", "staticRoot": "",
 *     "hasDockerfile": false, "dockerfilePath": "",
 *     "releaseCommand": "", "outputDir": "", "replicas": 1,
 *     "autoscaling": { "min": 1, "max": 4, "cpuPercent": 70 },  (only when set)
 *     "backend": "kubernetes",                                  (only when set)
 *     "env": { "LOG_LEVEL": "info" },
 *     "processes": { "worker": "python3 worker.py" },          (only when any)
 *     "why": { "startCommand": "from package.json scripts.start", ... } }
 * Unknown strings are "" (never null) so consumers need no NULL checks. */
json_t *ad_analysis_to_json(const struct ad_analysis *a);

/* The inverse, for the builder and the deployer that receive the JSON.
 * Missing keys take their "unknown" value; wrong types are AD_ERR_INVALID.
 * On success *out is a new analysis owned by the caller. */
int ad_analysis_from_json(struct ad_analysis **out, const json_t *j, ad_error_t *err);

/* "500m" -> 500, "2" -> 2000; "512Mi" -> 512, "1Gi" -> 1024.  Return -1
 * on anything else. */
long ad_analysis_parse_cpu(const char *s);
long ad_analysis_parse_memory(const char *s);

#endif
