// Fast 2-D convolution family: im2col / col2im around one GEMM (gemm.h) per group of samples.
//
// For a group of g samples, col [c_in*kh*kw, g*h_out*w_out] holds in row (ci, i, j) and column
// (sample, oh, ow) the input pixel that kernel tap (i, j) of channel ci sees at output (oh, ow)
// (zero in the padding). Then, with W = w viewed as [c_out, c_in*kh*kw]:
//   forward       Y   [c_out, g*hw_out] = W * col
//   input grad    col = W^T * dY, then col2im adds every column back onto its pixels
//   weight grad   dW += dY * col^T
// Grouping samples makes the GEMM wide enough to run at full speed even when one sample's output
// is tiny (a 1x1 latent into a 7x7 transposed convolution), while bounding the col buffer.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

namespace {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatMap = Eigen::Map<RowMajor<T>>;

// Elements of col buffer per group (floats: 32 MB); a group holds at least one sample.
constexpr int64_t kColBudget = int64_t(1) << 23;

struct Geometry {
  int64_t kk, rows, hw_in, hw_out, group;
  explicit Geometry(const ConvShape& s) {
    kk = s.kh * s.kw;
    rows = s.c_in * kk;
    hw_in = s.h * s.w;
    hw_out = s.h_out * s.w_out;
    const int64_t per_sample = std::max<int64_t>(1, rows * hw_out);
    group = std::clamp<int64_t>(kColBudget / per_sample, 1, std::max<int64_t>(1, s.n));
  }
};

struct ColTag {};
struct GatherTag {};

// The output columns [lo, hi) whose input column ow * stride - pad + j lies inside [0, w): the
// rest read padding. Computed once per row so the copy loops carry no bounds test.
inline void valid_range(int64_t w_out, int64_t stride, int64_t pad, int64_t j, int64_t w, int64_t& lo, int64_t& hi) {
  // ow * stride >= pad - j  and  ow * stride <= w - 1 + pad - j
  const int64_t first = pad - j, last = w - 1 + pad - j;
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = last < 0 ? 0 : std::min(w_out, last / stride + 1);
  if (hi < lo) hi = lo;
}

// col[(ci,i,j), (sample, oh, ow)] for samples [n0, n0+g)
template <class T>
void im2col(T* col, const T* x, const ConvShape& s, const Geometry& g, int64_t n0, int64_t count) {
  const int64_t width = count * g.hw_out;
#pragma omp parallel for schedule(static) if (g.rows * width >= kParallelGrain)
  for (int64_t row = 0; row < g.rows; ++row) {
    const int64_t ci = row / g.kk, i = (row / s.kw) % s.kh, j = row % s.kw;
    int64_t lo, hi;
    valid_range(s.w_out, s.stride_w, s.pad_w, j, s.w, lo, hi);
    const int64_t stride = s.stride_w, shift = j - s.pad_w;
    T* dst = col + row * width;
    for (int64_t smp = 0; smp < count; ++smp) {
      const T* plane = x + ((n0 + smp) * s.c_in + ci) * g.hw_in;
      for (int64_t oh = 0; oh < s.h_out; ++oh) {
        const int64_t ih = oh * s.stride_h - s.pad_h + i;
        T* d = dst + smp * g.hw_out + oh * s.w_out;
        if (ih < 0 || ih >= s.h) {
          std::fill(d, d + s.w_out, T(0));
          continue;
        }
        const T* src = plane + ih * s.w;  // input column ow * stride - pad + j, inside for ow in [lo, hi)
        std::fill(d, d + lo, T(0));
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * stride + shift];
        std::fill(d + hi, d + s.w_out, T(0));
      }
    }
  }
}

// dx[n0+smp, ci] = bias[ci] + sum of every col entry that im2col would have read from it.
template <class T>
void col2im(T* dx, const T* col, const T* bias, const ConvShape& s, const Geometry& g, int64_t n0,
            int64_t count) {
  const int64_t width = count * g.hw_out;
#pragma omp parallel for schedule(static) if (count * s.c_in * g.hw_in >= kParallelGrain / 4)
  for (int64_t plane_idx = 0; plane_idx < count * s.c_in; ++plane_idx) {
    const int64_t smp = plane_idx / s.c_in, ci = plane_idx % s.c_in;
    T* plane = dx + ((n0 + smp) * s.c_in + ci) * g.hw_in;
    std::fill(plane, plane + g.hw_in, bias ? bias[ci] : T(0));
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        const T* src = col + ((ci * s.kh + i) * s.kw + j) * width + smp * g.hw_out;
        int64_t lo, hi;
        valid_range(s.w_out, s.stride_w, s.pad_w, j, s.w, lo, hi);
        const int64_t stride = s.stride_w, shift = j - s.pad_w;
        for (int64_t oh = 0; oh < s.h_out; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_h + i;
          if (ih < 0 || ih >= s.h) continue;
          T* drow = plane + ih * s.w;  // input column ow * stride - pad + j, inside for ow in [lo, hi)
          const T* srow = src + oh * s.w_out;
          for (int64_t ow = lo; ow < hi; ++ow) drow[ow * stride + shift] += srow[ow];
        }
      }
  }
}

