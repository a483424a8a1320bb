// Every op in the table: gradcheck and gradgradcheck in float64 (coverage comes from the table,
// so an op cannot be added without them), and the fast CPU path against the reference path on
// every sample in f32 and f64 with poisoned output buffers.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/gradcheck.h"
#include "core/op_table.h"

using namespace duel;

TEST_CASE("the op table has one complete entry per op id", "[ops]") {
  const auto& table = op_table();
  REQUIRE(int(table.size()) == kOpCount);
  std::set<std::string> names;
  for (int i = 0; i < kOpCount; ++i) {
    const OpInfo& op = table[size_t(i)];
    INFO(op.name);
    CHECK(int(op.id) == i);
    CHECK(names.insert(op.name).second);
    CHECK(op.run);
    CHECK(op.samples);
    // The foundation issue requires a first and a second derivative for every op.
    CHECK(op.has_backward);
    CHECK(op.has_double_backward);
    CHECK(supports(op, DeviceType::cpu, DType::f32));
    CHECK(supports(op, DeviceType::cpu, DType::f64));
    Generator g(1);
    CHECK(op.samples(DType::f64, g).size() >= 2);
  }
  CHECK(&find_op("conv2d") == &op_info(OpId::conv2d));
  CHECK_THROWS_WITH(find_op("conv3d"), Catch::Contains("unknown op 'conv3d'"));
}

TEST_CASE("gradcheck and gradgradcheck pass for every op on every sample", "[ops][gradcheck]") {
  for (const OpInfo& op : op_table()) {
    for (const OpCheckResult& r : check_op(op)) {
      INFO(r.op << " " << r.sample << ": " << r.error << " " << r.grad.detail << " " << r.gradgrad.detail);
      CHECK(r.error.empty());
      CHECK(r.grad.ok);
      CHECK(r.gradgrad.ok);
      CHECK(r.grad.entries > 0);
    }
  }
}

TEST_CASE("gradcheck passes on the reference CPU path too", "[ops][gradcheck]") {
  CpuPathGuard path(CpuPath::reference);
  for (const OpInfo& op : op_table())
    for (const OpCheckResult& r : check_op(op, {}, 99)) {
      INFO(r.op << " " << r.sample << ": " << r.error << " " << r.grad.detail << " " << r.gradgrad.detail);
      CHECK(r.ok());
    }
}

namespace {

struct Evaluation {
  std::vector<std::pair<std::string, Tensor>> tensors;  // output, gradients, updated buffers
};

// Forward and first backward of `op` on `sample` with the given CPU path; every allocation is
// poisoned so an element a kernel forgets to write shows up as NaN.
Evaluation evaluate(const OpInfo& op, const Sample& sample, CpuPath path, uint64_t grad_seed) {
  CpuPathGuard guard(path);
  PoisonGuard poison(true);
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : sample.tensors) tensors[name] = t.clone();
  const std::vector<std::string> names = differentiable_inputs(op, tensors);
  std::vector<Tensor> wrt;
  for (const std::string& n : names) wrt.push_back(tensors[n].requires_grad_(true));
  const Tensor out = run_op(op, tensors, sample.attrs);
  Generator g(grad_seed);
  const Tensor gout = randn(out.shape(), g, out.dtype());
  const std::vector<Tensor> grads = grad({out}, wrt, {gout}, false, true);
  Evaluation e;
  e.tensors.emplace_back("out", out.detach());
  for (size_t i = 0; i < names.size(); ++i)
    e.tensors.emplace_back("grad." + names[i], grads[i].defined() ? grads[i] : zeros_like(wrt[i]));
  for (const InputSpec& in : op.inputs)
    if (!in.differentiable && tensors.count(in.name)) e.tensors.emplace_back(in.name, tensors[in.name]);
  return e;
}

// max |a - b| / (rtol (max |b| + 1e-30)): <= 1 passes. NaN anywhere fails.
double scaled_difference(const Tensor& a, const Tensor& b, double rtol) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double scale = 0, diff = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return INFINITY;
    scale = std::max(scale, std::abs(vb[i]));
    diff = std::max(diff, std::abs(va[i] - vb[i]));
  }
  return diff / (rtol * (scale + 1e-30));
}

}  // namespace

TEST_CASE("fast CPU kernels agree with the reference kernels on every op sample", "[ops][fast]") {
  for (const OpInfo& op : op_table()) {
    for (DType t : {DType::f32, DType::f64}) {
      Generator gen(2024);
      const double rtol = t == DType::f64 ? 1e-12 : 1e-5;
      for (const Sample& s : op.samples(t, gen)) {
        INFO(op.name << " " << s.label << " " << dtype_name(t));
        const Evaluation ref = evaluate(op, s, CpuPath::reference, 5);
        const Evaluation fast = evaluate(op, s, CpuPath::fast, 5);
        REQUIRE(ref.tensors.size() == fast.tensors.size());
        for (size_t i = 0; i < ref.tensors.size(); ++i) {
          INFO(ref.tensors[i].first);
          REQUIRE(fast.tensors[i].second.shape() == ref.tensors[i].second.shape());
          CHECK(scaled_difference(fast.tensors[i].second, ref.tensors[i].second, rtol) <= 1.0);
        }
      }
    }
  }
}
