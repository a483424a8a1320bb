// Direct convolution (see conv_direct.h): packing, the three passes, and the micro-kernels.
#include "kernels/cpu/conv_direct.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/parallel.h"

#if defined(__x86_64__) || defined(_M_X64)
#define DUEL_DIRECT_X86 1
#include <immintrin.h>
#endif

namespace duel::kernels::cpu {

namespace {

std::atomic<ConvAlgo> g_algo{ConvAlgo::automatic};

struct PadTag {};
struct VecTag {};
struct OffTag {};
struct PartialTag {};

// Weight gradient: (sample, pixel) terms per partial sum.
constexpr int64_t kWeightGradChunk = 2048;

// Rows per micro-kernel call (at most) and lanes per channel block, per instruction set: the
// accumulators (2 * rows vector registers) plus two weight vectors and a broadcast fit the
// register file (32 zmm, 16 ymm) with the row pointers kept in general registers.
constexpr int kRows512 = 8, kLanes512 = 32;
constexpr int kRows256 = 6, kLanes256 = 16;

#ifdef DUEL_DIRECT_X86
// out[r][0..32) = sum over t < count of in[roff[r] + toff[t]] * vec[t][0..32), t in order.
template <int R>
__attribute__((target("avx512f"))) void tile512(float* out, const float* in, const int64_t* toff,
                                                const int64_t* roff, const float* vec, int64_t count) {
  __m512 a0[R], a1[R];
  const float* base[R];
  for (int r = 0; r < R; ++r) {
    a0[r] = _mm512_setzero_ps();
    a1[r] = _mm512_setzero_ps();
    base[r] = in + roff[r];
  }
  for (int64_t t = 0; t < count; ++t) {
    const __m512 v0 = _mm512_loadu_ps(vec + 32 * t), v1 = _mm512_loadu_ps(vec + 32 * t + 16);
    const int64_t o = toff[t];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(base[r][o]);
      a0[r] = _mm512_fmadd_ps(b, v0, a0[r]);
      a1[r] = _mm512_fmadd_ps(b, v1, a1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(out + 32 * r, a0[r]);
    _mm512_storeu_ps(out + 32 * r + 16, a1[r]);
  }
}

// The same with 16 lanes in two ymm registers.
template <int R>
__attribute__((target("avx2,fma"))) void tile256(float* out, const float* in, const int64_t* toff,
                                                 const int64_t* roff, const float* vec, int64_t count) {
  __m256 a0[R], a1[R];
  const float* base[R];
  for (int r = 0; r < R; ++r) {
    a0[r] = _mm256_setzero_ps();
    a1[r] = _mm256_setzero_ps();
    base[r] = in + roff[r];
  }
  for (int64_t t = 0; t < count; ++t) {
    const __m256 v0 = _mm256_loadu_ps(vec + 16 * t), v1 = _mm256_loadu_ps(vec + 16 * t + 8);
    const int64_t o = toff[t];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(base[r] + o);
      a0[r] = _mm256_fmadd_ps(b, v0, a0[r]);
      a1[r] = _mm256_fmadd_ps(b, v1, a1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(out + 16 * r, a0[r]);
    _mm256_storeu_ps(out + 16 * r + 8, a1[r]);
  }
}

#endif

// One tile of `rows` rows (1..rows_max(isa)).
void tile(DirectIsa isa, int rows, float* out, const float* in, const int64_t* toff, const int64_t* roff,
          const float* vec, int64_t count) {
#ifdef DUEL_DIRECT_X86
  if (isa == DirectIsa::avx512) {
    switch (rows) {
      case 1: return tile512<1>(out, in, toff, roff, vec, count);
      case 2: return tile512<2>(out, in, toff, roff, vec, count);
      case 3: return tile512<3>(out, in, toff, roff, vec, count);
      case 4: return tile512<4>(out, in, toff, roff, vec, count);
      case 5: return tile512<5>(out, in, toff, roff, vec, count);
      case 6: return tile512<6>(out, in, toff, roff, vec, count);
      case 7: return tile512<7>(out, in, toff, roff, vec, count);
      default: return tile512<8>(out, in, toff, roff, vec, count);
    }
  }
  switch (rows) {
    case 1: return tile256<1>(out, in, toff, roff, vec, count);
    case 2: return tile256<2>(out, in, toff, roff, vec, count);
    case 3: return tile256<3>(out, in, toff, roff, vec, count);
    case 4: return tile256<4>(out, in, toff, roff, vec, count);
    case 5: return tile256<5>(out, in, toff, roff, vec, count);
    default: return tile256<6>(out, in, toff, roff, vec, count);
  }
#else
  (void)isa, (void)rows, (void)out, (void)in, (void)toff, (void)roff, (void)vec, (void)count;
  std::abort();
#endif
}

int lanes_of(DirectIsa isa) { return isa == DirectIsa::avx512 ? kLanes512 : kLanes256; }
int rows_max(DirectIsa isa) { return isa == DirectIsa::avx512 ? kRows512 : kRows256; }

// `count` rows cut into the fewest tiles of at most rows_max, as even as possible: tile i covers
// [start(i), start(i+1)).
struct Strips {
  int64_t count, tiles, per, extra;
  Strips(int64_t count_, int max_rows) : count(count_) {
    tiles = std::max<int64_t>(1, (count + max_rows - 1) / max_rows);
    per = count / tiles;
    extra = count % tiles;  // the first `extra` tiles take one row more
  }
  int64_t start(int64_t i) const { return i * per + std::min(i, extra); }
  int rows(int64_t i) const { return int(per + (i < extra ? 1 : 0)); }
};

// x [n, c, h, w] copied into a zero border of pt rows above, pb below, pl columns left, pr right.
const float* padded(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t pt, int64_t pb,
                    int64_t pl, int64_t pr) {
  if (pt == 0 && pb == 0 && pl == 0 && pr == 0) return x;
  const int64_t hp = h + pt + pb, wp = w + pl + pr;
  float* out = scratch<float, PadTag>(size_t(n * c * hp * wp));
#pragma omp parallel for schedule(static) if (n * c * hp * wp >= kParallelGrain)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    float* dst = out + plane * hp * wp;
    const float* src = x + plane * h * w;
    std::fill(dst, dst + pt * wp, 0.0f);
    for (int64_t i = 0; i < h; ++i) {
      float* row = dst + (pt + i) * wp;
      std::fill(row, row + pl, 0.0f);
      std::memcpy(row + pl, src + i * w, size_t(w) * sizeof(float));
      std::fill(row + pl + w, row + wp, 0.0f);
    }
    std::fill(dst + (pt + h) * wp, dst + hp * wp, 0.0f);
  }
  return out;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The input gradient's layout, shared by the FP32 and BF16 passes. dx[ih, iw] gathers dy[oh, ow] *
// w[i, j] over ih = oh*sh - pad_h + i (likewise for columns); the rows oh reached lie in
// [-pt, h_out + pb), so dy gets a zero border that wide. The stride phases (a, c) = ((ih + pad_h)
// mod sh, (iw + pad_w) mod sw): a phase's pixels see the taps i = a + u*sh, j = c + v*sw, at
// oh = (ih + pad_h - a)/sh - u, ow = (iw + pad_w - c)/sw - v.
struct PhasePlan {
  int64_t pt, pb, pl, pr, phases;
  std::vector<int64_t> pix;    // dx pixel index (ih*w + iw), phase by phase
  std::vector<int64_t> roff;   // the pixel's corner in a sample's padded dy
  std::vector<int64_t> strip_phase, strip_p0, strip_rows;  // tiles of one phase's pixels

  explicit PhasePlan(const ConvShape& s)
      : pt(std::max<int64_t>(0, ceil_div(s.kh - 1 - s.pad_h, s.stride_h))),
        pb(std::max<int64_t>(0, (s.h - 1 + s.pad_h) / s.stride_h - (s.h_out - 1))),
        pl(std::max<int64_t>(0, ceil_div(s.kw - 1 - s.pad_w, s.stride_w))),
        pr(std::max<int64_t>(0, (s.w - 1 + s.pad_w) / s.stride_w - (s.w_out - 1))),
        phases(s.stride_h * s.stride_w) {}

  // Phase ph's tap counts: u < nu, v < nv.
  static void taps(const ConvShape& s, int64_t ph, int64_t& nu, int64_t& nv) {
    const int64_t a = ph / s.stride_w, c = ph % s.stride_w;
    nu = a < s.kh ? ceil_div(s.kh - a, s.stride_h) : 0;
    nv = c < s.kw ? ceil_div(s.kw - c, s.stride_w) : 0;
  }

  // The pixel lists for a padded dy whose rows are `row` elements long, in tiles of at most
  // max_rows pixels.
  void place(const ConvShape& s, int64_t row, int max_rows) {
    const int64_t sh = s.stride_h, sw = s.stride_w;
    pix.reserve(size_t(s.h * s.w));
    roff.reserve(size_t(s.h * s.w));
    for (int64_t ph = 0; ph < phases; ++ph) {
      const int64_t a = ph / sw, c = ph % sw, first = int64_t(pix.size());
      for (int64_t ih = 0; ih < s.h; ++ih) {
        if ((ih + s.pad_h) % sh != a) continue;
        for (int64_t iw = 0; iw < s.w; ++iw) {
          if ((iw + s.pad_w) % sw != c) continue;
          pix.push_back(ih * s.w + iw);
          roff.push_back(((ih + s.pad_h - a) / sh + pt) * row + (iw + s.pad_w - c) / sw + pl);
        }
      }
      const Strips st(int64_t(pix.size()) - first, max_rows);
      if (st.count == 0) continue;
      for (int64_t i = 0; i < st.tiles; ++i) {
        strip_phase.push_back(ph);
        strip_p0.push_back(first + st.start(i));
        strip_rows.push_back(st.rows(i));
      }
    }
  }
};

// out[r][l] of a tile (rows x L) plus the bias, stored at dst + (first lane + l) * stride + index[r]
// for the lanes below `lanes`; index null: the rows are consecutive from 0.
void scatter_tile(float* dst, int64_t stride, const float* out, int L, int rows, int64_t lane0, int64_t lanes,
                  const float* bias, const int64_t* index) {
  for (int64_t l = 0; l < lanes; ++l) {
    const float add = bias ? bias[lane0 + l] : 0.0f;
    float* d = dst + (lane0 + l) * stride;
    for (int r = 0; r < rows; ++r) d[index ? index[r] : r] = out[r * L + l] + add;
  }
}

// dw [c_out, items] = the chunks' partial sums [chunk][block][item][L], added in chunk order.
void add_chunks(float* dw, const float* partial, int64_t c_out, int64_t items, int64_t blocks, int64_t chunks,
                int L) {
#pragma omp parallel for schedule(static) if (c_out * items * chunks >= kParallelGrain)
  for (int64_t co = 0; co < c_out; ++co) {
    const int64_t b = co / L, l = co % L;
    for (int64_t item = 0; item < items; ++item) {
      float sum = partial[(b * items + item) * L + l];
      for (int64_t ch = 1; ch < chunks; ++ch) sum += partial[((ch * blocks + b) * items + item) * L + l];
      dw[co * items + item] = sum;
    }
  }
}

// ---- BF16 operands (--math bf16 on a CPU with AVX512_BF16) ----------------------------------
//
// vdpbf16ps adds to each FP32 lane the products of two BF16 pairs, so the reduction runs two t at
// a time: each t-pair's operand is one 32-bit word of two BF16 numbers, the broadcast word read
// straight from a BF16 copy of `in` (the two values side by side there: adjacent kernel columns
// in the forward, adjacent ones in reverse order in the input gradient, adjacent output pixels in
// the weight gradient, whose input copy has its columns sorted by stride phase to make them so),
// and vec holds the matching pairs. A t without a partner (an odd count) is ANDed with a mask that
// clears the partner's half, so whatever value sits there (even Inf or NaN) adds exactly zero.

struct PadBf16Tag {};
struct MaskTag {};

uint16_t bf16_of(float x) { return uint16_t(bf16_bits(x)); }

// x [n, c, h, w] as BF16 with a zero border (pt, pb rows, pl, pr columns), each padded row of
// wp = w + pl + pr columns stored with its columns sorted by phase c mod `split`: column c at
// (c % split) * half + c / split, half = wp / split rounded up, plus one zero column per phase
// (where a missing partner is read). Row length split * half, plane hp * that; one zero guard
// element before and after the buffer.
struct Bf16Copy {
  const uint16_t* data;
  int64_t half, row, plane;
};
Bf16Copy padded_bf16(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t pt, int64_t pb, int64_t pl,
                     int64_t pr, int64_t split) {
  const int64_t hp = h + pt + pb, wp = w + pl + pr;
  const int64_t half = (wp + split - 1) / split + 1, row = split * half, plane = hp * row;
  uint16_t* buf = scratch<uint16_t, PadBf16Tag>(size_t(n * c * plane + 2));
  buf[0] = 0;
  buf[n * c * plane + 1] = 0;
  uint16_t* out = buf + 1;
  std::vector<int64_t> pos(static_cast<size_t>(w));  // where input column j lands in a stored row
  for (int64_t j = 0; j < w; ++j) pos[size_t(j)] = ((pl + j) % split) * half + (pl + j) / split;
#pragma omp parallel for schedule(static) if (n * c * plane >= kParallelGrain)
  for (int64_t pl_i = 0; pl_i < n * c; ++pl_i) {
    uint16_t* dst = out + pl_i * plane;
    std::fill(dst, dst + plane, uint16_t(0));
    const float* src = x + pl_i * h * w;
    for (int64_t i = 0; i < h; ++i) {
      uint16_t* r = dst + (pt + i) * row;
      const float* s_row = src + i * w;
      if (split == 1) {
        for (int64_t j = 0; j < w; ++j) r[pl + j] = bf16_of(s_row[j]);
      } else {
        for (int64_t j = 0; j < w; ++j) r[pos[size_t(j)]] = bf16_of(s_row[j]);
      }
    }
  }
  return {out, half, row, plane};
}

uint32_t pair_word(float lo, float hi) { return uint32_t(bf16_of(lo)) | (uint32_t(bf16_of(hi)) << 16); }

#ifdef DUEL_DIRECT_X86
#define DUEL_DIRECT_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// out[r][0..32) = sum over t-pairs q < count of the two products of the word at in + roff[r] +
// toff[q] (masked by mask[q]) with vec[q][0..32) (words), q in order.
template <int R>
DUEL_DIRECT_BF16_TARGET void tile_bf16(float* out, const uint16_t* in, const int64_t* toff, const uint32_t* mask,
                                       const int64_t* roff, const uint32_t* vec, int64_t count) {
  __m512 a0[R], a1[R];
  const uint16_t* base[R];
  for (int r = 0; r < R; ++r) {
    a0[r] = _mm512_setzero_ps();
    a1[r] = _mm512_setzero_ps();
    base[r] = in + roff[r];
  }
  for (int64_t q = 0; q < count; ++q) {
    const __m512bh v0 = (__m512bh)_mm512_loadu_si512(vec + 32 * q);
    const __m512bh v1 = (__m512bh)_mm512_loadu_si512(vec + 32 * q + 16);
    const int64_t o = toff[q];
    const __m512i m = _mm512_set1_epi32(int(mask[q]));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      uint32_t word;
      std::memcpy(&word, base[r] + o, 4);
      const __m512bh b = (__m512bh)_mm512_and_si512(_mm512_set1_epi32(int(word)), m);
      a0[r] = _mm512_dpbf16_ps(a0[r], b, v0);
      a1[r] = _mm512_dpbf16_ps(a1[r], b, v1);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(out + 32 * r, a0[r]);
    _mm512_storeu_ps(out + 32 * r + 16, a1[r]);
  }
}
#endif

void tile_bf16_rows(int rows, float* out, const uint16_t* in, const int64_t* toff, const uint32_t* mask,
                    const int64_t* roff, const uint32_t* vec, int64_t count) {
#ifdef DUEL_DIRECT_X86
  switch (rows) {
    case 1: return tile_bf16<1>(out, in, toff, mask, roff, vec, count);
    case 2: return tile_bf16<2>(out, in, toff, mask, roff, vec, count);
    case 3: return tile_bf16<3>(out, in, toff, mask, roff, vec, count);
    case 4: return tile_bf16<4>(out, in, toff, mask, roff, vec, count);
    case 5: return tile_bf16<5>(out, in, toff, mask, roff, vec, count);
    case 6: return tile_bf16<6>(out, in, toff, mask, roff, vec, count);
    case 7: return tile_bf16<7>(out, in, toff, mask, roff, vec, count);
    default: return tile_bf16<8>(out, in, toff, mask, roff, vec, count);
  }
#else
  (void)rows, (void)out, (void)in, (void)toff, (void)mask, (void)roff, (void)vec, (void)count;
  std::abort();
#endif
}

constexpr uint32_t kBoth = 0xffffffffu, kLowOnly = 0x0000ffffu, kHighOnly = 0xffff0000u;

}  // namespace

DirectIsa direct_isa_available() {
#ifdef DUEL_DIRECT_X86
  static const DirectIsa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return DirectIsa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DirectIsa::avx2;
    return DirectIsa::none;
  }();
  return isa;
#else
  return DirectIsa::none;
#endif
}

ConvAlgo conv_algo() { return g_algo.load(std::memory_order_relaxed); }
void set_conv_algo(ConvAlgo a) { g_algo.store(a, std::memory_order_relaxed); }

bool conv_direct_pays(const ConvShape& s, ConvPass pass) {
  const bool dense = s.h_out == 1 && s.w_out == 1 && s.kh == s.h && s.kw == s.w && s.pad_h == 0 && s.pad_w == 0;
  if (dense) return false;
  // Measured on the dcgan layers (docs/benchmarks.md): the direct kernel wins wherever its lanes
  // are filled and the sum per output is not tiny; dcgan28's first critic layer (1 input channel,
  // 16 products per output) stays a little faster with im2col.
  const int64_t taps = s.kh * s.kw;
  switch (pass) {
    case ConvPass::forward:
    case ConvPass::weight_grad: return s.c_out >= 16 && s.c_in * taps >= 32;
    case ConvPass::input_grad: return s.c_in >= 16 && s.c_out * taps >= 32;
  }
  return false;
}

void conv2d_direct_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s,
                           DirectIsa isa) {
  const int L = lanes_of(isa);
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w, plane = hp * wp;
  const float* xp = padded(x, s.n, s.c_in, s.h, s.w, s.pad_h, s.pad_h, s.pad_w, s.pad_w);
  const int64_t taps = s.kh * s.kw, count = s.c_in * taps, blocks = ceil_div(s.c_out, L);
  const int64_t pixels = s.h_out * s.w_out;
  // Offsets: toff (c_in, i, j) into a sample's padded input; roff: each output pixel's corner.
  int64_t* off = scratch<int64_t, OffTag>(size_t(count + pixels));
  int64_t* toff = off;
  int64_t* roff = off + count;
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) toff[(ci * s.kh + i) * s.kw + j] = ci * plane + i * wp + j;
  for (int64_t oh = 0; oh < s.h_out; ++oh)
    for (int64_t ow = 0; ow < s.w_out; ++ow) roff[oh * s.w_out + ow] = oh * s.stride_h * wp + ow * s.stride_w;
  // Weights [c_out, count] packed [block][t][L] (zero lanes past c_out).
  float* vec = scratch<float, VecTag>(size_t(blocks * count * L));
#pragma omp parallel for schedule(static) if (blocks * count * L >= kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < count; ++t)
      for (int l = 0; l < L; ++l) {
        const int64_t co = b * L + l;
        vec[(b * count + t) * L + l] = co < s.c_out ? w[co * count + t] : 0.0f;
      }
  const Strips strips(pixels, rows_max(isa));
  const int64_t tasks = s.n * blocks * strips.tiles;
#pragma omp parallel for schedule(static) if (tasks > 1 && tasks * count * 32 >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / (blocks * strips.tiles), b = task / strips.tiles % blocks, st = task % strips.tiles;
    const int64_t p0 = strips.start(st);
    const int rows = strips.rows(st);
    alignas(64) float out[kRows512 * kLanes512];
    tile(isa, rows, out, xp + n * s.c_in * plane, toff, roff + p0, vec + b * count * L, count);
    scatter_tile(y + n * s.c_out * pixels + p0, pixels, out, L, rows, b * L, std::min<int64_t>(L, s.c_out - b * L),
                 bias, nullptr);
  }
}

