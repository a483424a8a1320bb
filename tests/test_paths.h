// Where the tests find the source tree, the duel program and their scratch space: fixed when the
// tests are built, overridable at run time (DUEL_TEST_SOURCE_DIR, DUEL_TEST_BINARY,
// DUEL_TEST_TMP), so a test program built on one machine runs from another folder on another
// (scripts/device_check.sh runs the carried duel_tests on a GPU machine). Included into every
// test source by tests/CMakeLists.txt; the macros keep their old names.
#pragma once

#include <cstdlib>

namespace duel::test {

inline const char* path_from_env(const char* variable, const char* built) {
  const char* v = std::getenv(variable);
  return v && *v ? v : built;
}

}  // namespace duel::test

#define DUEL_SOURCE_DIR (::duel::test::path_from_env("DUEL_TEST_SOURCE_DIR", DUEL_SOURCE_DIR_BUILT))
#define DUEL_BINARY (::duel::test::path_from_env("DUEL_TEST_BINARY", DUEL_BINARY_BUILT))
#define DUEL_TEST_TMP (::duel::test::path_from_env("DUEL_TEST_TMP", DUEL_TEST_TMP_BUILT))
