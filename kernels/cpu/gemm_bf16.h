// The BF16 GEMM of the fast CPU path (--math bf16 on the CPU): operands rounded to BF16 (round to
// nearest even, as the GPU's cvt.rn.bf16x2.f32), products summed in FP32 by AVX512_BF16's
// vdpbf16ps. Chosen at run time: the micro-kernel is compiled for AVX512_BF16 with a target
// attribute, so one binary runs on any x86-64 and takes this path only where cpuid reports it.
// Like gemm.h, the result does not depend on the number of threads.
#pragma once

#include <cstdint>
#include <cstring>

namespace duel::kernels::cpu {

// Whether this CPU (and the operating system's saved register state) runs AVX512_BF16.
bool cpu_has_avx512_bf16();

// x rounded to BF16 (7 mantissa bits, round to nearest even; NaN stays NaN), as a float.
float round_to_bf16(float x);

// The same rounding as BF16 bits (in the low 16 bits), inline for packing loops.
inline uint32_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;  // NaN: keep it quiet
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// c [m, n] = op(a) op(b) (or += with `accumulate`), a [m, k] ([k, m] if ta), b [k, n] ([n, k] if
// tb), with BF16 operands and FP32 accumulation. Precondition: cpu_has_avx512_bf16().
void gemm_bf16(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
               bool accumulate);

}  // namespace duel::kernels::cpu
