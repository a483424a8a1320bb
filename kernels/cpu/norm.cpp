// Fast batch norm and layer norm: OpenMP over channels (batch norm) or rows (layer norm);
// statistics accumulate in double, in a fixed order, so results do not depend on thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void batch_norm_stats(T* mean, T* var, T* invstd, const T* x, int64_t n, int64_t c, int64_t hw,
                      double eps) {
  const double count = double(n * hw);
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* p = x + (i * c + ch) * hw;
      double a = 0;
#pragma omp simd reduction(+ : a)
      for (int64_t k = 0; k < hw; ++k) a += double(p[k]);
      s += a;
    }
    const double m = s / count;
    double sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* p = x + (i * c + ch) * hw;
      double a = 0;
#pragma omp simd reduction(+ : a)
      for (int64_t k = 0; k < hw; ++k) a += (double(p[k]) - m) * (double(p[k]) - m);
      sq += a;
    }
    const double v = sq / count;
    mean[ch] = T(m);
    var[ch] = T(v);
    invstd[ch] = T(1.0 / std::sqrt(v + eps));
  }
}

template <class T>
void batch_norm_apply(T* y, const T* x, const T* mean, const T* invstd, const T* w, const T* b,
                      int64_t n, int64_t c, int64_t hw) {
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const int64_t ch = plane % c;
    const T scale = invstd[ch] * (w ? w[ch] : T(1));
    const T shift = (b ? b[ch] : T(0)) - mean[ch] * scale;  // y = x*scale + shift
    const T* src = x + plane * hw;
    T* dst = y + plane * hw;
#pragma omp simd
    for (int64_t k = 0; k < hw; ++k) dst[k] = src[k] * scale + shift;
  }
}

template <class T>
void batch_norm_activation_apply(T* y, const T* x, const T* mean, const T* invstd, const T* w, const T* b,
                                 int64_t n, int64_t c, int64_t hw, Activation act, double slope) {
  // relu as unary(relu): +0 below zero (leaky_relu with slope 0 would give -0).
  const T a = T(slope);
  const bool relu = act == Activation::relu;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const int64_t ch = plane % c;
    const T scale = invstd[ch] * (w ? w[ch] : T(1));
    const T shift = (b ? b[ch] : T(0)) - mean[ch] * scale;  // as batch_norm_apply
    const T* src = x + plane * hw;
    T* dst = y + plane * hw;
#pragma omp simd
    for (int64_t k = 0; k < hw; ++k) {
      const T z = src[k] * scale + shift;
      const T below = relu ? T(0) : a * z;  // both sides, then a select: a vector loop (see unary)
      dst[k] = z > 0 ? z : below;          // as unary(relu) / unary(leaky_relu)
    }
  }
}

namespace {

// batch_norm_backward with the incoming gradient of each plane [hw] from grad_plane(base, buf):
// dy + base itself, or the activation's gradient written into the thread's buffer buf [hw] in a
// loop of its own. Either way the passes below read one plane of gradients from memory with the
// same loops, so the fused form adds and rounds exactly as the kernels in turn (the compiler can
// contract no multiply of the activation's gradient into batch norm's arithmetic).
// The buffer starts kStageSlack elements early, so that the staged plane can sit at the same
// address modulo 64 bytes as dy's plane (tensor storage is 64-byte aligned): a vectorised loop
// that peels iterations to align its loads then splits both the same way (bitwise the same sums).
struct StageTag {};
template <class T>
constexpr int64_t kStageSlack = int64_t(64 / sizeof(T));

template <class T, class GradPlane>
void batch_norm_backward_with(T* dx, T* dw, T* db, GradPlane grad_plane, const T* x, const T* mean,
                              const T* invstd, const T* w, int64_t n, int64_t c, int64_t hw) {
  const double count = double(n * hw);
  std::vector<double> sum_dy(static_cast<size_t>(c)), sum_dy_xhat(static_cast<size_t>(c));
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t ch = 0; ch < c; ++ch) {
    T* buf = scratch<T, StageTag>(size_t(hw + kStageSlack<T>));
    const double m = mean[ch];
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* g = grad_plane((i * c + ch) * hw, buf);
      const T* p = x + (i * c + ch) * hw;
      double a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
      for (int64_t k = 0; k < hw; ++k) {
        a1 += double(g[k]);
        a2 += double(g[k]) * (double(p[k]) - m);
      }
      s1 += a1;
      s2 += a2;
    }
    sum_dy[size_t(ch)] = s1;
    sum_dy_xhat[size_t(ch)] = s2 * double(invstd[ch]);
    if (dw) dw[ch] = T(sum_dy_xhat[size_t(ch)]);
    if (db) db[ch] = T(s1);
  }
  if (!dx) return;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    T* buf = scratch<T, StageTag>(size_t(hw + kStageSlack<T>));
    const int64_t ch = plane % c;
    const T is = invstd[ch];
    const T scale = (w ? w[ch] : T(1)) * is;
    const T mean_dy = T(sum_dy[size_t(ch)] / count);
    const T mean_dy_xhat = T(sum_dy_xhat[size_t(ch)] / count);
    const T m = mean[ch];
    const T* g = grad_plane(plane * hw, buf);
    const T* p = x + plane * hw;
    T* d = dx + plane * hw;
#pragma omp simd
    for (int64_t k = 0; k < hw; ++k) d[k] = scale * (g[k] - mean_dy - (p[k] - m) * is * mean_dy_xhat);
  }
}

}  // namespace

