#include "kernels/cpu/util.h"

#include <cmath>

#include "core/philox.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void fill(T* out, int64_t n, T value) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

template <class To, class From>
void cast(To* out, const From* in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = To(in[i]);
}

template <class T>
void random_uniform(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (sizeof(T) == 4) {
      out[i] = T(philox::shift_scale(lo, hi - lo, double(philox::uniform_f32(seed, offset, uint64_t(i)))));
    } else {
      out[i] = T(philox::shift_scale(lo, hi - lo, philox::uniform_f64(seed, offset, uint64_t(i))));
    }
  }
}

template <class T>
void random_normal(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
  for (int64_t i = 0; i < n; i += 2) {  // one Philox block gives two normals
    double z0, z1;
    philox::normal_pair(philox::block(seed, offset, uint64_t(i) >> 1), &z0, &z1);
    out[i] = T(philox::shift_scale(mean, std, z0));
    if (i + 1 < n) out[i + 1] = T(philox::shift_scale(mean, std, z1));
  }
}

template <class T>
bool any_non_finite(const T* x, int64_t n) {
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) bad = bad || !std::isfinite(x[i]);
  return bad;
}

template void fill<float>(float*, int64_t, float);
template void fill<double>(double*, int64_t, double);
template void fill<int64_t>(int64_t*, int64_t, int64_t);
#define DUEL_CAST(To, From) template void cast<To, From>(To*, const From*, int64_t);
DUEL_CAST(float, float)
DUEL_CAST(double, double)
DUEL_CAST(int64_t, int64_t)
DUEL_CAST(float, double)
DUEL_CAST(float, int64_t)
DUEL_CAST(double, float)
DUEL_CAST(double, int64_t)
DUEL_CAST(int64_t, float)
DUEL_CAST(int64_t, double)
#undef DUEL_CAST
template void random_uniform<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_uniform<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template bool any_non_finite<float>(const float*, int64_t);
template bool any_non_finite<double>(const double*, int64_t);

}  // namespace duel::kernels::cpu
