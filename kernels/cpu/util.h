// CPU utility kernels with a single implementation (nothing to check them against):
// fill, dtype conversion, random fills, non-finite scan.
#pragma once

#include <cstdint>

namespace duel::kernels::cpu {

template <class T>
void fill(T* out, int64_t n, T value);

template <class To, class From>
void cast(To* out, const From* in, int64_t n);

// out[i] = lo + (hi - lo) * u_i and out[i] = mean + std * z_i with u_i, z_i element i of the
// Philox draw (seed, offset); see core/philox.h for the layout shared with the GPU.
template <class T>
void random_uniform(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
template <class T>
void random_normal(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);

template <class T>
bool any_non_finite(const T* x, int64_t n);

}  // namespace duel::kernels::cpu
