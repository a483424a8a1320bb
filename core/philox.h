// Philox4x32-10 counter-based RNG (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011), compiled for host and device from this one header.
//
// A draw is a pure function of (seed, offset, element index), so the same (seed, offset) gives
// bitwise the same uniforms and normals on the CPU and on a GPU, in any thread order. To keep
// normals bitwise equal across compilers, the Box-Muller transform uses the log, sin and cos
// below: only IEEE-exact operations (+, -, *, /, sqrt, frexp/ldexp) and explicit fma, never
// libm, whose last bits differ between glibc and CUDA's math library.
//
// Counter layout for element i of a tensor drawn at generator offset `off`:
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (block & 0xffffffff, block >> 32, off & 0xffffffff, off >> 32)
// with block = i / (values per block): 4 for f32 uniforms, 2 for f64 uniforms and for normals.
#pragma once

#include <math.h>  // the global ::sqrt etc., which CUDA device code also has
#include <cstdint>

#if defined(__CUDACC__)
#define DUEL_HD __host__ __device__ __forceinline__
#else
#define DUEL_HD inline
#endif

namespace duel::philox {

struct U32x4 {
  uint32_t v[4];
};

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;   // round multipliers
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule (golden ratio, sqrt(3)-1)

DUEL_HD U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const uint64_t p0 = uint64_t(kMul0) * ctr.v[0];
    const uint64_t p1 = uint64_t(kMul1) * ctr.v[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

DUEL_HD U32x4 block(uint64_t seed, uint64_t offset, uint64_t block_index) {
  const U32x4 ctr{{uint32_t(block_index), uint32_t(block_index >> 32), uint32_t(offset),
                   uint32_t(offset >> 32)}};
  return philox4x32_10(ctr, uint32_t(seed), uint32_t(seed >> 32));
}

// [0, 1) with 24 random bits: exact in float.
DUEL_HD float uniform24(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }
// [0, 1) with 53 random bits from two words: exact in double.
DUEL_HD double uniform53(uint32_t hi, uint32_t lo) {
  const uint64_t bits = ((uint64_t(hi) << 32) | lo) >> 11;
  return double(bits) * (1.0 / 9007199254740992.0);
}

// Natural log for x in (0, 1], about 1 ulp, from exact operations only.
// x = m * 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
DUEL_HD double log_unit(double x) {
  int e = 0;
  double m = ::frexp(x, &e);  // m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m = m * 2.0;
    e -= 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double z = s * s;
  // atanh(s)/s = sum z^k / (2k + 1); |s| < 0.172 so z^13 / 27 < 1e-21 of the leading term.
  double p = 1.0 / 27.0;
  p = ::fma(p, z, 1.0 / 25.0);
  p = ::fma(p, z, 1.0 / 23.0);
  p = ::fma(p, z, 1.0 / 21.0);
  p = ::fma(p, z, 1.0 / 19.0);
  p = ::fma(p, z, 1.0 / 17.0);
  p = ::fma(p, z, 1.0 / 15.0);
  p = ::fma(p, z, 1.0 / 13.0);
  p = ::fma(p, z, 1.0 / 11.0);
  p = ::fma(p, z, 1.0 / 9.0);
  p = ::fma(p, z, 1.0 / 7.0);
  p = ::fma(p, z, 1.0 / 5.0);
  p = ::fma(p, z, 1.0 / 3.0);
  const double log_m = ::fma(2.0 * s * z, p, 2.0 * s);  // 2s + 2s*z*p
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // upper bits of ln 2, exact times small ints
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  return ::fma(double(e), ln2_hi, ::fma(double(e), ln2_lo, log_m));
}

// sin and cos of 2*pi*u for u in [0, 1), from exact operations only.
DUEL_HD void sincos_2pi(double u, double* s, double* c) {
  const double q = ::floor(u * 4.0 + 0.5);  // nearest quarter turn; u*4 is exact
  const double f = u - q * 0.25;          // exact: |f| <= 1/8 and f is a multiple of u's ulp
  const double t = f * 6.28318530717958647692;  // |t| <= pi/4
  const double t2 = t * t;
  // Taylor series, enough terms that the truncation error is below 1e-17 on [-pi/4, pi/4].
  double ps = -1.0 / 1307674368000.0;           // -1/15!
  ps = ::fma(ps, t2, 1.0 / 6227020800.0);         //  1/13!
  ps = ::fma(ps, t2, -1.0 / 39916800.0);          // -1/11!
  ps = ::fma(ps, t2, 1.0 / 362880.0);             //  1/9!
  ps = ::fma(ps, t2, -1.0 / 5040.0);              // -1/7!
  ps = ::fma(ps, t2, 1.0 / 120.0);                //  1/5!
  ps = ::fma(ps, t2, -1.0 / 6.0);                 // -1/3!
  const double sin_t = ::fma(t * t2, ps, t);
  double pc = 1.0 / 20922789888000.0;           //  1/16!
  pc = ::fma(pc, t2, -1.0 / 87178291200.0);       // -1/14!
  pc = ::fma(pc, t2, 1.0 / 479001600.0);          //  1/12!
  pc = ::fma(pc, t2, -1.0 / 3628800.0);           // -1/10!
  pc = ::fma(pc, t2, 1.0 / 40320.0);              //  1/8!
  pc = ::fma(pc, t2, -1.0 / 720.0);               // -1/6!
  pc = ::fma(pc, t2, 1.0 / 24.0);                 //  1/4!
  pc = ::fma(pc, t2, -0.5);                       // -1/2!
  const double cos_t = ::fma(t2, pc, 1.0);
  switch (int(q) & 3) {  // rotate by q quarter turns
    case 0: *s = sin_t; *c = cos_t; break;
    case 1: *s = cos_t; *c = -sin_t; break;
    case 2: *s = -sin_t; *c = -cos_t; break;
    default: *s = -cos_t; *c = sin_t; break;
  }
}

// Two standard normals from one Philox block (Box-Muller on two 53-bit uniforms).
DUEL_HD void normal_pair(U32x4 w, double* n0, double* n1) {
  const double u1 = 1.0 - uniform53(w.v[0], w.v[1]);  // (0, 1]: log is finite
  const double u2 = uniform53(w.v[2], w.v[3]);
  const double r = ::sqrt(-2.0 * log_unit(u1));
  double s, c;
  sincos_2pi(u2, &s, &c);
  *n0 = r * c;
  *n1 = r * s;
}

// lo + scale * x with the product rounded before the sum, whatever the compiler and its flags.
// Left to itself a compiler may contract it into one fma (g++ -march=native does on the host,
// nvcc does on the device), and then draws with (lo, scale) other than (0, 1) would differ
// between host and device in the last bit. Every shifted or scaled draw goes through here.
DUEL_HD double shift_scale(double lo, double scale, double x) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(lo, __dmul_rn(scale, x));
#else
  volatile double product = scale * x;  // stored, so rounded to double before the add
  return lo + product;
#endif
}

// Element i of a draw, for the kernels that fill tensors (CPU loop or one GPU thread each).
DUEL_HD float uniform_f32(uint64_t seed, uint64_t offset, uint64_t i) {
  return uniform24(block(seed, offset, i >> 2).v[i & 3]);
}
DUEL_HD double uniform_f64(uint64_t seed, uint64_t offset, uint64_t i) {
  const U32x4 w = block(seed, offset, i >> 1);
  return (i & 1) ? uniform53(w.v[2], w.v[3]) : uniform53(w.v[0], w.v[1]);
}
DUEL_HD double normal_f64(uint64_t seed, uint64_t offset, uint64_t i) {
  double n0, n1;
  normal_pair(block(seed, offset, i >> 1), &n0, &n1);
  return (i & 1) ? n1 : n0;
}

}  // namespace duel::philox
