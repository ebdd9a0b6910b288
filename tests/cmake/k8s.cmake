# deployer.backend: kubernetes (services/deployer/k8s_*.c).
ad_test(test_k8s_manifests SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_k8s_manifests.c
        LIBS adk8s adcommon LABELS unit)
