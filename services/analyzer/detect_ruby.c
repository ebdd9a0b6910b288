/* Ruby: a Gemfile at the root.  Rails (config/application.rb or the rails
 * gem), Sinatra/Rack (config.ru), Hanami; bundler installs the gems. */
#include "detect.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define RAILS_PORT 3000
#define RACK_PORT 9292

static const char *const ruby_exts[] = { ".rb", ".ru", NULL };

void analyzer_gemfile_clear(struct analyzer_gemfile *g)
{
        free(g->ruby_version);
        *g = (struct analyzer_gemfile){ 0 };
}

/* The first quoted string after `p` on the line, or NULL. */
static char *quoted(const char *p, const char *le, size_t max)
{
        const char *q;

        while (p < le && *p != '"' && *p != '\'')
                p++;
        if (p >= le)
                return NULL;
        q = memchr(p + 1, *p, (size_t)(le - p - 1));
        if (q == NULL || (size_t)(q - p - 1) > max || q == p + 1)
                return NULL;
        return strndup(p + 1, (size_t)(q - p - 1));
}

int analyzer_parse_gemfile(struct analyzer_gemfile *out, const char *data, size_t len,
                           ad_error_t *err)
{
        static const struct {
                const char *gem;
                size_t offset;
        } gems[] = {
                { "rails", offsetof(struct analyzer_gemfile, rails) },
                { "railties", offsetof(struct analyzer_gemfile, rails) },
                { "sinatra", offsetof(struct analyzer_gemfile, sinatra) },
                { "puma", offsetof(struct analyzer_gemfile, puma) },
                { "rack", offsetof(struct analyzer_gemfile, rack) },
                { "hanami", offsetof(struct analyzer_gemfile, hanami) },
        };
        struct analyzer_gemfile g = { 0 };
        const char *p = data, *end = data + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;

                while (p < le && isspace((unsigned char)*p))
                        p++;
                if ((size_t)(le - p) > 4 && memcmp(p, "gem ", 4) == 0) {
                        cleanup_free char *name = quoted(p + 4, le, 128);

                        if (name) {
                                g.n_gems++;
                                for (size_t i = 0; i < AD_ARRAY_SIZE(gems); i++)
                                        if (strcmp(name, gems[i].gem) == 0)
                                                *(bool *)((char *)&g + gems[i].offset) = true;
                        }
                } else if ((size_t)(le - p) > 5 && memcmp(p, "ruby ", 5) == 0 &&
                           g.ruby_version == NULL) {
                        g.ruby_version = quoted(p + 5, le, 32);
                }
                p = eol ? eol + 1 : end;
        }
        (void)err;
        *out = g;
        return 0;
}

static int ruby_version(struct analyzer_repo *repo, struct ad_analysis *a,
                        const struct analyzer_gemfile *g, ad_error_t *err)
{
        cleanup_free char *v = NULL;
        int r = analyzer_read_version_file(repo, ".ruby-version", &v, err);

        if (r < 0)
                return r;
        if (v) {
                r = analyzer_setf(&a->version, err, "%s", strncmp(v, "ruby-", 5) ? v : v + 5);
                return r < 0 ? r : analyzer_why(a, err, "version", ".ruby-version");
        }
        if (g->ruby_version) {
                r = analyzer_setf(&a->version, err, "%s", g->ruby_version);
                return r < 0 ? r : analyzer_why(a, err, "version", "the ruby directive of Gemfile");
        }
        return analyzer_why(a, err, "version",
                            "not declared (.ruby-version, Gemfile ruby): Debian's ruby");
}

