// The hardware probe of the tensor-core model: one mma.sync per math mode on the GPU, on
// fragments built from whole matrices by the PTX ISA's layout tables (tests/mma_layout.h), read
// back by the same tables and compared with D = A B + C in float64. The emulator's model and the
// GEMM kernels share this reading of the layouts; here the hardware settles it.
// * small integers: every product and sum is exact, so D must match bit for bit; a wrong layout
//   fails at once;
// * uniform values: within 1e-6 of sum |a b| + |c| per element (the tensor core's internal
//   accumulation may differ from the model's exact sum in the last bits, not more);
// * TF32 operands with their low 13 mantissa bits set: the model says the tensor core ignores
//   them (truncation). If the hardware rounded instead, the error would be near 5e-4.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "kernels/cuda/cuda_api.h"
#include "tests/mma_layout.h"

using namespace duel;
using duel::kernels::MathMode;
namespace kc = duel::kernels::cuda;
namespace mma = duel::test::mma;

namespace {

std::vector<float> run_on_gpu(MathMode m, const mma::Fragments& f) {
  void* a = kc::device_allocate(128 * 4, 0);
  void* b = kc::device_allocate(64 * 4, 0);
  void* c = kc::device_allocate(128 * 4, 0);
  void* d = kc::device_allocate(128 * 4, 0);
  kc::copy_to_device(a, f.a.data(), 128 * 4, 0);
  kc::copy_to_device(b, f.b.data(), 64 * 4, 0);
  kc::copy_to_device(c, f.c.data(), 128 * 4, 0);
  kc::mma_probe(m, static_cast<float*>(d), static_cast<const uint32_t*>(a), static_cast<const uint32_t*>(b),
                static_cast<const float*>(c), kc::compute_stream(0));
  std::vector<float> out(128);
  kc::copy_to_host(out.data(), d, 128 * 4, 0);
  for (void* p : {a, b, c, d}) kc::device_release(p, 0);
  return out;
}

}  // namespace

TEST_CASE("hardware probe: mma.sync fragment layouts and operand rounding match the emulator's model",
          "[cuda][mma][probe]") {
  for (MathMode m : {MathMode::tf32, MathMode::bf16}) {
    const char* name = m == MathMode::tf32 ? "tf32 m16n8k8" : "bf16 m16n8k16";
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      const mma::Problem ints = mma::make_problem(m, true, seed);
      const double e_int = mma::worst_error(ints, m, run_on_gpu(m, mma::fragments(ints, m)));
      const mma::Problem real = mma::make_problem(m, false, seed);
      const double e_real = mma::worst_error(real, m, run_on_gpu(m, mma::fragments(real, m)));
      std::printf("probe %s seed %llu: integers worst error %.3g, uniform worst relative error %.3g\n", name,
                  (unsigned long long)seed, e_int, e_real);
      INFO(name << " seed " << seed);
      CHECK(e_int == 0);
      CHECK(e_real <= 1e-6);
    }
  }
}
