// batch_norm and layer_norm.
//
// Forward runs fused kernels. The backward has two implementations of one formula
// (with xhat = (x - mean) invstd, reductions over the normalised elements):
//   dx = invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = dy w
//   dw = sum(dy xhat),  db = sum(dy)
// * without create_graph: the fused backward kernel, one pass for the sums and one for dx;
// * with create_graph: the same formula in differentiable ops, with mean and invstd recomputed
//   from x so that their dependence on x is part of the recorded graph. That is what makes the
//   double backward through a batch-normalised critic exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

namespace {

// The backward formula in differentiable ops. `dims` are the reduced dimensions (keepdim
// reductions), `param_shape` is how w broadcasts against x, `w_shape` the shape of w and b.
std::vector<Tensor> normalize_backward_composite(const Tensor& g, const Tensor& x, const Tensor& w,
                                                 const std::vector<int64_t>& dims,
                                                 const Shape& param_shape, const Shape& w_shape,
                                                 double eps, bool need_x, bool need_w, bool need_b) {
  const Tensor mu = mean(x, dims, true);
  const Tensor xc = sub(x, mu);
  const Tensor invstd = pow(add(mean(mul(xc, xc), dims, true), scalar_like(x, eps)), -0.5);
  const Tensor xhat = mul(xc, invstd);
  Tensor dx, dw, db;
  if (need_w) dw = sum_to(mul(g, xhat), param_shape).reshape(w_shape);
  if (need_b) db = sum_to(g, param_shape).reshape(w_shape);
  if (need_x) {
    const Tensor dxhat = w.defined() ? mul(g, reshape(w, param_shape)) : g;
    dx = mul(invstd, sub(sub(dxhat, mean(dxhat, dims, true)),
                         mul(xhat, mean(mul(dxhat, xhat), dims, true))));
  }
  return {dx, dw, db};
}

void check_param(const char* op, const char* name, const Tensor& t, const Shape& want) {
  if (!t.defined()) return;
  check_floating(op, name, t);
  DUEL_CHECK(t.shape() == want, op, ": ", name, " must be ", shape_str(want), ", got ", describe(t));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& w, const Tensor& b, bool training, double momentum, double eps) {
  return batch_norm(x, running_mean, running_var, w, b, training, momentum, eps, ChannelStats{});
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& w, const Tensor& b, bool training, double momentum, double eps,
                  const ChannelStats& stats) {
  const char* op = "batch_norm";
  check_floating(op, "input", x);
  DUEL_CHECK(x.dim() >= 2, op, ": input must be [N, C] or [N, C, *], got ", describe(x));
  const int64_t n = x.size(0), c = x.size(1), hw = x.numel() / std::max<int64_t>(n * c, 1);
  check_param(op, "running_mean", running_mean, {c});
  check_param(op, "running_var", running_var, {c});
  check_param(op, "weight", w, {c});
  check_param(op, "bias", b, {c});
  check_compatible(op, {{"input", &x}, {"running_mean", &running_mean}, {"running_var", &running_var},
                        {"weight", &w}, {"bias", &b}});
  DUEL_CHECK(running_mean.defined() == running_var.defined(), op,
             ": give both running_mean and running_var, or neither");
  DUEL_CHECK(training || running_mean.defined(), op,
             ": evaluation mode (training=0) needs running_mean and running_var");
  DUEL_CHECK(!running_mean.requires_grad() && !running_var.requires_grad(), op,
             ": running statistics are buffers and must not require grad");
  DUEL_CHECK(eps > 0, op, ": eps must be positive, got ", eps);
  DUEL_CHECK(!training || n * hw > 1, op, ": training needs more than one value per channel, got "
             "input ", describe(x));
  check_device_supported(op, x);
  const std::vector<int64_t> dims = non_channel_dims(x);
  const Shape cshape = channel_shape(x);

  Tensor y = empty_like(x);
  Tensor mean_c, invstd_c;  // [C], detached
  if (training) {
    mean_c = empty({c}, x.dtype(), x.device());
    invstd_c = empty({c}, x.dtype(), x.device());
    Tensor var_c = empty({c}, x.dtype(), x.device());
    // Statistics left by the kernel that produced x (a convolution's epilogue): combined from
    // its per-tile partials instead of two passes over x.
    const bool from_partials = stats.partials.defined() && x.device().is_cuda() && x.dtype() == DType::f32;
    if (from_partials)
      DUEL_CHECK(stats.partials.dim() == 3 && stats.partials.size(0) == c && stats.partials.size(2) == 3 &&
                     stats.partials.device() == x.device(),
                 op, ": channel statistics ", describe(stats.partials), " do not belong to input ", describe(x));
    dispatch_floating(x.dtype(), op, [&]<class T>() {
      if constexpr (std::is_same_v<T, float>) {
        if (from_partials) {
          DUEL_CUDA_CALL(x.device(), batch_norm_stats_from_partials_f32, mean_c.data<float>(), var_c.data<float>(),
                         invstd_c.data<float>(), stats.partials.data<float>(), stats.partials.size(1), c, eps);
        } else {
          DUEL_KERNEL(x.device(), T, batch_norm_stats, mean_c.data<T>(), var_c.data<T>(), invstd_c.data<T>(),
                      x.data<T>(), n, c, hw, eps);
        }
      } else {
        DUEL_KERNEL(x.device(), T, batch_norm_stats, mean_c.data<T>(), var_c.data<T>(), invstd_c.data<T>(),
                    x.data<T>(), n, c, hw, eps);
      }
      if (running_mean.defined()) {
        DUEL_KERNEL(x.device(), T, batch_norm_update_running, running_mean.data<T>(), running_var.data<T>(),
                        mean_c.data<T>(), var_c.data<T>(), c, n * hw, momentum);
      }
    });
  } else {
    NoGradGuard no_grad;
    mean_c = running_mean.detach();
    invstd_c = pow(add(running_var.detach(), scalar_like(running_var, eps)), -0.5);
  }
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, batch_norm_apply, y.data<T>(), x.data<T>(), mean_c.data<T>(),
                    invstd_c.data<T>(), w.defined() ? w.data<T>() : nullptr,
                    b.defined() ? b.data<T>() : nullptr, n, c, hw);
  });

  return record(op, y, {x, w, b},
                [x, w, mean_c, invstd_c, training, eps, dims, cshape](Node& node, const Tensor& g) {
    const bool nx = node.needs_grad(0), nw = node.needs_grad(1), nb = node.needs_grad(2);
    if (!training) {
      // Running statistics are constants: y is affine in x.
      const Tensor is = reshape(invstd_c, cshape);
      const Tensor xhat = mul(sub(x, reshape(mean_c, cshape)), is);
      Tensor dx, dw, db;
      if (nx) dx = mul(g, w.defined() ? mul(reshape(w, cshape), is) : is);
      if (nw) dw = sum_to(mul(g, xhat), cshape).reshape(w.shape());
      if (nb) db = sum_to(g, cshape).reshape({x.size(1)});
      return std::vector<Tensor>{dx, dw, db};
    }
    if (grad_mode_enabled()) {
      return normalize_backward_composite(g, x, w, dims, cshape, {x.size(1)}, eps, nx, nw, nb);
    }
    Tensor dx = nx ? empty_like(x) : Tensor();
    Tensor dw = nw ? empty_like(w) : Tensor();
    Tensor db = nb ? empty({x.size(1)}, x.dtype(), x.device()) : Tensor();
    const int64_t n = x.size(0), c = x.size(1), hw = x.numel() / std::max<int64_t>(n * c, 1);
    dispatch_floating(x.dtype(), "batch_norm backward", [&]<class T>() {
      if (x.device().is_cuda()) {
        if constexpr (std::is_same_v<T, float>) {
          const Tensor ws = workspace(kernels::cuda_emu::batch_norm_backward_workspace(c), x.device());
          DUEL_CUDA_CALL(x.device(), batch_norm_backward_f32, nx ? dx.data<T>() : nullptr,
                         nw ? dw.data<T>() : nullptr, nb ? db.data<T>() : nullptr, g.data<T>(),
                         x.data<T>(), mean_c.data<T>(), invstd_c.data<T>(),
                         w.defined() ? w.data<T>() : nullptr, n, c, hw, ws.data<float>());
        }
      } else {
        DUEL_CPU_KERNEL(batch_norm_backward, nx ? dx.data<T>() : nullptr, nw ? dw.data<T>() : nullptr,
                        nb ? db.data<T>() : nullptr, g.data<T>(), x.data<T>(), mean_c.data<T>(),
                        invstd_c.data<T>(), w.defined() ? w.data<T>() : nullptr, n, c, hw);
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& w, const Tensor& b,
                  double eps) {
  const char* op = "layer_norm";
  check_floating(op, "input", x);
  const int64_t d = int64_t(normalized_shape.size());
  DUEL_CHECK(d >= 1, op, ": normalized_shape must have at least one dimension");
  bool fits = x.dim() >= d;
  for (int64_t i = 0; fits && i < d; ++i)
    fits = x.size(x.dim() - d + i) == normalized_shape[size_t(i)];
  DUEL_CHECK(fits, op, ": input ", describe(x), " does not end in normalized_shape ",
             shape_str(normalized_shape));
  check_param(op, "weight", w, normalized_shape);
  check_param(op, "bias", b, normalized_shape);
  check_compatible(op, {{"input", &x}, {"weight", &w}, {"bias", &b}});
  DUEL_CHECK(eps > 0, op, ": eps must be positive, got ", eps);
  check_device_supported(op, x);
  const int64_t cols = shape_numel(normalized_shape);
  const int64_t rows = cols > 0 ? x.numel() / cols : 0;
  Shape stat_shape(x.shape().begin(), x.shape().end() - d);
  Tensor y = empty_like(x);
  Tensor mean_r = empty(stat_shape, x.dtype(), x.device());
  Tensor invstd_r = empty(stat_shape, x.dtype(), x.device());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, layer_norm_forward, y.data<T>(), mean_r.data<T>(), invstd_r.data<T>(),
                    x.data<T>(), w.defined() ? w.data<T>() : nullptr,
                    b.defined() ? b.data<T>() : nullptr, rows, cols, eps);
  });
  std::vector<int64_t> dims;
  for (int64_t i = x.dim() - d; i < x.dim(); ++i) dims.push_back(i);
  return record(op, y, {x, w, b},
                [x, w, mean_r, invstd_r, eps, dims, normalized_shape, rows, cols](Node& node,
                                                                                  const Tensor& g) {
    const bool nx = node.needs_grad(0), nw = node.needs_grad(1), nb = node.needs_grad(2);
    if (grad_mode_enabled()) {
      return normalize_backward_composite(g, x, w, dims, normalized_shape, normalized_shape, eps,
                                          nx, nw, nb);
    }
    Tensor dx = nx ? empty_like(x) : Tensor();
    Tensor dw = nw ? empty(normalized_shape, x.dtype(), x.device()) : Tensor();
    Tensor db = nb ? empty(normalized_shape, x.dtype(), x.device()) : Tensor();
    dispatch_floating(x.dtype(), "layer_norm backward", [&]<class T>() {
      if (x.device().is_cuda()) {
        if constexpr (std::is_same_v<T, float>) {
          const Tensor ws = workspace(
              std::max<int64_t>(1, kernels::cuda_emu::layer_norm_backward_workspace(rows, cols)), x.device());
          DUEL_CUDA_CALL(x.device(), layer_norm_backward_f32, nx ? dx.data<T>() : nullptr,
                         nw ? dw.data<T>() : nullptr, nb ? db.data<T>() : nullptr, g.data<T>(),
                         x.data<T>(), mean_r.data<T>(), invstd_r.data<T>(),
                         w.defined() ? w.data<T>() : nullptr, rows, cols, ws.data<float>());
        }
      } else {
        DUEL_CPU_KERNEL(layer_norm_backward, nx ? dx.data<T>() : nullptr, nw ? dw.data<T>() : nullptr,
                        nb ? db.data<T>() : nullptr, g.data<T>(), x.data<T>(), mean_r.data<T>(),
                        invstd_r.data<T>(), w.defined() ? w.data<T>() : nullptr, rows, cols);
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace duel
