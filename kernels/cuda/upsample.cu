// Nearest-neighbour upsampling by integer factors (sh, sw) and its derivative, the block sum.
//
// Both are bandwidth-bound gathers with no arithmetic to speak of, so the kernels are shaped by
// their memory accesses:
//  - forward: one thread per INPUT element x[q, j] (q = plane * h + row) reads it once and writes
//    its sh x sw block of y. Consecutive threads take consecutive j, so a warp's stores cover
//    32 * sw consecutive floats of each of the sh output rows (for sw = 2, the DCGAN case, as one
//    8-byte float2 store per row and thread).
//  - backward: one thread per element of dx sums its sh x sw block of dy row by row, left to
//    right, in float: the same order every run (deterministic, no atomics); a warp's loads are
//    again 32 * sw consecutive floats per block row.
// The output block of x[q, j] starts at y[(q * sh) * wo + j * sw] (wo = w * sw), so one 32-bit
// division per thread (by w) is all the index math. Tensors of 2^31 elements or more are refused.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256;

__global__ void upsample_nearest2d_kernel(float* y, const float* x, uint32_t total_in, uint32_t w,
                                          uint32_t sh, uint32_t sw, bool pairs) {
  const uint32_t wo = w * sw;
  for (uint32_t t = blockIdx.x * blockDim.x + threadIdx.x; t < total_in; t += gridDim.x * blockDim.x) {
    const uint32_t q = t / w, j = t - q * w;
    const float v = x[t];
    float* out = y + size_t(q) * sh * wo + size_t(j) * sw;
    for (uint32_t a = 0; a < sh; ++a, out += wo) {
      if (pairs) {
        float2 v2;
        v2.x = v2.y = v;
        *reinterpret_cast<float2*>(out) = v2;
      } else {
        for (uint32_t b = 0; b < sw; ++b) out[b] = v;
      }
    }
  }
}

__global__ void upsample_nearest2d_backward_kernel(float* dx, const float* dy, uint32_t total_in, uint32_t w,
                                                   uint32_t sh, uint32_t sw, bool pairs) {
  const uint32_t wo = w * sw;
  for (uint32_t t = blockIdx.x * blockDim.x + threadIdx.x; t < total_in; t += gridDim.x * blockDim.x) {
    const uint32_t q = t / w, j = t - q * w;
    const float* in = dy + size_t(q) * sh * wo + size_t(j) * sw;
    float acc = 0.0f;
    for (uint32_t a = 0; a < sh; ++a, in += wo) {
      if (pairs) {
        const float2 v2 = *reinterpret_cast<const float2*>(in);
        acc += v2.x;
        acc += v2.y;
      } else {
        for (uint32_t b = 0; b < sw; ++b) acc += in[b];
      }
    }
    dx[t] = acc;
  }
}

unsigned grid_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return unsigned(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

bool aligned8(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 7u) == 0; }

void check_sizes(const char* name, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  if (planes < 0 || h < 0 || w < 0 || sh < 1 || sw < 1)
    throw std::runtime_error(std::string(name) + ": invalid sizes");
  const int64_t limit = int64_t(1) << 31;
  // the output's element count, computed so that it cannot overflow on the way
  const double out = double(planes) * double(h) * double(sh) * double(w) * double(sw);
  if (out >= double(limit))
    throw std::runtime_error(std::string(name) + ": a tensor of " + std::to_string(int64_t(out)) +
                             " elements; these kernels index in 32 bits (at most 2^31 - 1 elements)");
}

}  // namespace

void upsample_nearest2d_f32(float* y, const float* x, int64_t planes, int64_t h, int64_t w, int64_t sh,
                            int64_t sw, Stream stream) {
  check_sizes("upsample_nearest2d_f32", planes, h, w, sh, sw);
  const int64_t total = planes * h * w;
  if (total == 0) return;
  launch("upsample_nearest2d_f32", upsample_nearest2d_kernel, dim3(grid_for(total)), dim3(kThreads), stream, y,
         x, uint32_t(total), uint32_t(w), uint32_t(sh), uint32_t(sw), sw == 2 && aligned8(y));
}

void upsample_nearest2d_backward_f32(float* dx, const float* dy, int64_t planes, int64_t h, int64_t w,
                                     int64_t sh, int64_t sw, Stream stream) {
  check_sizes("upsample_nearest2d_backward_f32", planes, h, w, sh, sw);
  const int64_t total = planes * h * w;
  if (total == 0) return;
  launch("upsample_nearest2d_backward_f32", upsample_nearest2d_backward_kernel, dim3(grid_for(total)),
         dim3(kThreads), stream, dx, dy, uint32_t(total), uint32_t(w), uint32_t(sh), uint32_t(sw),
         sw == 2 && aligned8(dy));
}

}  // namespace duel::kernels::DUEL_CUDA_NS
