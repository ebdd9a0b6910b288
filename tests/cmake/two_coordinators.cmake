# Two coordinator replicas on one bus and one database; the test also
# links the saga to race its compare-and-set from two connections.  It
# resets the bus (purges the stream, deletes the durable consumers).
ad_test(test_two_coordinators
  SOURCES ${PROJECT_SOURCE_DIR}/tests/integration/test_two_coordinators.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_process.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_decide.c
          ${PROJECT_SOURCE_DIR}/services/coordinator/saga_release_decide.c
  LIBS adcommon LABELS integration)
target_include_directories(test_two_coordinators PRIVATE ${PROJECT_SOURCE_DIR}/services/coordinator)
target_link_libraries(test_two_coordinators PRIVATE Threads::Threads)
set_tests_properties(test_two_coordinators PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
