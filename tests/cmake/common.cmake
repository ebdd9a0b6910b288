# common/: unit tests (no servers) and integration tests (the stack).
ad_test(test_config SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_config.c LIBS adcommon LABELS unit)
ad_test(test_error_log SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_error_log.c LIBS adcommon LABELS unit)
ad_test(test_event SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_event.c LIBS adcommon LABELS unit)
ad_test(test_metrics SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_metrics.c LIBS adcommon LABELS unit)
ad_test(test_bus SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_bus.c LIBS adcommon LABELS integration)
ad_test(test_db SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_db.c LIBS adcommon LABELS integration)
add_test(NAME services_start
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/services_start.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(services_start PROPERTIES LABELS integration TIMEOUT 300)
ad_test(test_secret_names SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_secret_names.c LIBS adcommon LABELS unit)
ad_test(test_status SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_status.c LIBS adcommon LABELS unit)
# The probe server of the workers' /healthz and /metrics: its head parser,
# and the server on a loopback port.
ad_test(test_probe_server SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_probe_server.c LIBS adcommon LABELS unit)
ad_test(test_base64 SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_base64.c LIBS adcommon LABELS unit)
# Hashes, HMAC and HKDF (nettle) against the RFCs and OpenSSL; the kernel's
# random generator under OpenSSL.
ad_test(test_digest SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_digest.c
  LIBS adcommon PkgConfig::OPENSSL LABELS unit)
# The layers of common/ and what each binary links (docs/architecture.md).
add_test(NAME layering
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/unit/layering.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(layering PROPERTIES LABELS unit)
# The configuration tables in the code and docs/configuration.md agree.
add_test(NAME config_doc
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/unit/config_doc.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(config_doc PROPERTIES LABELS unit)
ad_test(test_netguard SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_netguard.c LIBS adcommon LABELS unit)
ad_test(test_nats_auth SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_nats_auth.c LIBS adcommon LABELS integration)
# PostgreSQL: no default password, a role per service (scripts/stack.sh), on
# a private stack.
add_test(NAME test_pg_auth
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_pg_auth.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(test_pg_auth PROPERTIES LABELS integration TIMEOUT 180)
ad_test(test_outbox SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_outbox.c LIBS adcommon LABELS integration)
