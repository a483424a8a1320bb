// Reference reduction: sum over a set of dimensions, accumulated in double.
#include <cstdint>
#include <vector>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

template <class T>
void sum(T* out, const T* x, const Reduction& r, double scale) {
  std::vector<double> acc(size_t(r.numel_out), 0.0);
  // Walk the input in order; the output index drops the reduced coordinates.
  std::vector<int64_t> coord(size_t(r.ndim), 0);
  for (int64_t i = 0; i < r.numel_in; ++i) {
    int64_t o = 0;
    for (int d = 0; d < r.ndim; ++d)
      if (!r.reduced[d]) o = o * r.size[d] + coord[size_t(d)];
    acc[size_t(o)] += double(x[i]);
    for (int d = r.ndim - 1; d >= 0; --d) {  // advance the odometer
      if (++coord[size_t(d)] < r.size[d]) break;
      coord[size_t(d)] = 0;
    }
  }
  for (int64_t o = 0; o < r.numel_out; ++o) out[o] = T(acc[size_t(o)] * scale);
}

template void sum<float>(float*, const float*, const Reduction&, double);
template void sum<double>(double*, const double*, const Reduction&, double);

}  // namespace duel::kernels::reference
