// matmul with transpose flags, closed under differentiation (every gradient is another matmul
// with other flags), and linear composed from it.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const char* op = "matmul";
  check_floating(op, "input", a);
  check_floating(op, "other", b);
  check_compatible(op, {{"input", &a}, {"other", &b}});
  DUEL_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3), op,
             ": expected two 2-D matrices or two 3-D batches, got ", describe(a), " and ",
             describe(b));
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 1;
  DUEL_CHECK(!batched || b.size(0) == batch, op, ": batch sizes differ: ", describe(a), " and ",
             describe(b));
  const int64_t m = ta ? a.size(-1) : a.size(-2), k = ta ? a.size(-2) : a.size(-1);
  const int64_t kb = tb ? b.size(-1) : b.size(-2), n = tb ? b.size(-2) : b.size(-1);
  DUEL_CHECK(k == kb, op, ": inner dimensions differ: ", describe(a), (ta ? " transposed" : ""),
             " has ", k, " columns but ", describe(b), (tb ? " transposed" : ""), " has ", kb,
             " rows");
  check_device_supported(op, a);
  Tensor out = empty(batched ? Shape{batch, m, n} : Shape{m, n}, a.dtype(), a.device());
  dispatch_floating(a.dtype(), op, [&]<class T>() {
    if (a.device().is_cuda()) {
      if constexpr (std::is_same_v<T, float>) {
        const MathMode mm = math_mode();
        const Tensor ws = workspace_at_least_one(kernels::cuda_emu::matmul_workspace(batch, m, n, k, mm), a.device());
        DUEL_CUDA_CALL(a.device(), matmul_f32, out.data<float>(), a.data<float>(), b.data<float>(), batch, m, n, k,
                       ta, tb, mm, ws.data<float>());
      }
    } else {
      DUEL_CPU_KERNEL(matmul, out.data<T>(), a.data<T>(), b.data<T>(), batch, m, n, k, ta, tb);
    }
  });
  return record(op, out, {a, b}, [a, b, ta, tb](Node& nd, const Tensor& g) {
    // C = op(A) op(B): dA and dB are again products of g with A or B, with other flags.
    Tensor da, db;
    if (nd.needs_grad(0)) da = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
    if (nd.needs_grad(1)) db = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
    return std::vector<Tensor>{da, db};
  });
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear";
  check_floating(op, "input", input);
  check_floating(op, "weight", weight);
  DUEL_CHECK(weight.dim() == 2, op, ": weight must be [out_features, in_features], got ",
             describe(weight));
  DUEL_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), op, ": input ", describe(input),
             " must end in in_features = ", weight.size(1), " (weight ", describe(weight), ")");
  if (bias.defined())
    DUEL_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": bias must be [",
               weight.size(0), "], got ", describe(bias));
  // A composition: its derivatives are those of reshape, matmul and add.
  const Tensor x2 = reshape(input, {-1, weight.size(1)});
  Tensor y = matmul(x2, weight, false, true);
  if (bias.defined()) y = add(y, bias);
  Shape out_shape = input.shape();
  out_shape.back() = weight.size(0);
  return reshape(y, out_shape);
}

}  // namespace duel