int analyzer_detect_ruby(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        static const char *const deps[] = { "Gemfile", "Gemfile.lock", NULL };
        struct analyzer_gemfile g = { 0 };
        cleanup_free char *data = NULL;
        const char *fw = NULL, *start = NULL, *why = NULL;
        unsigned port = RACK_PORT;
        size_t len = 0;
        int r;

        r = analyzer_repo_read(repo, "Gemfile", ANALYZER_MAX_MANIFEST, false, &data, &len, err);
        if (r == -AD_ERR_NOT_FOUND)
                return 0;
        if (r < 0)
                return r;
        r = analyzer_parse_gemfile(&g, data, len, err);
        if (r < 0)
                return ad_error_wrap(err, "Gemfile");

        if (analyzer_repo_has_file(repo, "config/application.rb") || g.rails) {
                fw = "rails";
                start = "bundle exec rails server -b 0.0.0.0 -p $PORT";
                why = "Rails (config/application.rb or the rails gem): rails server on $PORT";
                port = RAILS_PORT;
        } else if (g.hanami) {
                fw = "hanami";
                start = "bundle exec hanami server --host 0.0.0.0 --port $PORT";
                why = "Hanami: hanami server on $PORT";
                port = RAILS_PORT;
        } else if (analyzer_repo_has_file(repo, "config.ru")) {
                fw = g.sinatra ? "sinatra" : "rack";
                start = g.puma ? "bundle exec puma -b tcp://0.0.0.0:$PORT config.ru"
                               : "bundle exec rackup config.ru -o 0.0.0.0 -p $PORT";
                why = g.puma ? "config.ru with puma in the Gemfile" : "config.ru: rackup on $PORT";
        } else if (g.sinatra && analyzer_repo_has_file(repo, "app.rb")) {
                fw = "sinatra";
                start = "bundle exec ruby app.rb -o 0.0.0.0 -p $PORT";
                why = "Sinatra app.rb without config.ru";
                port = 4567;
        }
        r = analyzer_setf(&a->language, err, "ruby");
        if (r == 0)
                r = analyzer_why(a, err, "language", "Gemfile at the root");
        if (r == 0 && fw) {
                r = analyzer_setf(&a->framework, err, "%s", fw);
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s", why);
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "bundler");
        if (r == 0)
                r = analyzer_why(a, err, "packageManager", "Gemfile");
        if (r == 0)
                r = analyzer_setf(&a->install_command, err, "bundle install");
        if (r == 0)
                r = analyzer_why(a, err, "installCommand",
                                 "bundler, without the development and test groups");
        if (r == 0)
                r = analyzer_set_deps(repo, a, deps, true, err);
        if (r == 0 && fw && strcmp(fw, "rails") == 0 &&
            (analyzer_repo_has_dir(repo, "app/assets") ||
             analyzer_repo_has_dir(repo, "app/javascript"))) {
                r = analyzer_setf(&a->build_command, err,
                                  "SECRET_KEY_BASE_DUMMY=1 bundle exec rails assets:precompile");
                if (r == 0)
                        r = analyzer_why(a, err, "buildCommand",
                                         "Rails with app/assets: precompile the assets");
        }
        if (r == 0 && start) {
                r = analyzer_setf(&a->start_command, err, "%s", start);
                if (r == 0)
                        r = analyzer_why(a, err, "startCommand", "%s", why);
        } else if (r == 0) {
                r = analyzer_why(a, err, "startCommand",
                                 "none: no Rails app, config.ru or Sinatra app.rb (add a "
                                 "Procfile)");
        }
        if (r == 0)
                r = ruby_version(repo, a, &g, err);
        if (r == 0 && start) {
                /* The command is told the port: any port works, pick the
                 * framework's usual one. */
                a->port = port;
                r = analyzer_why(a, err, "port", "the start command listens on $PORT: %s %u", fw,
                                 port);
        } else if (r == 0) {
                r = analyzer_port_or_default(repo, a, ruby_exts, NULL, port, "ruby", err);
        }
        analyzer_gemfile_clear(&g);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
/* No runtime image of its own: Ruby from Debian's archive on the base
 * image. */
static const struct ad_buildplan_toolchain ruby_toolchain = {
        .packages = "ruby-full bundler build-essential git",
        .env = "BUNDLE_WITHOUT=development:test BUNDLE_JOBS=4 RAILS_ENV=production "
               "RACK_ENV=production",
};

static int plan_ruby(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        return ad_buildplan_toolchain(f, a, images, &ruby_toolchain, err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const ruby_scan_exts[] = { ".rb", NULL };
static const struct ad_buildplan_image ruby_images[] = {
        AD_BUILDPLAN_IMAGE("base"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_ruby = {
        .name = "ruby",
        .detect = analyzer_detect_ruby,
        .cpu_millis = 500,
        .memory_mb = 512,
        .scan_exts = ruby_scan_exts,
        .plan = plan_ruby,
        .images = ruby_images,
};
