// Layer norm over the last `cols` elements of each of `rows` rows (x [rows, cols]).
//
// Forward and the dx part of backward: one block per row, each thread summing a strided slice of
// the row in order, then block_sum's fixed shuffle tree (deterministic, no atomics). The forward
// takes two passes for the statistics (the mean, then the sum of squared deviations, as the
// reference does, so the variance does not cancel when the mean is large) and a third to write y;
// backward dx takes one pass for sum(g) and sum(g xhat) (g = dy w) and one to write dx. The block
// size follows the row length (32, 128 or 512 threads), so short rows do not leave most of a
// block idle. Each pass re-reads the row, from L1/L2 for rows of moderate length; holding the row
// in registers between passes is the next step if a profile shows the re-reads.
//
// dw = sum_rows(dy xhat) and db = sum_rows(dy) are sums over rows for each column: the rows are
// split into at most kMaxChunks chunks of consecutive rows; a thread per (column, chunk) sums its
// chunk in row order into the workspace (consecutive threads take consecutive columns, so loads
// are coalesced), then a thread per column adds the chunk partials in chunk order. Deterministic,
// no atomics, and there are columns x chunks threads for the long reduction rather than columns
// alone. With a single chunk (rows <= kChunkRows) the first kernel writes dw and db directly and
// no workspace is needed.
// Roofline: forward reads x (three passes, mostly cached) and writes y; backward reads dy and x
// twice for dx and once more for dw/db: all memory-bound. Rows are independent blocks, so the
// grid fills the GPU once rows reach a few hundred.
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kParamThreads = 128;  // the dw/db kernels: one thread per column
constexpr int64_t kChunkRows = 16;  // rows per chunk of the dw/db reduction, at least
constexpr int64_t kMaxChunks = 128;

template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    ln_forward_kernel(float* y, float* mean, float* invstd, const float* x, const float* w,
                      const float* b, int64_t cols, float eps) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  float s = 0.0f;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) s += xr[k];
  const float m = block_sum<kThreads>(s, scratch) / float(cols);
  float sq = 0.0f;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) {
    const float d = xr[k] - m;
    sq = fmaf(d, d, sq);
  }
  const float is = 1.0f / sqrtf(block_sum<kThreads>(sq, scratch) / float(cols) + eps);
  if (threadIdx.x == 0) {
    mean[r] = m;
    invstd[r] = is;
  }
  float* yr = y + r * cols;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) {
    const float scale = w ? is * w[k] : is;
    yr[k] = fmaf(xr[k] - m, scale, b ? b[k] : 0.0f);
  }
}

template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    ln_backward_dx_kernel(float* dx, const float* dy, const float* x, const float* mean,
                          const float* invstd, const float* w, int64_t cols, float inv_cols) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  const float* dyr = dy + r * cols;
  const float m = mean[r], is = invstd[r];
  float s_g = 0.0f, s_gx = 0.0f;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) {
    const float g = w ? dyr[k] * w[k] : dyr[k];
    s_g += g;
    s_gx = fmaf(g, (xr[k] - m) * is, s_gx);
  }
  const float mean_g = block_sum<kThreads>(s_g, scratch) * inv_cols;
  const float mean_gx = block_sum<kThreads>(s_gx, scratch) * inv_cols;
  float* dxr = dx + r * cols;
  for (int64_t k = threadIdx.x; k < cols; k += kThreads) {
    const float g = w ? dyr[k] * w[k] : dyr[k];
    const float xhat = (xr[k] - m) * is;
    dxr[k] = is * (g - mean_g - xhat * mean_gx);
  }
}

// Partial sums of dy xhat (into pw) and dy (into pb) over rows [chunk * chunk_rows, ...) for one
// column per thread; partial c of chunk j at [j * cols + c]. Either output may be null.
__global__ void __launch_bounds__(kParamThreads)
    ln_param_partial_kernel(float* pw, float* pb, const float* dy, const float* x,
                            const float* mean, const float* invstd, int64_t rows, int64_t cols,
                            int64_t chunk_rows) {
  const int64_t c = int64_t(blockIdx.x) * kParamThreads + threadIdx.x;
  if (c >= cols) return;  // no barriers below
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float aw = 0.0f, ab = 0.0f;
  for (int64_t r = r0; r < r1; ++r) {
    const float g = dy[r * cols + c];
    aw = fmaf(g, (x[r * cols + c] - mean[r]) * invstd[r], aw);
    ab += g;
  }
  if (pw) pw[chunk * cols + c] = aw;
  if (pb) pb[chunk * cols + c] = ab;
}

