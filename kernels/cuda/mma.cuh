// Tensor-core and asynchronous-copy primitives for sm_80 and newer (so Ampere and Hopper), each a
// thin wrapper around one PTX instruction. Compiled by nvcc they are inline PTX; compiled for the
// CPU emulator they are the models of kernels/cuda/emulate_mma.h.
//
//   tf32_bits(x)               cvt.rna.tf32.f32: x rounded to TF32 (10 mantissa bits)
//   bf16x2_bits(lo, hi)        cvt.rn.bf16x2.f32: two floats rounded to BF16, lo in the low half
//   mma_tf32(d, a, b)          mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32, d += a b
//   mma_bf16(d, a, b)          mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32, d += a b
//   cp_async4(dst, src, ok)    cp.async.ca of 4 bytes, zero-filled when !ok (src is not read)
//   cp_async_commit()          cp.async.commit_group
//   cp_async_wait<N>()         cp.async.wait_group N
//
// The fragment layouts (which lane holds which element) are the PTX ISA's, section 9.7.14.5;
// kernels/cuda/emulate_mma.h spells them out next to the model.
#pragma once

#include <cstdint>

#include "kernels/cuda/portable.cuh"
#if defined(DUEL_CUDA_EMULATE)
#include "kernels/cuda/emulate_mma.h"
#endif

namespace duel::kernels::DUEL_CUDA_NS {

#if defined(DUEL_CUDA_EMULATE)

inline uint32_t tf32_bits(float x) { return ::duel::emu::cvt_rna_tf32(x); }
inline uint32_t bf16x2_bits(float lo, float hi) { return ::duel::emu::cvt_rn_bf16x2(hi, lo); }
inline void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  ::duel::emu::mma_m16n8k8_tf32(d, a, b, d);
}
inline void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  ::duel::emu::mma_m16n8k16_bf16(d, a, b, d);
}
inline void cp_async4(void* dst, const void* src, bool ok) { ::duel::emu::cp_async(dst, src, 4, ok ? 4 : 0); }
inline void cp_async_commit() { ::duel::emu::cp_async_commit_group(); }
template <int N>
inline void cp_async_wait() {
  ::duel::emu::cp_async_wait_group(N);
}

#else

__device__ __forceinline__ uint32_t tf32_bits(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ uint32_t bf16x2_bits(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // the host refuses tf32 below compute capability 8.0
#endif
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();
#endif
}

__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool ok) {
#if __CUDA_ARCH__ >= 800
  const unsigned s = unsigned(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s), "l"(src), "r"(ok ? 4 : 0));
#else
  *static_cast<float*>(dst) = ok ? *static_cast<const float*>(src) : 0.0f;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
#endif
}

#endif

}  // namespace duel::kernels::DUEL_CUDA_NS
