# Infrastructure faults: a NATS node lost, nats-server and PostgreSQL
# restarted.  The C test runs only under test_infra_faults.sh, which starts
# private stacks for it (it kills their servers), so it is not an ad_test.
add_executable(test_infra_faults ${PROJECT_SOURCE_DIR}/tests/integration/test_infra_faults.c)
ad_warnings(test_infra_faults)
target_link_libraries(test_infra_faults PRIVATE adcommon PkgConfig::CMOCKA)
target_compile_definitions(test_infra_faults PRIVATE
  AD_SOURCE_DIR="${PROJECT_SOURCE_DIR}" AD_BINARY_DIR="${PROJECT_BINARY_DIR}")
set_target_properties(test_infra_faults PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
add_test(NAME infra_faults
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_infra_faults.sh ${PROJECT_BINARY_DIR})
set_tests_properties(infra_faults PROPERTIES LABELS integration TIMEOUT 300)
# The container engine (the stack's podman service) away for 20 s before a
# build, during provisioning and deploying, and under a running app, on a
# private stack with the six services.
add_test(NAME engine_outage
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_engine_outage.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(engine_outage PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
