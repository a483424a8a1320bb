// Fast losses and embedding lookup. Reductions use deterministic_sum (fixed chunks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T, class F>
static void reduce_elementwise(T* out, int64_t n, Reduce r, F value_at) {
  if (r == Reduce::none) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) out[i] = T(value_at(i));
    return;
  }
  const double total = deterministic_sum(n, value_at);
  out[0] = T(r == Reduce::mean ? total / double(n) : total);
}

template <class T>
void bce_with_logits(T* out, const T* x, const T* t, int64_t n, Reduce r) {
  reduce_elementwise(out, n, r, [x, t](int64_t i) {
    const double xi = x[i];
    return std::max(xi, 0.0) - xi * double(t[i]) + std::log1p(std::exp(-std::abs(xi)));
  });
}

template <class T>
void mse(T* out, const T* x, const T* t, int64_t n, Reduce r) {
  reduce_elementwise(out, n, r, [x, t](int64_t i) {
    const double d = double(x[i]) - double(t[i]);
    return d * d;
  });
}

// One sample per thread at a time, each summed in order: the result does not depend on the
// thread count.
template <class T>
void sample_norm_penalty(T* out, T* norms, const T* x, int64_t b, int64_t per, double target,
                         double eps) {
  std::vector<double> n(static_cast<size_t>(b));
#pragma omp parallel for schedule(static) if (b * per >= kParallelGrain)
  for (int64_t i = 0; i < b; ++i) {
    const T* xi = x + i * per;
    double s = 0;
    for (int64_t j = 0; j < per; ++j) s += double(xi[j]) * double(xi[j]);
    n[size_t(i)] = std::sqrt(s + eps);
    norms[i] = T(n[size_t(i)]);
  }
  double acc = 0;
  for (int64_t i = 0; i < b; ++i) acc += (n[size_t(i)] - target) * (n[size_t(i)] - target);
  out[0] = T(acc / double(b));
}

template <class T>
void sample_norm_penalty_backward(T* dx, const T* g, const T* x, const T* norms, int64_t b,
                                  int64_t per, double target) {
#pragma omp parallel for schedule(static) if (b * per >= kParallelGrain)
  for (int64_t i = 0; i < b; ++i) {
    const double n = norms[i];
    const double f = double(g[0]) * 2.0 * (n - target) / (double(b) * n);
    for (int64_t j = 0; j < per; ++j) dx[i * per + j] = T(f * double(x[i * per + j]));
  }
}

template <class T>
void embedding_forward(T* out, const int64_t* idx, const T* w, int64_t n_idx, int64_t dim) {
#pragma omp parallel for schedule(static) if (n_idx * dim >= kParallelGrain)
  for (int64_t i = 0; i < n_idx; ++i)
    std::memcpy(out + i * dim, w + idx[i] * dim, size_t(dim) * sizeof(T));
}

template <class T>
void embedding_backward(T* dw, const T* g, const int64_t* idx, int64_t n_idx, int64_t dim,
                        int64_t num_weights) {
  std::fill(dw, dw + num_weights * dim, T(0));
  // Threads own disjoint column blocks and add the rows in index order: deterministic.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n_idx * dim >= kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k0 = b * kBlock, k1 = std::min(dim, k0 + kBlock);
    for (int64_t i = 0; i < n_idx; ++i) {
      T* row = dw + idx[i] * dim;
      const T* src = g + i * dim;
      for (int64_t k = k0; k < k1; ++k) row[k] += src[k];
    }
  }
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

}  // namespace duel::kernels::cpu