void conv2d_direct_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s,
                              DirectIsa isa) {
  const int L = lanes_of(isa);
  const int64_t sh = s.stride_h, sw = s.stride_w;
  PhasePlan plan(s);
  const int64_t hp = s.h_out + plan.pt + plan.pb, wp = s.w_out + plan.pl + plan.pr, plane = hp * wp;
  const float* dyp = padded(dy, s.n, s.c_out, s.h_out, s.w_out, plan.pt, plan.pb, plan.pl, plan.pr);
  plan.place(s, wp, rows_max(isa));
  const int64_t blocks = ceil_div(s.c_in, L), hw = s.h * s.w;
  std::vector<int64_t> tap_start(size_t(plan.phases + 1), 0);
  for (int64_t ph = 0; ph < plan.phases; ++ph) {
    int64_t nu, nv;
    PhasePlan::taps(s, ph, nu, nv);
    tap_start[size_t(ph + 1)] = tap_start[size_t(ph)] + s.c_out * nu * nv;
  }
  const int64_t count_all = tap_start[size_t(plan.phases)];
  int64_t* toff = scratch<int64_t, OffTag>(size_t(std::max<int64_t>(1, count_all)));
  float* vec = scratch<float, VecTag>(size_t(std::max<int64_t>(1, blocks * count_all * L)));
  for (int64_t ph = 0; ph < plan.phases; ++ph) {
    const int64_t a = ph / sw, c = ph % sw, t0 = tap_start[size_t(ph)];
    int64_t nu, nv;
    PhasePlan::taps(s, ph, nu, nv);
    // toff: tap (co, u, v) from the pixel's corner; vec[block][phase's t][L] = w[co, ci = block*L
    // + l, a + u*sh, c + v*sw], the phases' runs of t following each other inside a block.
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t u = 0; u < nu; ++u)
        for (int64_t v = 0; v < nv; ++v) {
          const int64_t t = t0 + (co * nu + u) * nv + v;
          toff[t] = co * plane - u * wp - v;
          for (int64_t b = 0; b < blocks; ++b)
            for (int l = 0; l < L; ++l) {
              const int64_t ci = b * L + l;
              vec[(b * count_all + t) * L + l] =
                  ci < s.c_in ? w[((co * s.c_in + ci) * s.kh + a + u * sh) * s.kw + c + v * sw] : 0.0f;
            }
        }
  }
  const int64_t nstrips = int64_t(plan.strip_phase.size()), tasks = s.n * blocks * nstrips;
