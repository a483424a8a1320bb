// Matmul and the convolution family as one implicit GEMM: C[m, n] = sum_k A(m, k) B(k, n), where
// A and B are gathered from the tensors on the fly (no im2col buffer) and C is scattered into the
// output layout. One kernel template, four problems (operand maps):
//
//   op                 M        N                K                A            B
//   matmul             m        n                k                a            b
//   conv2d             c_out    n*h_out*w_out    c_in*kh*kw       w            x (im2col)
//   conv2d_input_grad  c_in     n*th*tw / phase  c_out*taps       w (phase)    dy (phase)
//   conv2d_weight_grad c_out    c_in*kh*kw       n*h_out*w_out    dy           x (im2col^T)
//
// The input gradient (a transposed convolution) is split by stride phase: only the taps
// r = ph + stride*a reach the input rows ih with (ih + pad) % stride == ph, so each phase is a
// GEMM with no multiply by a structural zero; all phases run in one launch (blockIdx.z).
//
// * Indexing is 32-bit. A map decodes an operand row once per thread (the "outer" index: an
//   output pixel, a channel) and each k once per pipeline stage (the "inner" index: a channel
//   and tap, an image and pixel), with division by invariant divisors done as a multiply and a
//   shift (FastDiv). Tensors of 2^31 elements or more are refused by the launchers.
// * Tiles are staged in shared memory by cp.async (4-byte copies, zero-filled outside the
//   tensor) through a kStages-deep pipeline, so the gather of slice k+2 overlaps the multiply of
//   slice k. Layouts are padded so that neither the copies nor the fragment reads conflict on
//   banks (derivations at Cfg).
// * Three main loops share the loader and the epilogue: FP32 FFMA with register tiles read as
//   float4 (LDS.128), TF32 tensor cores (mma.m16n8k8) and BF16 tensor cores (mma.m16n8k16), both
//   accumulating in FP32. The math mode (kernels/params.h) picks the loop for the whole run.
// * Tile shape is picked per problem: 128x128 when the grid fills the GPU, 64x64 when it does not,
//   16x128 when M <= 16 (3-channel and 1-channel layers, the critic's last layer). K is split
//   over blockIdx.z when the grid is small and K long (the critic's last layer: M = 1,
//   K = 8192); the partial tiles go to a workspace summed in split order by a second kernel, so
//   results are deterministic and independent of the GPU (the plan uses a fixed SM count).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/portable.cuh"

// Tests only (tests/test_cuda_emu_mma.cpp): 1 swaps the a1 and a2 registers of the TF32 A
// fragment, the classic misreading of the layout, so that a test can show it is caught.
#ifndef DUEL_GEMM_MUTATION
#define DUEL_GEMM_MUTATION 0
#endif

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

// ---- division by an invariant divisor, for dividends in [0, 2^31): q = umulhi(n, mul) >> shift
// with p = 31 + ceil(log2 d), mul = ceil(2^p / d) (Granlund and Montgomery 1994; CUTLASS's
// FastDivmod uses the same constants). Built on the host or once per block, never in a K loop.
struct FastDiv {
  uint32_t d = 1, mul = 0, shift = 0;
  FastDiv() = default;
  __host__ __device__ explicit FastDiv(uint32_t divisor) : d(divisor) {
    if (d <= 1) return;
    uint32_t l = 0;
    while ((uint64_t(1) << l) < d) ++l;
    const uint32_t p = 31 + l;
    mul = uint32_t(((uint64_t(1) << p) + d - 1) / d);
    shift = p - 32;
  }
  __device__ __forceinline__ int div(int n) const {
    return d == 1 ? n : int(__umulhi(uint32_t(n), mul) >> shift);
  }
  __device__ __forceinline__ void divmod(int n, int& q, int& r) const {
    q = div(n);
    r = n - q * int(d);
  }
};

// ---- operand maps. A map has an outer index i (a row of A, a column of B) decoded once per
// thread, an inner index k decoded once per stage, and element (i, k) at ptr[o.base + in.off],
// inside the tensor when both are valid and, for a spatial map, when (o.y + in.y, o.x + in.x)
// lies inside Y x X (the padding border reads as zero).
struct Outer {
  int base = 0, y = 0, x = 0;
  bool valid = false;
};
struct Inner {
  int off = 0, y = 0, x = 0;
  bool valid = false;
};

// ptr[g*gs + i*is + k*ks] for i < rows: matmul operands (either transpose) and plain weights.
struct Strided {
  static constexpr bool kSpatial = false;
  const float* ptr;
  int gs, is, ks, rows;
  int Y = 0, X = 0;
  __device__ Outer outer(int g, int i) const { return {g * gs + i * is, 0, 0, i < rows}; }
  __device__ Inner inner(int k, int k_end) const { return {k * ks, 0, 0, k < k_end}; }
};

// conv2d's input as B: outer = output pixel (image, oh, ow), inner = (ci, r, s).
struct Im2col {
  static constexpr bool kSpatial = true;
  const float* ptr;
  int cols, chw, hw, W, sh, sw, ph, pw;
  FastDiv hw_out, w_out, khw, kw;
  int Y, X;  // h, w
  __device__ Outer outer(int, int n) const {
    int img, p, oh, ow;
    hw_out.divmod(n, img, p);
    w_out.divmod(p, oh, ow);
    const int y = oh * sh - ph, x = ow * sw - pw;
    return {img * chw + y * W + x, y, x, n < cols};
  }
  __device__ Inner inner(int k, int k_end) const {
    int ci, rs, r, s;
    khw.divmod(k, ci, rs);
    kw.divmod(rs, r, s);
    return {ci * hw + r * W + s, r, s, k < k_end};
  }
};

