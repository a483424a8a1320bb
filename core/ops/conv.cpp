// The convolution closure (docs/architecture.md): conv2d, conv_transpose2d and conv2d_weight_grad are each
// other's derivatives, so three kernels per device serve forward, backward and double backward.
//
//   y  = conv2d(x, w)             dx = conv_transpose2d(gy, w)    dw = conv2d_weight_grad(x, gy)
//   y  = conv_transpose2d(x, w)   dx = conv2d(gy, w)              dw = conv2d_weight_grad(gy, x)
//   gw = conv2d_weight_grad(x,gy) dx = conv_transpose2d(gy, ggw)  dgy = conv2d(x, ggw)
//
// A transposed convolution's output size is ambiguous when stride > 1; the output_padding that
// recovers the forward input's size is computed from the shapes at hand.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/ops/common.h"

namespace duel {

using namespace ops_detail;

namespace {

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// Strides, paddings and kernel sizes beyond this are refused: no GAN layer comes near it, and
// with every tensor size below 2^48 (memory) no output-size formula below can overflow int64.
constexpr int64_t kMaxGeometry = int64_t(1) << 20;

void check_geometry(const char* op, Int2 stride, Int2 padding) {
  DUEL_CHECK(stride[0] >= 1 && stride[1] >= 1 && stride[0] <= kMaxGeometry && stride[1] <= kMaxGeometry, op,
             ": stride must be from 1 to ", kMaxGeometry, ", got (", stride[0], ", ", stride[1], ")");
  DUEL_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kMaxGeometry && padding[1] <= kMaxGeometry, op,
             ": padding must be from 0 to ", kMaxGeometry, ", got (", padding[0], ", ", padding[1], ")");
}

void check_4d(const char* op, const char* name, const Tensor& t, const char* layout) {
  check_floating(op, name, t);
  DUEL_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D ", layout, ", got ", describe(t));
}

void check_bias(const char* op, const Tensor& bias, int64_t channels) {
  if (!bias.defined()) return;
  check_floating(op, "bias", bias);
  DUEL_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias must be [", channels,
             "], got ", describe(bias));
}

// The output_padding that makes conv_transpose2d produce `target` pixels from `in` pixels.
int64_t output_padding_for(int64_t target, int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return target - ((in - 1) * stride - 2 * pad + k);
}

// The ConvShape of conv2d(x [n, c_in, h, w], weight [c_out, c_in, kh, kw]).
kernels::ConvShape conv_shape(const Tensor& x, int64_t c_out, int64_t kh, int64_t kw, Int2 stride,
                              Int2 padding) {
  kernels::ConvShape s;
  s.n = x.size(0);
  s.c_in = x.size(1);
  s.h = x.size(2);
  s.w = x.size(3);
  s.c_out = c_out;
  s.kh = kh;
  s.kw = kw;
  s.stride_h = stride[0];
  s.stride_w = stride[1];
  s.pad_h = padding[0];
  s.pad_w = padding[1];
  s.h_out = conv_out_size(s.h, kh, stride[0], padding[0]);
  s.w_out = conv_out_size(s.w, kw, stride[1], padding[1]);
  return s;
}

Tensor bias_grad(const Tensor& g) { return sum(g, {0, 2, 3}); }

}  // namespace

namespace {

// The checks of conv2d(x, w, bias) and its ConvShape.
kernels::ConvShape conv2d_checked(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding) {
  const char* op = "conv2d";
  check_4d(op, "input", x, "[N, C_in, H, W]");
  check_4d(op, "weight", w, "[C_out, C_in, kH, kW]");
  check_compatible(op, {{"input", &x}, {"weight", &w}, {"bias", &bias}});
  check_geometry(op, stride, padding);
  DUEL_CHECK(x.size(1) == w.size(1), op, ": input has ", x.size(1), " channels but weight ",
             describe(w), " expects ", w.size(1), " (weight is [C_out, C_in, kH, kW])");
  check_bias(op, bias, w.size(0));
  DUEL_CHECK(x.size(2) + 2 * padding[0] >= w.size(2) && x.size(3) + 2 * padding[1] >= w.size(3),
             op, ": kernel ", w.size(2), "x", w.size(3), " is larger than the padded input ",
             x.size(2) + 2 * padding[0], "x", x.size(3) + 2 * padding[1], " (input ", describe(x), ")");
  check_device_supported(op, x);
  return conv_shape(x, w.size(0), w.size(2), w.size(3), stride, padding);
}

Tensor record_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding, Tensor y) {
  return record("conv2d", std::move(y), {x, w, bias}, [x, w, stride, padding](Node& n, const Tensor& g) {
    Tensor dx, dw, db;
    if (n.needs_grad(0)) {
      const Int2 op_pad{output_padding_for(x.size(2), g.size(2), w.size(2), stride[0], padding[0]),
                        output_padding_for(x.size(3), g.size(3), w.size(3), stride[1], padding[1])};
      dx = conv_transpose2d(g, w, Tensor(), stride, padding, op_pad);
    }
    if (n.needs_grad(1)) dw = conv2d_weight_grad(x, g, {w.size(2), w.size(3)}, stride, padding);
    if (n.needs_grad(2)) db = bias_grad(g);
    return std::vector<Tensor>{dx, dw, db};
  });
}

