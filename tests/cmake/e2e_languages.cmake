# One app per buildable language family through the whole stack.
add_test(NAME e2e_languages
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/e2e_languages.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e_languages PROPERTIES LABELS "integration;e2e" TIMEOUT 900 RUN_SERIAL TRUE)
