// One mma.sync per call on fragments given lane by lane: the hardware probe of the tensor-core
// model (tests/cuda/test_mma_probe.cpp runs it on a GPU, tests/test_cuda_emu_mma.cpp on the
// emulator). It moves registers in and out and does nothing else, so what it measures is the
// instruction and its fragment layout alone.
#include <cstdint>

#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

template <bool kBf16>
__global__ void mma_probe_kernel(float* d, const uint32_t* a, const uint32_t* b, const float* c) {
  const int lane = int(threadIdx.x);
  uint32_t ra[4], rb[2];
  float acc[4];
  for (int i = 0; i < 4; ++i) ra[i] = a[lane * 4 + i];
  for (int i = 0; i < 2; ++i) rb[i] = b[lane * 2 + i];
  for (int i = 0; i < 4; ++i) acc[i] = c[lane * 4 + i];
  if constexpr (kBf16)
    mma_bf16(acc, ra, rb);
  else
    mma_tf32(acc, ra, rb);
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = acc[i];
}

}  // namespace

void mma_probe(MathMode math, float* d, const uint32_t* a, const uint32_t* b, const float* c, Stream stream) {
  if (math == MathMode::bf16)
    launch("mma_probe (bf16)", mma_probe_kernel<true>, dim3(1), dim3(32), stream, d, a, b, c);
  else
    launch("mma_probe (tf32)", mma_probe_kernel<false>, dim3(1), dim3(32), stream, d, a, b, c);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
