# SIGKILLs and restarts services under load (tests/e2e/chaos.sh); the full
# size: CHAOS_DEPLOYMENTS=30 tests/e2e/chaos.sh build/bin
add_test(NAME chaos COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/chaos.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(chaos PROPERTIES LABELS "integration;e2e" TIMEOUT 1800 RUN_SERIAL TRUE
  ENVIRONMENT "CHAOS_DEPLOYMENTS=6")
