// BF16 GEMM with FP32 accumulation on AVX512_BF16 (see gemm_bf16.h).
//
// vdpbf16ps multiplies 16 pairs of BF16 numbers and adds each pair's two products to one FP32
// lane: acc[j] += a[2j] b[2j] + a[2j+1] b[2j+1]. So both operands are packed with consecutive
// k-indices side by side in one 32-bit word (even k in the low half):
//   A panels of kMR rows (all of A, once):  ap[(panel * kp + q) * kMR + r] = (a[r, 2q], a[r, 2q+1])
//   B panels of kNR columns (one tile's columns and chunk of pairs at a time, in the thread's
//   buffer): bp[(panel * len + q) * kNR + c] = (b[2q, c], b[2q+1, c])
// with kp = ceil(k / 2) pairs (an odd k gets a zero partner) and zero rows and columns past the
// edge. The micro-kernel keeps a kMR x kNR block of C in 16 registers, broadcasting one A word per
// row against two B vectors per pair.
//
// Determinism: C is cut into tiles whose sizes depend only on the shape (and, when there are few
// tiles and k is long, k into chunks whose partial products are added in chunk order), and each
// tile walks k in a fixed order, so the result is the same for any thread count, as in gemm.h.
#include "kernels/cpu/gemm_bf16.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/parallel.h"

#define DUEL_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace duel::kernels::cpu {

#if defined(__x86_64__)

namespace {

constexpr int64_t kMR = 8;              // rows of the register block
constexpr int64_t kNR = 32;             // columns of the register block (two vectors)
constexpr int64_t kTileRows = 128;      // rows of C per tile (a multiple of kMR)
constexpr int64_t kTileCols = 256;      // columns of C per tile (a multiple of kNR)
constexpr int64_t kChunkPairs = 256;    // k pairs per pass over a tile: a B panel of 32 KiB
constexpr int64_t kSerialWork = 1 << 17;
constexpr int64_t kMinTiles = 4;
constexpr int64_t kMinKSplit = 1024;    // k per split chunk at least
constexpr int64_t kMaxKSplit = 16;

struct APackTag {};
struct PartialTag {};

// 16 floats to their BF16 bits (in the low 16 bits of each lane), round to nearest even.
DUEL_BF16_TARGET inline __m512i bf16_bits16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
}

// Packs `lanes` (kMR or kNR) lanes of a matrix M(lane, kk), kk < k, into dst[q * lanes + lane].
// lane_stride / k_stride: the distance in floats between neighbouring lanes / k-indices; lanes
// past `valid` are zero.
DUEL_BF16_TARGET void pack_panel(uint32_t* dst, const float* src, int64_t lanes, int64_t valid, int64_t k,
                                 int64_t lane_stride, int64_t k_stride) {
  const int64_t kp = (k + 1) / 2;
  if (lane_stride == 1) {
    // Lanes contiguous: two rows of k at a time, 16 lanes per vector.
    for (int64_t q = 0; q < kp; ++q) {
      const float* r0 = src + 2 * q * k_stride;
      const float* r1 = r0 + k_stride;
      const bool has_odd = 2 * q + 1 < k;
      for (int64_t l0 = 0; l0 < lanes; l0 += 16) {
        const int64_t n_valid = std::clamp<int64_t>(valid - l0, 0, 16);
        const __mmask16 m = n_valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << n_valid) - 1);
        const __m512i lo = bf16_bits16(_mm512_maskz_loadu_ps(m, r0 + l0));
        const __m512i hi = has_odd ? bf16_bits16(_mm512_maskz_loadu_ps(m, r1 + l0)) : _mm512_setzero_si512();
        const int64_t n_store = std::min<int64_t>(16, lanes - l0);
        const __mmask16 ms = n_store >= 16 ? __mmask16(0xffff) : __mmask16((1u << n_store) - 1);
        _mm512_mask_storeu_epi32(dst + q * lanes + l0, ms, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    }
    return;
  }
  // k contiguous (k_stride == 1): 16 pairs of one lane per step, written with a stride of `lanes`.
  for (int64_t l = 0; l < lanes; ++l) {
    if (l >= valid) {
      for (int64_t q = 0; q < kp; ++q) dst[q * lanes + l] = 0;
      continue;
    }
    const float* row = src + l * lane_stride;
    int64_t q = 0;
    alignas(64) uint32_t words[16];
    for (; q + 16 <= k / 2; q += 16) {
      const __m512i e0 = bf16_bits16(_mm512_loadu_ps(row + 2 * q));       // pairs q .. q+7
      const __m512i e1 = bf16_bits16(_mm512_loadu_ps(row + 2 * q + 16));  // pairs q+8 .. q+15
      // Each 32-bit lane holds one BF16 in its low half: narrow to 16 bits, two per word.
      const __m256i w0 = _mm512_cvtepi32_epi16(e0), w1 = _mm512_cvtepi32_epi16(e1);
      _mm256_store_si256(reinterpret_cast<__m256i*>(words), w0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(words + 8), w1);
      for (int64_t i = 0; i < 16; ++i) dst[(q + i) * lanes + l] = words[i];
    }
    for (; q < kp; ++q) {
      const uint32_t lo = bf16_bits(row[2 * q]);
      const uint32_t hi = 2 * q + 1 < k ? bf16_bits(row[2 * q + 1]) : 0u;
      dst[q * lanes + l] = lo | (hi << 16);
    }
  }
}

