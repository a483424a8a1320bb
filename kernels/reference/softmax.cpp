// Reference log-softmax, accumulated in double.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

template <class T>
void log_softmax(T* out, const T* x, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* row = x + o * n * inner + i;  // stride `inner` along the softmax dimension
      double m = -INFINITY;
      for (int64_t k = 0; k < n; ++k) m = std::max(m, double(row[k * inner]));
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(double(row[k * inner]) - m);
      const double lse = m + std::log(s);
      for (int64_t k = 0; k < n; ++k) out[o * n * inner + k * inner + i] = T(double(row[k * inner]) - lse);
    }
}

template void log_softmax<float>(float*, const float*, int64_t, int64_t, int64_t);
template void log_softmax<double>(double*, const double*, int64_t, int64_t, int64_t);

}  // namespace duel::kernels::reference
