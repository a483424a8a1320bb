#include "kernels/cpu/optim.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, double beta1, double beta2, double eps,
               double weight_decay, double step_size, double bias_correction2_sqrt) {
  const T b1 = T(beta1), one_minus_b1 = T(1 - beta1), b2 = T(beta2), one_minus_b2 = T(1 - beta2);
  const T wd = T(weight_decay), e = T(eps), bc2 = T(bias_correction2_sqrt), neg_step = T(-step_size);
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const T gi = weight_decay != 0 ? g[i] + wd * p[i] : g[i];
    m[i] = m[i] * b1 + one_minus_b1 * gi;
    v[i] = v[i] * b2 + one_minus_b2 * gi * gi;
    const T denom = std::sqrt(v[i]) / bc2 + e;
    p[i] = p[i] + neg_step * m[i] / denom;
  }
}

template <class T>
void rmsprop_step(T* p, const T* g, T* s, int64_t n, double lr, double alpha, double eps) {
  const T a = T(alpha), one_minus_a = T(1 - alpha), e = T(eps), neg_lr = T(-lr);
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    s[i] = s[i] * a + one_minus_a * g[i] * g[i];
    p[i] = p[i] + neg_lr * g[i] / (std::sqrt(s[i]) + e);
  }
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, bool first) {
  const T mu = T(momentum), neg_lr = T(-lr);
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if (buf) {
      buf[i] = first ? g[i] : buf[i] * mu + g[i];
      d = buf[i];
    }
    p[i] = p[i] + neg_lr * d;
  }
}

template <class T>
void clamp_inplace(T* x, int64_t n, double lo, double hi) {
  const T l = T(lo), h = T(hi);
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], l), h);
}

#define DUEL_INSTANTIATE(T)                                                                       \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double, \
                             double);                                                             \
  template void rmsprop_step<T>(T*, const T*, T*, int64_t, double, double, double);              \
  template void sgd_step<T>(T*, const T*, T*, int64_t, double, double, bool);                    \
  template void clamp_inplace<T>(T*, int64_t, double, double);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE

}  // namespace duel::kernels::cpu
