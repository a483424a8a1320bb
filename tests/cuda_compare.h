// CUDA against the CPU for one op sample: forward, backward and double backward on a device,
// brought back to the host by name. Shared by the emulated-device tests (tests/) and the GPU
// tests (tests/cuda/).
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/op_table.h"
#include "core/random.h"

namespace duel::test {

// Forward, backward and (where the op has one) double backward of `op` on `sample`, run on
// `device`; results come back to the CPU, named.
inline std::vector<std::pair<std::string, Tensor>> evaluate(const OpInfo& op, const Sample& sample,
                                                     Device device) {
  PoisonGuard poison(true);
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : sample.tensors) tensors[name] = t.clone().to(device);
  const std::vector<std::string> names = differentiable_inputs(op, tensors);
  std::vector<Tensor> wrt;
  for (const std::string& n : names) wrt.push_back(tensors[n].requires_grad_(true));
  const Tensor out = run_op(op, tensors, sample.attrs);
  Generator g(77);
  const Tensor gout = randn(out.shape(), g, out.dtype()).to(device);
  std::vector<std::pair<std::string, Tensor>> results;
  results.emplace_back("out", out.detach().to(Device::cpu()));
  if (!op.has_backward || wrt.empty()) return results;
  const std::vector<Tensor> grads = grad({out}, wrt, {gout}, op.has_double_backward, true);
  for (size_t i = 0; i < names.size(); ++i)
    if (grads[i].defined()) results.emplace_back("grad." + names[i], grads[i].detach().to(Device::cpu()));
  for (const InputSpec& in : op.inputs)
    if (!in.differentiable && tensors.count(in.name))
      results.emplace_back(in.name, tensors[in.name].to(Device::cpu()));
  if (!op.has_double_backward) return results;
  // d/dinputs of sum_i <grad_i, v_i>: the second derivative every op must have.
  Tensor total;
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || !grads[i].requires_grad()) continue;
    const Tensor v = randn(grads[i].shape(), g, grads[i].dtype()).to(device);
    const Tensor term = sum(mul(grads[i], v));
    total = total.defined() ? add(total, term) : term;
  }
  if (!total.defined()) return results;
  const std::vector<Tensor> gg = grad({total}, wrt, {}, false, true);
  for (size_t i = 0; i < names.size(); ++i)
    if (gg[i].defined()) results.emplace_back("gradgrad." + names[i], gg[i].to(Device::cpu()));
  return results;
}

// Normalised mean squared error, the CUDA issue's float32 measure; NaN gives infinity.
inline double nmse(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (!std::isfinite(va[i]) || !std::isfinite(vb[i])) return INFINITY;
    num += (va[i] - vb[i]) * (va[i] - vb[i]);
    den += vb[i] * vb[i];
  }
  return den > 0 ? num / den : num;
}


// The bound on NMSE against the CPU (float64-accurate at these sizes) for each math mode
// (docs/cuda.md): relative RMS error 3.2e-4 for fp32 (the CUDA suite's bound from the start),
// 1e-3 for tf32 (operands with 10 mantissa bits: about 3e-4 typical), 1e-2 for bf16 (7 bits:
// about 3e-3 typical).
inline double math_mode_bound(kernels::MathMode m) {
  return m == kernels::MathMode::fp32 ? 1e-7 : m == kernels::MathMode::tf32 ? 1e-6 : 1e-4;
}

// Every op of the table on every float32 sample: `device` against the CPU, in the run's math
// mode, NMSE within that mode's bound for each output, gradient and second derivative (Catch2
// checks; call inside a TEST_CASE).
#define DUEL_CHECK_ALL_OPS_ON(device)                                                     \
  for (const OpInfo& op : op_table()) {                                                    \
    REQUIRE(supports(op, DeviceType::cuda, DType::f32));                                   \
    Generator gen(2024);                                                                   \
    const double bound = ::duel::test::math_mode_bound(::duel::math_mode());               \
    for (const Sample& s : op.samples(DType::f32, gen)) {                                  \
      INFO(op.name << " " << s.label << " math " << ::duel::math_mode_name(::duel::math_mode())); \
      const auto cpu = ::duel::test::evaluate(op, s, Device::cpu());                       \
      const auto gpu = ::duel::test::evaluate(op, s, device);                              \
      REQUIRE(cpu.size() == gpu.size());                                                   \
      for (size_t i = 0; i < cpu.size(); ++i) {                                            \
        INFO(cpu[i].first);                                                                \
        REQUIRE(gpu[i].first == cpu[i].first);                                             \
        REQUIRE(gpu[i].second.shape() == cpu[i].second.shape());                           \
        CHECK(::duel::test::nmse(gpu[i].second, cpu[i].second) <= bound);                 \
      }                                                                                    \
    }                                                                                      \
  }

}  // namespace duel::test