// conv2d_weight_grad's B: outer = weight column (ci, r, s), inner = output pixel (image, oh, ow).
struct Im2colT {
  static constexpr bool kSpatial = true;
  const float* ptr;
  int cols, chw, hw, W, sh, sw, ph, pw;
  FastDiv hw_out, w_out, khw, kw;
  int Y, X;
  __device__ Outer outer(int, int j) const {
    int ci, rs, r, s;
    khw.divmod(j, ci, rs);
    kw.divmod(rs, r, s);
    return {ci * hw + r * W + s, r, s, j < cols};
  }
  __device__ Inner inner(int k, int k_end) const {
    int img, p, oh, ow;
    hw_out.divmod(k, img, p);
    w_out.divmod(p, oh, ow);
    const int y = oh * sh - ph, x = ow * sw - pw;
    return {img * chw + y * W + x, y, x, k < k_end};
  }
};

// conv2d_weight_grad's A: dy [n, c_out, hw] as [c_out, n*hw].
struct DyRows {
  static constexpr bool kSpatial = false;
  const float* ptr;
  int rows, hw_out, chw_out;
  FastDiv hw;
  int Y = 0, X = 0;
  __device__ Outer outer(int, int co) const { return {co * hw_out, 0, 0, co < rows}; }
  __device__ Inner inner(int k, int k_end) const {
    int img, p;
    hw.divmod(k, img, p);
    return {img * chw_out + p, 0, 0, k < k_end};
  }
};

// One stride phase of the input gradient: the taps r = ph + sh*a (a < ra), s = pw + sw*b
// (b < rb) reach the input pixels ih = ih0 + sh*t (t < th), iw = iw0 + sw*u (u < tw), from the
// output pixel oh = t - a + ch, ow = u - b + cw.
struct Phase {
  int ph, pw, ih0, iw0, th, tw, ra, rb, ch, cw;
  __host__ __device__ Phase(const ConvShape& s, int g) {
    const int sh = int(s.stride_h), sw = int(s.stride_w);
    ph = g / sw;
    pw = g % sw;
    ih0 = ((ph - int(s.pad_h)) % sh + sh) % sh;
    iw0 = ((pw - int(s.pad_w)) % sw + sw) % sw;
    th = ih0 < s.h ? (int(s.h) - ih0 + sh - 1) / sh : 0;
    tw = iw0 < s.w ? (int(s.w) - iw0 + sw - 1) / sw : 0;
    ra = ph < s.kh ? (int(s.kh) - ph + sh - 1) / sh : 0;
    rb = pw < s.kw ? (int(s.kw) - pw + sw - 1) / sw : 0;
    ch = (ih0 + int(s.pad_h) - ph) / sh;
    cw = (iw0 + int(s.pad_w) - pw) / sw;
  }
};

// A of a phase: w [c_out, c_in, kh, kw] at row ci, k = (co, a, b).
struct PhaseW {
  static constexpr bool kSpatial = false;
  const float* ptr;
  int rows, khw, kw, cikhw, sh, sw, ph, pw;
  FastDiv taps, rb;
  int Y = 0, X = 0;
  __device__ Outer outer(int, int ci) const { return {ci * khw, 0, 0, ci < rows}; }
  __device__ Inner inner(int k, int k_end) const {
    int co, ab, a, b;
    taps.divmod(k, co, ab);
    rb.divmod(ab, a, b);
    return {co * cikhw + (ph + sh * a) * kw + pw + sw * b, 0, 0, k < k_end};
  }
};

// B of a phase: dy [n, c_out, h_out, w_out] at k = (co, a, b), column (image, t, u).
struct PhaseDy {
  static constexpr bool kSpatial = true;
  const float* ptr;
  int cols, chw_out, hw_out, Wo, ch, cw;
  FastDiv per_image, tw;
  int Y, X;  // h_out, w_out
  __device__ Outer outer(int, int j) const {
    int img, q, t, u;
    per_image.divmod(j, img, q);
    tw.divmod(q, t, u);
    const int y = t + ch, x = u + cw;
    return {img * chw_out + y * Wo + x, y, x, j < cols};
  }
  __device__ Inner inner(int k, int k_end) const {
    int co, ab, a, b;
    per_tap_.taps.divmod(k, co, ab);
    per_tap_.rb.divmod(ab, a, b);
    return {co * hw_out - a * Wo - b, -a, -b, k < k_end};
  }
  struct Taps {
    FastDiv taps, rb;
  } per_tap_;
};

// ---- output maps: store(row, col, v) of a bound problem writes the epilogue's result and
// returns it. The epilogue (kernels/params.h ConvEpilogue): z = v + bias; pre[i] = z; act(z).
struct Epi {
  Activation act = Activation::none;
  float slope = 0.0f;
  float* pre = nullptr;
  __device__ __forceinline__ float operator()(float z, int i) const {
    if (pre) pre[i] = z;
    switch (act) {
      case Activation::relu: return z > 0.0f ? z : 0.0f;
      case Activation::leaky_relu: return z > 0.0f ? z : slope * z;
      case Activation::tanh: return tanhf(z);
      default: return z;
    }
  }
};

struct MatOut {  // c[g*M*N + row*N + col] (+ bias[col / bias_div])
  float* c;
  int ld, goff;
  const float* bias;
  FastDiv bias_div;
  Epi epi;
  __device__ float store(int row, int col, float v) const {
    const int i = goff + row * ld + col;
    return c[i] = epi(bias ? v + bias[bias_div.div(col)] : v, i);
  }
};

struct ConvOut {  // y [n, C, hw] at channel row, pixel col (+ bias[row])
  float* y;
  int chw, hw;
  FastDiv hw_div;
  const float* bias;
  Epi epi;
  __device__ float store(int row, int col, float v) const {
    int img, p;
    hw_div.divmod(col, img, p);
    const int i = img * chw + row * hw + p;
    return y[i] = epi(bias ? v + bias[row] : v, i);
  }
};

struct PhaseOut {  // dx [n, c_in, h, w] at the phase's pixels (+ bias[row])
  float* dx;
  int chw, hw, W, ih0, iw0, sh, sw;
  FastDiv per_image, tw;
  const float* bias;
  Epi epi;
  __device__ float store(int row, int col, float v) const {
    int img, q, t, u;
    per_image.divmod(col, img, q);
    tw.divmod(q, t, u);
    const int i = img * chw + row * hw + (ih0 + sh * t) * W + iw0 + sw * u;
    return dx[i] = epi(bias ? v + bias[row] : v, i);
  }
};

