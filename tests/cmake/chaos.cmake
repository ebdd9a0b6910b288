# SIGKILLs and restarts services under load and, with CHAOS_INFRA=1, also
# kills a NATS node of a 3-node cluster, restarts PostgreSQL and takes the
# container engine away, on a private stack (tests/e2e/chaos.sh).  The full
# size: CHAOS_DEPLOYMENTS=30 CHAOS_SECONDS=180 CHAOS_INFRA=1
# tests/e2e/chaos.sh build/bin
add_test(NAME chaos COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/chaos.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(chaos PROPERTIES LABELS "integration;e2e" TIMEOUT 1800 RUN_SERIAL TRUE
  ENVIRONMENT "CHAOS_DEPLOYMENTS=6;CHAOS_INFRA=1")
