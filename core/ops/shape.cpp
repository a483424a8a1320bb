// Shape ops: reshape (a view), broadcast_to, cat and narrow. cat and narrow are each other's
// derivatives, as are broadcast_to and sum.
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

kernels::Broadcast make_broadcast_for(const char* op, const Shape& out, const Shape& in);

namespace {

// Resolves a -1 in `shape` against `numel`, or throws naming both shapes.
Shape infer_shape(const char* op, const Shape& from, const Shape& shape) {
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      DUEL_CHECK(infer < 0, op, ": only one dimension can be -1 in ", shape_str(shape));
      infer = int(i);
    } else {
      DUEL_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in ", shape_str(shape));
      DUEL_CHECK(!__builtin_mul_overflow(known, s[i], &known), op, ": shape ", shape_str(shape),
                 " holds more than 2^63 elements");
    }
  }
  const int64_t numel = shape_numel(from);
  if (infer >= 0) {
    DUEL_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", shape_str(from), " (",
               numel, " elements) into ", shape_str(shape));
    s[size_t(infer)] = numel / known;
  }
  DUEL_CHECK(shape_numel(s) == numel, op, ": cannot reshape ", shape_str(from), " (", numel,
             " elements) into ", shape_str(shape), " (", shape_numel(s), " elements)");
  return s;
}

// Element counts of a tensor seen as [outer, size(dim), inner].
struct Split3 {
  int64_t outer = 1, mid = 1, inner = 1;
};
Split3 split_at(const Shape& s, int64_t dim) {
  Split3 r;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    if (d < dim) r.outer *= s[size_t(d)];
    else if (d == dim) r.mid = s[size_t(d)];
    else r.inner *= s[size_t(d)];
  }
  return r;
}

template <class F>
void dispatch_any(DType t, F&& fn) {
  switch (t) {
    case DType::f32: fn.template operator()<float>(); break;
    case DType::f64: fn.template operator()<double>(); break;
    case DType::i64: fn.template operator()<int64_t>(); break;
  }
}

// copy_rows has a reference and a fast version for float and double; i64 (labels) always uses the
// fast one, which is a plain memcpy. On CUDA: float32 and int64 kernels.
template <class T>
void copy_rows_dispatch(Device dev, T* dst, int64_t ds, const T* src, int64_t ss, int64_t rows,
                        int64_t cols) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (dev.is_cuda())
      DUEL_CUDA_CALL(dev, copy_rows_i64, dst, ds, src, ss, rows, cols);
    else
      kernels::cpu::copy_rows(dst, ds, src, ss, rows, cols);
  } else {
    DUEL_KERNEL(dev, T, copy_rows, dst, ds, src, ss, rows, cols);
  }
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  DUEL_CHECK(x.defined(), "reshape: the input is undefined");
  const Shape s = infer_shape("reshape", x.shape(), shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;  // a view: same storage
  impl->shape = s;
  impl->dtype = x.dtype();
  return record("reshape", Tensor(impl), {x}, [in_shape = x.shape()](Node&, const Tensor& g) {
    return std::vector<Tensor>{reshape(g, in_shape)};
  });
}

