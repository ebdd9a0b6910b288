/* Java: Maven (pom.xml) or Gradle (build.gradle[.kts]), wrappers first.
 * Spring Boot is told the port with -Dserver.port; the jar is found by a
 * shell glob at start (its name depends on the build). */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

#include "ad/cleanup.h"

#define JAVA_PORT 8080
#define MAX_XML_DEPTH 64
#define MAX_XML_VALUE 256

void analyzer_pom_clear(struct analyzer_pom *p)
{
        free(p->artifact_id);
        free(p->version);
        free(p->packaging);
        free(p->final_name);
        free(p->java_version);
        *p = (struct analyzer_pom){ 0 };
}

/* Not an XML parser: a tag scanner that tracks the path of open elements,
 * enough to read <project><artifactId> and friends.  Comments, CDATA and
 * processing instructions are skipped; nesting and values are bounded. */
struct xml_state {
        char path[MAX_XML_DEPTH][48];
        unsigned depth;
};

static bool at_path(const struct xml_state *x, const char *a, const char *b, const char *c)
{
        const char *want[] = { a, b, c };
        unsigned n = c ? 3 : b ? 2 : 1;

        if (x->depth != n)
                return false;
        for (unsigned i = 0; i < n; i++)
                if (strcmp(x->path[i], want[i]) != 0)
                        return false;
        return true;
}

static int set_value(char **dst, const char *p, const char *end, ad_error_t *err)
{
        const char *lt = memchr(p, '<', (size_t)(end - p));
        size_t n = lt ? (size_t)(lt - p) : 0;

        while (n > 0 && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) {
                p++;
                n--;
        }
        while (n > 0 &&
               (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t' || p[n - 1] == '\r'))
                n--;
        if (*dst || n == 0 || n > MAX_XML_VALUE || memchr(p, '\0', n))
                return 0;
        *dst = strndup(p, n);
        return *dst ? 0 : analyzer_oom(err);
}

static int on_open(struct analyzer_pom *pom, const struct xml_state *x, const char *text,
                   const char *end, ad_error_t *err)
{
        const char *top = x->path[x->depth - 1];

        if (at_path(x, "project", "artifactId", NULL))
                return set_value(&pom->artifact_id, text, end, err);
        if (at_path(x, "project", "version", NULL))
                return set_value(&pom->version, text, end, err);
        if (at_path(x, "project", "packaging", NULL))
                return set_value(&pom->packaging, text, end, err);
        if (at_path(x, "project", "build", "finalName"))
                return set_value(&pom->final_name, text, end, err);
        if (at_path(x, "project", "properties", "java.version") ||
            at_path(x, "project", "properties", "maven.compiler.release"))
                return set_value(&pom->java_version, text, end, err);
        if (strcmp(top, "artifactId") == 0 || strcmp(top, "groupId") == 0) {
                size_t n = (size_t)(end - text);

                if (memmem(text, n < 64 ? n : 64, "spring-boot", 11))
                        pom->spring_boot = true;
        }
        return 0;
}

int analyzer_parse_pom(struct analyzer_pom *out, const char *data, size_t len, ad_error_t *err)
{
        struct analyzer_pom pom = { 0 };
        struct xml_state x = { .depth = 0 };
        const char *p = data, *end = data + len;
        int r = 0;

        while (r == 0 && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
                const char *gt, *name;
                size_t n;

                if ((size_t)(end - p) >= 4 && memcmp(p, "<!--", 4) == 0) {
                        const char *close = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);

                        p = close ? close + 3 : end;
                        continue;
                }
                gt = memchr(p, '>', (size_t)(end - p));
                if (gt == NULL)
                        break;
                if (p[1] == '?' || p[1] == '!' || gt[-1] == '/') {
                        p = gt + 1; /* <?xml?>, <!DOCTYPE>/CDATA, <empty/> */
                        continue;
                }
                if (p[1] == '/') {
                        if (x.depth == 0) {
                                r = ad_error_make(err, AD_ERR_INVALID, 0,
                                                  "pom.xml: closing tag with nothing open");
                                break;
                        }
                        x.depth--;
                        p = gt + 1;
                        continue;
                }
                name = p + 1;
                n = strcspn(name, " \t\r\n/>");
                if (x.depth >= MAX_XML_DEPTH) {
                        r = ad_error_make(err, AD_ERR_INVALID, 0,
                                          "pom.xml: elements nested deeper than %d", MAX_XML_DEPTH);
                        break;
                }
                if (n >= sizeof(x.path[0]))
                        n = sizeof(x.path[0]) - 1;
                memcpy(x.path[x.depth], name, n);
                x.path[x.depth][n] = '\0';
                x.depth++;
                p = gt + 1;
                r = on_open(&pom, &x, p, end, err);
        }
        if (r < 0) {
                analyzer_pom_clear(&pom);
                return r;
        }
        *out = pom;
        return 0;
}

static int java_gradle(struct analyzer_repo *repo, struct ad_analysis *a, const char *build_file,
                       bool *spring, ad_error_t *err)
{
        cleanup_free char *data = NULL;
        bool wrapper = analyzer_repo_has_file(repo, "gradlew");
        size_t len = 0;
        int r = analyzer_repo_read(repo, build_file, ANALYZER_MAX_MANIFEST, false, &data, &len,
                                   err);

        if (r < 0)
                return r;
        *spring = strstr(data, "org.springframework.boot") != NULL;
        r = analyzer_setf(&a->package_manager, err, "gradle");
        if (r == 0)
                r = analyzer_why(a, err, "packageManager", "%s%s", build_file,
                                 wrapper ? " and the gradlew wrapper" : "");
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "%s clean build -x check -x test",
                                  wrapper ? "sh ./gradlew" : "gradle");
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "gradle build without the tests%s",
                                 wrapper ? " (the repository's wrapper)" : "");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err,
                                  "java $JAVA_OPTS%s -jar $(ls build/libs/*.jar | grep -v "
                                  "plain | head -n 1)",
                                  *spring ? " -Dserver.port=$PORT" : "");
        if (r == 0)
                r = analyzer_why(a, err, "startCommand",
                                 "the jar gradle wrote to build/libs (not the -plain one)");
        return r;
}

