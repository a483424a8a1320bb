// One GEMM for the fast CPU path whose result does not depend on the number of threads.
//
// Eigen's own parallel GEMM lets the thread count choose its cache blocking (and with it the
// order in which each dot product is accumulated), so the same product differed in the last
// bits between 1 and 2 threads. Here Eigen runs single-threaded (EIGEN_DONT_PARALLELIZE, set for
// every target) on tiles whose sizes depend only on the problem's shape:
//   C [m, n] is cut into tiles of at most kTile x kTile;
//   when there are fewer than kMinTiles tiles and k is long, k is cut into at most kMaxKSplit
//   chunks, each chunk's partial product lands in its own buffer, and the partials are added
//   in chunk order.
// Threads take whole (tile, chunk) items, so every element of C is computed by the same
// sequence of floating-point operations whatever the thread count. Eigen's blocked GEMM reads and
// writes through unaligned loads and stores, so the bits do not depend on the buffers' addresses
// either (its coefficient-based path for tiny products does: EIGEN_GEMM_TO_COEFFBASED_THRESHOLD=0
// turns it off).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/parallel.h"

#if !defined(EIGEN_DONT_PARALLELIZE) || !defined(EIGEN_GEMM_TO_COEFFBASED_THRESHOLD)
#error "kernels/cpu/gemm.h needs EIGEN_DONT_PARALLELIZE and EIGEN_GEMM_TO_COEFFBASED_THRESHOLD=0 (CMakeLists.txt)"
#endif

namespace duel::kernels::cpu {

namespace gemm_detail {

constexpr int64_t kTile = 256;            // rows or columns of C per tile
constexpr int64_t kSerialWork = 1 << 17;  // m*n*k below this: one call, no split
constexpr int64_t kMinTiles = 4;          // fewer tiles than this: also split k
constexpr int64_t kMinKChunk = 1024;      // ... into chunks at least this long
constexpr int64_t kMaxKSplit = 16;

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstStrided = Eigen::Map<const RowMajor<T>, 0, Eigen::OuterStride<>>;
template <class T>
using Strided = Eigen::Map<RowMajor<T>, 0, Eigen::OuterStride<>>;

// C [mb, nb] (row stride ldc) = or += op(A)[i0:i0+mb, k0:k0+kb] * op(B)[k0:k0+kb, j0:j0+nb]
template <class T>
void block(T* c, int64_t ldc, const T* a, const T* b, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
           int64_t i0, int64_t mb, int64_t j0, int64_t nb, int64_t k0, int64_t kb, bool accumulate) {
  Strided<T> C(c, mb, nb, Eigen::OuterStride<>(ldc));
  // op(A) block: A is [m, k] (row stride k), or [k, m] (row stride m) read transposed.
  const ConstStrided<T> A = ta ? ConstStrided<T>(a + k0 * m + i0, kb, mb, Eigen::OuterStride<>(m))
                               : ConstStrided<T>(a + i0 * k + k0, mb, kb, Eigen::OuterStride<>(k));
  const ConstStrided<T> B = tb ? ConstStrided<T>(b + j0 * k + k0, nb, kb, Eigen::OuterStride<>(k))
                               : ConstStrided<T>(b + k0 * n + j0, kb, nb, Eigen::OuterStride<>(n));
  auto product = [&](const auto& lhs, const auto& rhs) {
    if (accumulate) C.noalias() += lhs * rhs;
    else C.noalias() = lhs * rhs;
  };
  if (!ta && !tb) product(A, B);
  else if (ta && !tb) product(A.transpose(), B);
  else if (!ta && tb) product(A, B.transpose());
  else product(A.transpose(), B.transpose());
}

struct ScratchTag {};

}  // namespace gemm_detail

// c [m, n] = op(a) op(b), or c += op(a) op(b) when `accumulate`; a [m, k] ([k, m] if ta),
// b [k, n] ([n, k] if tb), all contiguous row-major. Bitwise the same for any thread count.
template <class T>
void gemm(T* c, const T* a, const T* b, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
          bool accumulate = false) {
  using namespace gemm_detail;
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) std::fill(c, c + m * n, T(0));
    return;
  }
  const int64_t mt = (m + kTile - 1) / kTile, nt = (n + kTile - 1) / kTile;
  const int64_t tiles = mt * nt;
  const bool serial = double(m) * double(n) * double(k) < double(kSerialWork);
  int64_t ks = 1;
  if (!serial && tiles < kMinTiles && k >= 2 * kMinKChunk)
    ks = std::min<int64_t>(kMaxKSplit, k / kMinKChunk);
  // Chunk length: k split evenly, rounded up to a multiple of 64 (only the last chunk is short).
  const int64_t kc = ks == 1 ? k : ((k + ks - 1) / ks + 63) / 64 * 64;
  ks = (k + kc - 1) / kc;

  if (serial || (tiles == 1 && ks == 1)) {
    block(c, n, a, b, m, n, k, ta, tb, 0, m, 0, n, 0, k, accumulate);
    return;
  }
  const int64_t tile_m = (m + mt - 1) / mt, tile_n = (n + nt - 1) / nt;  // balanced tiles
  if (ks == 1) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t i0 = (t / nt) * tile_m, j0 = (t % nt) * tile_n;
      const int64_t mb = std::min(tile_m, m - i0), nb = std::min(tile_n, n - j0);
      block(c + i0 * n + j0, n, a, b, m, n, k, ta, tb, i0, mb, j0, nb, 0, k, accumulate);
    }
    return;
  }
  // Partial products [ks, m, n], then C (+)= their sum in chunk order.
  T* partial = scratch<T, ScratchTag>(size_t(ks * m * n));
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < tiles * ks; ++item) {
    const int64_t t = item / ks, chunk = item % ks;
    const int64_t i0 = (t / nt) * tile_m, j0 = (t % nt) * tile_n;
    const int64_t mb = std::min(tile_m, m - i0), nb = std::min(tile_n, n - j0);
    const int64_t k0 = chunk * kc, kb = std::min(kc, k - k0);
    block(partial + chunk * m * n + i0 * n + j0, n, a, b, m, n, k, ta, tb, i0, mb, j0, nb, k0, kb, false);
  }
  const int64_t total = m * n;
#pragma omp parallel for schedule(static) if (total * ks >= kParallelGrain)
  for (int64_t i = 0; i < total; ++i) {
    T s = partial[i];
    for (int64_t chunk = 1; chunk < ks; ++chunk) s += partial[chunk * total + i];
    c[i] = accumulate ? c[i] + s : s;
  }
}

}  // namespace duel::kernels::cpu
