// A mutant of the GEMM kernels, compiled from the production source into its own namespace with
// the TF32 A fragment's a1 and a2 registers swapped (DUEL_GEMM_MUTATION), the classic misreading
// of the mma.m16n8k8 layout. The emulator must reject it: the same comparison that the real
// kernels pass fails for the mutant. Also the division by invariant divisors (FastDiv) of the
// same source, exhaustively over small divisors and at the ends of its range.
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#define DUEL_CUDA_EMULATE 1
#define DUEL_CUDA_EMU_NS cuda_emu_mutant
#define DUEL_GEMM_MUTATION 1
#include "kernels/cuda/gemm.cu"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "kernels/reference/reference.h"
#include "tests/emu_helpers.h"

namespace {

double nmse_against_reference(bool mutant, duel::kernels::MathMode mode) {
  const int64_t m = 37, n = 29, k = 24;
  const auto a = duel::test::random_vec(m * k, 3), b = duel::test::random_vec(k * n, 4);
  std::vector<float> want(size_t(m * n)), got = duel::test::poisoned(m * n), ws(1 << 16);
  duel::kernels::reference::matmul(want.data(), a.data(), b.data(), 1, m, n, k, false, false);
  if (mutant)
    duel::kernels::cuda_emu_mutant::matmul_f32(got.data(), a.data(), b.data(), 1, m, n, k, false, false, mode,
                                               ws.data(), nullptr);
  else
    duel::kernels::cuda_emu::matmul_f32(got.data(), a.data(), b.data(), 1, m, n, k, false, false, mode, ws.data(),
                                        nullptr);
  return duel::test::nmse(got, want);
}

}  // namespace

TEST_CASE("emulator: the GEMM mutant with a swapped TF32 fragment fails, the real kernel passes",
          "[cuda-emu][mma][mutation]") {
  using duel::kernels::MathMode;
  CHECK(nmse_against_reference(false, MathMode::tf32) <= 1e-6);
  CHECK(nmse_against_reference(true, MathMode::tf32) > 1e-2);
  // The mutation touches the TF32 loop only: FP32 of the same mutant source still passes.
  CHECK(nmse_against_reference(true, MathMode::fp32) <= 1e-7);
}

TEST_CASE("FastDiv divides exactly over its range", "[cuda-emu]") {
  using duel::kernels::cuda_emu_mutant::FastDiv;
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 3000; ++d) divisors.push_back(d);
  for (uint32_t d : {65535u, 65536u, 65537u, 1u << 20, (1u << 31) - 1, 1u << 30, 123456789u}) divisors.push_back(d);
  for (uint32_t d : divisors) {
    const FastDiv f(d);
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(d) - 1, int64_t(d), int64_t(d) + 1, int64_t(3) * d + 2,
                      int64_t(1) << 20, int64_t(2147483647), int64_t(2147483646), int64_t(1234567891)}) {
      if (n < 0 || n > 2147483647) continue;
      int q, r;
      f.divmod(int(n), q, r);
      if (q != int(n / d) || r != int(n % d)) FAIL("FastDiv(" << d << ") of " << n << " gave " << q << ", " << r);
    }
  }
  CHECK(true);
}
