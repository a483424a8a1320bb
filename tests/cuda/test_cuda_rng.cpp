// Philox on the GPU gives bitwise the same numbers as on the host for the same (seed, offset).
#include <catch2/catch.hpp>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/random.h"
#include "kernels/cpu/util.h"
#include "kernels/cuda/cuda_api.h"

using namespace duel;

TEST_CASE("device Philox draws equal host draws bit for bit", "[cuda][rng]") {
  // (lo, hi, mean, std): the standard draws, and a shift and scale whose products are inexact
  // (a compiler that contracts lo + s*u into an fma on one side only fails those).
  const std::array<double, 4> params[] = {{0.0, 1.0, 0.0, 1.0}, {-0.37, 1.91, 0.3, 1.7}};
  for (int64_t n : {1, 7, 1000, 123457}) {
    for (const auto& [lo, hi, mean, sd] : params) {
      for (uint64_t offset : {uint64_t(0), uint64_t(5), uint64_t(1) << 40}) {
        const uint64_t seed = 0x123456789abcdefULL;
        const size_t count = static_cast<size_t>(n);
        std::vector<float> du(count), dn(count), hu(count), hn(count);
        std::vector<double> dd(count), hd(count);
        kernels::cuda::philox_roundtrip(n, seed, offset, lo, hi, mean, sd, du.data(), dn.data(), dd.data());
        kernels::cpu::random_uniform(hu.data(), n, seed, offset, lo, hi);
        kernels::cpu::random_normal(hn.data(), n, seed, offset, mean, sd);
        kernels::cpu::random_normal(hd.data(), n, seed, offset, mean, sd);
        INFO("n=" << n << " offset=" << offset << " lo=" << lo << " hi=" << hi << " mean=" << mean
                  << " sd=" << sd);
        CHECK(std::memcmp(du.data(), hu.data(), du.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(dn.data(), hn.data(), dn.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(dd.data(), hd.data(), dd.size() * sizeof(double)) == 0);
      }
    }
  }
}
