// CUDA tests. Without a GPU the whole executable exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "core/device.h"

int main(int argc, char** argv) {
  if (duel::cuda_device_count() == 0) {
    std::puts("skipped: no CUDA device visible (the CUDA tests need a GPU)");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
