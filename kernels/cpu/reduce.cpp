// Fast sum over dimensions. After the caller merges adjacent dimensions, reduced and kept
// dimensions alternate. Two loop shapes cover what a GAN needs:
//   * the last dimension is reduced (row sums, e.g. per-channel sums over H*W): each output sums
//     contiguous runs;
//   * the last dimension is kept (column sums, e.g. a bias gradient over the batch): each output
//     row accumulates whole contiguous rows as vectors.
// A full reduction to one value uses deterministic_sum so it splits across threads.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T>
void sum(T* out, const T* x, const Reduction& r, double scale) {
  if (r.numel_out == 1) {
    out[0] = T(deterministic_sum(r.numel_in, [x](int64_t i) { return double(x[i]); }) * scale);
    return;
  }
  if (r.numel_in == 0) {
    for (int64_t o = 0; o < r.numel_out; ++o) out[o] = T(0);
    return;
  }
  // Strides of the input dimensions.
  int64_t stride[kMaxDims];
  int64_t s = 1;
  for (int d = r.ndim - 1; d >= 0; --d) {
    stride[d] = s;
    s *= r.size[d];
  }
  const int last = r.ndim - 1;
  const bool last_kept = !r.reduced[last];
  // The vector width: the kept innermost run, or 1 when the innermost dimension is reduced.
  const int64_t inner = last_kept ? r.size[last] : 1;
  const int outer_ndim = last_kept ? r.ndim - 1 : r.ndim;
  // A reduced innermost dimension is summed as one contiguous run per step.
  const int64_t run = last_kept ? 1 : r.size[last];
  const int walk_ndim = last_kept ? outer_ndim : r.ndim - 1;
  // The other reduced dimensions, walked one offset at a time.
  int red_dims[kMaxDims];
  int n_red = 0;
  int64_t red_count = 1;
  for (int d = 0; d < walk_ndim; ++d)
    if (r.reduced[d]) {
      red_dims[n_red++] = d;
      red_count *= r.size[d];
    }
  const int64_t out_rows = r.numel_out / inner;

#pragma omp parallel for schedule(static) if (r.numel_in >= kParallelGrain && out_rows > 1)
  for (int64_t orow = 0; orow < out_rows; ++orow) {
    // Base offset of this output row from its kept coordinates.
    int64_t base = 0, rem = orow;
    for (int d = outer_ndim - 1; d >= 0; --d) {
      if (r.reduced[d]) continue;
      base += (rem % r.size[d]) * stride[d];
      rem /= r.size[d];
    }
    std::vector<double> acc(size_t(inner), 0.0);
    for (int64_t k = 0; k < red_count; ++k) {
      int64_t off = base, krem = k;
      for (int j = n_red - 1; j >= 0; --j) {
        const int d = red_dims[j];
        off += (krem % r.size[d]) * stride[d];
        krem /= r.size[d];
      }
      const T* src = x + off;
      if (last_kept) {
        for (int64_t i = 0; i < inner; ++i) acc[size_t(i)] += double(src[i]);
      } else {
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (int64_t i = 0; i < run; ++i) a += double(src[i]);
        acc[0] += a;
      }
    }
    for (int64_t i = 0; i < inner; ++i) out[orow * inner + i] = T(acc[size_t(i)] * scale);
  }
}

template void sum<float>(float*, const float*, const Reduction&, double);
template void sum<double>(double*, const double*, const Reduction&, double);

}  // namespace duel::kernels::cpu
