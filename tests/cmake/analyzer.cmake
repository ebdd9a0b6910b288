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
# The families are the fixtures' name prefixes (up to the first `-`), so a
# new language's fixtures get their ctest without an edit here.
file(GLOB AD_DETECT_EXPECTED RELATIVE ${PROJECT_SOURCE_DIR}/tests/fixtures/detect
     CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fixtures/detect/*.expected.json)
set(AD_DETECT_FAMILIES)
foreach(expected ${AD_DETECT_EXPECTED})
  string(REGEX REPLACE "[-.].*" "" family ${expected})
  list(APPEND AD_DETECT_FAMILIES ${family})
endforeach()
list(REMOVE_DUPLICATES AD_DETECT_FAMILIES)
foreach(family ${AD_DETECT_FAMILIES})
  add_test(NAME test_detect_fixtures_${family} COMMAND test_detect_fixtures ${family})
  set_tests_properties(test_detect_fixtures_${family} PROPERTIES LABELS unit)
endforeach()
# The analyzer's language providers and the builder's plans agree: every
# language detected has a Dockerfile plan and a runtime image.
ad_test(test_language_providers SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_language_providers.c
        LIBS addetect adbuildplan adcommon LABELS unit)
# What scripts/base-images.sh reads: `adanalyzer --list-images` prints the
# table test_language_providers checks (key, default, who runs on it).
add_test(NAME analyzer_list_images COMMAND adanalyzer --list-images)
set_tests_properties(analyzer_list_images PROPERTIES LABELS unit
  PASS_REGULAR_EXPRESSION "(^|\n)base\tlocalhost/app-deployer/base:bookworm\t[^\n]*go[^\n]*\n(.*\n)?node\tlocalhost/app-deployer/node:bookworm\t[^\n]*node")
