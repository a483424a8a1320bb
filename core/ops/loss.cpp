// Losses (fused forward kernels; derivatives composed from differentiable ops) and embedding.
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

Reduction parse_reduction(std::string_view s) {
  if (s == "none") return Reduction::none;
  if (s == "mean") return Reduction::mean;
  if (s == "sum") return Reduction::sum;
  fail("unknown reduction '", s, "' (expected none, mean or sum)");
}

namespace {

kernels::Reduce kernel_reduce(Reduction r) {
  return r == Reduction::none ? kernels::Reduce::none
         : r == Reduction::mean ? kernels::Reduce::mean
                                : kernels::Reduce::sum;
}

void check_pair(const char* op, const Tensor& x, const Tensor& t) {
  check_floating(op, "input", x);
  check_floating(op, "target", t);
  check_compatible(op, {{"input", &x}, {"target", &t}});
  DUEL_CHECK(x.shape() == t.shape(), op, ": target ", describe(t), " must have the input's shape ",
             describe(x));
  check_device_supported(op, x);
}

// The incoming gradient spread over the elements: g itself for 'none', g / n or g (a scalar
// that broadcasts) for 'mean' and 'sum'.
Tensor per_element(const Tensor& g, Reduction r, int64_t n) {
  return r == Reduction::mean ? div(g, scalar_like(g, double(n))) : g;
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& x, const Tensor& t, Reduction reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  check_pair(op, x, t);
  Tensor out = empty(reduction == Reduction::none ? x.shape() : Shape{}, x.dtype(), x.device());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, bce_with_logits, out.data<T>(), x.data<T>(), t.data<T>(), x.numel(),
                    kernel_reduce(reduction));
  });
  return record(op, out, {x, t}, [x, t, reduction](Node& n, const Tensor& g) {
    // d/dx = sigmoid(x) - t,  d/dt = -x
    const Tensor ge = per_element(g, reduction, x.numel());
    return std::vector<Tensor>{n.needs_grad(0) ? mul(sub(sigmoid(x), t), ge) : Tensor(),
                               n.needs_grad(1) ? mul(neg(x), ge) : Tensor()};
  });
}

Tensor mse_loss(const Tensor& x, const Tensor& t, Reduction reduction) {
  const char* op = "mse_loss";
  check_pair(op, x, t);
  Tensor out = empty(reduction == Reduction::none ? x.shape() : Shape{}, x.dtype(), x.device());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, mse, out.data<T>(), x.data<T>(), t.data<T>(), x.numel(),
                    kernel_reduce(reduction));
  });
  return record(op, out, {x, t}, [x, t, reduction](Node& n, const Tensor& g) {
    // d/dx = 2 (x - t) = -d/dt
    const Tensor d = mul(sub(x, t), per_element(g, reduction, x.numel()) * 2.0);
    return std::vector<Tensor>{n.needs_grad(0) ? d : Tensor(), n.needs_grad(1) ? neg(d) : Tensor()};
  });
}

