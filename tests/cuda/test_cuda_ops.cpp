// Every op of the table on the GPU against the CPU: forward, backward and double backward on the
// op samples (odd shapes), every allocation poisoned first; NMSE within the math mode's bound
// (1e-7 in fp32; docs/cuda.md). The same comparison runs on the emulated device in tests/test_cuda_device.cpp.
#include <catch2/catch.hpp>
#include <cstring>

#include "core/cuda_backend.h"
#include "tests/cuda_compare.h"

using namespace duel;

TEST_CASE("every op on the GPU matches the CPU: forward, backward, double backward", "[cuda][ops]") {
  cuda_backend::EmulatedCudaGuard real_device(false);
  DUEL_CHECK_ALL_OPS_ON(Device::cuda(0));
}

TEST_CASE("every op on the GPU in the tf32 and bf16 math modes, each within its bound", "[cuda][ops][mma]") {
  cuda_backend::EmulatedCudaGuard real_device(false);
  for (MathMode m : {MathMode::tf32, MathMode::bf16}) {
    MathModeGuard mode(m);
    DUEL_CHECK_ALL_OPS_ON(Device::cuda(0));
  }
}

TEST_CASE("device storage: copies both ways and Philox draws equal the host's", "[cuda]") {
  cuda_backend::EmulatedCudaGuard real_device(false);
  Generator g(5), a(11), b(11);
  const Tensor host = randn({3, 5, 7}, g, DType::f32);
  const Tensor back = host.to(Device::cuda(0)).to(Device::cpu());
  CHECK(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()) == 0);
  const Tensor n_cpu = normal({1001}, 0.5, 2, a, DType::f32);
  const Tensor n_dev = normal({1001}, 0.5, 2, b, DType::f32, Device::cuda(0)).to(Device::cpu());
  CHECK(std::memcmp(n_cpu.raw_data(), n_dev.raw_data(), n_cpu.nbytes()) == 0);
}
