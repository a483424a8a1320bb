// The Catch2 main for the whole test executable; the tests live in the other test_*.cpp. Like the
// duel program, it runs with duel's OpenMP wait policy, a short spin (core/runtime.h): ctest runs
// two test processes on two cores, and long spins would steal each other's cores.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "core/runtime.h"

int main(int argc, char** argv) {
  duel::prefer_short_openmp_wait(argv);
  return Catch::Session().run(argc, argv);
}
