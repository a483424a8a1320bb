// Batch norm over x [n, c, hw]: per-channel statistics and their backward sums by one block per
// channel (each thread sums a strided slice in order, then a fixed shuffle tree: deterministic,
// no atomics), and the elementwise passes as flat grid-stride kernels.
// The statistics use two passes over the channel (mean, then the sum of squared deviations),
// as the CPU reference does, so the variance does not cancel.
// Roofline: stats read x twice, apply reads x and writes y; all are memory-bound. With c below
// the SM count (64 channels on 132 SMs) the per-channel kernels leave SMs idle; splitting a
// channel over several blocks with an ordered second pass is the next step.
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ int64_t channel_index(int64_t i, int64_t ch, int64_t c, int64_t hw) {
  return (i / hw * c + ch) * hw + i % hw;
}

__global__ void __launch_bounds__(kThreads)
    bn_stats_kernel(float* mean, float* var, float* invstd, const float* x, int64_t n, int64_t c,
                    int64_t hw, float eps) {
  __shared__ float scratch[32];
  const int64_t ch = blockIdx.x, count = n * hw;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s += x[channel_index(i, ch, c, hw)];
  const float m = block_sum<kThreads>(s, scratch) / float(count);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const float d = x[channel_index(i, ch, c, hw)] - m;
    sq = fmaf(d, d, sq);
  }
  const float v = block_sum<kThreads>(sq, scratch) / float(count);
  if (threadIdx.x == 0) {
    mean[ch] = m;
    var[ch] = v;
    invstd[ch] = 1.0f / sqrtf(v + eps);
  }
}

__global__ void bn_apply_kernel(float* y, const float* x, const float* mean, const float* invstd,
                                const float* w, const float* b, int64_t total, int64_t c,
                                int64_t hw) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i / hw % c;
    const float scale = invstd[ch] * (w ? w[ch] : 1.0f);
    const float shift = b ? b[ch] : 0.0f;
    y[i] = fmaf(x[i] - mean[ch], scale, shift);
  }
}

// sums[ch] = sum dy, sums[c + ch] = sum dy * xhat; dw, db written when wanted.
__global__ void __launch_bounds__(kThreads)
    bn_backward_sums_kernel(float* sums, float* dw, float* db, const float* dy, const float* x,
                            const float* mean, const float* invstd, int64_t n, int64_t c,
                            int64_t hw) {
  __shared__ float scratch[32];
  const int64_t ch = blockIdx.x, count = n * hw;
  const float m = mean[ch], is = invstd[ch];
  float s_dy = 0.0f, s_dyx = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) {
    const int64_t idx = channel_index(i, ch, c, hw);
    const float g = dy[idx];
    s_dy += g;
    s_dyx = fmaf(g, (x[idx] - m) * is, s_dyx);
  }
  s_dy = block_sum<kThreads>(s_dy, scratch);
  s_dyx = block_sum<kThreads>(s_dyx, scratch);
  if (threadIdx.x == 0) {
    sums[ch] = s_dy;
    sums[c + ch] = s_dyx;
    if (dw) dw[ch] = s_dyx;
    if (db) db[ch] = s_dy;
  }
}

__global__ void bn_backward_dx_kernel(float* dx, const float* dy, const float* x,
                                      const float* mean, const float* invstd, const float* w,
                                      const float* sums, int64_t total, int64_t c, int64_t hw,
                                      float inv_count) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i / hw % c;
    const float is = invstd[ch];
    const float xhat = (x[i] - mean[ch]) * is;
    const float scale = (w ? w[ch] : 1.0f) * is;
    dx[i] = scale * (dy[i] - sums[ch] * inv_count - xhat * (sums[c + ch] * inv_count));
  }
}

unsigned flat_grid(int64_t total) {
  const int64_t blocks = (total + 255) / 256;
  return unsigned(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

void batch_norm_stats_f32(float* mean, float* var, float* invstd, const float* x, int64_t n,
                          int64_t c, int64_t hw, double eps, Stream stream) {
  if (c == 0) return;
  launch("batch_norm_stats_f32", bn_stats_kernel, dim3(unsigned(c)), dim3(kThreads), stream, mean,
         var, invstd, x, n, c, hw, float(eps));
}

void batch_norm_apply_f32(float* y, const float* x, const float* mean, const float* invstd,
                          const float* w, const float* b, int64_t n, int64_t c, int64_t hw,
                          Stream stream) {
  const int64_t total = n * c * hw;
  if (total == 0) return;
  launch("batch_norm_apply_f32", bn_apply_kernel, dim3(flat_grid(total)), dim3(256), stream, y, x,
         mean, invstd, w, b, total, c, hw);
}

int64_t batch_norm_backward_workspace(int64_t c) { return 2 * c; }

void batch_norm_backward_f32(float* dx, float* dw, float* db, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* w, int64_t n,
                             int64_t c, int64_t hw, float* workspace, Stream stream) {
  if (c == 0) return;
  launch("batch_norm_backward_f32 (sums)", bn_backward_sums_kernel, dim3(unsigned(c)),
         dim3(kThreads), stream, workspace, dw, db, dy, x, mean, invstd, n, c, hw);
  const int64_t total = n * c * hw;
  if (!dx || total == 0) return;
  launch("batch_norm_backward_f32 (dx)", bn_backward_dx_kernel, dim3(flat_grid(total)), dim3(256),
         stream, dx, dy, x, mean, invstd, w, static_cast<const float*>(workspace), total, c, hw,
         1.0f / float(n * hw));
}

}  // namespace duel::kernels::DUEL_CUDA_NS
