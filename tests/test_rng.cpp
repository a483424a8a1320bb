// Philox4x32-10 against the Random123 known-answer vectors, and the uniform/normal draws built
// on it: determinism, independence of the draw from the thread count, and their statistics.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/philox.h"
#include "core/random.h"

using namespace duel;

namespace {
philox::U32x4 kat(philox::U32x4 ctr, uint32_t k0, uint32_t k1) { return philox::philox4x32_10(ctr, k0, k1); }
}  // namespace

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors", "[rng]") {
  SECTION("counter 0, key 0") {
    const auto r = kat({{0, 0, 0, 0}}, 0, 0);
    CHECK(r.v[0] == 0x6627e8d5u);
    CHECK(r.v[1] == 0xe169c58du);
    CHECK(r.v[2] == 0xbc57ac4cu);
    CHECK(r.v[3] == 0x9b00dbd8u);
  }
  SECTION("counter and key all ones") {
    const auto r = kat({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
    CHECK(r.v[0] == 0x408f276du);
    CHECK(r.v[1] == 0x41c83b0eu);
    CHECK(r.v[2] == 0xa20bc7c6u);
    CHECK(r.v[3] == 0x6d5451fdu);
  }
  SECTION("counter and key from the digits of pi") {
    const auto r = kat({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
    CHECK(r.v[0] == 0xd16cfe09u);
    CHECK(r.v[1] == 0x94fdccebu);
    CHECK(r.v[2] == 0x5001e420u);
    CHECK(r.v[3] == 0x24126ea1u);
  }
}

TEST_CASE("the exact-arithmetic log and sincos used by Box-Muller are accurate", "[rng]") {
  double worst_log = 0, worst_trig = 0;
  for (int i = 1; i <= 100000; ++i) {
    const double u = i / 100000.0;
    worst_log = std::max(worst_log, std::abs(philox::log_unit(u) - std::log(u)) / std::max(1e-300, std::abs(std::log(u))));
    double s, c;
    philox::sincos_2pi(u - 1e-6, &s, &c);
    const double t = 2 * M_PI * (u - 1e-6);
    worst_trig = std::max({worst_trig, std::abs(s - std::sin(t)), std::abs(c - std::cos(t))});
  }
  CHECK(worst_log < 1e-15);
  CHECK(worst_trig < 1e-14);
  CHECK(philox::log_unit(1.0) == 0.0);
  CHECK(std::isfinite(philox::log_unit(std::ldexp(1.0, -53))));
}

TEST_CASE("draws are reproducible from (seed, offset) and independent of thread count", "[rng]") {
  Generator a(42), b(42);
  const Tensor x = randn({1000}, a);
  const Tensor y = randn({1000}, b);
  CHECK(x.to_vector() == y.to_vector());
  CHECK(a.offset() == 1);
  const Tensor next = randn({1000}, a);
  CHECK(next.to_vector() != x.to_vector());  // a new offset is a new stream

  // Element i depends only on (seed, offset, i): a longer draw starts with the shorter one.
  Generator c(42);
  const Tensor longer = randn({1001}, c);
  const std::vector<double> lv = longer.to_vector(), xv = x.to_vector();
  CHECK(std::vector<double>(lv.begin(), lv.begin() + 1000) == xv);

  const int before = num_threads();
  set_num_threads(1);
  Generator d(42);
  const Tensor single = randn({100000}, d);
  set_num_threads(2);
  Generator e(42);
  const Tensor dual = randn({100000}, e);
  set_num_threads(before);
  CHECK(single.to_vector() == dual.to_vector());
}

TEST_CASE("uniform and normal draws have the right statistics", "[rng]") {
  for (DType t : {DType::f32, DType::f64}) {
    Generator g(7);
    const int64_t n = 200000;
    const std::vector<double> u = rand({n}, g, t).to_vector();
    const std::vector<double> z = randn({n}, g, t).to_vector();
    double su = 0, suu = 0, sz = 0, szz = 0, lo = 1, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
      su += u[size_t(i)];
      suu += u[size_t(i)] * u[size_t(i)];
      lo = std::min(lo, u[size_t(i)]);
      hi = std::max(hi, u[size_t(i)]);
      sz += z[size_t(i)];
      szz += z[size_t(i)] * z[size_t(i)];
    }
    // Standard errors: uniform mean 0.29/sqrt(n) = 6.5e-4, normal mean 1/sqrt(n) = 2.2e-3.
    CHECK(std::abs(su / n - 0.5) < 4e-3);
    CHECK(std::abs(suu / n - su * su / n / n - 1.0 / 12) < 3e-3);
    CHECK(lo >= 0.0);
    CHECK(hi < 1.0);
    CHECK(std::abs(sz / n) < 1e-2);
    CHECK(std::abs(szz / n - 1.0) < 1e-2);
  }
  Generator g(3);
  const std::vector<double> s = normal({100000}, 2.0, 0.5, g, DType::f64).to_vector();
  double m = 0;
  for (double v : s) m += v;
  CHECK(std::abs(m / double(s.size()) - 2.0) < 1e-2);
}
