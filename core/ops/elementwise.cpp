// Elementwise ops and their derivatives.
//
// Conventions at kinks (the derivative is taken from the right-open side, as PyTorch does):
// relu'(0) = 0, leaky_relu'(0) = negative_slope, abs'(0) = sign(0) = 0, and clamp passes the
// gradient where min <= x <= max (both ends included).
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

namespace {

Tensor unary_kernel(const char* op, UnaryOp kind, const Tensor& x, double p0 = 0, double p1 = 0) {
  check_floating(op, "input", x);
  check_device_supported(op, x);
  Tensor out = empty_like(x);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, unary, kind, out.data<T>(), x.data<T>(), x.numel(), p0, p1);
  });
  return out;
}

Tensor mask_kernel(const char* op, MaskOp kind, const Tensor& g, const Tensor& x, double p0,
                   double p1) {
  check_floating(op, "grad_output", g);
  check_floating(op, "input", x);
  check_compatible(op, {{"grad_output", &g}, {"input", &x}});
  DUEL_CHECK(g.shape() == x.shape(), op, ": grad_output ", describe(g), " and input ", describe(x),
             " must have the same shape");
  check_device_supported(op, x);
  Tensor out = empty_like(x);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, mask_backward, kind, out.data<T>(), g.data<T>(), x.data<T>(), x.numel(), p0, p1);
  });
  return out;
}

// Strides of `operand` read as a tensor of `out` shape (0 where it is broadcast), with adjacent
// dimensions merged where both operands stay contiguous across them.
kernels::Broadcast make_broadcast(const char* op, const Shape& out, const Shape& a, const Shape& b) {
  const size_t n = out.size();
  auto strides_for = [&](const Shape& s) {
    std::vector<int64_t> st(n, 0);
    int64_t stride = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t d = s.size() - 1 - i;  // operand dim, aligned right
      const size_t od = n - 1 - i;
      st[od] = (s[d] == 1 && out[od] != 1) ? 0 : stride;
      stride *= s[d];
    }
    return st;
  };
  const std::vector<int64_t> sa = strides_for(a), sb = strides_for(b);
  kernels::Broadcast bc;
  bc.numel = shape_numel(out);
  // Merge from the innermost outwards, skipping size-1 dimensions. Two dimensions merge when each
  // operand steps across the outer one exactly as far as across the whole inner one (this also
  // merges runs where an operand is broadcast, stride 0, across both).
  std::vector<int64_t> size, stra, strb;
  for (size_t i = n; i-- > 0;) {
    if (out[i] == 1) continue;
    if (!size.empty() && stra.back() * size.back() == sa[i] && strb.back() * size.back() == sb[i]) {
      size.back() *= out[i];
      continue;
    }
    size.push_back(out[i]);
    stra.push_back(sa[i]);
    strb.push_back(sb[i]);
  }
  DUEL_CHECK(size.size() <= size_t(kernels::kMaxDims), op, ": broadcasting ", shape_str(a), " with ",
             shape_str(b), " needs more than ", kernels::kMaxDims, " dimensions");
  bc.ndim = int(size.size());
  for (int d = 0; d < bc.ndim; ++d) {  // back to outermost-first order
    bc.size[d] = size[size.size() - 1 - size_t(d)];
    bc.stride_a[d] = stra[size.size() - 1 - size_t(d)];
    bc.stride_b[d] = strb[size.size() - 1 - size_t(d)];
  }
  return bc;
}

Tensor binary_kernel(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  check_floating(op, "input", a);
  check_floating(op, "other", b);
  check_compatible(op, {{"input", &a}, {"other", &b}});
  check_device_supported(op, a);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  const kernels::Broadcast bc = make_broadcast(op, out_shape, a.shape(), b.shape());
  Tensor out = empty(out_shape, a.dtype(), a.device());
  dispatch_floating(a.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(a.device(), T, binary, kind, out.data<T>(), a.data<T>(), b.data<T>(), bc);
  });
  return out;
}

}  // namespace

// The broadcast kernel is shared with broadcast_to (core/ops/shape.cpp).
kernels::Broadcast make_broadcast_for(const char* op, const Shape& out, const Shape& in) {
  return make_broadcast(op, out, in, in);
}

