// Reference matrix product with optional transposes, accumulated in double.
#include <cstdint>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

template <class T>
void matmul(T* c, const T* a, const T* b, int64_t batch, int64_t m, int64_t n, int64_t k, bool ta,
            bool tb) {
  for (int64_t p = 0; p < batch; ++p) {
    const T* A = a + p * m * k;  // [m, k], or [k, m] if ta
    const T* B = b + p * k * n;  // [k, n], or [n, k] if tb
    T* C = c + p * m * n;        // [m, n]
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) {
          const double aiq = ta ? A[q * m + i] : A[i * k + q];
          const double bqj = tb ? B[j * k + q] : B[q * n + j];
          acc += aiq * bqj;
        }
        C[i * n + j] = T(acc);
      }
    }
  }
}

template void matmul<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                            bool, bool);
template void matmul<double>(double*, const double*, const double*, int64_t, int64_t, int64_t,
                             int64_t, bool, bool);

}  // namespace duel::kernels::reference
