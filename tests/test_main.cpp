// The Catch2 main for the whole test executable; the tests live in the other test_*.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
