# services/analyzer: the detector (fixtures under tests/fixtures/detect/ and
# the apps under examples/) and the generated-Dockerfile planner.
ad_test(test_detect SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_detect.c
        LIBS addetect adcommon LABELS unit)
ad_test(test_buildplan SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_buildplan.c
        LIBS adcommon LABELS unit)
