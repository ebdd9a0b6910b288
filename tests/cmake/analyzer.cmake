# services/analyzer: the detector (fixtures under tests/fixtures/detect/ and
# the apps under examples/) and the generated-Dockerfile planner.
ad_test(test_detect SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_detect.c
        LIBS addetect adcommon LABELS unit)
ad_test(test_buildplan SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_buildplan.c
        LIBS adbuildplan adcommon LABELS unit)
# One cmocka test per tests/fixtures/detect/<name>.expected.json; a ctest
# per language family (the argument filters fixture names by prefix).
ad_test(test_detect_fixtures SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_detect_fixtures.c
        LIBS addetect adbuildplan adcommon LABELS unit)
foreach(family node python ruby php java go rust dotnet elixir deno cpp static shell
        procfile config hostile dockerfile)
  add_test(NAME test_detect_fixtures_${family} COMMAND test_detect_fixtures ${family})
  set_tests_properties(test_detect_fixtures_${family} PROPERTIES LABELS unit)
endforeach()
