# Living with an app (issue 15): config, scale, releases, rollback, DELETE
# /apps through the REST API and adctl, against the real stack.
add_test(NAME e2e_apps COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/apps.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e_apps PROPERTIES LABELS "integration;e2e" TIMEOUT 1800 RUN_SERIAL TRUE)

# adctl completion bash|zsh and adctl man, made from the command table.
add_test(NAME adctl_completion COMMAND bash ${PROJECT_SOURCE_DIR}/tests/unit/adctl_completion.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(adctl_completion PROPERTIES LABELS unit)

# Runtime logs: adctl logs APP --tail across a redeploy and a deployer
# SIGKILL, counted line by line; a WebSocket client.
add_test(NAME e2e_app_logs COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/app_logs.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e_app_logs PROPERTIES LABELS "integration;e2e" TIMEOUT 1200 RUN_SERIAL TRUE)

# Process types: a Procfile's worker runs without a port or route, its log
# lines are collected as `worker`, scale worker 1 -> 0 -> 2, a redeploy
# replaces the workers, delete removes them (examples/procfile-worker).
add_test(NAME e2e_processes COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/processes.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(e2e_processes PROPERTIES LABELS "integration;e2e" TIMEOUT 900 RUN_SERIAL TRUE)
