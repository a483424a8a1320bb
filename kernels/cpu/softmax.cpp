// Fast log-softmax: rows in parallel; the common case (softmax over the last dimension,
// inner = 1) reads each row contiguously.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void log_softmax(T* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * n * inner >= kParallelGrain)
  for (int64_t r = 0; r < outer * inner; ++r) {
    const int64_t o = r / inner, i = r % inner;
    const T* row = x + o * n * inner + i;
    T* dst = out + o * n * inner + i;
    double m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = std::max(m, double(row[k * inner]));
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += std::exp(double(row[k * inner]) - m);
    const double lse = m + std::log(s);
    for (int64_t k = 0; k < n; ++k) dst[k * inner] = T(double(row[k * inner]) - lse);
  }
}

template void log_softmax<float>(float*, const float*, int64_t, int64_t, int64_t);
template void log_softmax<double>(double*, const double*, int64_t, int64_t, int64_t);

}  // namespace duel::kernels::cpu