static int java_maven(struct analyzer_repo *repo, struct ad_analysis *a, bool *spring,
                      ad_error_t *err)
{
        struct analyzer_pom pom = { 0 };
        cleanup_free char *data = NULL;
        cleanup_free char *jar = NULL;
        bool wrapper = analyzer_repo_has_file(repo, "mvnw");
        size_t len = 0;
        int r = analyzer_repo_read(repo, "pom.xml", ANALYZER_MAX_MANIFEST, false, &data, &len, err);

        if (r == 0)
                r = analyzer_parse_pom(&pom, data, len, err);
        if (r < 0)
                return r;
        *spring = pom.spring_boot;
        if (pom.final_name &&
            strspn(pom.final_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                   "QRSTUVWXYZ0123456789._-") == strlen(pom.final_name))
                r = asprintf(&jar, "target/%s.jar", pom.final_name) < 0 ? analyzer_oom(err) : 0;
        else
                jar = strdup("target/*.jar");
        if (r == 0 && jar == NULL)
                r = analyzer_oom(err);
        if (r == 0 && pom.java_version) {
                r = analyzer_setf(&a->version, err, "%s", pom.java_version);
                if (r == 0)
                        r = analyzer_why(a, err, "version", "pom.xml properties");
        }
        if (r == 0)
                r = analyzer_setf(&a->package_manager, err, "maven");
        if (r == 0)
                r = analyzer_why(a, err, "packageManager", "pom.xml%s",
                                 wrapper ? " and the mvnw wrapper" : "");
        /* The pom alone keys the dependency layer (Maven's repository in
         * the image); a multi-module build resolves the rest itself. */
        if (r == 0) {
                static const char *const deps[] = { "pom.xml", NULL };

                r = analyzer_set_deps(repo, a, deps, true, err);
        }
        if (r == 0)
                r = analyzer_setf(&a->install_command, err, "mvn -B -q dependency:go-offline");
        if (r == 0)
                r = analyzer_why(a, err, "installCommand",
                                 "pom.xml: the dependencies and plugins resolved in their own "
                                 "cached layer");
        if (r == 0)
                r = analyzer_setf(&a->build_command, err, "%s -B -DskipTests clean package",
                                  wrapper ? "sh ./mvnw" : "mvn");
        if (r == 0)
                r = analyzer_why(a, err, "buildCommand", "maven package without the tests%s",
                                 wrapper ? " (the repository's wrapper)" : "");
        if (r == 0)
                r = analyzer_setf(&a->start_command, err, "java $JAVA_OPTS%s -jar %s",
                                  *spring ? " -Dserver.port=$PORT" : "", jar);
        if (r == 0)
                r = analyzer_why(a, err, "startCommand", "the jar maven wrote to %s%s", jar,
                                 pom.final_name ? " (build.finalName)" : "");
        analyzer_pom_clear(&pom);
        return r;
}

