// Sum over a set of dimensions: one block per output element, each thread summing a strided
// slice of the reduced elements in order, then a fixed warp-shuffle tree (block_sum). No atomics,
// so two runs give bitwise the same result.
// Known limit: an output with few elements and a long reduction (a sum over everything) uses few
// blocks; the losses, the largest such sums in training, reduce inside their own fused kernels.
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    sum_kernel(float* out, const float* x, Reduction r, int64_t reduced_count, float scale) {
  __shared__ float scratch[32];
  const int64_t o = blockIdx.x;
  // The input offset of (o, 0): the kept coordinates of o, reduced ones at 0. Strides are
  // recomputed on the fly, and the loops run over all kMaxDims unrolled, so every index into r is
  // a constant (an indexed array would be copied to local memory).
  int64_t base = 0, rest = o, stride = 1;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= r.ndim) continue;
    if (!r.reduced[d]) {
      base += rest % r.size[d] * stride;
      rest /= r.size[d];
    }
    stride *= r.size[d];
  }
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < reduced_count; i += kThreads) {
    int64_t off = base, q = i, st = 1;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d >= r.ndim) continue;
      if (r.reduced[d]) {
        off += q % r.size[d] * st;
        q /= r.size[d];
      }
      st *= r.size[d];
    }
    acc += x[off];
  }
  acc = block_sum<kThreads>(acc, scratch);
  if (threadIdx.x == 0) out[o] = acc * scale;
}

}  // namespace

void sum_f32(float* out, const float* x, const Reduction& r, double scale, Stream stream) {
  if (r.numel_out == 0) return;
  const int64_t reduced_count = r.numel_out > 0 ? r.numel_in / r.numel_out : 0;
  launch("sum_f32", sum_kernel, dim3(unsigned(r.numel_out)), dim3(kThreads), stream, out, x, r,
         reduced_count, float(scale));
}

}  // namespace duel::kernels::DUEL_CUDA_NS