// dw[c] = sum over chunks, in order, of pw[j * cols + c]; likewise db. Either may be null.
__global__ void __launch_bounds__(kParamThreads)
    ln_param_final_kernel(float* dw, float* db, const float* pw, const float* pb, int64_t cols,
                          int64_t chunks) {
  const int64_t c = int64_t(blockIdx.x) * kParamThreads + threadIdx.x;
  if (c >= cols) return;
  if (dw) {
    float acc = 0.0f;
    for (int64_t j = 0; j < chunks; ++j) acc += pw[j * cols + c];
    dw[c] = acc;
  }
  if (db) {
    float acc = 0.0f;
    for (int64_t j = 0; j < chunks; ++j) acc += pb[j * cols + c];
    db[c] = acc;
  }
}

// How the dw/db reduction splits the rows: `chunks` chunks of `chunk_rows` rows (the last may be
// shorter), every chunk non-empty.
struct RowSplit {
  int64_t chunk_rows, chunks;
};

RowSplit row_split(int64_t rows) {
  int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  if (chunks > kMaxChunks) chunks = kMaxChunks;
  if (chunks < 1) chunks = 1;
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  return {chunk_rows, chunk_rows > 0 ? (rows + chunk_rows - 1) / chunk_rows : 1};
}

template <class Launch32, class Launch128, class Launch512>
void by_row_length(int64_t cols, Launch32 l32, Launch128 l128, Launch512 l512) {
  if (cols <= 128) {
    l32();
  } else if (cols <= 2048) {
    l128();
  } else {
    l512();
  }
}

}  // namespace

void layer_norm_forward_f32(float* y, float* mean, float* invstd, const float* x, const float* w,
                            const float* b, int64_t rows, int64_t cols, double eps,
                            Stream stream) {
  if (rows <= 0) return;
  const dim3 grid{unsigned(rows)};
  const float e = float(eps);
  by_row_length(
      cols,
      [&] {
        launch("layer_norm_forward_f32", ln_forward_kernel<32>, grid, dim3(32), stream, y, mean,
               invstd, x, w, b, cols, e);
      },
      [&] {
        launch("layer_norm_forward_f32", ln_forward_kernel<128>, grid, dim3(128), stream, y, mean,
               invstd, x, w, b, cols, e);
      },
      [&] {
        launch("layer_norm_forward_f32", ln_forward_kernel<512>, grid, dim3(512), stream, y, mean,
               invstd, x, w, b, cols, e);
      });
}

int64_t layer_norm_backward_workspace(int64_t rows, int64_t cols) {
  const RowSplit split = row_split(rows);
  return split.chunks > 1 ? 2 * split.chunks * cols : 0;
}

void layer_norm_backward_f32(float* dx, float* dw, float* db, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* w, int64_t rows,
                             int64_t cols, float* workspace, Stream stream) {
  if (cols <= 0) return;
  if (dw || db) {  // with rows = 0: one empty chunk, so dw and db are written as zeros
    const RowSplit split = row_split(rows);
    const unsigned col_blocks = blocks_for(cols, kParamThreads);
    if (split.chunks == 1) {
      launch("layer_norm_backward_f32 (dw, db)", ln_param_partial_kernel, dim3(col_blocks, 1),
             dim3(kParamThreads), stream, dw, db, dy, x, mean, invstd, rows, cols,
             split.chunk_rows);
    } else {
      float* pw = dw ? workspace : nullptr;
      float* pb = db ? workspace + split.chunks * cols : nullptr;
      launch("layer_norm_backward_f32 (dw, db partials)", ln_param_partial_kernel,
             dim3(col_blocks, unsigned(split.chunks)), dim3(kParamThreads), stream, pw, pb, dy, x,
             mean, invstd, rows, cols, split.chunk_rows);
      launch("layer_norm_backward_f32 (dw, db)", ln_param_final_kernel, dim3(col_blocks),
             dim3(kParamThreads), stream, dw, db, static_cast<const float*>(pw),
             static_cast<const float*>(pb), cols, split.chunks);
    }
  }
  if (!dx) return;
  const dim3 grid{unsigned(rows)};
  const float inv_cols = 1.0f / float(cols);
  by_row_length(
      cols,
      [&] {
        launch("layer_norm_backward_f32 (dx)", ln_backward_dx_kernel<32>, grid, dim3(32), stream,
               dx, dy, x, mean, invstd, w, cols, inv_cols);
      },
      [&] {
        launch("layer_norm_backward_f32 (dx)", ln_backward_dx_kernel<128>, grid, dim3(128),
               stream, dx, dy, x, mean, invstd, w, cols, inv_cols);
      },
      [&] {
        launch("layer_norm_backward_f32 (dx)", ln_backward_dx_kernel<512>, grid, dim3(512),
               stream, dx, dy, x, mean, invstd, w, cols, inv_cols);
      });
}

}  // namespace duel::kernels::DUEL_CUDA_NS