int analyzer_detect_java(struct analyzer_repo *repo, struct ad_analysis *a, ad_error_t *err)
{
        static const char *const gradle_files[] = { "build.gradle.kts", "build.gradle" };
        const char *gradle = NULL;
        bool spring = false;
        int r;

        for (size_t i = 0; i < AD_ARRAY_SIZE(gradle_files); i++)
                if (analyzer_repo_has_file(repo, gradle_files[i]))
                        gradle = gradle_files[i];
        if (!gradle && !analyzer_repo_has_file(repo, "pom.xml"))
                return 0;
        r = analyzer_setf(&a->language, err, "java");
        if (r == 0)
                r = analyzer_why(a, err, "language", "%s at the root", gradle ? gradle : "pom.xml");
        if (r == 0)
                r = gradle ? java_gradle(repo, a, gradle, &spring, err)
                           : java_maven(repo, a, &spring, err);
        if (r < 0)
                return r;
        if (spring) {
                r = analyzer_setf(&a->framework, err, "spring-boot");
                if (r == 0)
                        r = analyzer_why(a, err, "framework", "%s uses Spring Boot",
                                         gradle ? gradle : "pom.xml");
        }
        a->port = JAVA_PORT;
        if (r == 0)
                r = analyzer_why(a, err, "port", "%s: default %d",
                                 spring ? "Spring Boot gets -Dserver.port=$PORT"
                                        : "the JVM default for web apps",
                                 JAVA_PORT);
        return r < 0 ? r : 1;
}

/* The Dockerfile the builder generates for this language (its plan, written
 * with services/builder/buildplan_kit.h). */
static int plan_java(FILE *f, const struct ad_analysis *a, const struct ad_buildplan_images *images,
                     ad_error_t *err)
{
        const char *java_image, *jre_image;
        int r = ad_buildplan_use_image(images, "java", &java_image, err);

        if (r == 0)
                r = ad_buildplan_use_image(images, "jre", &jre_image, err);
        if (r < 0)
                return r;
        ad_buildplan_from(f, java_image, "build");
        if (strncmp(ad_buildplan_str(a->build_command), "gradle ", 7) == 0)
                /* No wrapper: Debian's Gradle (the java image has Maven only). */
                fprintf(f, "RUN command -v gradle >/dev/null || { export "
                           "DEBIAN_FRONTEND=noninteractive && apt-get update -q && apt-get "
                           "install -y -q --no-install-recommends gradle && rm -rf "
                           "/var/lib/apt/lists/*; }\n");
        ad_buildplan_trust(f, images, true);
        ad_buildplan_mirrors(f, images, AD_BUILDPLAN_ECO_MAVEN);
        if (a->n_dependency_files > 0 && *ad_buildplan_str(a->install_command) != '\0')
                ad_buildplan_warm_deps(f, a, NULL, "");
        fprintf(f, "COPY . .\n");
        if (*ad_buildplan_str(a->build_command) != '\0')
                fprintf(f, "RUN %s\n", a->build_command);
        /* The jars Maven (target/) or Gradle (build/libs/) wrote. */
        fprintf(f, "RUN mkdir -p /ad-out/target /ad-out/build/libs && "
                   "{ cp target/*.jar /ad-out/target/ 2>/dev/null; "
                   "cp build/libs/*.jar /ad-out/build/libs/ 2>/dev/null; "
                   "ls /ad-out/target/*.jar >/dev/null 2>&1 || "
                   "ls /ad-out/build/libs/*.jar >/dev/null 2>&1 || "
                   "{ echo 'the build wrote no jar to target/ or build/libs/' >&2; exit 1; }; }\n");
        return ad_buildplan_final(f, a, jre_image, err);
}

/* The language this file detects (analyzer_providers in detect.c: the
 * order they are tried in). */
static const char *const java_scan_exts[] = { ".java", ".kt", NULL };
/* The jar runs on the JRE; the java image (JDK + Maven) only builds it. */
static const struct ad_buildplan_image java_images[] = {
        AD_BUILDPLAN_IMAGE("jre"),
        AD_BUILDPLAN_IMAGE("java"),
        { NULL, NULL },
};
const struct analyzer_provider analyzer_provider_java = {
        .name = "java",
        .detect = analyzer_detect_java,
        .cpu_millis = 1000,
        .memory_mb = 1024,
        .scan_exts = java_scan_exts,
        .plan = plan_java,
        .images = java_images,
};
