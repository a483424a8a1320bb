// Fast CPU kernels: Eigen GEMM for the matrix work, OpenMP across samples, channels and rows.
// Same interface and results (to rounding) as kernels/reference.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace duel::kernels::cpu {
#include "kernels/cpu_api.inc"

// The GEMM-shaped kernels in a math mode: fp32 (the same as above) or bf16 (BF16 operands, FP32
// accumulation: gemm_bf16.h; only where cpu_has_avx512_bf16()). Float only: double is exact.
void matmul(float* c, const float* a, const float* b, int64_t batch, int64_t m, int64_t n, int64_t k, bool ta,
            bool tb, MathMode math);
void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s, MathMode math);
void conv2d_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                       MathMode math);
void conv2d_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s, MathMode math);

// Batch norm followed by relu or leaky_relu (slope >= 0), fused: fast path only.
//   y [n, c, hw] = act((x - mean[c]) * invstd[c] * w[c] + b[c]), bitwise the value of
//   batch_norm_apply then unary(act) (the same expressions, one pass instead of two);
template <class T>
void batch_norm_activation_apply(T* y, const T* x, const T* mean, const T* invstd, const T* w, const T* b,
                                 int64_t n, int64_t c, int64_t hw, Activation act, double slope);
//   the backward given dy and the output y (relu: slope 0): the activation's gradient
//   dz = y > 0 ? dy : dy * slope (y > 0 exactly where the pre-activation is, for slope >= 0) is
//   formed a plane at a time into a small per-thread buffer inside batch_norm_backward's two
//   passes, instead of in a pass of its own over memory; bitwise the value of
//   mask_backward(leaky_relu) then batch_norm_backward.
template <class T>
void batch_norm_leaky_relu_backward(T* dx, T* dw, T* db, const T* dy, const T* y, const T* x, const T* mean,
                                    const T* invstd, const T* w, int64_t n, int64_t c, int64_t hw, double slope);
}  // namespace duel::kernels::cpu
