#include "core/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>

#include "core/autograd.h"

namespace duel {

namespace {

std::vector<Tensor> fresh_leaves(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    DUEL_CHECK(x.dtype() == DType::f64 && x.device().is_cpu(),
               "gradcheck: inputs must be f64 CPU tensors, got ", describe(x));
    Tensor c = x.detach().clone();
    c.requires_grad_(true);
    xs.push_back(c);
  }
  return xs;
}

int64_t total_numel(const std::vector<Tensor>& ts) {
  int64_t n = 0;
  for (const Tensor& t : ts) n += t.defined() ? t.numel() : 0;
  return n;
}

// Outputs flattened into one vector of doubles (undefined outputs contribute nothing).
std::vector<double> flatten(const std::vector<Tensor>& outs) {
  std::vector<double> v;
  for (const Tensor& o : outs)
    if (o.defined()) {
      const std::vector<double> part = o.to_vector();
      v.insert(v.end(), part.begin(), part.end());
    }
  return v;
}

}  // namespace

CheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, const CheckTolerance& tol) {
  std::vector<Tensor> xs = fresh_leaves(inputs);
  std::vector<Tensor> outs = f(xs);
  const int64_t n_in = total_numel(xs), n_out = total_numel(outs);

  // numeric[j * n_out + k] = d out_k / d in_j by central differences.
  std::vector<double> numeric(size_t(n_in * n_out), 0.0);
  {
    // Grad mode stays on: f may itself take gradients (gradgradcheck's first derivative).
    int64_t j = 0;
    for (Tensor& x : xs) {
      double* p = x.data<double>();
      for (int64_t e = 0; e < x.numel(); ++e, ++j) {
        const double orig = p[e];
        p[e] = orig + tol.eps;
        const std::vector<double> plus = flatten(f(xs));
        p[e] = orig - tol.eps;
        const std::vector<double> minus = flatten(f(xs));
        p[e] = orig;
        DUEL_CHECK(int64_t(plus.size()) == n_out && int64_t(minus.size()) == n_out,
                   "gradcheck: the function's output size changed under perturbation");
        for (int64_t k = 0; k < n_out; ++k)
          numeric[size_t(j * n_out + k)] = (plus[size_t(k)] - minus[size_t(k)]) / (2 * tol.eps);
      }
    }
  }

  // analytic: one backward pass per output element with a one-hot grad_output.
  std::vector<double> analytic(size_t(n_in * n_out), 0.0);
  std::vector<Tensor> diff_outs;
  std::vector<size_t> out_offset;
  {
    size_t off = 0;
    for (const Tensor& o : outs) {
      if (o.defined() && o.requires_grad()) {
        diff_outs.push_back(o);
        out_offset.push_back(off);
      }
      off += o.defined() ? size_t(o.numel()) : 0;
    }
  }
  for (size_t oi = 0; oi < diff_outs.size(); ++oi) {
    for (int64_t e = 0; e < diff_outs[oi].numel(); ++e) {
      std::vector<Tensor> seeds;
      for (size_t q = 0; q < diff_outs.size(); ++q) {
        Tensor s = zeros_like(diff_outs[q]);
        if (q == oi) s.data<double>()[e] = 1.0;
        seeds.push_back(s);
      }
      const std::vector<Tensor> gs = grad(diff_outs, xs, seeds, false, true);
      const int64_t k = int64_t(out_offset[oi]) + e;
      int64_t j = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const int64_t n = xs[i].numel();
        if (gs[i].defined()) {
          const double* g = gs[i].data<double>();
          for (int64_t q = 0; q < n; ++q) analytic[size_t((j + q) * n_out + k)] = g[q];
        }
        j += n;
      }
    }
  }

  CheckResult r;
  r.entries = n_in * n_out;
  int64_t worst = -1;
  for (int64_t idx = 0; idx < n_in * n_out; ++idx) {
    const double a = analytic[size_t(idx)], nmr = numeric[size_t(idx)];
    const double err = std::abs(a - nmr);
    const double ratio = err / (tol.atol + tol.rtol * std::abs(nmr));
    r.max_abs_error = std::max(r.max_abs_error, err);
    if (!(ratio <= r.worst_ratio)) {  // also catches NaN
      r.worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
      worst = idx;
    }
  }
  r.ok = r.worst_ratio <= 1.0;
  if (!r.ok && worst >= 0) {
    std::ostringstream os;
    os << "d out[" << worst % n_out << "] / d in[" << worst / n_out << "]: analytic "
       << analytic[size_t(worst)] << " vs numeric " << numeric[size_t(worst)];
    r.detail = os.str();
  }
  return r;
}

CheckResult gradgradcheck(const TensorFn& f, const std::vector<Tensor>& inputs, Generator& gen,
                          const CheckTolerance& tol) {
  // Random weights v for the outputs, fixed for the whole check.
  std::vector<Tensor> probe_in = fresh_leaves(inputs);
  std::vector<Tensor> vs;
  for (const Tensor& o : f(probe_in))
    if (o.defined() && o.requires_grad()) vs.push_back(randn(o.shape(), gen, DType::f64));
  const size_t n_x = inputs.size();
  TensorFn first_derivative = [&f, n_x](const std::vector<Tensor>& args) {
    const std::vector<Tensor> xs(args.begin(), args.begin() + long(n_x));
    const std::vector<Tensor> v(args.begin() + long(n_x), args.end());
    std::vector<Tensor> outs;
    for (const Tensor& o : f(xs))
      if (o.defined() && o.requires_grad()) outs.push_back(o);
    if (outs.empty()) return std::vector<Tensor>(n_x);
    std::vector<Tensor> gs = grad(outs, xs, v, true, true);
    for (size_t i = 0; i < gs.size(); ++i)
      if (!gs[i].defined()) gs[i] = zeros_like(xs[i]);
    return gs;
  };
  std::vector<Tensor> args = inputs;
  args.insert(args.end(), vs.begin(), vs.end());
  return gradcheck(first_derivative, args, tol);
}

std::vector<OpCheckResult> check_op(const OpInfo& op, const CheckTolerance& tol, uint64_t seed) {
  Generator gen(seed);
  std::vector<OpCheckResult> results;
  for (const Sample& s : op.samples(DType::f64, gen)) {
    OpCheckResult r;
    r.op = op.name;
    r.sample = s.label;
    try {
      const std::vector<std::string> names = differentiable_inputs(op, s.tensors);
      DUEL_CHECK(!names.empty(), op.name, ": sample '", s.label, "' has no differentiable input");
      std::vector<Tensor> inputs;
      for (const std::string& n : names) inputs.push_back(s.tensors.at(n));
      TensorFn f = [&op, &s, &names](const std::vector<Tensor>& xs) {
        std::map<std::string, Tensor> tensors = s.tensors;
        for (size_t i = 0; i < names.size(); ++i) tensors[names[i]] = xs[i];
        return std::vector<Tensor>{run_op(op, tensors, s.attrs)};
      };
      r.grad = gradcheck(f, inputs, tol);
      r.gradgrad = gradgradcheck(f, inputs, gen, tol);
    } catch (const Error& e) {
      r.error = e.what();
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace duel
