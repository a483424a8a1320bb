// Parameter blocks shared by the CPU reference kernels, the fast CPU kernels and the CUDA
// kernels. Kernels see raw pointers and these plain structs, never Tensor or autograd.
#pragma once

#include <cstddef>
#include <cstdint>

namespace duel::kernels {

constexpr int kMaxDims = 8;

// out[i] = f(a[ia], b[ib]) over an output of `ndim` dimensions. A stride is 0 along a dimension
// where that operand is broadcast. Adjacent dimensions that broadcast alike are merged by the
// caller, so ndim is usually 1 or 2.
struct Broadcast {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  int64_t numel = 1;
};

// Sum over the dimensions flagged `reduced` of a contiguous input of `ndim` dimensions (adjacent
// dimensions of the same kind merged by the caller). The output keeps the other dimensions in
// order. The result is multiplied by `scale` (1/count for a mean).
struct Reduction {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  bool reduced[kMaxDims] = {};
  int64_t numel_in = 1;
  int64_t numel_out = 1;
};

// One 2-D convolution y = conv2d(x, w) in its own terms:
//   x [n, c_in, h, w], w [c_out, c_in, kh, kw], y [n, c_out, h_out, w_out]
//   h_out = (h + 2 pad_h - kh) / stride_h + 1 (floor), likewise w_out.
// conv_transpose2d and the gradients are expressed as the same shape read the other way.
struct ConvShape {
  int64_t n = 0, c_in = 0, h = 0, w = 0;
  int64_t c_out = 0, kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t h_out = 0, w_out = 0;
};

enum class UnaryOp : int {
  neg, exp, log, sqrt, abs, sign, relu, tanh, sigmoid,
  pow,         // x^p0
  leaky_relu,  // x > 0 ? x : p0 * x
  clamp,       // min(max(x, p0), p1); p0 = -inf or p1 = +inf for a one-sided clamp
  softplus,    // log(1 + exp(p0 x)) / p0, or x where p0 x > p1 (beta, threshold)
};

// Gradients of the piecewise-linear ops, as ops of their own (so they have derivatives too).
enum class MaskOp : int {
  leaky_relu,  // grad * (x > 0 ? 1 : p0)
  clamp,       // grad * (p0 <= x <= p1 ? 1 : 0)
};

enum class BinaryOp : int { add, sub, mul, div };

enum class Reduce : int { none, mean, sum };

// The arithmetic of the GEMM-shaped kernels (matmul and the convolution family), chosen once per
// run (core/config.h). fp32: exact FP32 FMAs. tf32 / bf16: operands rounded to TF32 (10 mantissa
// bits, round to nearest, ties away) or BF16 (7 bits, ties to even), products summed in FP32 on
// tensor cores (mma.sync, sm_80+). The CPU kernels implement fp32 only for now.
enum class MathMode : int { fp32, tf32, bf16 };

// What a convolution kernel's epilogue does to each output element after the bias (CUDA):
//   z = conv + bias;  pre[i] = z (when pre is set);  out[i] = act(z)
// and, when stats is set, leaves the per-channel statistics of out for the batch norm that
// follows: (count, mean, M2) of each column tile of the GEMM, stats[(channel * tiles + tile) * 3],
// combined in tile order by batch_norm_stats_from_partials (deterministic, no atomics).
enum class Activation : int { none, relu, leaky_relu, tanh };
struct ConvEpilogue {
  Activation act = Activation::none;
  float slope = 0.0f;      // leaky_relu's negative slope
  float* pre = nullptr;    // the pre-activation, for autograd
  float* stats = nullptr;  // per-channel partial statistics (see *_stats_tiles)
};

// One tensor of a multi-tensor optimiser update (the CUDA Adam kernel): parameter, gradient and
// the two moments, n elements each, and the parameter's step count (a device int64): the kernel
// computes the bias corrections of step *step + 1 and leaves *step one higher, so nothing about
// the step is baked into the launch and a captured update stays right at every replay.
struct AdamTensor {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  int64_t* step;
};

// The step count of a one-tensor optimiser update on the device: read by every block, advanced
// by one when all have read it; `ticket` is a device word that is 0 between launches.
struct StepCounter {
  int64_t* step;
  unsigned long long* ticket;
};

// What a training step logs, gathered on the device (kernels step_scalars_*), so that a step
// never reads the device from the host: out[0..8] = loss_D, loss_G, gp, D(x), D(G(z)) in the
// critic update, D(G(z)) in the generator update, |grad G|, |grad D|, and 1 where any of them
// is NaN or infinite (else 0).
constexpr int kStepScalars = 9;
struct StepScalarInputs {
  const float* loss_d = nullptr;  // one element each
  const float* loss_g = nullptr;
  const float* gp = nullptr;      // null without a gradient penalty (logged as 0)
  const float* d_real = nullptr;  // critic outputs, `batch` each
  const float* d_fake = nullptr;
  const float* d_fake_after = nullptr;
  int64_t batch = 0;
  bool sigmoid = false;           // average sigmoid(d) (probabilistic losses), else d
  // Sums of squares of the gradients' chunks (sum_squares_chunks), G's and D's.
  const float* g_partials = nullptr;
  const float* d_partials = nullptr;
  int64_t g_chunks = 0, d_chunks = 0;
};

}  // namespace duel::kernels
