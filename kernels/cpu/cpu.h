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

}  // namespace duel::kernels::cpu