// ---- problems: bind(g) gives group g's maps and its N and K (a batch entry of matmul, a stride
// phase of the input gradient; conv2d and the weight gradient have one group).
template <class A, class B, class C>
struct Bound {
  A a;
  B b;
  C c;
  int N, K;
};

struct MatmulProblem {
  Strided a, b;
  MatOut c;
  int n, k, mn;
  __device__ Bound<Strided, Strided, MatOut> bind(int g) const {
    MatOut cc = c;
    cc.goff = g * mn;
    return {a, b, cc, n, k};
  }
};

struct ConvProblem {
  Strided a;
  Im2col b;
  ConvOut c;
  int n, k;
  __device__ Bound<Strided, Im2col, ConvOut> bind(int) const { return {a, b, c, n, k}; }
};

struct WeightGradProblem {
  DyRows a;
  Im2colT b;
  MatOut c;
  int n, k;
  __device__ Bound<DyRows, Im2colT, MatOut> bind(int) const { return {a, b, c, n, k}; }
};

struct PhaseProblem {
  const float* w;
  const float* dy;
  float* dx;
  const float* bias;
  ConvShape s;
  Epi epi;
  // The divisors of each phase are built once per block (a few 64-bit divisions, outside the
  // K loop): the phases of a layer differ in their tap and pixel counts when the kernel size is
  // not a multiple of the stride.
  __device__ Bound<PhaseW, PhaseDy, PhaseOut> bind(int g) const {
    const Phase p(s, g);
    const int c_in = int(s.c_in), c_out = int(s.c_out), kh = int(s.kh), kw = int(s.kw);
    const int h = int(s.h), w_ = int(s.w), ho = int(s.h_out), wo = int(s.w_out);
    const int taps = p.ra * p.rb, per_image = p.th * p.tw;
    const FastDiv taps_div(uint32_t(taps > 0 ? taps : 1)), rb_div(uint32_t(p.rb > 0 ? p.rb : 1));
    const FastDiv img_div(uint32_t(per_image > 0 ? per_image : 1)), tw_div(uint32_t(p.tw > 0 ? p.tw : 1));
    PhaseW a{w, c_in, kh * kw, kw, c_in * kh * kw, int(s.stride_h), int(s.stride_w), p.ph, p.pw,
             taps_div, rb_div};
    PhaseDy b{dy, int(s.n) * per_image, c_out * ho * wo, ho * wo, wo, p.ch, p.cw, img_div, tw_div, ho, wo,
              {taps_div, rb_div}};
    PhaseOut c{dx, c_in * h * w_, h * w_, w_, p.ih0, p.iw0, int(s.stride_h), int(s.stride_w), img_div, tw_div, bias,
               epi};
    return {a, b, c, int(s.n) * per_image, c_out * taps};
  }
};

// ---- tile configurations
enum class Path { ffma, tf32, bf16 };

// A block of WM x WN warps computes a BM x BN tile of C, stepping through K in slices of BK held
// in a kStages-deep ring of shared-memory buffers.
// Shared-memory layouts (row strides in floats, padded against bank conflicts):
// * FFMA: A as [BK][BM + 4] and B as [BK][BN + 4]: a thread reads 4 consecutive rows (columns) of
//   one k as a float4; the loader's copies (8 consecutive k x 4 rows per warp for A, 32
//   consecutive columns for B) hit 32 different banks.
// * TF32: A as [BM][BK + 4]: fragment element (g, t) of lane 4g + t is at bank 4g + t, all 32
//   distinct. B as [BK][BN + 8]: element (t, g) at bank 8t + g, all distinct.
// * BF16: A as [BM][BK + 8]: a register is two adjacent k read as one 64-bit load, and in each
//   half-warp (g < 4) the word offsets 8g + 2t are distinct. B as [BK][BN + 4]: elements (2t, g)
//   and (2t + 1, g) are read by two loads at banks 8t + g and 8t + 4 + g, each distinct.
template <Path P, int BM_, int BN_, int BK_, int WM_, int WN_, int kStages_>
struct Cfg {
  static constexpr Path kPath = P;
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, kStages = kStages_;
  static constexpr int kThreads = WM * WN * 32;
  static constexpr int kWarpM = BM / WM, kWarpN = BN / WN;
  static constexpr bool kAKMajor = P == Path::ffma;
  static constexpr int kStrideA = kAKMajor ? BM + 4 : BK + (P == Path::tf32 ? 4 : 8);
  static constexpr int kStrideB = BN + (P == Path::tf32 ? 8 : 4);
  static constexpr int kStageA = kAKMajor ? BK * kStrideA : BM * kStrideA;
  static constexpr int kStageB = BK * kStrideB;
  static constexpr int kSmemBytes = kStages * (kStageA + kStageB) * 4;
  // Loader: A rows t/8 + (T/8) i, k t%8 + 8 j; B columns t%32 + 32 i, k t/32 + (T/32) j.
  static constexpr int kAI = BM / (kThreads / 8), kAJ = BK / 8;
  static constexpr int kBI = BN / 32, kBJ = BK / (kThreads / 32);
  static_assert(BM % (kThreads / 8) == 0 && BK % 8 == 0 && BN % 32 == 0 && BK % (kThreads / 32) == 0);
  static_assert(P == Path::ffma ? BK % 1 == 0 : BK % (P == Path::tf32 ? 8 : 16) == 0);
  static_assert(P == Path::ffma || (kWarpM % 16 == 0 && kWarpN % 8 == 0));
  static_assert(P != Path::ffma || (kWarpM % 8 == 0 && kWarpN % 4 == 0));
  // Register budget: two blocks of 256 threads (or four of 128) per SM, 128 registers a thread,
  // except the 128x128 tensor-core tile: 64 accumulators, fragments and the gather state do not
  // fit 128 registers without spilling, and its 105-110 KiB of shared memory allow two blocks
  // per SM only with at most 128 registers; it takes one block of 8 warps per SM instead.
  static constexpr int kMinBlocks = (P != Path::ffma && kThreads == 256) ? 1 : 512 / kThreads;
};