// The checks of conv_transpose2d(x, w, bias) and the ConvShape of the conv2d whose input
// gradient it is: in that conv2d's terms c_in = C_out here, c_out = C_in here, and its output is x.
kernels::ConvShape conv_transpose2d_checked(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride,
                                            Int2 padding, Int2 output_padding) {
  const char* op = "conv_transpose2d";
  check_4d(op, "input", x, "[N, C_in, H, W]");
  check_4d(op, "weight", w, "[C_in, C_out, kH, kW]");
  check_compatible(op, {{"input", &x}, {"weight", &w}, {"bias", &bias}});
  check_geometry(op, stride, padding);
  DUEL_CHECK(output_padding[0] >= 0 && output_padding[1] >= 0 && output_padding[0] < stride[0] &&
                 output_padding[1] < stride[1],
             op, ": output_padding (", output_padding[0], ", ", output_padding[1],
             ") must be >= 0 and smaller than the stride (", stride[0], ", ", stride[1], ")");
  DUEL_CHECK(x.size(1) == w.size(0), op, ": input has ", x.size(1), " channels but weight ",
             describe(w), " expects ", w.size(0), " (weight is [C_in, C_out, kH, kW])");
  check_bias(op, bias, w.size(1));
  const int64_t h_out = (x.size(2) - 1) * stride[0] - 2 * padding[0] + w.size(2) + output_padding[0];
  const int64_t w_out = (x.size(3) - 1) * stride[1] - 2 * padding[1] + w.size(3) + output_padding[1];
  DUEL_CHECK(h_out > 0 && w_out > 0, op, ": the output would be ", h_out, "x", w_out,
             " for input ", describe(x), ", kernel ", w.size(2), "x", w.size(3), " and padding (",
             padding[0], ", ", padding[1], ")");
  check_device_supported(op, x);
  kernels::ConvShape s;
  s.n = x.size(0);
  s.c_in = w.size(1);
  s.h = h_out;
  s.w = w_out;
  s.c_out = w.size(0);
  s.kh = w.size(2);
  s.kw = w.size(3);
  s.stride_h = stride[0];
  s.stride_w = stride[1];
  s.pad_h = padding[0];
  s.pad_w = padding[1];
  s.h_out = x.size(2);
  s.w_out = x.size(3);
  return s;
}

Tensor record_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding,
                               Tensor y) {
  return record("conv_transpose2d", std::move(y), {x, w, bias}, [x, w, stride, padding](Node& n, const Tensor& g) {
    Tensor dx, dw, db;
    if (n.needs_grad(0)) dx = conv2d(g, w, Tensor(), stride, padding);
    if (n.needs_grad(1)) dw = conv2d_weight_grad(g, x, {w.size(2), w.size(3)}, stride, padding);
    if (n.needs_grad(2)) db = bias_grad(g);
    return std::vector<Tensor>{dx, dw, db};
  });
}

