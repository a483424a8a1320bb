// Reference 2-D convolution family: direct loops over the definition
//   y[n, co, oh, ow] = sum_{ci, i, j} x[n, ci, oh*s_h - p_h + i, ow*s_w - p_w + j] w[co, ci, i, j]
// (terms with the input position outside the image are zero). The input gradient and the
// weight gradient loop over the same index set and scatter or reduce the other way.
#include <cstdint>
#include <vector>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

// Index helpers for the four NCHW-style buffers.
struct ConvIndex {
  const ConvShape& s;
  int64_t x(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return ((n * s.c_in + c) * s.h + h) * s.w + w;
  }
  int64_t y(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return ((n * s.c_out + c) * s.h_out + h) * s.w_out + w;
  }
  int64_t wt(int64_t co, int64_t ci, int64_t i, int64_t j) const {
    return ((co * s.c_in + ci) * s.kh + i) * s.kw + j;
  }
};

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s) {
  const ConvIndex at{s};
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t oh = 0; oh < s.h_out; ++oh)
        for (int64_t ow = 0; ow < s.w_out; ++ow) {
          double acc = bias ? double(bias[co]) : 0.0;
          for (int64_t ci = 0; ci < s.c_in; ++ci)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t ih = oh * s.stride_h - s.pad_h + i;
                const int64_t iw = ow * s.stride_w - s.pad_w + j;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc += double(x[at.x(n, ci, ih, iw)]) * double(w[at.wt(co, ci, i, j)]);
              }
          y[at.y(n, co, oh, ow)] = T(acc);
        }
}

template <class T>
void conv2d_input_grad(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s) {
  const ConvIndex at{s};
  std::vector<double> acc(size_t(s.n * s.c_in * s.h * s.w), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t oh = 0; oh < s.h_out; ++oh)
        for (int64_t ow = 0; ow < s.w_out; ++ow) {
          const double g = dy[at.y(n, co, oh, ow)];
          for (int64_t ci = 0; ci < s.c_in; ++ci)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t ih = oh * s.stride_h - s.pad_h + i;
                const int64_t iw = ow * s.stride_w - s.pad_w + j;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc[size_t(at.x(n, ci, ih, iw))] += g * double(w[at.wt(co, ci, i, j)]);
              }
        }
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t ci = 0; ci < s.c_in; ++ci)
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t ww = 0; ww < s.w; ++ww) {
          const int64_t idx = at.x(n, ci, h, ww);
          dx[idx] = T(acc[size_t(idx)] + (bias ? double(bias[ci]) : 0.0));
        }
}

template <class T>
void conv2d_weight_grad(T* dw, const T* x, const T* dy, const ConvShape& s) {
  const ConvIndex at{s};
  for (int64_t co = 0; co < s.c_out; ++co)
    for (int64_t ci = 0; ci < s.c_in; ++ci)
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j) {
          double acc = 0;
          for (int64_t n = 0; n < s.n; ++n)
            for (int64_t oh = 0; oh < s.h_out; ++oh)
              for (int64_t ow = 0; ow < s.w_out; ++ow) {
                const int64_t ih = oh * s.stride_h - s.pad_h + i;
                const int64_t iw = ow * s.stride_w - s.pad_w + j;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc += double(x[at.x(n, ci, ih, iw)]) * double(dy[at.y(n, co, oh, ow)]);
              }
          dw[at.wt(co, ci, i, j)] = T(acc);
        }
}

#define DUEL_INSTANTIATE(T)                                                                 \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&);     \
  template void conv2d_input_grad<T>(T*, const T*, const T*, const T*, const ConvShape&);  \
  template void conv2d_weight_grad<T>(T*, const T*, const T*, const ConvShape&);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::reference
