// The emulator's models of the tensor-core and asynchronous-copy instructions that
// kernels/cuda/mma.cuh wraps: mma.sync (m16n8k8 TF32, m16n8k16 BF16, FP32 accumulation) as a
// warp collective that computes what the PTX ISA's fragment layouts say, the TF32 and BF16
// conversions bit for bit, and cp.async with its commit and wait groups.
//
// What the model fixes and what it cannot:
// - The fragment layouts (which lane holds which matrix element) are modelled exactly as the
//   PTX ISA states them (section 9.7.14.5, "Matrix Fragments for mma.m16n8k8" and
//   "...mma.m16n8k16 with floating point type"). A kernel that hands a fragment to the wrong
//   register computes a wrong product here (tests/test_cuda_emu_mma.cpp shows it), and the
//   hardware probe (tests/cuda/test_mma_probe.cpp) compares the same layouts on a GPU.
// - TF32 operands: the tensor core reads the sign, exponent and top 10 mantissa bits of each
//   32-bit register and ignores the low 13, so the model masks them. duel's kernels round
//   with cvt.rna.tf32.f32 first, whose result has those bits zero either way.
// - Accumulation: products of TF32 or BF16 values are exact in FP32; the order and rounding of
//   the tensor core's internal sum are not specified by PTX. The model adds the exact products
//   and C in double and rounds once to FP32. A GPU may differ from that in the last bits, never
//   in which elements are multiplied together.
// - cp.async: the source is read when the copy is issued and the bytes land in shared memory
//   when a cp.async.wait_group retires the copy's group (the latest moment a GPU may land
//   them). A kernel that reads a stage before waiting for it, or before the __syncthreads after
//   the wait, reads stale or poisoned shared memory here every time.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cuda/emulate.h"

namespace duel::emu {

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// cvt.rna.tf32.f32: round to nearest, ties away from zero, onto 10 mantissa bits; the low 13
// bits of the result are zero. Infinities and NaNs pass through (sm_80+ does the same: an
// integer add of half an ulp to finite values, then a mask).
inline uint32_t cvt_rna_tf32(float x) {
  uint32_t u = float_bits(x);
  if (std::isfinite(x)) u += 0x1000u;
  return u & 0xffffe000u;
}

// cvt.rn.bf16.f32: round to nearest, ties to even, onto 7 mantissa bits; NaN stays NaN.
inline uint16_t cvt_rn_bf16(float x) {
  const uint32_t u = float_bits(x);
  if (std::isnan(x)) return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// cvt.rn.bf16x2.f32 d, hi, lo: `hi` in the upper half of d, `lo` in the lower.
inline uint32_t cvt_rn_bf16x2(float hi, float lo) {
  return (uint32_t(cvt_rn_bf16(hi)) << 16) | cvt_rn_bf16(lo);
}

// The value the tensor core reads from a .tf32 operand register.
inline double tf32_operand(uint32_t bits) { return double(bits_float(bits & 0xffffe000u)); }
inline double bf16_operand(uint16_t bits) { return double(bits_float(uint32_t(bits) << 16)); }

struct MmaTf32Fragments {
  uint32_t a[4], b[2];
  float c[4];
};

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 d, a, b, c (D = A B + C, A 16x8, B 8x8).
// PTX ISA 9.7.14.5.7, with groupID = lane >> 2 and threadID_in_group = lane % 4:
//   A  a0:(g, t)  a1:(g+8, t)  a2:(g, t+4)  a3:(g+8, t+4)
//   B  b0:(t, g)  b1:(t+4, g)
//   C, D  c0:(g, 2t)  c1:(g, 2t+1)  c2:(g+8, 2t)  c3:(g+8, 2t+1)
inline void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  MmaTf32Fragments mine;
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  std::memcpy(mine.c, c, sizeof mine.c);
  float out[4];
  warp_collective(mine, [&](const MmaTf32Fragments* all, int lane) {
    double A[16][8], B[8][8], C[16][8];
    for (int l = 0; l < 32; ++l) {
      const int g = l >> 2, t = l % 4;
      A[g][t] = tf32_operand(all[l].a[0]);
      A[g + 8][t] = tf32_operand(all[l].a[1]);
      A[g][t + 4] = tf32_operand(all[l].a[2]);
      A[g + 8][t + 4] = tf32_operand(all[l].a[3]);
      B[t][g] = tf32_operand(all[l].b[0]);
      B[t + 4][g] = tf32_operand(all[l].b[1]);
      C[g][2 * t] = all[l].c[0];
      C[g][2 * t + 1] = all[l].c[1];
      C[g + 8][2 * t] = all[l].c[2];
      C[g + 8][2 * t + 1] = all[l].c[3];
    }
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
      double s = C[row][col];
      for (int k = 0; k < 8; ++k) s += A[row][k] * B[k][col];
      out[i] = float(s);
    }
    return 0;
  });
  std::memcpy(d, out, sizeof out);
}

