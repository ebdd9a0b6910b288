# The fault points exist only in a build with -DAD_FAULT_POINTS=ON
# (common/include/ad/fault.h, docs/reliability.md).
if(AD_FAULT_POINTS)
  ad_test(test_fault SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_fault.c LIBS adcommon LABELS unit)
  add_test(NAME test_faults COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/test_faults.sh
    ${PROJECT_BINARY_DIR}/bin)
  set_tests_properties(test_faults PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
endif()