// One element of an operand tile: offset and whether it lies inside the tensor.
template <class Map>
__device__ __forceinline__ bool element(const Map& m, const Outer& o, const Inner& in, int& off) {
  off = o.base + in.off;
  bool ok = o.valid && in.valid;
  if constexpr (Map::kSpatial)
    ok = ok && unsigned(o.y + in.y) < unsigned(m.Y) && unsigned(o.x + in.x) < unsigned(m.X);
  return ok;
}

template <int N>
__device__ __forceinline__ void load_vec(float (&dst)[N], const float* src) {
  if constexpr (N == 4) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
  } else if constexpr (N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(src);
    dst[0] = v.x, dst[1] = v.y;
  } else {
    dst[0] = src[0];
  }
}

// C (or the split-K partials) = A B for one tile. Grid: (N tiles, M tiles, groups * splits).
// With `stats` (no split K), also the per-row statistics of the stored tile: (count, mean, M2)
// at stats[(row * stats_tiles + g * gridDim.x + blockIdx.x) * 3].
template <class C, class Problem>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks)
    igemm_kernel(Problem problem, int M, int splits, int k_chunk, float* partial, int n_max, float* stats,
                 int stats_tiles) {
  DUEL_DYNAMIC_SHARED(float, smem);
  const int z = int(blockIdx.z), g = z / splits, split = z % splits;
  const auto p = problem.bind(g);
  const int m0 = int(blockIdx.y) * C::BM, n0 = int(blockIdx.x) * C::BN;
  const int stats_tile = g * int(gridDim.x) + int(blockIdx.x);
  if (n0 >= p.N) {  // this group has fewer columns than the widest one (uniform per block)
    if (stats)
      for (int r = int(threadIdx.x); r < C::BM && m0 + r < M; r += C::kThreads)
        for (int q = 0; q < 3; ++q) stats[((m0 + r) * stats_tiles + stats_tile) * 3 + q] = 0.0f;
    return;
  }
  const int k_begin = split * k_chunk;
  const int k_end = splits > 1 && k_begin + k_chunk < p.K ? k_begin + k_chunk : p.K;
  const int k_tiles = k_end > k_begin ? (k_end - k_begin + C::BK - 1) / C::BK : 0;

  const int tid = int(threadIdx.x);
  float* const As = smem;
  float* const Bs = smem + C::kStages * C::kStageA;

  // ---- loader: rows decoded once, k once per stage
  const int a_row = tid / 8, a_k = tid % 8, b_col = tid % 32, b_k = tid / 32;
  Outer a_out[C::kAI], b_out[C::kBI];
#pragma unroll
  for (int i = 0; i < C::kAI; ++i) a_out[i] = p.a.outer(g, m0 + a_row + (C::kThreads / 8) * i);
#pragma unroll
  for (int i = 0; i < C::kBI; ++i) b_out[i] = p.b.outer(g, n0 + b_col + 32 * i);

  auto load_stage = [&](int stage, int k0) {
    float* as = As + stage * C::kStageA;
    float* bs = Bs + stage * C::kStageB;
#pragma unroll
    for (int j = 0; j < C::kAJ; ++j) {
      const int kk = a_k + 8 * j;
      const Inner in = p.a.inner(k0 + kk, k_end);
#pragma unroll
      for (int i = 0; i < C::kAI; ++i) {
        const int r = a_row + (C::kThreads / 8) * i;
        int off;
        const bool ok = element(p.a, a_out[i], in, off);
        float* dst = C::kAKMajor ? as + kk * C::kStrideA + r : as + r * C::kStrideA + kk;
        cp_async4(dst, ok ? p.a.ptr + off : p.a.ptr, ok);
      }
    }
#pragma unroll
    for (int j = 0; j < C::kBJ; ++j) {
      const int kk = b_k + (C::kThreads / 32) * j;
      const Inner in = p.b.inner(k0 + kk, k_end);
#pragma unroll
      for (int i = 0; i < C::kBI; ++i) {
        int off;
        const bool ok = element(p.b, b_out[i], in, off);
        cp_async4(bs + kk * C::kStrideB + b_col + 32 * i, ok ? p.b.ptr + off : p.b.ptr, ok);
      }
    }
  };

  const int warp = tid / 32, lane = tid % 32;
  const int wm0 = (warp / C::WN) * C::kWarpM, wn0 = (warp % C::WN) * C::kWarpN;

  // ---- accumulators and the three main loops
  constexpr bool kMma = C::kPath != Path::ffma;
  constexpr int MI = kMma ? C::kWarpM / 16 : 1, NI = kMma ? C::kWarpN / 8 : 1;
  constexpr int TM = kMma ? 1 : C::kWarpM / 8, TN = kMma ? 1 : C::kWarpN / 4;
  constexpr int RG = TM < 4 ? TM : 4, CG = TN < 4 ? TN : 4;  // rows / columns read per vector
  // MMA: acc[mi * NI + ni] is the C fragment of one 16x8 tile; FFMA: acc[i][j] a register tile.
  constexpr int kAccRows = kMma ? MI * NI : TM, kAccCols = kMma ? 4 : TN;
  float acc[kAccRows][kAccCols];
#pragma unroll
  for (int i = 0; i < kAccRows; ++i)
#pragma unroll
    for (int j = 0; j < kAccCols; ++j) acc[i][j] = 0.0f;
  // FFMA: lane (lr, lc) of an 8 x 4 grid owns rows (i / RG) * 8 RG + lr RG + i % RG of the warp
  // tile and columns (j / CG) * 4 CG + lc CG + j % CG, so each vector read is one float4.
  const int lr = lane / 4, lc = lane % 4;
  // MMA: groupID and threadID_in_group of the PTX fragment layouts.
  const int fg = lane >> 2, ft = lane % 4;

  auto compute_stage = [&](int stage) {
    const float* as = As + stage * C::kStageA;
    const float* bs = Bs + stage * C::kStageB;
    if constexpr (C::kPath == Path::ffma) {
#pragma unroll
      for (int kk = 0; kk < C::BK; ++kk) {
        float a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; i += RG) {
          float v[RG];
          load_vec<RG>(v, as + kk * C::kStrideA + wm0 + (i / RG) * 8 * RG + lr * RG);
#pragma unroll
          for (int q = 0; q < RG; ++q) a[i + q] = v[q];
        }
#pragma unroll
        for (int j = 0; j < TN; j += CG) {
          float v[CG];
          load_vec<CG>(v, bs + kk * C::kStrideB + wn0 + (j / CG) * 4 * CG + lc * CG);
#pragma unroll
          for (int q = 0; q < CG; ++q) b[j + q] = v[q];
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    } else if constexpr (C::kPath == Path::tf32) {
#pragma unroll
      for (int ks = 0; ks < C::BK; ks += 8) {
        // B fragments of the warp's NI column tiles, then one A fragment at a time (fewer live
        // registers than holding all of A).
        uint32_t b[NI][2];
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
          const float* c0 = bs + (ks + ft) * C::kStrideB + wn0 + ni * 8 + fg;
          b[ni][0] = tf32_bits(c0[0]);                // (t, g)
          b[ni][1] = tf32_bits(c0[4 * C::kStrideB]);  // (t+4, g)
        }
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          uint32_t a[4];
          const float* r0 = as + (wm0 + mi * 16 + fg) * C::kStrideA + ks + ft;
          const float* r8 = r0 + 8 * C::kStrideA;
          a[0] = tf32_bits(r0[0]);  // (g, t)
          a[1] = tf32_bits(r8[0]);  // (g+8, t)
          a[2] = tf32_bits(r0[4]);  // (g, t+4)
          a[3] = tf32_bits(r8[4]);  // (g+8, t+4)
#if DUEL_GEMM_MUTATION == 1
          const uint32_t swap = a[1];
          a[1] = a[2];
          a[2] = swap;
#endif
#pragma unroll
          for (int ni = 0; ni < NI; ++ni) mma_tf32(acc[mi * NI + ni], a, b[ni]);
        }
      }
    } else {
#pragma unroll
      for (int ks = 0; ks < C::BK; ks += 16) {
        uint32_t b[NI][2];
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
          const float* c0 = bs + (ks + 2 * ft) * C::kStrideB + wn0 + ni * 8 + fg;
          b[ni][0] = bf16x2_bits(c0[0], c0[C::kStrideB]);                    // (2t..2t+1, g)
          b[ni][1] = bf16x2_bits(c0[8 * C::kStrideB], c0[9 * C::kStrideB]);  // (2t+8..2t+9, g)
        }
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          uint32_t a[4];
          const float* r0 = as + (wm0 + mi * 16 + fg) * C::kStrideA + ks + 2 * ft;
          const float* r8 = r0 + 8 * C::kStrideA;
          float v[2];
          load_vec<2>(v, r0);
          a[0] = bf16x2_bits(v[0], v[1]);  // (g, 2t..2t+1)
          load_vec<2>(v, r8);
          a[1] = bf16x2_bits(v[0], v[1]);  // (g+8, 2t..2t+1)
          load_vec<2>(v, r0 + 8);
          a[2] = bf16x2_bits(v[0], v[1]);  // (g, 2t+8..2t+9)
          load_vec<2>(v, r8 + 8);
          a[3] = bf16x2_bits(v[0], v[1]);  // (g+8, 2t+8..2t+9)
#pragma unroll
          for (int ni = 0; ni < NI; ++ni) mma_bf16(acc[mi * NI + ni], a, b[ni]);
        }
      }
    }
  };

  // ---- the pipeline: stages 0..S-2 in flight before the first multiply; at step kt, wait for
  // stage kt (every thread's copies, then the barrier makes them visible and also guarantees
  // that everyone has finished multiplying stage kt-1, whose buffer is refilled next).