template <class T>
void batch_norm_leaky_relu_backward(T* dx, T* dw, T* db, const T* dy, const T* y, const T* x, const T* mean,
                                    const T* invstd, const T* w, int64_t n, int64_t c, int64_t hw, double slope) {
  const T a = T(slope);
  auto activation_grad = [dy, y, a, hw](int64_t base, T* buf) {
    const T* g = dy + base;
    const T* out = y + base;
    T* staged = buf + base % kStageSlack<T>;  // dy + base's alignment
    const T slope_t = a;  // a local: read through the closure, a store to `staged` could alias it
    const int64_t len = hw;
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) {
      const T gk = g[k], scaled = gk * slope_t;  // both sides, then a select, as mask_backward(leaky_relu)
      staged[k] = out[k] > 0 ? gk : scaled;
    }
    return static_cast<const T*>(staged);
  };
  batch_norm_backward_with(dx, dw, db, activation_grad, x, mean, invstd, w, n, c, hw);
}

template <class T>
void batch_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* w, int64_t n, int64_t c, int64_t hw) {
  // dy's planes staged like the activation's gradient in the fused form, so that both run literally
  // the same loops on buffers at the same alignment (the compiler vectorised a reduction over dy
  // itself differently, which changed float64 sums in their last bits).
  auto staged_dy = [dy, hw](int64_t base, T* buf) {
    const T* g = dy + base;
    T* staged = buf + base % kStageSlack<T>;
    const int64_t len = hw;
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) staged[k] = g[k];
    return static_cast<const T*>(staged);
  };
  batch_norm_backward_with(dx, dw, db, staged_dy, x, mean, invstd, w, n, c, hw);
}

template <class T>
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var,
                               int64_t c, int64_t count, double momentum) {
  const double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
  for (int64_t ch = 0; ch < c; ++ch) {
    running_mean[ch] = T((1 - momentum) * double(running_mean[ch]) + momentum * double(mean[ch]));
    running_var[ch] =
        T((1 - momentum) * double(running_var[ch]) + momentum * double(var[ch]) * unbias);
  }
}

template <class T>
void layer_norm_forward(T* y, T* mean, T* invstd, const T* x, const T* w, const T* b,
                        int64_t rows, int64_t cols, double eps) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < cols; ++k) s += double(xr[k]);
    const double m = s / double(cols);
    double sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t k = 0; k < cols; ++k) sq += (double(xr[k]) - m) * (double(xr[k]) - m);
    const double is = 1.0 / std::sqrt(sq / double(cols) + eps);
    mean[r] = T(m);
    invstd[r] = T(is);
    const T tm = T(m), tis = T(is);
    T* yr = y + r * cols;
    if (w && b) {
#pragma omp simd
      for (int64_t k = 0; k < cols; ++k) yr[k] = (xr[k] - tm) * tis * w[k] + b[k];
    } else {
      for (int64_t k = 0; k < cols; ++k)
        yr[k] = (xr[k] - tm) * tis * (w ? w[k] : T(1)) + (b ? b[k] : T(0));
    }
  }
}

template <class T>
void layer_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* w, int64_t rows, int64_t cols) {
  if (dw || db) {
    // Column sums over rows; threads take disjoint column blocks, rows in order.
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
    for (int64_t bi = 0; bi < blocks; ++bi) {
      const int64_t k0 = bi * kBlock, k1 = std::min(cols, k0 + kBlock);
      double accw[kBlock] = {}, accb[kBlock] = {};
      for (int64_t r = 0; r < rows; ++r) {
        const double m = mean[r], is = invstd[r];
        for (int64_t k = k0; k < k1; ++k) {
          const double g = dy[r * cols + k];
          accw[k - k0] += g * (double(x[r * cols + k]) - m) * is;
          accb[k - k0] += g;
        }
      }
      for (int64_t k = k0; k < k1; ++k) {
        if (dw) dw[k] = T(accw[k - k0]);
        if (db) db[k] = T(accb[k - k0]);
      }
    }
  }
  if (!dx) return;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const double m = mean[r], is = invstd[r];
    const T* g = dy + r * cols;
    const T* xr = x + r * cols;
    double sum_g = 0, sum_g_xhat = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const double gk = double(g[k]) * (w ? double(w[k]) : 1.0);
      sum_g += gk;
      sum_g_xhat += gk * (double(xr[k]) - m) * is;
    }
    const T mean_g = T(sum_g / double(cols)), mean_g_xhat = T(sum_g_xhat / double(cols));
    const T tm = T(m), tis = T(is);
    T* d = dx + r * cols;
    for (int64_t k = 0; k < cols; ++k) {
      const T gk = g[k] * (w ? w[k] : T(1));
      d[k] = tis * (gk - mean_g - (xr[k] - tm) * tis * mean_g_xhat);
    }
  }
}

#define DUEL_INSTANTIATE(T)                                                                     \
  template void batch_norm_stats<T>(T*, T*, T*, const T*, int64_t, int64_t, int64_t, double);  \
  template void batch_norm_apply<T>(T*, const T*, const T*, const T*, const T*, const T*,      \
                                    int64_t, int64_t, int64_t);                                \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,     \
                                       const T*, int64_t, int64_t, int64_t);                   \
  template void batch_norm_update_running<T>(T*, T*, const T*, const T*, int64_t, int64_t,     \
                                             double);                                          \
  template void layer_norm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t,       \
                                      int64_t, double);                                        \
  template void layer_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,     \
                                       const T*, int64_t, int64_t);                            \
  template void batch_norm_activation_apply<T>(T*, const T*, const T*, const T*, const T*,     \
                                               const T*, int64_t, int64_t, int64_t, Activation, \
                                               double);                                        \
  template void batch_norm_leaky_relu_backward<T>(T*, T*, T*, const T*, const T*, const T*,    \
                                                  const T*, const T*, const T*, int64_t,       \
                                                  int64_t, int64_t, double);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::cpu
