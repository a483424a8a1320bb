// Nearest-neighbour upsampling by integer factors and its derivative. Both are linear, and each is
// the other's derivative (the transpose of "copy into a block" is "sum the block"):
//
//   y  = upsample_nearest2d(x, s)            dx  = upsample_nearest2d_backward(gy, s)
//   gx = upsample_nearest2d_backward(gy, s)  dgy = upsample_nearest2d(ggx, s)
//
// so two kernels per device serve forward, backward and every higher derivative. With integer
// factors, output pixel (i, j) copies input pixel (i / sh, j / sw): PyTorch's
// F.interpolate(x, scale_factor=s, mode="nearest") exactly.
#include <cstdint>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

namespace {

void check_scale(const char* op, Int2 s) {
  DUEL_CHECK(s[0] >= 1 && s[1] >= 1, op, ": scale_factor must be >= 1, got (", s[0], ", ", s[1], ")");
}

void check_4d(const char* op, const char* name, const Tensor& t) {
  check_floating(op, name, t);
  DUEL_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D [N, C, H, W], got ", describe(t));
  check_device_supported(op, t);
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, Int2 scale_factor) {
  const char* op = "upsample_nearest2d";
  check_4d(op, "input", x);
  check_scale(op, scale_factor);
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // Plain variables, not a structured binding: lambdas capture these (clang before 16 refuses
  // to capture a binding).
  const int64_t sh = scale_factor[0], sw = scale_factor[1];
  Tensor y = empty({n, c, h * sh, w * sw}, x.dtype(), x.device());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(x.device(), T, upsample_nearest2d, y.data<T>(), x.data<T>(), n * c, h, w, sh, sw);
  });
  return record(op, y, {x}, [scale_factor](Node& node, const Tensor& g) {
    return std::vector<Tensor>{node.needs_grad(0) ? upsample_nearest2d_backward(g, scale_factor) : Tensor()};
  });
}

Tensor upsample_nearest2d_backward(const Tensor& g, Int2 scale_factor) {
  const char* op = "upsample_nearest2d_backward";
  check_4d(op, "grad_output", g);
  check_scale(op, scale_factor);
  // Plain variables, not a structured binding: lambdas capture these (clang before 16 refuses
  // to capture a binding).
  const int64_t sh = scale_factor[0], sw = scale_factor[1];
  DUEL_CHECK(g.size(2) % sh == 0 && g.size(3) % sw == 0, op, ": grad_output ", describe(g),
             " is not an upsampled image: its height and width must be multiples of the scale factor (",
             sh, ", ", sw, ")");
  const int64_t n = g.size(0), c = g.size(1), h = g.size(2) / sh, w = g.size(3) / sw;
  Tensor dx = empty({n, c, h, w}, g.dtype(), g.device());
  dispatch_floating(g.dtype(), op, [&]<class T>() {
    DUEL_KERNEL(g.device(), T, upsample_nearest2d_backward, dx.data<T>(), g.data<T>(), n * c, h, w, sh, sw);
  });
  // Linear in grad_output: its derivative copies back into the blocks.
  return record(op, dx, {g}, [scale_factor](Node& node, const Tensor& gg) {
    return std::vector<Tensor>{node.needs_grad(0) ? upsample_nearest2d(gg, scale_factor) : Tensor()};
  });
}

}  // namespace duel