#pragma unroll
  for (int st = 0; st < C::kStages - 1; ++st) {
    if (st < k_tiles) load_stage(st, k_begin + st * C::BK);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<C::kStages - 2>();
    __syncthreads();
    const int next = kt + C::kStages - 1;
    if (next < k_tiles) load_stage(next % C::kStages, k_begin + next * C::BK);
    cp_async_commit();
    compute_stage(kt % C::kStages);
  }
  cp_async_wait<0>();

  // ---- epilogue. With statistics the stored tile is also staged in shared memory (after every
  // warp has finished with the pipeline buffers), [BM][BN + 1].
  constexpr int kTileStride = C::BN + 1;
  if (stats) __syncthreads();
  // The output map is bound again here rather than kept live through the main loop: its
  // divisors would otherwise hold registers the multiply needs.
  const auto out_map = problem.bind(g).c;
  auto emit = [&](int r, int c, float v) {
    const int row = m0 + r, col = n0 + c;
    if (row >= M || col >= p.N) return;
    if (splits > 1) {
      partial[(z * M + row) * n_max + col] = v;
    } else {
      const float out = out_map.store(row, col, v);
      if (stats) smem[r * kTileStride + c] = out;
    }
  };
  if constexpr (kMma) {
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int ni = 0; ni < NI; ++ni)
#pragma unroll
        for (int q = 0; q < 4; ++q)
          emit(wm0 + mi * 16 + fg + 8 * (q / 2), wn0 + ni * 8 + 2 * ft + q % 2, acc[mi * NI + ni][q]);
  } else {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j)
        emit(wm0 + (i / RG) * 8 * RG + lr * RG + i % RG, wn0 + (j / CG) * 4 * CG + lc * CG + j % CG,
             acc[i][j]);
  }
  if (!stats) return;
  // Per row of the tile: a warp sums its valid columns in a fixed order (lane-strided, then the
  // shuffle tree), the mean, then the squared deviations from it: deterministic, no atomics, and
  // no cancellation (batch norm combines the tiles with Chan's formula).
  __syncthreads();
  const int count = p.N - n0 < C::BN ? p.N - n0 : C::BN;
  for (int r = warp; r < C::BM; r += C::kThreads / 32) {
    if (m0 + r >= M) break;
    const float* row = smem + r * kTileStride;
    float sum = 0.0f;
    for (int c = lane; c < count; c += 32) sum += row[c];
    const float mean = warp_sum(sum) / float(count);
    float sq = 0.0f;
    for (int c = lane; c < count; c += 32) {
      const float d = row[c] - mean;
      sq = fmaf(d, d, sq);
    }
    const float m2 = warp_sum(sq);
    if (lane == 0) {
      float* out = stats + ((m0 + r) * stats_tiles + stats_tile) * 3;
      out[0] = float(count);
      out[1] = mean;
      out[2] = m2;
    }
  }
}

