# The builder (services/builder) and common/src/git.c.
ad_test(test_git SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_git.c
  LIBS adcommon PkgConfig::LIBGIT2 LABELS unit)
set_tests_properties(test_git PROPERTIES TIMEOUT 120)
ad_test(test_clone_guard SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_clone_guard.c
  LIBS adcommon PkgConfig::LIBGIT2 LABELS integration)
set_tests_properties(test_clone_guard PROPERTIES TIMEOUT 120)

# On the real stack: builds the examples with adbuilder.  The analysis in
# each event comes from the detector library (addetect), as the analyzer
# would send it.
ad_test(test_builder SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_builder.c
  LIBS addetect adcommon PkgConfig::LIBGIT2 LABELS integration)
set_tests_properties(test_builder PROPERTIES TIMEOUT 600)
add_dependencies(test_builder adbuilder)

# The builder's pure parts (tar writer and its stream, log tail), compiled
# from the service's own sources.
ad_test(test_builder_tar SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_builder_tar.c
  ${PROJECT_SOURCE_DIR}/services/builder/builder_tar.c
  ${PROJECT_SOURCE_DIR}/services/builder/builder_stream.c
  ${PROJECT_SOURCE_DIR}/services/builder/builder_log.c
  LIBS adcommon PkgConfig::LIBGIT2 LABELS unit)
target_include_directories(test_builder_tar PRIVATE ${PROJECT_SOURCE_DIR}/services/builder)
ad_test(test_builder_from SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_builder_from.c
  ${PROJECT_SOURCE_DIR}/services/builder/builder_from.c
  LIBS adcommon PkgConfig::LIBGIT2 LABELS unit)
target_include_directories(test_builder_from PRIVATE ${PROJECT_SOURCE_DIR}/services/builder)
# builder_config_load: the build deadline (builder.build_timeout_s against
# limits.max_build_time).
ad_test(test_builder_config SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_builder_config.c
  ${PROJECT_SOURCE_DIR}/services/builder/builder_config.c
  LIBS adbuildplan adcommon PkgConfig::LIBGIT2 LABELS unit)
target_include_directories(test_builder_config PRIVATE ${PROJECT_SOURCE_DIR}/services/builder)
# Credentials in repository URLs: sealed in place, opened for a clone, sent
# to a real HTTP server on loopback, never in an error message.
ad_test(test_repo_credentials SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_repo_credentials.c
  LIBS adcommon LABELS integration)
set_tests_properties(test_repo_credentials PROPERTIES TIMEOUT 60)
