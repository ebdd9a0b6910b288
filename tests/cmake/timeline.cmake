# A deployment's timeline through all six services (GET /deployments/{id},
# adctl status): complete and ordered for an EXPOSED and a failed one.
add_test(NAME test_timeline COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_timeline.sh
  ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_timeline PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
