ad_test(test_coordinator SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_coordinator.c
  LIBS adcommon LABELS integration)
set_tests_properties(test_coordinator PROPERTIES TIMEOUT 300)
# The saga's decisions as a pure function: no database, no bus.
ad_test(test_saga_decide
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_saga_decide.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_decide.c
  LIBS adbase LABELS unit)
target_include_directories(test_saga_decide PRIVATE ${PROJECT_SOURCE_DIR}/services/coordinator)
# Process types in the saga: what is stored, the scale a reused build runs.
ad_test(test_saga_process
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_saga_process.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_process.c
  LIBS adcommon LABELS unit)
target_include_directories(test_saga_process PRIVATE ${PROJECT_SOURCE_DIR}/services/coordinator)
# What a rollback, a release (config, scale, rollback to a number) and an
# app destroy do, as pure functions: no database.
ad_test(test_saga_release_decide
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_saga_release_decide.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_release_decide.c
  LIBS adcommon LABELS unit)
target_include_directories(test_saga_release_decide PRIVATE ${PROJECT_SOURCE_DIR}/services/coordinator)
