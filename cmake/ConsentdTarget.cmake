# Common compile settings for every consentd target: C++20, strict warnings
# (errors unless CONSENTD_WERROR=OFF), frame pointers for profiling.
function(consentd_target_settings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wconversion -Wno-sign-conversion
    -fno-omit-frame-pointer)
  if(CONSENTD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# consentd_library(name SOURCES ... DEPS ...): a library rooted at the
# repository top, so includes read "core/status.h". Static, so the installed
# binaries stand alone; shared when CONSENTD_SHARED_LIBS is on (the ASan
# preset), because ~90 sanitised test binaries each carrying its own copy of
# every library filled 11 GB of disk and ran a CI machine out of space.
function(consentd_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(CONSENTD_SHARED_LIBS)
    add_library(${name} SHARED ${ARG_SOURCES})
  else()
    add_library(${name} STATIC ${ARG_SOURCES})
  endif()
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  consentd_target_settings(${name})
endfunction()

# consentd_test(name SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary
# registered with ctest per test case.
function(consentd_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    CONSENTD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CONSENTD_BINARY_DIR="${PROJECT_BINARY_DIR}")
  consentd_target_settings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# consentd_size_optimised(file ...): code that runs rarely -- start-up, the
# configuration, admin and status routes, access export, the generic
# connector's declarations -- is compiled for size (-Os) in optimised
# builds. Most of an idle consentd's RSS is code pages of its own binary and
# of shared libraries (docs/benchmarks.md, "Idle"), so smaller cold code is
# less resident memory; the hot paths (ingest, store, sync, mapping, the
# HubSpot and Mailchimp connectors) keep the build type's -O2. Debug builds
# (the ASan preset) are left alone. Call it in the directory that defines
# the target using the files.
function(consentd_size_optimised)
  set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-Os>")
endfunction()