#pragma omp parallel for schedule(static) if (tasks > 1 && tasks * count_all * 8 >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / (blocks * nstrips), b = task / nstrips % blocks, si = task % nstrips;
    const int64_t ph = plan.strip_phase[size_t(si)], p0 = plan.strip_p0[size_t(si)];
    const int rows = int(plan.strip_rows[size_t(si)]);
    const int64_t t0 = tap_start[size_t(ph)], count = tap_start[size_t(ph + 1)] - t0;
    alignas(64) float out[kRows512 * kLanes512];
    tile(isa, rows, out, dyp + n * s.c_out * plane, toff + t0, plan.roff.data() + p0,
         vec + (b * count_all + t0) * L, count);
    scatter_tile(dx + n * s.c_in * hw, hw, out, L, rows, b * L, std::min<int64_t>(L, s.c_in - b * L), bias,
                 plan.pix.data() + p0);
  }
}

void conv2d_direct_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s, DirectIsa isa) {
  const int L = lanes_of(isa);
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w, plane = hp * wp;
  const float* xp = padded(x, s.n, s.c_in, s.h, s.w, s.pad_h, s.pad_h, s.pad_w, s.pad_w);
  const int64_t items = s.c_in * s.kh * s.kw, blocks = ceil_div(s.c_out, L);
  const int64_t pixels = s.h_out * s.w_out, count = s.n * pixels;
  int64_t* off = scratch<int64_t, OffTag>(size_t(count + items));
  int64_t* toff = off;         // t = (sample, output pixel): its corner in the padded input
  int64_t* roff = off + count;  // row = (c_in, i, j): the tap's offset from the corner
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t oh = 0; oh < s.h_out; ++oh)
      for (int64_t ow = 0; ow < s.w_out; ++ow)
        toff[(n * s.h_out + oh) * s.w_out + ow] = n * s.c_in * plane + oh * s.stride_h * wp + ow * s.stride_w;
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) roff[(ci * s.kh + i) * s.kw + j] = ci * plane + i * wp + j;
  // dy [n, c_out, pixels] packed [block][(n, pixel)][L].
  float* vec = scratch<float, VecTag>(size_t(blocks * count * L));
