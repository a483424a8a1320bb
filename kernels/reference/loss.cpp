// Reference losses and embedding lookup.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

// Writes per-element values, or their mean or sum, into out.
template <class T, class F>
static void reduce_elementwise(T* out, int64_t n, Reduce r, F value_at) {
  if (r == Reduce::none) {
    for (int64_t i = 0; i < n; ++i) out[i] = T(value_at(i));
    return;
  }
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += value_at(i);
  out[0] = T(r == Reduce::mean ? acc / double(n) : acc);
}

template <class T>
void bce_with_logits(T* out, const T* x, const T* t, int64_t n, Reduce r) {
  reduce_elementwise(out, n, r, [&](int64_t i) {
    const double xi = x[i], ti = t[i];
    // max(x, 0) - x t + log(1 + exp(-|x|)): no overflow for any x
    return std::max(xi, 0.0) - xi * ti + std::log1p(std::exp(-std::abs(xi)));
  });
}

template <class T>
void mse(T* out, const T* x, const T* t, int64_t n, Reduce r) {
  reduce_elementwise(out, n, r, [&](int64_t i) {
    const double d = double(x[i]) - double(t[i]);
    return d * d;
  });
}

template <class T>
void sample_norm_penalty(T* out, T* norms, const T* x, int64_t b, int64_t per, double target,
                         double eps) {
  double acc = 0;
  for (int64_t i = 0; i < b; ++i) {
    double s = 0;  // the sample's squared norm
    for (int64_t j = 0; j < per; ++j) s += double(x[i * per + j]) * double(x[i * per + j]);
    const double n = std::sqrt(s + eps);
    norms[i] = T(n);
    acc += (n - target) * (n - target);
  }
  out[0] = T(acc / double(b));
}

template <class T>
void sample_norm_penalty_backward(T* dx, const T* g, const T* x, const T* norms, int64_t b,
                                  int64_t per, double target) {
  for (int64_t i = 0; i < b; ++i) {
    const double n = norms[i];
    const double f = double(g[0]) * 2.0 * (n - target) / (double(b) * n);
    for (int64_t j = 0; j < per; ++j) dx[i * per + j] = T(f * double(x[i * per + j]));
  }
}

template <class T>
void embedding_forward(T* out, const int64_t* idx, const T* w, int64_t n_idx, int64_t dim) {
  for (int64_t i = 0; i < n_idx; ++i)
    for (int64_t k = 0; k < dim; ++k) out[i * dim + k] = w[idx[i] * dim + k];
}

template <class T>
void embedding_backward(T* dw, const T* g, const int64_t* idx, int64_t n_idx, int64_t dim,
                        int64_t num_weights) {
  std::vector<double> acc(size_t(num_weights * dim), 0.0);
  for (int64_t i = 0; i < n_idx; ++i)
    for (int64_t k = 0; k < dim; ++k) acc[size_t(idx[i] * dim + k)] += g[i * dim + k];
  for (size_t e = 0; e < acc.size(); ++e) dw[e] = T(acc[e]);
}

#define DUEL_INSTANTIATE(T)                                                               \
  template void bce_with_logits<T>(T*, const T*, const T*, int64_t, Reduce);             \
  template void mse<T>(T*, const T*, const T*, int64_t, Reduce);                         \
  template void sample_norm_penalty<T>(T*, T*, const T*, int64_t, int64_t, double, double); \
  template void sample_norm_penalty_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, double); \
  template void embedding_forward<T>(T*, const int64_t*, const T*, int64_t, int64_t);    \
  template void embedding_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::reference