// Runs the convolution kernel (conv2d, or conv2d_input_grad for a transposed convolution) into
// `out` on x's device, with the CUDA epilogue `ep` where given (ep.stats: set from `stats`).
void run_conv(bool transposed, const kernels::ConvShape& s, Tensor& out, const Tensor& x, const Tensor& w,
              const Tensor& bias, kernels::ConvEpilogue ep, ChannelStats* stats) {
  const char* op = transposed ? "conv_transpose2d" : "conv2d";
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    if (x.device().is_cuda()) {
      if constexpr (std::is_same_v<T, float>) {
        const MathMode m = math_mode();
        if (stats) {
          const int64_t tiles = transposed ? kernels::cuda_emu::conv2d_input_grad_stats_tiles(s, m)
                                           : kernels::cuda_emu::conv2d_forward_stats_tiles(s, m);
          const int64_t channels = transposed ? s.c_in : s.c_out;
          stats->partials = tiles > 0 ? empty({channels, tiles, 3}, DType::f32, x.device()) : Tensor();
          ep.stats = tiles > 0 ? stats->partials.data<float>() : nullptr;
        }
        const int64_t ws_n = transposed ? kernels::cuda_emu::conv2d_input_grad_workspace(s, m)
                                        : kernels::cuda_emu::conv2d_forward_workspace(s, m);
        const Tensor ws = workspace_at_least_one(ws_n, x.device());
        const float* b = bias.defined() ? bias.data<float>() : nullptr;
        if (transposed)
          DUEL_CUDA_CALL(x.device(), conv2d_input_grad_fused_f32, out.data<float>(), x.data<float>(), w.data<float>(),
                         b, s, ep, m, ws.data<float>());
        else
          DUEL_CUDA_CALL(x.device(), conv2d_forward_fused_f32, out.data<float>(), x.data<float>(), w.data<float>(), b,
                         s, ep, m, ws.data<float>());
      }
    } else {
      if (stats) stats->partials = Tensor();
      const T* b = bias.defined() ? bias.data<T>() : nullptr;
      if (transposed)
        DUEL_CPU_KERNEL(conv2d_input_grad, out.data<T>(), x.data<T>(), w.data<T>(), b, s);
      else
        DUEL_CPU_KERNEL(conv2d_forward, out.data<T>(), x.data<T>(), w.data<T>(), b, s);
    }
  });
}

Tensor activation_of(Activation act, const Tensor& z, double slope) {
  switch (act) {
    case Activation::relu: return relu(z);
    case Activation::leaky_relu: return leaky_relu(z, slope);
    case Activation::tanh: return tanh(z);
    default: return z;
  }
}

Tensor record_activation(Activation act, const Tensor& z, Tensor y, double slope) {
  switch (act) {
    case Activation::relu: return record_relu(z, std::move(y));
    case Activation::leaky_relu: return record_leaky_relu(z, std::move(y), slope);
    case Activation::tanh: return record_tanh(z, std::move(y));
    default: return y;
  }
}

// act(conv(x, w, bias)) with the activation in the CUDA kernel's epilogue, recorded as the two
// ops. The pre-activation z is written when a backward or the anomaly check will read it.
Tensor conv_activation(bool transposed, const kernels::ConvShape& s, const Tensor& x, const Tensor& w,
                       const Tensor& bias, Int2 stride, Int2 padding, Activation act, double slope) {
  const Shape out_shape = transposed ? Shape{s.n, s.c_in, s.h, s.w} : Shape{s.n, s.c_out, s.h_out, s.w_out};
  const bool records = grad_mode_enabled() && (x.requires_grad() || w.requires_grad() || bias.requires_grad());
  const bool keep_z = records || anomaly_mode_enabled();
  Tensor z = keep_z ? empty(out_shape, x.dtype(), x.device()) : Tensor();
  Tensor y = empty(out_shape, x.dtype(), x.device());
  kernels::ConvEpilogue ep{act, float(slope), keep_z ? z.data<float>() : nullptr, nullptr};
  run_conv(transposed, s, y, x, w, bias, ep, nullptr);
  if (!keep_z) return y;
  z = transposed ? record_conv_transpose2d(x, w, bias, stride, padding, z)
                 : record_conv2d(x, w, bias, stride, padding, z);
  return record_activation(act, z, std::move(y), slope);
}

bool fusable(const Tensor& x) { return x.device().is_cuda() && x.dtype() == DType::f32; }

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding) {
  return conv2d(x, w, bias, stride, padding, nullptr);
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding, ChannelStats* stats) {
  const kernels::ConvShape s = conv2d_checked(x, w, bias, stride, padding);
  Tensor y = empty({s.n, s.c_out, s.h_out, s.w_out}, x.dtype(), x.device());
  run_conv(false, s, y, x, w, bias, kernels::ConvEpilogue{}, stats);
  return record_conv2d(x, w, bias, stride, padding, std::move(y));
}