#pragma omp parallel for schedule(static) if (blocks * count * L >= kParallelGrain)
  for (int64_t bn = 0; bn < blocks * s.n; ++bn) {
    const int64_t b = bn / s.n, n = bn % s.n;
    float* dst = vec + (b * count + n * pixels) * L;
    for (int l = 0; l < L; ++l) {
      const int64_t co = b * L + l;
      if (co < s.c_out) {
        const float* src = dy + (n * s.c_out + co) * pixels;
        for (int64_t p = 0; p < pixels; ++p) dst[p * L + l] = src[p];
      } else {
        for (int64_t p = 0; p < pixels; ++p) dst[p * L + l] = 0.0f;
      }
    }
  }
  // The sum over (sample, pixel) in chunks of kChunk, each chunk's partial sums in a buffer of its
  // own, then the chunks added in order: a shorter serial chain per sum (dcgan64's first layer
  // sums 131072 products) and more tasks than output blocks, with the same bits at any thread count.
  const int64_t chunks = ceil_div(count, kWeightGradChunk);
  const Strips strips(items, rows_max(isa));
  float* partial = scratch<float, PartialTag>(size_t(chunks * blocks * items * L));
  const int64_t tasks = blocks * chunks * strips.tiles;
#pragma omp parallel for schedule(static) if (tasks > 1 && count * items * L >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task / (chunks * strips.tiles), ch = task / strips.tiles % chunks, st = task % strips.tiles;
    const int64_t r0 = strips.start(st), t0 = ch * kWeightGradChunk;
    tile(isa, strips.rows(st), partial + ((ch * blocks + b) * items + r0) * L, xp, toff + t0, roff + r0,
         vec + (b * count + t0) * L, std::min(kWeightGradChunk, count - t0));
  }
  add_chunks(dw, partial, s.c_out, items, blocks, chunks, L);
}

