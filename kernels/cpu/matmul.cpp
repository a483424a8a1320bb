// Fast matrix product: one thread-count-independent GEMM (kernels/cpu/gemm.h) per batch entry.
// Transposes are read in place, so no operand is copied.
#include <cstdint>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm.h"

namespace duel::kernels::cpu {

template <class T>
void matmul(T* c, const T* a, const T* b, int64_t batch, int64_t m, int64_t n, int64_t k, bool ta,
            bool tb) {
  for (int64_t p = 0; p < batch; ++p) gemm(c + p * m * n, a + p * m * k, b + p * k * n, m, n, k, ta, tb);
}

template void matmul<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                            bool, bool);
template void matmul<double>(double*, const double*, const double*, int64_t, int64_t, int64_t,
                             int64_t, bool, bool);

}  // namespace duel::kernels::cpu