// pack_panel for a whole operand whose lanes are contiguous (each k-index a row of `lanes_total`
// floats, row stride ld): pairs [q0, q1) of every panel, reading each row once from start to end
// (a panel at a time would read short pieces of many distant rows: latency-bound).
DUEL_BF16_TARGET void pack_rows(uint32_t* dst, const float* src, int64_t lanes, int64_t panels, int64_t lanes_total,
                                int64_t k, int64_t kp, int64_t ld, int64_t q0, int64_t q1) {
  for (int64_t q = q0; q < q1; ++q) {
    const float* r0 = src + 2 * q * ld;
    const float* r1 = r0 + ld;
    const bool has_odd = 2 * q + 1 < k;
    for (int64_t p = 0; p < panels; ++p) {
      for (int64_t l0 = 0; l0 < lanes; l0 += 16) {
        const int64_t lane = p * lanes + l0;
        const int64_t n_valid = std::clamp<int64_t>(lanes_total - lane, 0, 16);
        const __mmask16 m = n_valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << n_valid) - 1);
        const __m512i lo = bf16_bits16(_mm512_maskz_loadu_ps(m, r0 + lane));
        const __m512i hi = has_odd ? bf16_bits16(_mm512_maskz_loadu_ps(m, r1 + lane)) : _mm512_setzero_si512();
        const int64_t n_store = std::min<int64_t>(16, lanes - l0);
        const __mmask16 ms = n_store >= 16 ? __mmask16(0xffff) : __mmask16((1u << n_store) - 1);
        _mm512_mask_storeu_epi32(dst + (p * kp + q) * lanes + l0, ms, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    }
  }
}

// C block [rows <= kMR, cols <= kNR] (row stride ldc) (+)= A panel x B panel over pairs [q0, q1).
DUEL_BF16_TARGET void micro_kernel(float* c, int64_t ldc, const uint32_t* ap, const uint32_t* bp, int64_t q0,
                                   int64_t q1, int64_t rows, int64_t cols, bool accumulate) {
  __m512 acc[kMR][2];
  for (int64_t r = 0; r < kMR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t q = q0; q < q1; ++q) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + q * kNR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + q * kNR + 16);
    const uint32_t* a = ap + q * kMR;
    for (int64_t r = 0; r < kMR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(int(a[r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xffff) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : __mmask16(0);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    __m512 v0 = acc[r][0], v1 = acc[r][1];
    if (accumulate) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

// C [mb, nb] at c (row stride ldc), rows i0.. (a multiple of kMR; A packed whole) and columns
// j0.. of the product, (+)= the sum over pairs [q0, q1), walked in chunks of kChunkPairs. Each
// chunk of op(B) [2 * kChunkPairs, nb] is packed into this thread's buffer first: it stays in
// cache for all of the tile's row panels (packing all of B up front sent it through memory twice).
struct BTileTag {};
void tile(float* c, int64_t ldc, const uint32_t* ap, const float* b, int64_t n, int64_t k, bool tb, int64_t kp,
          int64_t i0, int64_t mb, int64_t j0, int64_t nb, int64_t q0, int64_t q1, bool accumulate) {
  const int64_t panels = (nb + kNR - 1) / kNR;
  uint32_t* bp = scratch<uint32_t, BTileTag>(size_t(panels * kChunkPairs * kNR));
  for (int64_t qc = q0; qc < q1; qc += kChunkPairs) {
    const int64_t len = std::min(q1 - qc, kChunkPairs);
    const int64_t k_rest = k - 2 * qc;  // k-indices from this chunk's first on
    const bool acc = accumulate || qc > q0;
    // bp[p][q][kNR]: panel p of this tile's columns, pairs qc .. qc + len
    if (!tb) {
      pack_rows(bp, b + 2 * qc * n + j0, kNR, panels, nb, k_rest, len, n, 0, len);
    } else {
      for (int64_t p = 0; p < panels; ++p)
        pack_panel(bp + p * len * kNR, b + (j0 + p * kNR) * k + 2 * qc, kNR, nb - p * kNR,
                   std::min(2 * len, k_rest), k, 1);
    }
    for (int64_t j = 0; j < nb; j += kNR) {
      const uint32_t* bpan = bp + (j / kNR) * len * kNR;
      for (int64_t i = 0; i < mb; i += kMR) {
        const uint32_t* a = ap + ((i0 + i) / kMR) * kp * kMR + qc * kMR;
        micro_kernel(c + i * ldc + j, ldc, a, bpan, 0, len, std::min(kMR, mb - i), std::min(kNR, nb - j), acc);
      }
    }
  }
}

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

}  // namespace

bool cpu_has_avx512_bf16() {
  // cpuid leaf 1: OSXSAVE (ecx 27); leaf 7.0: AVX512F (ebx 16), BW (ebx 30), VL (ebx 31); leaf 7.1:
  // AVX512_BF16 (eax 5); and XCR0 must show the OS saves SSE, AVX, opmask and ZMM state (0xe6).
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xe6u) != 0xe6u) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned f_bw_vl = (1u << 16) | (1u << 30) | (1u << 31);
    if ((ebx & f_bw_vl) != f_bw_vl || eax < 1) return false;
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    return (eax & (1u << 5)) != 0;
  }();
  return has;
}