// ---- The three passes with BF16 operands ---------------------------------------------------------

void conv2d_direct_bf16_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) {
  constexpr int L = kLanes512;
  const Bf16Copy xb = padded_bf16(x, s.n, s.c_in, s.h, s.w, s.pad_h, s.pad_h, s.pad_w, s.pad_w, 1);
  const int64_t jp = (s.kw + 1) / 2, count = s.c_in * s.kh * jp, taps = s.c_in * s.kh * s.kw;
  const int64_t blocks = ceil_div(s.c_out, L), pixels = s.h_out * s.w_out;
  int64_t* off = scratch<int64_t, OffTag>(size_t(count + pixels));
  int64_t* toff = off;
  int64_t* roff = off + count;
  uint32_t* mask = scratch<uint32_t, MaskTag>(size_t(count));
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t q = 0; q < jp; ++q) {
        const int64_t t = (ci * s.kh + i) * jp + q;
        toff[t] = ci * xb.plane + i * xb.row + 2 * q;  // columns 2q and 2q+1, side by side
        mask[t] = 2 * q + 1 < s.kw ? kBoth : kLowOnly;
      }
  for (int64_t oh = 0; oh < s.h_out; ++oh)
    for (int64_t ow = 0; ow < s.w_out; ++ow) roff[oh * s.w_out + ow] = oh * s.stride_h * xb.row + ow * s.stride_w;
  uint32_t* vec = scratch<uint32_t, VecTag>(size_t(blocks * count * L));