Tensor conv2d_activation(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding,
                         Activation act, double slope) {
  const kernels::ConvShape s = conv2d_checked(x, w, bias, stride, padding);
  if (!fusable(x) || act == Activation::none) return activation_of(act, conv2d(x, w, bias, stride, padding), slope);
  return conv_activation(false, s, x, w, bias, stride, padding, act, slope);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding,
                        Int2 output_padding) {
  return conv_transpose2d(x, w, bias, stride, padding, output_padding, nullptr);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride, Int2 padding,
                        Int2 output_padding, ChannelStats* stats) {
  const kernels::ConvShape s = conv_transpose2d_checked(x, w, bias, stride, padding, output_padding);
  Tensor y = empty({s.n, s.c_in, s.h, s.w}, x.dtype(), x.device());
  run_conv(true, s, y, x, w, bias, kernels::ConvEpilogue{}, stats);
  return record_conv_transpose2d(x, w, bias, stride, padding, std::move(y));
}

Tensor conv_transpose2d_activation(const Tensor& x, const Tensor& w, const Tensor& bias, Int2 stride,
                                   Int2 padding, Int2 output_padding, Activation act, double slope) {
  const kernels::ConvShape s = conv_transpose2d_checked(x, w, bias, stride, padding, output_padding);
  if (!fusable(x) || act == Activation::none)
    return activation_of(act, conv_transpose2d(x, w, bias, stride, padding, output_padding), slope);
  return conv_activation(true, s, x, w, bias, stride, padding, act, slope);
}

Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, Int2 kernel_size, Int2 stride,
                          Int2 padding) {
  const char* op = "conv2d_weight_grad";
  check_4d(op, "input", x, "[N, C_in, H, W]");
  check_4d(op, "grad_output", gy, "[N, C_out, H_out, W_out]");
  check_compatible(op, {{"input", &x}, {"grad_output", &gy}});
  check_geometry(op, stride, padding);
  DUEL_CHECK(kernel_size[0] >= 1 && kernel_size[1] >= 1 && kernel_size[0] <= kMaxGeometry &&
                 kernel_size[1] <= kMaxGeometry,
             op, ": kernel_size must be from 1 to ", kMaxGeometry, ", got (", kernel_size[0], ", ",
             kernel_size[1], ")");
  DUEL_CHECK(x.size(0) == gy.size(0), op, ": input ", describe(x), " and grad_output ",
             describe(gy), " have different batch sizes");
  const kernels::ConvShape s = conv_shape(x, gy.size(1), kernel_size[0], kernel_size[1], stride, padding);
  DUEL_CHECK(x.size(2) + 2 * padding[0] >= kernel_size[0] && x.size(3) + 2 * padding[1] >= kernel_size[1] &&
                 s.h_out == gy.size(2) && s.w_out == gy.size(3),
             op, ": grad_output ", describe(gy), " is not the output shape of a ", kernel_size[0],
             "x", kernel_size[1], " convolution of input ", describe(x), " with stride (",
             stride[0], ", ", stride[1], ") and padding (", padding[0], ", ", padding[1], ")");
  check_device_supported(op, x);
  Tensor dw = empty({s.c_out, s.c_in, s.kh, s.kw}, x.dtype(), x.device());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    if (x.device().is_cuda()) {
      if constexpr (std::is_same_v<T, float>) {
        // The split-K partial sums need a scratch buffer (empty when the reduction is not split).
        const MathMode m = math_mode();
        const Tensor ws = workspace_at_least_one(kernels::cuda_emu::conv2d_weight_grad_workspace(s, m), x.device());
        DUEL_CUDA_CALL(x.device(), conv2d_weight_grad_f32, dw.data<float>(), x.data<float>(),
                       gy.data<float>(), s, m, ws.data<float>());
      }
    } else {
      DUEL_CPU_KERNEL(conv2d_weight_grad, dw.data<T>(), x.data<T>(), gy.data<T>(), s);
    }
  });
  return record(op, dw, {x, gy}, [x, gy, stride, padding](Node& n, const Tensor& ggw) {
    // Bilinear in (x, gy): each derivative is the other convolution with ggw as the weight.
    Tensor dx, dgy;
    if (n.needs_grad(0)) {
      const Int2 op_pad{
          output_padding_for(x.size(2), gy.size(2), ggw.size(2), stride[0], padding[0]),
          output_padding_for(x.size(3), gy.size(3), ggw.size(3), stride[1], padding[1])};
      dx = conv_transpose2d(gy, ggw, Tensor(), stride, padding, op_pad);
    }
    if (n.needs_grad(1)) dgy = conv2d(x, ggw, Tensor(), stride, padding);
    return std::vector<Tensor>{dx, dgy};
  });
}

}  // namespace duel