// C[g, row, col] = sum over split s < splits of partial[g*splits + s, row, col], in s order.
template <class Problem>
__global__ void sum_splits_kernel(Problem problem, int M, int splits, const float* partial, int n_max) {
  const int g = int(blockIdx.y);
  const auto p = problem.bind(g);
  const int i = int(blockIdx.x) * 256 + int(threadIdx.x);
  if (i >= M * n_max) return;
  const int row = i / n_max, col = i % n_max;
  if (col >= p.N) return;
  float v = 0.0f;
  for (int s = 0; s < splits; ++s) v += partial[((g * splits + s) * M + row) * n_max + col];
  p.c.store(row, col, v);
}

// ---- the plan: tile, split count and workspace of one problem. Depends on the shapes only (a
// fixed SM count, not the GPU's), so every device gives bitwise the same result.
constexpr int kPlanSMs = 132;  // H100 SXM; H200 has the same count

enum Tile { kTile128 = 0, kTile64 = 1, kTile16 = 2, kTileCount = 3 };
struct TileDims {
  int bm, bn, bk;
};
constexpr TileDims tile_dims(Tile t, MathMode m) {
  const int bk = m == MathMode::fp32 ? (t == kTile128 ? 8 : 16) : 32;
  return t == kTile128 ? TileDims{128, 128, bk} : t == kTile64 ? TileDims{64, 64, bk} : TileDims{16, 128, bk};
}

int g_override_tile = -1, g_override_splits = -1;