#pragma omp parallel for schedule(static) if (blocks * count * L >= kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < count; ++t) {
      const int64_t ci = t / (s.kh * jp), i = t / jp % s.kh, j = 2 * (t % jp);
      for (int l = 0; l < L; ++l) {
        const int64_t co = b * L + l;
        const float* wr = w + ((co * s.c_in + ci) * s.kh + i) * s.kw;
        vec[(b * count + t) * L + l] = co < s.c_out ? pair_word(wr[j], j + 1 < s.kw ? wr[j + 1] : 0.0f) : 0u;
      }
    }
  const Strips strips(pixels, kRows512);
  const int64_t tasks = s.n * blocks * strips.tiles;
#pragma omp parallel for schedule(static) if (tasks > 1 && tasks * taps * 32 >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / (blocks * strips.tiles), b = task / strips.tiles % blocks, st = task % strips.tiles;
    const int64_t p0 = strips.start(st);
    const int rows = strips.rows(st);
    alignas(64) float out[kRows512 * kLanes512];
    tile_bf16_rows(rows, out, xb.data + n * s.c_in * xb.plane, toff, mask, roff + p0, vec + b * count * L, count);
    scatter_tile(y + n * s.c_out * pixels + p0, pixels, out, L, rows, b * L, std::min<int64_t>(L, s.c_out - b * L),
                 bias, nullptr);
  }
}