Tensor sample_norm_penalty(const Tensor& x, double target, double eps) {
  const char* op = "sample_norm_penalty";
  check_floating(op, "input", x);
  DUEL_CHECK(x.dim() >= 1 && x.size(0) >= 1, op, ": input must be [B, ...] with B >= 1, got ", describe(x));
  DUEL_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  check_device_supported(op, x);
  const int64_t b = x.size(0), per = x.numel() / b;
  Tensor out = empty({}, x.dtype(), x.device());
  const Tensor norms = empty({b}, x.dtype(), x.device());  // kept for the derivative
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, sample_norm_penalty, out.data<T>(), norms.data<T>(), x.data<T>(), b, per, target,
                eps);
  });
  return record(op, out, {x}, [x, norms, target, eps, b, per](Node& n, const Tensor& g) {
    if (!n.needs_grad(0)) return std::vector<Tensor>{Tensor()};
    if (grad_mode_enabled()) {
      // Differentiated again: d/dx = 2 (n_i - target) / (B n_i) x g, in differentiable ops.
      std::vector<int64_t> dims;
      Shape sample_shape{b};
      for (int64_t d = 1; d < x.dim(); ++d) {
        dims.push_back(d);
        sample_shape.push_back(1);
      }
      const Tensor norm = x.dim() > 1 ? sqrt(add(sum(mul(x, x), dims), scalar_like(x, eps)))
                                      : sqrt(add(mul(x, x), scalar_like(x, eps)));
      const Tensor f = mul(div(sub(norm, scalar_like(x, target)), norm), mul(g, scalar_like(x, 2.0 / double(b))));
      return std::vector<Tensor>{mul(x, reshape(f, sample_shape))};
    }
    Tensor dx = empty_like(x);
    dispatch_floating(x.dtype(), "sample_norm_penalty backward", [&]<class T>() {
      DUEL_KERNEL(x.device(), T, sample_norm_penalty_backward, dx.data<T>(), g.data<T>(), x.data<T>(),
                  norms.data<T>(), b, per, target);
    });
    return std::vector<Tensor>{dx};
  });
}

namespace {

void check_indices(const char* op, const Tensor& idx, int64_t num_weights) {
  DUEL_CHECK(idx.defined() && idx.dtype() == DType::i64, op, ": input must be i64 indices, got ",
             describe(idx));
  check_device_supported(op, idx);
  const Tensor host = idx.to(Device::cpu());  // the check reads the indices on the host
  const int64_t* p = host.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    DUEL_CHECK(p[i] >= 0 && p[i] < num_weights, op, ": index ", p[i], " at position ", i,
               " is out of range for ", num_weights, " embeddings");
}

}  // namespace

Tensor embedding(const Tensor& idx, const Tensor& w) {
  const char* op = "embedding";
  check_floating(op, "weight", w);
  DUEL_CHECK(w.dim() == 2, op, ": weight must be [num_embeddings, embedding_dim], got ", describe(w));
  check_same_device(op, idx, w);
  check_indices(op, idx, w.size(0));
  Shape out_shape = idx.shape();
  out_shape.push_back(w.size(1));
  Tensor out = empty(out_shape, w.dtype(), w.device());
  dispatch_floating(w.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(w.device(), T, embedding_forward, out.data<T>(), idx.data<int64_t>(), w.data<T>(), idx.numel(),
                    w.size(1));
  });
  return record(op, out, {idx, w}, [idx, num = w.size(0)](Node& n, const Tensor& g) {
    return std::vector<Tensor>{Tensor(), n.needs_grad(1) ? embedding_backward(g, idx, num) : Tensor()};
  });
}

Tensor embedding_backward(const Tensor& g, const Tensor& idx, int64_t num_weights) {
  const char* op = "embedding_backward";
  check_floating(op, "grad_output", g);
  check_same_device(op, idx, g);
  DUEL_CHECK(num_weights >= 1, op, ": num_weights must be >= 1, got ", num_weights);
  check_indices(op, idx, num_weights);
  DUEL_CHECK(g.dim() == idx.dim() + 1 &&
                 Shape(g.shape().begin(), g.shape().end() - 1) == idx.shape(),
             op, ": grad_output ", describe(g), " must be the input's shape ", shape_str(idx.shape()),
             " plus one embedding dimension");
  const int64_t dim = g.size(-1);
  Tensor dw = empty({num_weights, dim}, g.dtype(), g.device());
  dispatch_floating(g.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(g.device(), T, embedding_backward, dw.data<T>(), g.data<T>(), idx.data<int64_t>(), idx.numel(),
                    dim, num_weights);
  });
  // Linear in grad_output: its derivative gathers the rows back.
  return record(op, dw, {g, idx}, [idx](Node& n, const Tensor& gg) {
    return std::vector<Tensor>{n.needs_grad(0) ? embedding(idx, gg) : Tensor(), Tensor()};
  });
}

}  // namespace duel
