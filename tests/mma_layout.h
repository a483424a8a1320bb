// The PTX ISA's fragment layouts of mma.m16n8k8 (TF32) and mma.m16n8k16 (BF16), written out a
// second time for the tests (section 9.7.14.5; the kernels' copy is in kernels/cuda/gemm.cu and
// the emulator's in kernels/cuda/emulate_mma.h): build each lane's registers from whole
// matrices, read D back, and the float64 reference D = A B + C of the operands as the tensor
// core reads them. Shared by the emulator test and the hardware probe (tests/cuda), so that on
// the first GPU the layout is settled by the hardware itself.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/params.h"

namespace duel::test::mma {

using kernels::MathMode;

inline uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
// BF16 round to nearest even (finite inputs).
inline uint16_t bf16(float x) {
  const uint32_t u = bits(x);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline uint32_t bf16x2(double lo, double hi) { return (uint32_t(bf16(float(hi))) << 16) | bf16(float(lo)); }

// The value a tensor core multiplies: a TF32 register's low 13 bits ignored; BF16 rounded above.
inline double operand(double v, MathMode m) {
  if (m == MathMode::tf32) return from_bits(bits(float(v)) & 0xffffe000u);
  return from_bits(uint32_t(bf16(float(v))) << 16);
}

struct Problem {
  double A[16][16] = {}, B[16][8] = {}, C[16][8] = {};
  int k = 8;  // 8 (TF32) or 16 (BF16)
};

struct Fragments {
  std::vector<uint32_t> a = std::vector<uint32_t>(128), b = std::vector<uint32_t>(64);
  std::vector<float> c = std::vector<float>(128);
};

// groupID g = lane >> 2, threadID_in_group t = lane % 4.
inline Fragments fragments(const Problem& p, MathMode m) {
  Fragments f;
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l % 4;
    if (m == MathMode::tf32) {  // a0 (g,t) a1 (g+8,t) a2 (g,t+4) a3 (g+8,t+4); b0 (t,g) b1 (t+4,g)
      const double av[4] = {p.A[g][t], p.A[g + 8][t], p.A[g][t + 4], p.A[g + 8][t + 4]};
      for (int i = 0; i < 4; ++i) f.a[size_t(l * 4 + i)] = bits(float(av[i]));
      f.b[size_t(l * 2)] = bits(float(p.B[t][g]));
      f.b[size_t(l * 2 + 1)] = bits(float(p.B[t + 4][g]));
    } else {  // registers of two: (g, 2t..), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..); B (2t.., g), (2t+8.., g)
      f.a[size_t(l * 4 + 0)] = bf16x2(p.A[g][2 * t], p.A[g][2 * t + 1]);
      f.a[size_t(l * 4 + 1)] = bf16x2(p.A[g + 8][2 * t], p.A[g + 8][2 * t + 1]);
      f.a[size_t(l * 4 + 2)] = bf16x2(p.A[g][2 * t + 8], p.A[g][2 * t + 9]);
      f.a[size_t(l * 4 + 3)] = bf16x2(p.A[g + 8][2 * t + 8], p.A[g + 8][2 * t + 9]);
      f.b[size_t(l * 2)] = bf16x2(p.B[2 * t][g], p.B[2 * t + 1][g]);
      f.b[size_t(l * 2 + 1)] = bf16x2(p.B[2 * t + 8][g], p.B[2 * t + 9][g]);
    }
    // c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1)
    const double cv[4] = {p.C[g][2 * t], p.C[g][2 * t + 1], p.C[g + 8][2 * t], p.C[g + 8][2 * t + 1]};
    for (int i = 0; i < 4; ++i) f.c[size_t(l * 4 + i)] = float(cv[i]);
  }
  return f;
}

inline double lane_d(const std::vector<float>& d, int row, int col) {
  const int g = row % 8, i = (row / 8) * 2 + col % 2, t = col / 2;
  return d[size_t((g * 4 + t) * 4 + i)];
}

// Largest |D - (A B + C)| over the tile, relative to sum |a b| + |c| of each element.
inline double worst_error(const Problem& p, MathMode m, const std::vector<float>& d) {
  double worst = 0;
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c) {
      double want = float(p.C[r][c]), mag = std::abs(float(p.C[r][c]));
      for (int k = 0; k < p.k; ++k) {
        const double prod = operand(p.A[r][k], m) * operand(p.B[k][c], m);
        want += prod;
        mag += std::abs(prod);
      }
      const double err = std::abs(lane_d(d, r, c) - want) / (mag > 0 ? mag : 1);
      worst = err > worst ? err : worst;
    }
  return worst;
}

// A problem whose values are small integers (every product and sum exact: D must match bit
// for bit) or uniform in (-1, 1), from a simple generator (seeded).
inline Problem make_problem(MathMode m, bool integers, uint64_t seed) {
  Problem p;
  p.k = m == MathMode::tf32 ? 8 : 16;
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return double((s >> 11) & ((1ULL << 53) - 1)) / double(1ULL << 53) * 2 - 1;
  };
  auto val = [&](double scale) { return integers ? std::round(next() * scale) : next(); };
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < p.k; ++k) p.A[r][k] = val(8);
  for (int k = 0; k < p.k; ++k)
    for (int c = 0; c < 8; ++c) p.B[k][c] = val(8);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c) p.C[r][c] = val(256);
  return p;
}

}  // namespace duel::test::mma
