# services/provisioner + services/deployer and their clients in common/
# (engine.c: the Docker Engine API; caddy.c: caddy's admin API).
ad_test(test_engine SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_engine.c
        LIBS adcommon LABELS unit)
ad_test(test_provision_deploy SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_provision_deploy.c
        LIBS adcommon PkgConfig::LIBCURL LABELS integration)
set_tests_properties(test_provision_deploy PROPERTIES TIMEOUT 300)
add_dependencies(test_provision_deploy adprovisioner addeployer)
# App and build containers' egress (scripts/firewall.sh): link-local and the
# platform's ports blocked, the outside routed.  It rewrites the stack's
# egress rules for a moment: run alone.
add_test(NAME test_egress COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_egress.sh)
set_tests_properties(test_egress PROPERTIES LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
# caddy's admin API: a unix socket only root reaches, no TCP port.
add_test(NAME test_caddy_admin COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_caddy_admin.sh)
set_tests_properties(test_caddy_admin PROPERTIES LABELS integration TIMEOUT 60)
