add_test(NAME e2e COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/e2e.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e PROPERTIES LABELS "integration;e2e" TIMEOUT 2400 RUN_SERIAL TRUE)