struct MmaBf16Fragments {
  uint32_t a[4], b[2];
  float c[4];
};

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, c (A 16x16, B 16x8). Each .b32
// register holds two bf16 elements, the lower-numbered one in the low half. PTX ISA 9.7.14.5.8:
//   A  a_i, i = 0..7: row g for i in {0,1,4,5}, g+8 otherwise; col 2t + (i & 1), +8 for i >= 4
//      so register 0 = (g, 2t..2t+1), 1 = (g+8, 2t..2t+1), 2 = (g, 2t+8..), 3 = (g+8, 2t+8..)
//   B  b_i, i = 0..3: row 2t + (i & 1), +8 for i >= 2; col g
//      so register 0 = (2t..2t+1, g), 1 = (2t+8..2t+9, g)
//   C, D as for m16n8k8.
inline void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  MmaBf16Fragments mine;
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  std::memcpy(mine.c, c, sizeof mine.c);
  float out[4];
  warp_collective(mine, [&](const MmaBf16Fragments* all, int lane) {
    double A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; ++l) {
      const int g = l >> 2, t = l % 4;
      for (int i = 0; i < 8; ++i) {
        const uint32_t reg = all[l].a[i / 2];
        const uint16_t half = uint16_t(i % 2 ? reg >> 16 : reg & 0xffffu);
        const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? g : g + 8;
        const int col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
        A[row][col] = bf16_operand(half);
      }
      for (int i = 0; i < 4; ++i) {
        const uint32_t reg = all[l].b[i / 2];
        const uint16_t half = uint16_t(i % 2 ? reg >> 16 : reg & 0xffffu);
        B[2 * t + (i & 1) + (i >= 2 ? 8 : 0)][g] = bf16_operand(half);
      }
      C[g][2 * t] = all[l].c[0];
      C[g][2 * t + 1] = all[l].c[1];
      C[g + 8][2 * t] = all[l].c[2];
      C[g + 8][2 * t + 1] = all[l].c[3];
    }
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
      double s = C[row][col];
      for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
      out[i] = float(s);
    }
    return 0;
  });
  std::memcpy(d, out, sizeof out);
}

// cp.async.ca.shared.global [dst], [src], cp_size, src_size: copies src_size bytes and fills the
// rest of cp_size with zeros (src_size 0 reads nothing: a zero-filled element).
inline void cp_async(void* dst, const void* src, int cp_size, int src_size) {
  if (cp_size != 4 && cp_size != 8 && cp_size != 16) fail("cp.async with a size other than 4, 8 or 16 bytes");
  if (src_size < 0 || src_size > cp_size) fail("cp.async with src_size outside [0, cp_size]");
  AsyncCopy c{dst, {}, cp_size};
  if (src_size > 0) std::memcpy(c.bytes, src, size_t(src_size));
  current->async_copies.push_back(c);
}

inline void cp_async_commit_group() {
  current->async_group_ends.push_back(current->async_copies.size());
}

// cp.async.wait_group n: waits until at most n committed groups are in flight.
inline void cp_async_wait_group(int n) { retire_async_copies(*current, size_t(n)); }

}  // namespace duel::emu
