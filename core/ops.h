// The ops: each validates its arguments, allocates its output, runs the kernel for the device,
// dtype and CPU path, and records its derivative (written in these same ops, so it can be
// differentiated again). Names and arguments follow torch.nn.functional where an equivalent
// exists. Every op here is in the op table (core/op_table.h).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "kernels/params.h"

namespace duel {

using Int2 = std::array<int64_t, 2>;  // (height, width)

// ----- elementwise, with numpy broadcasting ------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // -1, 0, 1; derivative 0
constexpr double kInf = std::numeric_limits<double>::infinity();
Tensor clamp(const Tensor& x, double min = -kInf, double max = kInf);
// grad where min <= x <= max, else 0 (the derivative of clamp, an op so it can be differentiated)
Tensor clamp_backward(const Tensor& grad_output, const Tensor& x, double min, double max);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// grad * (x > 0 ? 1 : negative_slope)
Tensor leaky_relu_backward(const Tensor& grad_output, const Tensor& x, double negative_slope);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);

// ----- reductions -------------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements, shape []
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

// ----- shape ------------------------------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one size may be -1
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Sums `g` down to `shape` (the reverse of broadcasting); returns g itself if it already fits.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ----- linear algebra ---------------------------------------------------------------------------
// op(a) @ op(b) for 2-D, or batched 3-D with equal batch sizes; op transposes the last two dims.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// input [*, in] @ weight[out, in]^T + bias[out]
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

// ----- convolution (the closure in docs/architecture.md) ------------------------------------------
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              Int2 stride = {1, 1}, Int2 padding = {0, 0});
// weight [c_in, c_out, kh, kw]; output size (h-1)*stride - 2*padding + k + output_padding
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                        Int2 stride = {1, 1}, Int2 padding = {0, 0}, Int2 output_padding = {0, 0});

// ----- fused forms: the same ops, recorded as the same autograd graph, computed on CUDA by one
// kernel whose epilogue does the rest (kernels/params.h ConvEpilogue). On the CPU they are the
// plain compositions. nn::Sequential uses them for Conv -> activation and Conv -> BatchNorm2d.
using kernels::Activation;  // none, relu, leaky_relu, tanh
// act(conv2d(...)) and act(conv_transpose2d(...)); `slope` is leaky_relu's. The pre-activation
// is written only when a gradient will read it (grad mode on and an input requiring grad).
Tensor conv2d_activation(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride,
                         Int2 padding, Activation act, double slope = 0.01);
Tensor conv_transpose2d_activation(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                   Int2 stride, Int2 padding, Int2 output_padding, Activation act,
                                   double slope = 0.01);
// Per-channel statistics of a convolution's output left by its kernel for the batch_norm that
// follows: partials [C, tiles, 3] of (count, mean, M2). Undefined when the kernel could not
// produce them (the CPU, a split-K plan): batch_norm then computes them itself.
struct ChannelStats {
  Tensor partials;
};
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, Int2 padding,
              ChannelStats* stats);
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride,
                        Int2 padding, Int2 output_padding, ChannelStats* stats);

// The weight gradient of conv2d(input, w) given grad_output, as a differentiable op:
// [c_out, c_in, kernel_size].
Tensor conv2d_weight_grad(const Tensor& input, const Tensor& grad_output, Int2 kernel_size,
                          Int2 stride = {1, 1}, Int2 padding = {0, 0});

// ----- upsampling --------------------------------------------------------------------------------
// Nearest-neighbour upsampling by integer factors (height, width): input [N, C, H, W] ->
// [N, C, H * sh, W * sw], output pixel (i, j) = input pixel (i / sh, j / sw)
// (F.interpolate(input, scale_factor=..., mode="nearest")).
Tensor upsample_nearest2d(const Tensor& input, Int2 scale_factor);
// Its derivative as a differentiable op: each sh x sw block of grad_output summed, [N, C, H, W].
Tensor upsample_nearest2d_backward(const Tensor& grad_output, Int2 scale_factor);

// ----- normalisation ----------------------------------------------------------------------------
// input [N, C] or [N, C, *]. Training: normalises with the batch statistics and, if running
// stats are given, updates them in place (momentum; unbiased variance, as PyTorch). Eval:
// normalises with the running statistics.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);
// The same, in training mode with the statistics of `input` left by the kernel that produced it
// (conv2d / conv_transpose2d with ChannelStats): one pass over the input instead of three.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps,
                  const ChannelStats& stats);
// act(batch_norm(...)) for act relu, leaky_relu or tanh: the same values and derivatives as the
// two ops in turn. On the CPU's fast path, in training mode with relu or leaky_relu (slope >= 0),
// one fused op: one pass writes the activation without the normalised values, and the backward
// forms the activation's gradient inside batch norm's two passes (bitwise the results of the ops
// in turn; a create_graph backward is the same composition in differentiable ops as batch_norm's).
// Elsewhere the two ops.
Tensor batch_norm_activation(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps,
                             const ChannelStats& stats, Activation act, double slope);
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

// ----- softmax ----------------------------------------------------------------------------------
// x - log(sum(exp(x))) along dim, computed stably (the maximum subtracted first).
Tensor log_softmax(const Tensor& x, int64_t dim);

// ----- losses -----------------------------------------------------------------------------------
enum class Reduction { none, mean, sum };
Reduction parse_reduction(std::string_view s);
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// WGAN-GP's penalty on a gradient: input [B, ...], each sample's L2 norm n_i = sqrt(sum of its
// squares + eps) (eps keeps the derivative finite at a zero gradient), then
// mean_i (n_i - target)^2, shape []. One fused kernel pair on CUDA instead of a chain of seven
// elementwise ops and reductions; its derivative is one kernel, or the differentiable
// composition when it is itself differentiated (create_graph).
Tensor sample_norm_penalty(const Tensor& input, double target = 1.0, double eps = 1e-12);

// ----- embedding --------------------------------------------------------------------------------
// input: i64 indices of any shape; weight [num_embeddings, dim] -> [*input.shape, dim]
Tensor embedding(const Tensor& input, const Tensor& weight);
// The weight gradient of embedding, as a differentiable op: [num_weights, dim].
Tensor embedding_backward(const Tensor& grad_output, const Tensor& input, int64_t num_weights);

// ----- operators --------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, scalar_like(a, s)); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, scalar_like(a, s)); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, scalar_like(a, s)); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, scalar_like(a, s)); }
inline Tensor operator+(double s, const Tensor& a) { return add(scalar_like(a, s), a); }
inline Tensor operator-(double s, const Tensor& a) { return sub(scalar_like(a, s), a); }
inline Tensor operator*(double s, const Tensor& a) { return mul(scalar_like(a, s), a); }
inline Tensor operator/(double s, const Tensor& a) { return div(scalar_like(a, s), a); }

}  // namespace duel