void conv2d_direct_bf16_input_grad(float* dx, const float* dy, const float* w, const float* bias, const ConvShape& s) {
  constexpr int L = kLanes512;
  const int64_t sh = s.stride_h, sw = s.stride_w;
  PhasePlan plan(s);
  const Bf16Copy db = padded_bf16(dy, s.n, s.c_out, s.h_out, s.w_out, plan.pt, plan.pb, plan.pl, plan.pr, 1);
  plan.place(s, db.row, kRows512);
  const int64_t blocks = ceil_div(s.c_in, L), hw = s.h * s.w;
  // Pairs of v (v, v+1) read dy at columns ow0 - v and ow0 - v - 1: the word at ow0 - v - 1 holds
  // v+1 in its low half, v in its high.
  std::vector<int64_t> pair_start(size_t(plan.phases + 1), 0);
  for (int64_t ph = 0; ph < plan.phases; ++ph) {
    int64_t nu, nv;
    PhasePlan::taps(s, ph, nu, nv);
    pair_start[size_t(ph + 1)] = pair_start[size_t(ph)] + s.c_out * nu * ((nv + 1) / 2);
  }
  const int64_t count_all = pair_start[size_t(plan.phases)];
  int64_t* toff = scratch<int64_t, OffTag>(size_t(std::max<int64_t>(1, count_all)));
  uint32_t* mask = scratch<uint32_t, MaskTag>(size_t(std::max<int64_t>(1, count_all)));
  uint32_t* vec = scratch<uint32_t, VecTag>(size_t(std::max<int64_t>(1, blocks * count_all * L)));
  for (int64_t ph = 0; ph < plan.phases; ++ph) {
    const int64_t a = ph / sw, c = ph % sw;
    int64_t nu, nv;
    PhasePlan::taps(s, ph, nu, nv);
    const int64_t vp = (nv + 1) / 2, q0 = pair_start[size_t(ph)];
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t u = 0; u < nu; ++u)
        for (int64_t p = 0; p < vp; ++p) {
          const int64_t q = q0 + (co * nu + u) * vp + p, v = 2 * p;
          toff[q] = co * db.plane - u * db.row - v - 1;
          mask[q] = v + 1 < nv ? kBoth : kHighOnly;
          for (int64_t b = 0; b < blocks; ++b)
            for (int l = 0; l < L; ++l) {
              const int64_t ci = b * L + l;
              uint32_t word = 0;
              if (ci < s.c_in) {
                const float* wr = w + ((co * s.c_in + ci) * s.kh + a + u * sh) * s.kw;
                word = pair_word(v + 1 < nv ? wr[c + (v + 1) * sw] : 0.0f, wr[c + v * sw]);
              }
              vec[(b * count_all + q) * L + l] = word;
            }
        }
  }
  const int64_t nstrips = int64_t(plan.strip_phase.size()), tasks = s.n * blocks * nstrips;
