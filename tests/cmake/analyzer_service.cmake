ad_test(test_analyzer_service SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_analyzer_service.c
  LIBS adcommon LABELS integration)
set_tests_properties(test_analyzer_service PROPERTIES TIMEOUT 300)
