// Helpers of the emulated-kernel tests (tests/test_cuda_emu*.cpp): random inputs, NaN-poisoned
// outputs, and the CUDA issue's float32 measure, normalised mean squared error.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/random.h"

namespace duel::test {

inline std::vector<float> random_vec(int64_t n, uint64_t seed) {
  Generator g(seed);
  const std::vector<double> v = randn({n}, g, DType::f64).to_vector();
  return std::vector<float>(v.begin(), v.end());
}

inline std::vector<float> poisoned(int64_t n) {
  return std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN());
}

// sum (a - b)^2 / sum b^2; NaN anywhere (an element never written) gives infinity.
inline double nmse(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

}  // namespace duel::test