Tensor Tensor::reshape(const Shape& s) const { return duel::reshape(*this, s); }

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  DUEL_CHECK(x.defined(), "broadcast_to: the input is undefined");
  const char* op = "broadcast_to";
  DUEL_CHECK(shape.size() >= x.shape().size(), op, ": cannot broadcast ", shape_str(x.shape()),
             " to the smaller rank ", shape_str(shape));
  for (size_t i = 0; i < x.shape().size(); ++i) {
    const int64_t have = x.shape()[x.shape().size() - 1 - i], want = shape[shape.size() - 1 - i];
    DUEL_CHECK(have == want || have == 1, op, ": cannot broadcast ", shape_str(x.shape()), " to ",
               shape_str(shape), " (size ", have, " vs ", want, ")");
  }
  if (x.shape() == shape) return x;
  check_device_supported(op, x);
  // int64 on CUDA (labels: small, never differentiated) goes through the CPU.
  if (!is_floating(x.dtype()) && x.device().is_cuda())
    return broadcast_to(x.to(Device::cpu()), shape).to(x.device());
  Tensor out = empty(shape, x.dtype(), x.device());
  const kernels::Broadcast bc = make_broadcast_for(op, shape, x.shape());
  if (is_floating(x.dtype())) {
    dispatch_floating(x.dtype(), op, [&]<class T>() {
      DUEL_KERNEL(x.device(), T, broadcast_copy, out.data<T>(), x.data<T>(), bc);
    });
  } else {
    kernels::cpu::broadcast_copy(out.data<int64_t>(), x.data<int64_t>(), bc);
  }
  return record(op, out, {x}, [in_shape = x.shape()](Node&, const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - int64_t(shape.size());
  DUEL_CHECK(lead >= 0, "sum_to: cannot sum ", shape_str(g.shape()), " down to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else {
      const int64_t want = shape[size_t(d - lead)];
      DUEL_CHECK(want == g.size(d) || want == 1, "sum_to: cannot sum ", shape_str(g.shape()),
                 " down to ", shape_str(shape));
      if (want == 1 && g.size(d) != 1) dims.push_back(d);
    }
  }
  if (dims.empty()) return reshape(g, shape);
  return reshape(sum(g, dims, true), shape);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  const char* op = "cat";
  DUEL_CHECK(!tensors.empty(), op, ": expected at least one tensor");
  const Tensor& first = tensors[0];
  DUEL_CHECK(first.defined(), op, ": tensor 0 is undefined");
  DUEL_CHECK(first.dim() > 0, op, ": cannot concatenate 0-D tensors (reshape them to [1] first)");
  const int64_t d = wrap_dim(dim, first.dim(), op);
  Shape out_shape = first.shape();
  out_shape[size_t(d)] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    DUEL_CHECK(t.defined(), op, ": tensor ", i, " is undefined");
    check_same_device(op, first, t);
    check_same_dtype(op, first, t);
    DUEL_CHECK(t.dim() == first.dim(), op, ": tensor ", i, " is ", describe(t), " but tensor 0 is ",
               describe(first), ": all need the same number of dimensions");
    for (int64_t k = 0; k < t.dim(); ++k)
      DUEL_CHECK(k == d || t.size(k) == first.size(k), op, ": tensor ", i, " is ", describe(t),
                 " but tensor 0 is ", describe(first), ": sizes must match except in dimension ", d);
    out_shape[size_t(d)] += t.size(d);
  }
  check_device_supported(op, first);
  Tensor out = empty(out_shape, first.dtype(), first.device());
  const Split3 o = split_at(out_shape, d);
  int64_t offset = 0;  // along dim
  std::vector<int64_t> starts, lengths;
  for (const Tensor& t : tensors) {
    const Split3 p = split_at(t.shape(), d);
    dispatch_any(t.dtype(), [&]<class T>() {
      copy_rows_dispatch(out.device(), out.data<T>() + offset * o.inner, o.mid * o.inner, t.data<T>(),
                         p.mid * p.inner, p.outer, p.mid * p.inner);
    });
    starts.push_back(offset);
    lengths.push_back(p.mid);
    offset += p.mid;
  }
  return record(op, out, tensors, [d, starts, lengths](Node& n, const Tensor& g) {
    std::vector<Tensor> grads(starts.size());
    for (size_t i = 0; i < starts.size(); ++i)
      if (n.needs_grad(i)) grads[i] = narrow(g, d, starts[i], lengths[i]);
    return grads;
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const char* op = "narrow";
  DUEL_CHECK(x.defined(), op, ": the input is undefined");
  DUEL_CHECK(x.dim() > 0, op, ": cannot narrow a 0-D tensor");
  const int64_t d = wrap_dim(dim, x.dim(), op);
  const int64_t size = x.size(d);
  if (start < 0 && start >= -size) start += size;
  // Written so that no sum can overflow: start + length with start near 2^63 once read outside.
  DUEL_CHECK(start >= 0 && start <= size && length >= 0 && length <= size - start, op, ": start ", start,
             " and length ", length, " do not fit dimension ", d, " of ", describe(x));
  check_device_supported(op, x);
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = length;
  Tensor out = empty(out_shape, x.dtype(), x.device());
  const Split3 p = split_at(x.shape(), d);
  dispatch_any(x.dtype(), [&]<class T>() {
    copy_rows_dispatch(out.device(), out.data<T>(), length * p.inner, x.data<T>() + start * p.inner,
                       p.mid * p.inner, p.outer, length * p.inner);
  });
  return record(op, out, {x}, [d, start, length, in_shape = x.shape()](Node&, const Tensor& g) {
    // The gradient is g placed back in its slot, zeros around it: a cat, whose derivative is narrow.
    std::vector<Tensor> parts;
    Shape before = in_shape, after = in_shape;
    before[size_t(d)] = start;
    after[size_t(d)] = in_shape[size_t(d)] - start - length;
    if (start > 0) parts.push_back(zeros(before, g.dtype(), g.device()));
    parts.push_back(g);
    if (after[size_t(d)] > 0) parts.push_back(zeros(after, g.dtype(), g.device()));
    return std::vector<Tensor>{parts.size() == 1 ? g : cat(parts, d)};
  });
}

}  // namespace duel
