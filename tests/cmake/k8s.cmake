# deployer.backend: kubernetes (services/deployer/k8s_*.c).
ad_test(test_k8s_manifests SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_k8s_manifests.c
        LIBS adk8s adcommon LABELS unit)
# Through the REST API on a real control plane (scripts/k8s.sh builds it
# from the Go module cache on first use: minutes on a fresh machine, then
# reused from $AD_CACHE_DIR/k8s-<version>).
add_test(NAME k8s_backend COMMAND bash ${PROJECT_SOURCE_DIR}/tests/k8s/k8s.sh ${PROJECT_BINARY_DIR}/bin)
set_tests_properties(k8s_backend PROPERTIES LABELS "integration;k8s" TIMEOUT 3600 RUN_SERIAL TRUE)
# The platform's chart with Helm built from helm.sh/helm/v3 (cached like the
# control plane).
add_test(NAME k8s_helm COMMAND bash ${PROJECT_SOURCE_DIR}/tests/k8s/helm.sh)
set_tests_properties(k8s_helm PROPERTIES LABELS "integration;k8s" TIMEOUT 2400 RUN_SERIAL TRUE)
