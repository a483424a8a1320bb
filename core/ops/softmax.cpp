// log_softmax. Its derivative, g - softmax(x) sum(g), is written with the output (exp(y) =
// softmax(x)), so it is differentiable again.
#include <cstdint>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

Tensor log_softmax(const Tensor& x, int64_t dim) {
  const char* op = "log_softmax";
  check_floating(op, "input", x);
  DUEL_CHECK(x.dim() >= 1, op, ": input must have at least one dimension, got ", describe(x));
  const int64_t d = wrap_dim(dim, x.dim(), op);
  DUEL_CHECK(x.size(d) >= 1, op, ": dimension ", d, " of ", describe(x), " is empty");
  check_device_supported(op, x);
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= x.size(k);
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.size(k);
  Tensor out = empty_like(x);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, log_softmax, out.data<T>(), x.data<T>(), outer, x.size(d), inner);
  });
  return record(
      op, out, {x},
      [d](Node& n, const Tensor& g) {
        return std::vector<Tensor>{sub(g, mul(exp(n.output()), sum(g, {d}, true)))};
      },
      true);
}

}  // namespace duel