float round_to_bf16(float x) {
  const uint32_t u = bf16_bits(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void gemm_bf16(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
               bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) std::fill(c, c + m * n, 0.0f);
    return;
  }
  const int64_t kp = (k + 1) / 2;
  const int64_t a_panels = (m + kMR - 1) / kMR;
  uint32_t* ap = scratch<uint32_t, APackTag>(size_t(a_panels * kp * kMR));
  // op(A)(r, kk): a[r * k + kk], or a[kk * m + r] transposed. Packed whole, once: a transposed A
  // (lanes contiguous) in chunks of kPackPairs pairs over all panels (pack_rows), else by panel.
  constexpr int64_t kPackPairs = 16;
  const int64_t chunks = (kp + kPackPairs - 1) / kPackPairs;
  const int64_t a_items = ta ? chunks : a_panels;
  [[maybe_unused]] const bool big = double(m) * double(k) >= double(kParallelGrain);
#pragma omp parallel for schedule(static) if (big)
  for (int64_t item = 0; item < a_items; ++item) {
    if (ta) pack_rows(ap, a, kMR, a_panels, m, k, kp, m, item * kPackPairs, std::min(kp, (item + 1) * kPackPairs));
    else pack_panel(ap + item * kp * kMR, a + item * kMR * k, kMR, m - item * kMR, k, k, 1);
  }
  // Tiles: sizes from the shape alone, aligned to the register block.
  int64_t mt = (m + kTileRows - 1) / kTileRows, nt = (n + kTileCols - 1) / kTileCols;
  const int64_t tile_m = round_up((m + mt - 1) / mt, kMR), tile_n = round_up((n + nt - 1) / nt, kNR);
  mt = (m + tile_m - 1) / tile_m;
  nt = (n + tile_n - 1) / tile_n;
  const int64_t tiles = mt * nt;
  const bool serial = double(m) * double(n) * double(k) < double(kSerialWork);
  int64_t ks = 1;
  if (!serial && tiles < kMinTiles && k >= 2 * kMinKSplit) ks = std::min<int64_t>(kMaxKSplit, k / kMinKSplit);
  const int64_t chunk_pairs = (kp + ks - 1) / ks;  // pairs per split chunk
  ks = (kp + chunk_pairs - 1) / chunk_pairs;
  if (ks == 1) {
#pragma omp parallel for schedule(static) if (!serial && tiles > 1)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t i0 = (t / nt) * tile_m, j0 = (t % nt) * tile_n;
      tile(c + i0 * n + j0, n, ap, b, n, k, tb, kp, i0, std::min(tile_m, m - i0), j0, std::min(tile_n, n - j0), 0,
           kp, accumulate);
    }
    return;
  }
  float* partial = scratch<float, PartialTag>(size_t(ks * m * n));
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < tiles * ks; ++item) {
    const int64_t t = item / ks, chunk = item % ks;
    const int64_t i0 = (t / nt) * tile_m, j0 = (t % nt) * tile_n;
    const int64_t q0 = chunk * chunk_pairs, q1 = std::min(kp, q0 + chunk_pairs);
    tile(partial + chunk * m * n + i0 * n + j0, n, ap, b, n, k, tb, kp, i0, std::min(tile_m, m - i0), j0,
         std::min(tile_n, n - j0), q0, q1, false);
  }
  const int64_t total = m * n;
#pragma omp parallel for schedule(static) if (total * ks >= kParallelGrain)
  for (int64_t i = 0; i < total; ++i) {
    float s = partial[i];
    for (int64_t chunk = 1; chunk < ks; ++chunk) s += partial[chunk * total + i];
    c[i] = accumulate ? c[i] + s : s;
  }
}

#else  // not x86-64: no AVX512_BF16, so the mode is refused and gemm_bf16 is never called

bool cpu_has_avx512_bf16() { return false; }

float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u & 0x7fffffffu) > 0x7f800000u ? (u | 0x00400000u) & 0xffff0000u : ((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void gemm_bf16(float*, const float*, const float*, int64_t, int64_t, int64_t, bool, bool, bool) { std::abort(); }

#endif

}  // namespace duel::kernels::cpu