// ----- binary ---------------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel("add", BinaryOp::add, a, b);
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](Node& n, const Tensor& g) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                               n.needs_grad(1) ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel("sub", BinaryOp::sub, a, b);
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](Node& n, const Tensor& g) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                               n.needs_grad(1) ? neg(sum_to(g, sb)) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel("mul", BinaryOp::mul, a, b);
  return record("mul", out, {a, b}, [a, b](Node& n, const Tensor& g) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               n.needs_grad(1) ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel("div", BinaryOp::div, a, b);
  return record("div", out, {a, b}, [a, b](Node& n, const Tensor& g) {
    // d(a/b)/db = -a / b^2
    return std::vector<Tensor>{
        n.needs_grad(0) ? sum_to(div(g, b), a.shape()) : Tensor(),
        n.needs_grad(1) ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
  });
}

// ----- unary ----------------------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  return record("neg", unary_kernel("neg", UnaryOp::neg, x), {x},
                [](Node&, const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  return record(
      "exp", unary_kernel("exp", UnaryOp::exp, x), {x},
      [](Node& n, const Tensor& g) { return std::vector<Tensor>{mul(g, n.output())}; }, true);
}

Tensor log(const Tensor& x) {
  return record("log", unary_kernel("log", UnaryOp::log, x), {x},
                [x](Node&, const Tensor& g) { return std::vector<Tensor>{div(g, x)}; });
}

Tensor sqrt(const Tensor& x) {
  return record(
      "sqrt", unary_kernel("sqrt", UnaryOp::sqrt, x), {x},
      [](Node& n, const Tensor& g) { return std::vector<Tensor>{div(g, n.output() * 2.0)}; }, true);
}

Tensor pow(const Tensor& x, double p) {
  return record("pow", unary_kernel("pow", UnaryOp::pow, x, p), {x}, [x, p](Node&, const Tensor& g) {
    if (p == 0.0) return std::vector<Tensor>{zeros_like(x)};
    if (p == 1.0) return std::vector<Tensor>{g};
    return std::vector<Tensor>{mul(g, pow(x, p - 1.0) * p)};
  });
}

Tensor abs(const Tensor& x) {
  return record("abs", unary_kernel("abs", UnaryOp::abs, x), {x},
                [x](Node&, const Tensor& g) { return std::vector<Tensor>{mul(g, sign(x))}; });
}

Tensor sign(const Tensor& x) {
  // Piecewise constant: the derivative is zero wherever it exists.
  return record("sign", unary_kernel("sign", UnaryOp::sign, x), {x},
                [x](Node&, const Tensor&) { return std::vector<Tensor>{zeros_like(x)}; });
}

Tensor clamp(const Tensor& x, double min, double max) {
  DUEL_CHECK(!(std::isnan(min) || std::isnan(max)), "clamp: min and max must not be NaN");
  DUEL_CHECK(min <= max, "clamp: min ", min, " is above max ", max);
  return record("clamp", unary_kernel("clamp", UnaryOp::clamp, x, min, max), {x},
                [x, min, max](Node&, const Tensor& g) {
                  return std::vector<Tensor>{clamp_backward(g, x, min, max)};
                });
}

Tensor clamp_backward(const Tensor& g, const Tensor& x, double min, double max) {
  Tensor out = mask_kernel("clamp_backward", MaskOp::clamp, g, x, min, max);
  // Linear in grad_output; piecewise constant in input.
  return record("clamp_backward", out, {g, x}, [x, min, max](Node& n, const Tensor& gg) {
    return std::vector<Tensor>{n.needs_grad(0) ? clamp_backward(gg, x, min, max) : Tensor(),
                               n.needs_grad(1) ? zeros_like(x) : Tensor()};
  });
}

namespace ops_detail {

// The autograd records of the activations, given their output (computed by their own kernel or
// by a fused convolution epilogue): one graph whichever kernel ran.
Tensor record_relu(const Tensor& x, Tensor out) {
  return record("relu", std::move(out), {x}, [x](Node&, const Tensor& g) {
    return std::vector<Tensor>{leaky_relu_backward(g, x, 0.0)};
  });
}

Tensor record_leaky_relu(const Tensor& x, Tensor out, double slope) {
  return record("leaky_relu", std::move(out), {x}, [x, slope](Node&, const Tensor& g) {
    return std::vector<Tensor>{leaky_relu_backward(g, x, slope)};
  });
}

Tensor record_tanh(const Tensor& x, Tensor out) {
  return record(
      "tanh", std::move(out), {x},
      [](Node& n, const Tensor& g) {
        const Tensor y = n.output();
        return std::vector<Tensor>{mul(g, 1.0 - mul(y, y))};
      },
      true);
}

}  // namespace ops_detail

Tensor relu(const Tensor& x) { return record_relu(x, unary_kernel("relu", UnaryOp::relu, x)); }

Tensor leaky_relu(const Tensor& x, double slope) {
  return record_leaky_relu(x, unary_kernel("leaky_relu", UnaryOp::leaky_relu, x, slope), slope);
}

Tensor leaky_relu_backward(const Tensor& g, const Tensor& x, double slope) {
  Tensor out = mask_kernel("leaky_relu_backward", MaskOp::leaky_relu, g, x, slope, 0.0);
  return record("leaky_relu_backward", out, {g, x}, [x, slope](Node& n, const Tensor& gg) {
    return std::vector<Tensor>{n.needs_grad(0) ? leaky_relu_backward(gg, x, slope) : Tensor(),
                               n.needs_grad(1) ? zeros_like(x) : Tensor()};
  });
}

Tensor tanh(const Tensor& x) { return record_tanh(x, unary_kernel("tanh", UnaryOp::tanh, x)); }

Tensor sigmoid(const Tensor& x) {
  return record(
      "sigmoid", unary_kernel("sigmoid", UnaryOp::sigmoid, x), {x},
      [](Node& n, const Tensor& g) {
        const Tensor y = n.output();
        return std::vector<Tensor>{mul(g, mul(y, 1.0 - y))};
      },
      true);
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  DUEL_CHECK(beta > 0, "softplus: beta must be positive, got ", beta);
  // Where beta x <= threshold the op is log(1 + e^{beta x}) / beta, with derivative
  // sigmoid(beta x); above it the op is the identity, with derivative 1. The two regions are
  // selected with clamp_backward masks, whose derivative in their input is 0.
  return record("softplus", unary_kernel("softplus", UnaryOp::softplus, x, beta, threshold), {x},
                [x, beta, threshold](Node&, const Tensor& g) {
                  const Tensor bx = beta == 1.0 ? x : x * beta;
                  // The smallest value above the threshold in the tensor's own precision.
                  const double above = x.dtype() == DType::f32
                                           ? double(std::nextafter(float(threshold), INFINITY))
                                           : std::nextafter(threshold, INFINITY);
                  const Tensor smooth = clamp_backward(mul(g, sigmoid(bx)), bx, -kInf, threshold);
                  const Tensor linear = clamp_backward(g, bx, above, kInf);
                  return std::vector<Tensor>{add(smooth, linear)};
                });
}

}  // namespace duel
