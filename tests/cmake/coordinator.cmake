ad_test(test_coordinator SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_coordinator.c
  LIBS adcommon LABELS integration)
set_tests_properties(test_coordinator PROPERTIES TIMEOUT 300)
