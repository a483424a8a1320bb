// Direct convolution for the fast CPU path (float, FP32): no im2col buffer, no GEMM.
//
// All three passes of a convolution are one register-tiled micro-kernel,
//   out[r][l] = sum over t of  in[toff[t] + roff[r]] * vec[t][l],
// R rows (output pixels, or weight taps) by L lanes (channels, in blocks of L: 32 on AVX-512 as two
// zmm registers, 16 on AVX2 as two ymm), the sum over t (the reduction) taken in order by FMAs:
//   forward       rows: output pixels of a sample; lanes: output channels; t: (c_in, kh, kw);
//                 in: the zero-padded input; vec: the weights packed [c_out block][t][L]
//   input grad    rows: input pixels of one stride phase; lanes: input channels; t: (c_out, the
//                 phase's taps); in: the zero-padded dy; vec: the weights packed per phase
//   weight grad   rows: weight taps (c_in, kh, kw); lanes: output channels; t: (sample, output
//                 pixel); in: the zero-padded input; vec: dy packed [c_out block][t][L]
// Every output element is one such ordered sum, computed whole by one thread, so the result is the
// same bit for bit at any thread count, and the same on AVX2 as on AVX-512 (the same FMAs in the
// same order; only the lane blocking differs).
//
// Chosen at run time: the micro-kernels are compiled with target attributes and picked from cpuid,
// so one binary runs on any x86-64; a CPU without AVX2+FMA keeps im2col + GEMM (kernels/cpu/conv.cpp).
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace duel::kernels::cpu {

enum class DirectIsa { none, avx2, avx512 };

// The best instruction set this CPU and OS run for the direct convolution (none: not x86-64, or no
// AVX2+FMA).
DirectIsa direct_isa_available();

// Which algorithm the fast path's float FP32 convolutions use: automatic (direct where it pays,
// see conv_direct_pays), or one of the two always (for benchmarks and tests). Process-wide.
enum class ConvAlgo { automatic, im2col, direct };
ConvAlgo conv_algo();
void set_conv_algo(ConvAlgo a);

enum class ConvPass { forward, input_grad, weight_grad };
// Whether the direct convolution is used for this pass of this shape (automatic choice): the
// lanes mostly filled (the lane dimension's channels >= 16), at least 32 products per output, and
// the shape not a dense layer (kernel = input, 1x1 output), which conv.cpp runs as one GEMM
// without im2col.
bool conv_direct_pays(const ConvShape& s, ConvPass pass);

// The three passes (same contracts as conv2d_forward / _input_grad / _weight_grad in cpu.h);
// isa must be available (direct_isa_available() at least as good). Shapes with a zero extent are
// the caller's (conv.cpp) to handle.
void conv2d_direct_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s,
                           DirectIsa isa);
void conv2d_direct_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                              DirectIsa isa);
void conv2d_direct_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s, DirectIsa isa);

// The same three passes with BF16 operands (round to nearest even) and FP32 sums, by AVX512_BF16's
// vdpbf16ps two products at a time (--math bf16; precondition: cpu_has_avx512_bf16()). The sums
// run in the same fixed order at any thread count.
void conv2d_direct_bf16_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s);
void conv2d_direct_bf16_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s);
void conv2d_direct_bf16_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s);

}  // namespace duel::kernels::cpu
