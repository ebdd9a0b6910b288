# deploy/compose brought up for real with docker-compose against the stack's
# podman: a deployment through it is served, a worker scales, `down -v`
# leaves nothing (tests/deploy/compose.sh).  It makes its own Release build
# in compose-release/ and the compose images.
add_test(NAME compose COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/compose.sh ${PROJECT_BINARY_DIR})
set_tests_properties(compose PROPERTIES LABELS "integration;deploy" TIMEOUT 1200)
