// sum and mean over all elements or over dimensions. Their derivative broadcasts the gradient
// back (broadcast_to), whose derivative is again a sum: the pair is closed.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

namespace {

struct ReducePlan {
  std::vector<bool> reduced;  // per input dimension
  Shape out_shape;            // with or without the kept size-1 dimensions
  Shape keepdim_shape;        // reduced dimensions as size 1
  int64_t count = 1;          // elements summed into each output
};

ReducePlan plan_reduction(const char* op, const Tensor& x, const std::vector<int64_t>& dims,
                          bool keepdim) {
  const int64_t nd = x.dim();
  ReducePlan p;
  p.reduced.assign(size_t(nd), dims.empty());  // no dims: reduce over all, as torch.sum(x)
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, nd, op);
    DUEL_CHECK(nd > 0, op, ": cannot reduce over dimension ", d, " of a 0-D tensor");
    DUEL_CHECK(!p.reduced[size_t(w)], op, ": dimension ", w, " appears more than once in the dims");
    p.reduced[size_t(w)] = true;
  }
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t size = x.shape()[size_t(d)];
    if (p.reduced[size_t(d)]) {
      p.count *= size;
      p.keepdim_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.keepdim_shape.push_back(size);
      p.out_shape.push_back(size);
    }
  }
  return p;
}

kernels::Reduction make_kernel_reduction(const Tensor& x, const ReducePlan& p) {
  kernels::Reduction r;
  r.numel_in = x.numel();
  r.numel_out = 1;
  std::vector<int64_t> size;
  std::vector<bool> red;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    const int64_t s = x.shape()[d];
    if (!p.reduced[d]) r.numel_out *= s;
    if (s == 1) continue;  // a size-1 dimension is neither summed nor kept in any useful sense
    if (!size.empty() && red.back() == p.reduced[d]) {
      size.back() *= s;  // adjacent dimensions of the same kind merge
    } else {
      size.push_back(s);
      red.push_back(p.reduced[d]);
    }
  }
  DUEL_CHECK(size.size() <= size_t(kernels::kMaxDims), "sum: reducing ", shape_str(x.shape()),
             " over these dims alternates kept and reduced dimensions more than ", kernels::kMaxDims,
             " times; reshape first");
  if (size.empty()) {  // every dimension has size 1
    size.push_back(1);
    red.push_back(false);
  }
  r.ndim = int(size.size());
  for (int d = 0; d < r.ndim; ++d) {
    r.size[d] = size[size_t(d)];
    r.reduced[d] = red[size_t(d)];
  }
  return r;
}

Tensor reduce_impl(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
                   bool is_mean) {
  check_floating(op, "input", x);
  check_device_supported(op, x);
  const ReducePlan p = plan_reduction(op, x, dims, keepdim);
  const kernels::Reduction r = make_kernel_reduction(x, p);
  const double scale = is_mean ? 1.0 / double(p.count) : 1.0;
  Tensor out = empty(p.out_shape, x.dtype(), x.device());
  if (x.numel() == 0) {
    NoGradGuard no_grad;
    out.fill_(is_mean ? std::numeric_limits<double>::quiet_NaN() : 0.0);  // mean of nothing: NaN, as torch
  } else {
    dispatch_floating(x.dtype(), op, [&]<class T>() {
      DUEL_KERNEL(x.device(), T, sum, out.data<T>(), x.data<T>(), r, scale);
    });
  }
  return record(op, out, {x},
                [in_shape = x.shape(), keep = p.keepdim_shape, scale](Node&, const Tensor& g) {
                  Tensor gk = reshape(g, keep);
                  if (scale != 1.0) gk = gk * scale;
                  return std::vector<Tensor>{broadcast_to(gk, in_shape)};
                });
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce_impl("sum", x, {}, false, false); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_impl("sum", x, dims, keepdim, false);
}
Tensor mean(const Tensor& x) { return reduce_impl("mean", x, {}, false, true); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_impl("mean", x, dims, keepdim, true);
}

}  // namespace duel
