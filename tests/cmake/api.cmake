# services/api and cli/adctl: the request parser (unit), the REST API and
# adctl against a real adapi and the stack (integration).
ad_test(test_api_request SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_api_request.c
        LIBS adapirequest adcommon LABELS unit)
ad_test(test_api SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_api.c
        LIBS adcommon Threads::Threads LABELS integration)
add_dependencies(test_api adapi)
set_tests_properties(test_api PROPERTIES TIMEOUT 180)
add_test(NAME test_api_cli
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_api_cli.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_api_cli PROPERTIES LABELS integration TIMEOUT 180)
ad_test(test_apps_request SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_apps_request.c
        LIBS adapirequest adcommon LABELS unit)
add_test(NAME test_teams
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_teams.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_teams PROPERTIES LABELS integration TIMEOUT 180)
ad_test(test_tokens_request SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_tokens_request.c
        LIBS adapirequest adcommon LABELS unit)
# `adapi secrets rotate` against a database of its own on the stack's PostgreSQL.
ad_test(test_secrets_rotate SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_secrets_rotate.c
        LIBS adcommon LABELS integration)
add_dependencies(test_secrets_rotate adapi)
set_tests_properties(test_secrets_rotate PROPERTIES TIMEOUT 120)
add_test(NAME test_jwt
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_jwt.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_jwt PROPERTIES LABELS integration TIMEOUT 180)
add_test(NAME test_limits
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_limits.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_limits PROPERTIES LABELS integration TIMEOUT 180)
add_test(NAME test_tls
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_tls.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_tls PROPERTIES LABELS integration TIMEOUT 180)
ad_test(test_jwt_unit SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_jwt.c
        LIBS adapirequest adcommon LABELS unit)
add_test(NAME test_members
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_members.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_members PROPERTIES LABELS integration TIMEOUT 180)
ad_test(test_api_hosts SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_api_hosts.c
        LIBS adapirequest adcommon LABELS unit)
add_test(NAME test_rebinding
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_rebinding.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_rebinding PROPERTIES LABELS integration TIMEOUT 120)
add_test(NAME test_quotas
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_quotas.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_quotas PROPERTIES LABELS integration TIMEOUT 120)
add_test(NAME test_repo_url
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_repo_url.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_repo_url PROPERTIES LABELS integration TIMEOUT 120)
