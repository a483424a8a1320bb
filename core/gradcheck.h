// Numerical checks of derivatives in float64: gradcheck compares the analytic Jacobian (one
// backward pass per output element) with central differences; gradgradcheck does the same for
// the map (inputs, v) -> grad(f(inputs), inputs, v, create_graph=true), which exercises every
// double-backward formula.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/op_table.h"

namespace duel {

struct CheckTolerance {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol |numeric|
  double rtol = 1e-3;
};

struct CheckResult {
  bool ok = true;
  int64_t entries = 0;        // Jacobian entries compared
  double max_abs_error = 0;   // largest |analytic - numeric|
  double worst_ratio = 0;     // largest |a - n| / (atol + rtol |n|); ok iff <= 1
  std::string detail;         // where the worst entry is, when not ok
};

using TensorFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Inputs must be f64 CPU leaves; they are cloned and marked requires_grad internally.
CheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                      const CheckTolerance& tol = {});
CheckResult gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, Generator& gen,
                          const CheckTolerance& tol = {});

struct OpCheckResult {
  std::string op, sample;
  CheckResult grad, gradgrad;
  std::string error;  // an exception thrown while checking (counts as a failure)
  bool ok() const { return error.empty() && grad.ok && gradgrad.ok; }
};

// gradcheck and gradgradcheck of one op on every one of its f64 samples.
std::vector<OpCheckResult> check_op(const OpInfo& op, const CheckTolerance& tol = {},
                                    uint64_t seed = 1234);

}  // namespace duel
