// Fast matrix product: Eigen's blocked GEMM on maps of the raw buffers. Transposes are lazy
// expressions, so no operand is copied. Eigen parallelises the GEMM itself with OpenMP.
#include <Eigen/Core>
#include <cstdint>

#include "kernels/cpu/cpu.h"

namespace duel::kernels::cpu {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
void matmul(T* c, const T* a, const T* b, int64_t batch, int64_t m, int64_t n, int64_t k, bool ta,
            bool tb) {
  using Map = Eigen::Map<const RowMajor<T>>;
  for (int64_t p = 0; p < batch; ++p) {
    const Map A(a + p * m * k, ta ? k : m, ta ? m : k);
    const Map B(b + p * k * n, tb ? n : k, tb ? k : n);
    Eigen::Map<RowMajor<T>> C(c + p * m * n, m, n);
    if (k == 0) {
      C.setZero();
    } else if (!ta && !tb) {
      C.noalias() = A * B;
    } else if (ta && !tb) {
      C.noalias() = A.transpose() * B;
    } else if (!ta && tb) {
      C.noalias() = A * B.transpose();
    } else {
      C.noalias() = A.transpose() * B.transpose();
    }
  }
}

template void matmul<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                            bool, bool);
template void matmul<double>(double*, const double*, const double*, int64_t, int64_t, int64_t,
                             int64_t, bool, bool);

}  // namespace duel::kernels::cpu