// dst[c, (smp, p)] = src[n0+smp, c, p]: the group's samples side by side, channel-major.
template <class T>
void gather_channels(T* dst, const T* src, int64_t channels, int64_t hw, int64_t n0, int64_t count) {
#pragma omp parallel for schedule(static) if (channels * count * hw >= kParallelGrain)
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t smp = 0; smp < count; ++smp)
      std::memcpy(dst + (c * count + smp) * hw, src + ((n0 + smp) * channels + c) * hw,
                  size_t(hw) * sizeof(T));
}

// A kernel that covers the whole (unpadded) input makes a 1x1 output: the convolution is a
// fully connected layer, y [n, c_out] = x [n, c_in*h*w] w^T, and needs no im2col. This is the
// critic's last layer and, read backwards, the generator's first.
bool is_dense(const ConvShape& s) {
  return s.h_out == 1 && s.w_out == 1 && s.kh == s.h && s.kw == s.w && s.pad_h == 0 && s.pad_w == 0;
}

// Which kernel runs this pass: im2col + GEMM (none), or the direct convolution of conv_direct.h
// (FP32 on AVX2 or AVX-512; BF16 operands on AVX512_BF16 under --math bf16). Float only: double is
// the exact reference arithmetic.
enum class Direct { none, fp32_avx2, fp32_avx512, bf16 };
template <class T>
Direct direct_kernel(const ConvShape& s, ConvPass pass, MathMode math) {
  if constexpr (!std::is_same_v<T, float>) {
    return Direct::none;
  } else {
    if (s.n <= 0 || s.c_in <= 0 || s.c_out <= 0 || s.h <= 0 || s.w <= 0 || s.h_out <= 0 || s.w_out <= 0)
      return Direct::none;
    const ConvAlgo algo = conv_algo();
    if (algo == ConvAlgo::im2col || (algo == ConvAlgo::automatic && !conv_direct_pays(s, pass))) return Direct::none;
    if (math == MathMode::bf16) return cpu_has_avx512_bf16() ? Direct::bf16 : Direct::none;
    if (math != MathMode::fp32) return Direct::none;
    const DirectIsa isa = direct_isa_available();
    return isa == DirectIsa::avx512 ? Direct::fp32_avx512 : isa == DirectIsa::avx2 ? Direct::fp32_avx2 : Direct::none;
  }
}
DirectIsa isa_of(Direct d) { return d == Direct::fp32_avx512 ? DirectIsa::avx512 : DirectIsa::avx2; }

template <class T>
void conv2d_forward_in(T* y, const T* x, const T* w, const T* bias, const ConvShape& s, MathMode math) {
  if constexpr (std::is_same_v<T, float>) {
    if (const Direct d = direct_kernel<T>(s, ConvPass::forward, math); d == Direct::bf16)
      return conv2d_direct_bf16_forward(y, x, w, bias, s);
    else if (d != Direct::none)
      return conv2d_direct_forward(y, x, w, bias, s, isa_of(d));
  }
  const Geometry g(s);
  if (is_dense(s)) {
    MatMap<T> Y(y, s.n, s.c_out);
    gemm(y, x, w, s.n, s.c_out, g.rows, false, true, false, math);  // y [n, c_out] = x [n, rows] w^T
    if (bias) Y.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, s.c_out);
    return;
  }
  for (int64_t n0 = 0; n0 < s.n; n0 += g.group) {
    const int64_t count = std::min(g.group, s.n - n0);
    const int64_t width = count * g.hw_out;
    T* col = scratch<T, ColTag>(size_t(g.rows * width));
    im2col(col, x, s, g, n0, count);
    T* out = scratch<T, GatherTag>(size_t(s.c_out * width));  // [c_out, (smp, p)]
    gemm(out, w, col, s.c_out, width, g.rows, false, false, false, math);  // W [c_out, rows] col [rows, width]
    // Scatter the channel-major block back to [n, c_out, p], adding the bias.
#pragma omp parallel for schedule(static) if (s.c_out * width >= kParallelGrain)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t smp = 0; smp < count; ++smp) {
        const T* src = out + (co * count + smp) * g.hw_out;
        T* dst = y + ((n0 + smp) * s.c_out + co) * g.hw_out;
        const T b = bias ? bias[co] : T(0);
        for (int64_t p = 0; p < g.hw_out; ++p) dst[p] = src[p] + b;
      }
  }
}