#pragma omp parallel for schedule(static) if (tasks > 1 && tasks * count_all * 16 >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t n = task / (blocks * nstrips), b = task / nstrips % blocks, si = task % nstrips;
    const int64_t ph = plan.strip_phase[size_t(si)], p0 = plan.strip_p0[size_t(si)];
    const int rows = int(plan.strip_rows[size_t(si)]);
    const int64_t q0 = pair_start[size_t(ph)], count = pair_start[size_t(ph + 1)] - q0;
    alignas(64) float out[kRows512 * kLanes512];
    tile_bf16_rows(rows, out, db.data + n * s.c_out * db.plane, toff + q0, mask + q0, plan.roff.data() + p0,
                   vec + (b * count_all + q0) * L, count);
    scatter_tile(dx + n * s.c_in * hw, hw, out, L, rows, b * L, std::min<int64_t>(L, s.c_in - b * L), bias,
                 plan.pix.data() + p0);
  }
}

void conv2d_direct_bf16_weight_grad(float* dw, const float* x, const float* dy, const ConvShape& s) {
  constexpr int L = kLanes512;
  const int64_t sw = s.stride_w;
  // Columns sorted by stride phase: output pixels ow and ow+1 read neighbouring elements.
  const Bf16Copy xb = padded_bf16(x, s.n, s.c_in, s.h, s.w, s.pad_h, s.pad_h, s.pad_w, s.pad_w, sw);
  const int64_t items = s.c_in * s.kh * s.kw, blocks = ceil_div(s.c_out, L);
  const int64_t wpairs = (s.w_out + 1) / 2, pixels = s.h_out * s.w_out;
  const int64_t count = s.n * s.h_out * wpairs;  // t-pairs: (sample, output row, pair of columns)
  int64_t* off = scratch<int64_t, OffTag>(size_t(count + items));
  int64_t* toff = off;
  int64_t* roff = off + count;
  uint32_t* mask = scratch<uint32_t, MaskTag>(size_t(count));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t oh = 0; oh < s.h_out; ++oh)
      for (int64_t p = 0; p < wpairs; ++p) {
        const int64_t q = (n * s.h_out + oh) * wpairs + p;
        toff[q] = n * s.c_in * xb.plane + oh * s.stride_h * xb.row + 2 * p;
        mask[q] = 2 * p + 1 < s.w_out ? kBoth : kLowOnly;
      }
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j)
        roff[(ci * s.kh + i) * s.kw + j] = ci * xb.plane + i * xb.row + (j % sw) * xb.half + j / sw;
  uint32_t* vec = scratch<uint32_t, VecTag>(size_t(blocks * count * L));
#pragma omp parallel for schedule(static) if (blocks * count * L >= kParallelGrain)
  for (int64_t bn = 0; bn < blocks * s.n; ++bn) {
    const int64_t b = bn / s.n, n = bn % s.n;
    for (int l = 0; l < L; ++l) {
      const int64_t co = b * L + l;
      const float* src = co < s.c_out ? dy + (n * s.c_out + co) * pixels : nullptr;
      for (int64_t oh = 0; oh < s.h_out; ++oh)
        for (int64_t p = 0; p < wpairs; ++p) {
          const int64_t q = (n * s.h_out + oh) * wpairs + p, ow = 2 * p;
          uint32_t word = 0;
          if (src) word = pair_word(src[oh * s.w_out + ow], ow + 1 < s.w_out ? src[oh * s.w_out + ow + 1] : 0.0f);
          vec[(b * count + q) * L + l] = word;
        }
    }
  }
  constexpr int64_t kChunkPairs = kWeightGradChunk / 2;
  const int64_t chunks = ceil_div(count, kChunkPairs);
  const Strips strips(items, kRows512);
  float* partial = scratch<float, PartialTag>(size_t(chunks * blocks * items * L));
  const int64_t tasks = blocks * chunks * strips.tiles;
#pragma omp parallel for schedule(static) if (tasks > 1 && count * items * L >= kParallelGrain)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b = task / (chunks * strips.tiles), ch = task / strips.tiles % chunks, st = task % strips.tiles;
    const int64_t r0 = strips.start(st), q0 = ch * kChunkPairs;
    tile_bf16_rows(strips.rows(st), partial + ((ch * blocks + b) * items + r0) * L, xb.data, toff + q0, mask + q0,
                   roff + r0, vec + (b * count + q0) * L, std::min(kChunkPairs, count - q0));
  }
  add_chunks(dw, partial, s.c_out, items, blocks, chunks, L);
}

}  // namespace duel::kernels::cpu
