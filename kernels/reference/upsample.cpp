// Reference nearest-neighbour upsampling and its derivative (the block sum).
#include <cstdint>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

// y [planes, h*sh, w*sw] from x [planes, h, w]
template <class T>
void upsample_nearest2d(T* y, const T* x, int64_t planes, int64_t h, int64_t w, int64_t sh,
                        int64_t sw) {
  const int64_t ho = h * sh, wo = w * sw;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j) y[(p * ho + i) * wo + j] = x[(p * h + i / sh) * w + j / sw];
}

// dx [planes, h, w] from dy [planes, h*sh, w*sw]: each block summed in double, rows in order
template <class T>
void upsample_nearest2d_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                                 int64_t sh, int64_t sw) {
  const int64_t ho = h * sh, wo = w * sw;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        double acc = 0;
        for (int64_t a = 0; a < sh; ++a)
          for (int64_t b = 0; b < sw; ++b) acc += dy[(p * ho + i * sh + a) * wo + j * sw + b];
        dx[(p * h + i) * w + j] = T(acc);
      }
}

#define DUEL_INSTANTIATE(T)                                                                      \
  template void upsample_nearest2d<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t); \
  template void upsample_nearest2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::reference
