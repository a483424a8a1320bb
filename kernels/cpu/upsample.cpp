// Fast nearest-neighbour upsampling and its derivative: OpenMP over the planes (N * C images),
// each output row written as runs of sw copies and then copied sh - 1 times; the backward sums
// each block in double in the reference's order (rows of the block, left to right), so both
// paths give the same bits.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void upsample_nearest2d(T* y, const T* x, int64_t planes, int64_t h, int64_t w, int64_t sh,
                        int64_t sw) {
  const int64_t ho = h * sh, wo = w * sw;
#pragma omp parallel for schedule(static) if (planes * ho * wo >= kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      const T* src = x + (p * h + i) * w;
      T* row = y + (p * ho + i * sh) * wo;
      if (sw == 1) {
        std::memcpy(row, src, size_t(w) * sizeof(T));
      } else if (sw == 2) {
        for (int64_t j = 0; j < w; ++j) row[2 * j] = row[2 * j + 1] = src[j];
      } else {
        for (int64_t j = 0; j < w; ++j) std::fill(row + j * sw, row + (j + 1) * sw, src[j]);
      }
      // the other sh - 1 output rows of this input row are copies of the first
      for (int64_t a = 1; a < sh; ++a) std::memcpy(row + a * wo, row, size_t(wo) * sizeof(T));
    }
  }
}

template <class T>
void upsample_nearest2d_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                                 int64_t sh, int64_t sw) {
  const int64_t ho = h * sh, wo = w * sw;
#pragma omp parallel for schedule(static) if (planes * ho * wo >= kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      T* out = dx + (p * h + i) * w;
      const T* block_rows = dy + (p * ho + i * sh) * wo;
      for (int64_t j = 0; j < w; ++j) {
        double acc = 0;
        for (int64_t a = 0; a < sh; ++a) {
          const T* r = block_rows + a * wo + j * sw;
          for (int64_t b = 0; b < sw; ++b) acc += r[b];
        }
        out[j] = T(acc);
      }
    }
  }
}

#define DUEL_INSTANTIATE(T)                                                                      \
  template void upsample_nearest2d<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t); \
  template void upsample_nearest2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::cpu