struct Plan {
  Tile tile;
  int splits, k_chunk;
  int grid_x, grid_y;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Plan make_plan(int64_t M, int64_t n_max, int64_t k_max, int64_t groups, MathMode math) {
  Plan p{};
  if (g_override_tile >= 0)
    p.tile = Tile(g_override_tile);
  else if (M <= 16)
    p.tile = kTile16;
  else if (ceil_div(M, 128) * ceil_div(n_max, 128) * groups >= kPlanSMs)
    p.tile = kTile128;
  else
    p.tile = kTile64;
  const TileDims d = tile_dims(p.tile, math);
  p.grid_x = int(ceil_div(n_max, d.bn));
  p.grid_y = int(ceil_div(M, d.bm));
  const int64_t blocks = int64_t(p.grid_x) * p.grid_y * groups;
  int64_t splits = 1;
  if (g_override_splits >= 1) {
    splits = g_override_splits;
  } else if (blocks < 2 * kPlanSMs) {
    // Enough blocks for two waves, each split at least 4 slices long.
    splits = std::min(ceil_div(2 * kPlanSMs, blocks), ceil_div(k_max, 4 * d.bk));
  }
  splits = std::max<int64_t>(1, std::min<int64_t>(splits, std::max<int64_t>(1, ceil_div(k_max, d.bk))));
  int64_t chunk = ceil_div(ceil_div(k_max, splits), d.bk) * d.bk;
  if (chunk < 1) chunk = d.bk;
  splits = std::max<int64_t>(1, ceil_div(k_max, chunk));
  p.splits = int(splits);
  p.k_chunk = int(chunk);
  return p;
}

int64_t plan_workspace(int64_t M, int64_t n_max, int64_t k_max, int64_t groups, MathMode math) {
  const Plan p = make_plan(M, n_max, k_max, groups, math);
  return p.splits > 1 ? groups * p.splits * M * n_max : 0;
}

struct Launch {
  int M, groups, n_max;
  float* workspace;  // split-K partials (null without split)
  float* stats;      // per-row statistics (null: none)
};

template <class C, class Problem>
void run_tile(const char* name, const Problem& problem, const Plan& p, const Launch& l, Stream stream) {
  const dim3 grid(unsigned(p.grid_x), unsigned(p.grid_y), unsigned(l.groups * p.splits));
  const size_t tile_bytes = size_t(C::BM) * (C::BN + 1) * 4;
  const size_t smem = l.stats && tile_bytes > size_t(C::kSmemBytes) ? tile_bytes : size_t(C::kSmemBytes);
  launch_shared(name, igemm_kernel<C, Problem>, grid, dim3(C::kThreads), smem, stream, problem, l.M, p.splits,
                p.k_chunk, l.workspace, l.n_max, l.stats, l.groups * p.grid_x);
}

template <Path P, class Problem>
void run_path(const char* name, const Problem& problem, const Plan& p, const Launch& l, Stream stream) {
  constexpr int bk = P == Path::ffma ? 16 : 32;
  switch (p.tile) {
    case kTile128:
      run_tile<Cfg<P, 128, 128, P == Path::ffma ? 8 : 32, 2, 4, 3>>(name, problem, p, l, stream);
      break;
    case kTile64:
      run_tile<Cfg<P, 64, 64, bk, 2, 2, 3>>(name, problem, p, l, stream);
      break;
    default:
      run_tile<Cfg<P, 16, 128, bk, 1, 4, 3>>(name, problem, p, l, stream);
      break;
  }
}

// Runs `problem` (M rows, groups of up to n_max columns and k_max K) in `math`.
template <class Problem>
void igemm(const char* name, const Problem& problem, int64_t M, int64_t n_max, int64_t k_max, int64_t groups,
           MathMode math, float* workspace, Stream stream, float* stats = nullptr) {
  if (M <= 0 || n_max <= 0 || groups <= 0) return;
  const Plan p = make_plan(M, n_max, k_max, groups, math);
  if (p.splits > 1 && !workspace)
    throw std::runtime_error(std::string(name) + ": split-K needs a workspace (see *_workspace)");
  if (p.splits > 1 && stats)
    throw std::runtime_error(std::string(name) + ": fused statistics with split K (see *_stats_tiles)");
  if (p.grid_y > 65535 || groups * p.splits > 65535)
    throw std::runtime_error(std::string(name) + ": " + std::to_string(M) + " rows in " + std::to_string(groups) +
                             " groups exceed one launch's grid (65535 row tiles, 65535 groups x splits)");
  const Launch l{int(M), int(groups), int(n_max), p.splits > 1 ? workspace : nullptr, stats};
  float* ws = l.workspace;
  switch (math) {
    case MathMode::tf32: run_path<Path::tf32>(name, problem, p, l, stream); break;
    case MathMode::bf16: run_path<Path::bf16>(name, problem, p, l, stream); break;
    default: run_path<Path::ffma>(name, problem, p, l, stream); break;
  }
  if (p.splits > 1)
    launch(name, sum_splits_kernel<Problem>, dim3(blocks_for(M * n_max, 256), unsigned(groups)), dim3(256),
           stream, problem, int(M), p.splits, static_cast<const float*>(ws), int(n_max));
}

// Every tensor the 32-bit kernels touch must have fewer than 2^31 elements.
void check_32bit(const char* name, std::initializer_list<int64_t> sizes) {
  for (int64_t n : sizes)
    if (n >= (int64_t(1) << 31))
      throw std::runtime_error(std::string(name) + ": a tensor of " + std::to_string(n) +
                               " elements; the CUDA GEMM kernels index in 32 bits (at most 2^31 - 1 elements)");
}

FastDiv fd(int64_t d) { return FastDiv(uint32_t(d > 0 ? d : 1)); }

Epi epi_of(const ConvEpilogue& ep) { return Epi{ep.act, ep.slope, ep.pre}; }

// Tiles per row of the statistics a plan leaves, or 0 when it splits K.
int64_t stats_tiles(int64_t M, int64_t n_max, int64_t k_max, int64_t groups, MathMode math) {
  const Plan p = make_plan(M, n_max, k_max, groups, math);
  return p.splits > 1 ? 0 : groups * p.grid_x;
}

// The ordered combination of per-tile (count, mean, M2) into batch-norm statistics.
__global__ void stats_from_partials_kernel(float* mean, float* var, float* invstd, const float* partials, int tiles,
                                           int c, float eps) {
  const int ch = int(blockIdx.x) * 256 + int(threadIdx.x);
  if (ch >= c) return;
  double n = 0, mu = 0, m2 = 0;
  for (int t = 0; t < tiles; ++t) {
    const float* q = partials + (ch * tiles + t) * 3;
    const double nb = q[0];
    if (nb <= 0) continue;
    const double delta = double(q[1]) - mu, total = n + nb;
    mu += delta * nb / total;
    m2 += double(q[2]) + delta * delta * n * nb / total;
    n = total;
  }
  const float v = n > 0 ? float(m2 / n) : 0.0f;
  mean[ch] = float(mu);
  var[ch] = v;
  invstd[ch] = 1.0f / sqrtf(v + eps);
}

// The 1x1-output case of the input gradient (a generator's first layer, ConvTranspose from a
// latent vector): dx [n, c_in*kh*kw] = dy [n, c_out] w [c_out, c_in*kh*kw], bias per channel.
bool is_1x1_input_grad(const ConvShape& s) {
  return s.h_out == 1 && s.w_out == 1 && s.pad_h == 0 && s.pad_w == 0 && s.kh == s.h && s.kw == s.w;
}

}  // namespace

void set_gemm_override(int tile, int splits) {
  g_override_tile = tile >= 0 && tile < kTileCount ? tile : -1;
  g_override_splits = splits;
}

int64_t matmul_workspace(int64_t batch, int64_t m, int64_t n, int64_t k, MathMode math) {
  return plan_workspace(m, n, k, batch, math);
}

void matmul_f32(float* c, const float* a, const float* b, int64_t batch, int64_t m, int64_t n, int64_t k,
                bool ta, bool tb, MathMode math, float* workspace, Stream stream) {
  check_32bit("matmul_f32", {batch * m * k, batch * k * n, batch * m * n});
  const int M = int(m), N = int(n), K = int(k);
  MatmulProblem pr{Strided{a, M * K, ta ? 1 : K, ta ? M : 1, M},
                   Strided{b, K * N, tb ? K : 1, tb ? 1 : N, N},
                   MatOut{c, N, 0, nullptr, FastDiv(1), Epi{}}, N, K, M * N};
  igemm("matmul_f32", pr, m, n, k, batch, math, workspace, stream);
}

int64_t conv2d_forward_workspace(const ConvShape& s, MathMode math) {
  return plan_workspace(s.c_out, s.n * s.h_out * s.w_out, s.c_in * s.kh * s.kw, 1, math);
}

int64_t conv2d_forward_stats_tiles(const ConvShape& s, MathMode math) {
  return stats_tiles(s.c_out, s.n * s.h_out * s.w_out, s.c_in * s.kh * s.kw, 1, math);
}

void conv2d_forward_fused_f32(float* y, const float* x, const float* w, const float* bias, const ConvShape& s,
                              const ConvEpilogue& ep, MathMode math, float* workspace, Stream stream) {
  const int64_t N = s.n * s.h_out * s.w_out, K = s.c_in * s.kh * s.kw;
  check_32bit("conv2d_forward_f32", {s.n * s.c_in * s.h * s.w, s.c_out * K, s.c_out * N});
  const int hw = int(s.h * s.w), hw_out = int(s.h_out * s.w_out);
  ConvProblem pr{Strided{w, 0, int(K), 1, int(s.c_out)},
                 Im2col{x, int(N), int(s.c_in) * hw, hw, int(s.w), int(s.stride_h), int(s.stride_w), int(s.pad_h),
                        int(s.pad_w), fd(hw_out), fd(s.w_out), fd(s.kh * s.kw), fd(s.kw), int(s.h), int(s.w)},
                 ConvOut{y, int(s.c_out) * hw_out, hw_out, fd(hw_out), bias, epi_of(ep)}, int(N), int(K)};
  igemm("conv2d_forward_f32", pr, s.c_out, N, K, 1, math, workspace, stream, ep.stats);
}

