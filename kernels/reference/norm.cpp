// Reference batch norm and layer norm, accumulated in double.
#include <cmath>
#include <cstdint>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

// x is [n, c, hw]; channel ch of sample i starts at (i*c + ch)*hw.
template <class T>
void batch_norm_stats(T* mean, T* var, T* invstd, const T* x, int64_t n, int64_t c, int64_t hw,
                      double eps) {
  const double count = double(n * hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) s += x[(i * c + ch) * hw + k];
    const double m = s / count;
    double sq = 0;  // two passes: the variance of centred values does not cancel
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) {
        const double d = x[(i * c + ch) * hw + k] - m;
        sq += d * d;
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
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const double scale = double(invstd[ch]) * (w ? double(w[ch]) : 1.0);
      const double shift = b ? double(b[ch]) : 0.0;
      for (int64_t k = 0; k < hw; ++k) {
        const int64_t idx = (i * c + ch) * hw + k;
        y[idx] = T((double(x[idx]) - double(mean[ch])) * scale + shift);
      }
    }
}

template <class T>
void batch_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* w, int64_t n, int64_t c, int64_t hw) {
  const double count = double(n * hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = mean[ch], is = invstd[ch];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) {
        const int64_t idx = (i * c + ch) * hw + k;
        sum_dy += dy[idx];
        sum_dy_xhat += double(dy[idx]) * (double(x[idx]) - m) * is;
      }
    if (dw) dw[ch] = T(sum_dy_xhat);
    if (db) db[ch] = T(sum_dy);
    if (!dx) continue;
    const double scale = (w ? double(w[ch]) : 1.0) * is;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < hw; ++k) {
        const int64_t idx = (i * c + ch) * hw + k;
        const double xhat = (double(x[idx]) - m) * is;
        dx[idx] = T(scale * (double(dy[idx]) - sum_dy / count - xhat * sum_dy_xhat / count));
      }
  }
}

template <class T>
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var,
                               int64_t c, int64_t count, double momentum) {
  // PyTorch's convention: the running variance is the unbiased estimate.
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
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    double s = 0;
    for (int64_t k = 0; k < cols; ++k) s += xr[k];
    const double m = s / double(cols);
    double sq = 0;
    for (int64_t k = 0; k < cols; ++k) sq += (xr[k] - m) * (xr[k] - m);
    const double is = 1.0 / std::sqrt(sq / double(cols) + eps);
    mean[r] = T(m);
    invstd[r] = T(is);
    for (int64_t k = 0; k < cols; ++k)
      y[r * cols + k] = T((xr[k] - m) * is * (w ? double(w[k]) : 1.0) + (b ? double(b[k]) : 0.0));
  }
}

template <class T>
void layer_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* w, int64_t rows, int64_t cols) {
  if (dw)
    for (int64_t k = 0; k < cols; ++k) {
      double acc = 0;
      for (int64_t r = 0; r < rows; ++r)
        acc += double(dy[r * cols + k]) * (double(x[r * cols + k]) - mean[r]) * invstd[r];
      dw[k] = T(acc);
    }
  if (db)
    for (int64_t k = 0; k < cols; ++k) {
      double acc = 0;
      for (int64_t r = 0; r < rows; ++r) acc += dy[r * cols + k];
      db[k] = T(acc);
    }
  if (!dx) return;
  for (int64_t r = 0; r < rows; ++r) {
    const double m = mean[r], is = invstd[r];
    double sum_g = 0, sum_g_xhat = 0;  // g = dy * w, the gradient wrt xhat
    for (int64_t k = 0; k < cols; ++k) {
      const double g = double(dy[r * cols + k]) * (w ? double(w[k]) : 1.0);
      sum_g += g;
      sum_g_xhat += g * (double(x[r * cols + k]) - m) * is;
    }
    for (int64_t k = 0; k < cols; ++k) {
      const double g = double(dy[r * cols + k]) * (w ? double(w[k]) : 1.0);
      const double xhat = (double(x[r * cols + k]) - m) * is;
      dx[r * cols + k] = T(is * (g - sum_g / double(cols) - xhat * sum_g_xhat / double(cols)));
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
                                       const T*, int64_t, int64_t);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::reference
