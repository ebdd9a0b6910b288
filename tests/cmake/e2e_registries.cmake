# The apps whose dependencies come from PyPI, the Go module proxy, crates.io
# and Maven Central, through the whole stack.
add_test(NAME e2e_registries
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/e2e_registries.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e_registries PROPERTIES LABELS "integration;e2e" TIMEOUT 2400 RUN_SERIAL TRUE)