void conv2d_forward_f32(float* y, const float* x, const float* w, const float* bias, const ConvShape& s,
                        MathMode math, float* workspace, Stream stream) {
  conv2d_forward_fused_f32(y, x, w, bias, s, ConvEpilogue{}, math, workspace, stream);
}

int64_t conv2d_input_grad_workspace(const ConvShape& s, MathMode math) {
  if (is_1x1_input_grad(s)) return plan_workspace(s.n, s.c_in * s.kh * s.kw, s.c_out, 1, math);
  const int64_t phases = s.stride_h * s.stride_w;
  const int64_t n_max = s.n * ceil_div(s.h, s.stride_h) * ceil_div(s.w, s.stride_w);
  const int64_t k_max = s.c_out * ceil_div(s.kh, s.stride_h) * ceil_div(s.kw, s.stride_w);
  return plan_workspace(s.c_in, n_max, k_max, phases, math);
}

int64_t conv2d_input_grad_stats_tiles(const ConvShape& s, MathMode math) {
  if (is_1x1_input_grad(s)) return 0;  // rows are images there, not channels
  const int64_t n_max = s.n * ceil_div(s.h, s.stride_h) * ceil_div(s.w, s.stride_w);
  const int64_t k_max = s.c_out * ceil_div(s.kh, s.stride_h) * ceil_div(s.kw, s.stride_w);
  return stats_tiles(s.c_in, n_max, k_max, s.stride_h * s.stride_w, math);
}

void conv2d_input_grad_fused_f32(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                                 const ConvEpilogue& ep, MathMode math, float* workspace, Stream stream) {
  check_32bit("conv2d_input_grad_f32", {s.n * s.c_in * s.h * s.w, s.c_out * s.c_in * s.kh * s.kw,
                                        s.n * s.c_out * s.h_out * s.w_out});
  if (is_1x1_input_grad(s)) {
    if (ep.stats) throw std::runtime_error("conv2d_input_grad_f32 (1x1): no fused statistics (see *_stats_tiles)");
    const int cols = int(s.c_in * s.kh * s.kw), co = int(s.c_out);
    MatmulProblem pr{Strided{dy, 0, co, 1, int(s.n)}, Strided{w, 0, 1, cols, cols},
                     MatOut{dx, cols, 0, bias, fd(s.kh * s.kw), epi_of(ep)}, cols, co, 0};
    igemm("conv2d_input_grad_f32 (1x1)", pr, s.n, cols, co, 1, math, workspace, stream);
    return;
  }
  // Phases of a stride larger than 16x16 would not fit a sensible launch; they do not occur in
  // practice and are refused rather than run slowly.
  if (s.stride_h * s.stride_w > 65535)
    throw std::runtime_error("conv2d_input_grad_f32: stride too large for one launch of all phases");
  const int64_t phases = s.stride_h * s.stride_w;
  const int64_t n_max = s.n * ceil_div(s.h, s.stride_h) * ceil_div(s.w, s.stride_w);
  const int64_t k_max = s.c_out * ceil_div(s.kh, s.stride_h) * ceil_div(s.kw, s.stride_w);
  // A phase without taps (kernel smaller than the stride) still writes its pixels (bias or 0):
  // its K is 0 and the main loop is skipped.
  PhaseProblem pr{w, dy, dx, bias, s, epi_of(ep)};
  igemm("conv2d_input_grad_f32", pr, s.c_in, n_max, k_max, phases, math, workspace, stream, ep.stats);
}

void conv2d_input_grad_f32(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                           MathMode math, float* workspace, Stream stream) {
  conv2d_input_grad_fused_f32(dx, dy, w, bias, s, ConvEpilogue{}, math, workspace, stream);
}

void batch_norm_stats_from_partials_f32(float* mean, float* var, float* invstd, const float* partials, int64_t tiles,
                                        int64_t c, double eps, Stream stream) {
  launch("batch_norm_stats_from_partials_f32", stats_from_partials_kernel, dim3(blocks_for(c, 256)), dim3(256),
         stream, mean, var, invstd, partials, int(tiles), int(c), float(eps));
}

int64_t conv2d_weight_grad_workspace(const ConvShape& s, MathMode math) {
  return plan_workspace(s.c_out, s.c_in * s.kh * s.kw, s.n * s.h_out * s.w_out, 1, math);
}

void conv2d_weight_grad_f32(float* dw, const float* x, const float* dy, const ConvShape& s, MathMode math,
                            float* workspace, Stream stream) {
  const int64_t M = s.c_out, N = s.c_in * s.kh * s.kw, K = s.n * s.h_out * s.w_out;
  check_32bit("conv2d_weight_grad_f32", {s.n * s.c_in * s.h * s.w, M * N, M * K});
  const int hw = int(s.h * s.w), hw_out = int(s.h_out * s.w_out);
  WeightGradProblem pr{DyRows{dy, int(M), hw_out, int(M) * hw_out, fd(hw_out)},
                       Im2colT{x, int(N), int(s.c_in) * hw, hw, int(s.w), int(s.stride_h), int(s.stride_w),
                               int(s.pad_h), int(s.pad_w), fd(hw_out), fd(s.w_out), fd(s.kh * s.kw), fd(s.kw),
                               int(s.h), int(s.w)},
                       MatOut{dw, int(N), 0, nullptr, FastDiv(1), Epi{}}, int(N), int(K)};
  igemm("conv2d_weight_grad_f32", pr, M, N, K, 1, math, workspace, stream);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