template <class T>
void conv2d_input_grad_in(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s, MathMode math) {
  if constexpr (std::is_same_v<T, float>) {
    if (const Direct d = direct_kernel<T>(s, ConvPass::input_grad, math); d == Direct::bf16)
      return conv2d_direct_bf16_input_grad(dx, dy, w, bias, s);
    else if (d != Direct::none)
      return conv2d_direct_input_grad(dx, dy, w, bias, s, isa_of(d));
  }
  const Geometry g(s);
  if (is_dense(s)) {
    // dx [n, c_in*h*w] = dy [n, c_out] w, plus the bias of each input channel
    gemm(dx, dy, w, s.n, g.rows, s.c_out, false, false, false, math);
    if (bias) {
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t ci = 0; ci < s.c_in; ++ci)
          for (int64_t p = 0; p < g.hw_in; ++p) dx[(n * s.c_in + ci) * g.hw_in + p] += bias[ci];
    }
    return;
  }
  for (int64_t n0 = 0; n0 < s.n; n0 += g.group) {
    const int64_t count = std::min(g.group, s.n - n0);
    const int64_t width = count * g.hw_out;
    T* dyg = scratch<T, GatherTag>(size_t(s.c_out * width));
    gather_channels(dyg, dy, s.c_out, g.hw_out, n0, count);
    T* col = scratch<T, ColTag>(size_t(g.rows * width));
    gemm(col, w, dyg, g.rows, width, s.c_out, true, false, false, math);  // W^T dy [c_out, width]
    col2im(dx, col, bias, s, g, n0, count);
  }
}

template <class T>
void conv2d_weight_grad_in(T* dw, const T* x, const T* dy, const ConvShape& s, MathMode math) {
  if constexpr (std::is_same_v<T, float>) {
    if (const Direct d = direct_kernel<T>(s, ConvPass::weight_grad, math); d == Direct::bf16)
      return conv2d_direct_bf16_weight_grad(dw, x, dy, s);
    else if (d != Direct::none)
      return conv2d_direct_weight_grad(dw, x, dy, s, isa_of(d));
  }
  const Geometry g(s);
  if (s.n == 0) std::fill(dw, dw + s.c_out * g.rows, T(0));
  if (is_dense(s) && s.n > 0) {
    // dw [c_out, c_in*h*w] = dy^T [c_out, n] x [n, c_in*h*w]
    gemm(dw, dy, x, s.c_out, g.rows, s.n, true, false, false, math);
    return;
  }
  for (int64_t n0 = 0; n0 < s.n; n0 += g.group) {
    const int64_t count = std::min(g.group, s.n - n0);
    const int64_t width = count * g.hw_out;
    T* col = scratch<T, ColTag>(size_t(g.rows * width));
    im2col(col, x, s, g, n0, count);
    T* dyg = scratch<T, GatherTag>(size_t(s.c_out * width));
    gather_channels(dyg, dy, s.c_out, g.hw_out, n0, count);
    gemm(dw, dyg, col, s.c_out, g.rows, width, false, true, /*accumulate=*/n0 > 0, math);  // dy col^T
  }
}

}  // namespace

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s) {
  conv2d_forward_in(y, x, w, bias, s, MathMode::fp32);
}
template <class T>
void conv2d_input_grad(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s) {
  conv2d_input_grad_in(dx, dy, w, bias, s, MathMode::fp32);
}
template <class T>
void conv2d_weight_grad(T* dw, const T* x, const T* dy, const ConvShape& s) {
  conv2d_weight_grad_in(dw, x, dy, s, MathMode::fp32);
}
void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s, MathMode math) {
  conv2d_forward_in(y, x, w, bias, s, math);
}
void conv2d_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                       MathMode math) {
  conv2d_input_grad_in(dx, dy, w, bias, s, math);
}
void conv2d_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s, MathMode math) {
  conv2d_weight_grad_in(dw, x, dy, s, math);
}

#define DUEL_INSTANTIATE(T)                                                                 \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&);     \
  template void conv2d_input_grad<T>(T*, const T*, const T*, const T*, const ConvShape&);  \
  template void conv2d_weight_grad<T>(T*, const T*, const T*, const ConvShape&);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::cpu
