// Tensor plumbing and the small kernels of the op table: fills, row copies, casts, broadcast
// copies, embedding lookup and its gradient, log-softmax, the batch-norm running statistics, the
// RMSprop and SGD updates, in-place clamp and the non-finite scan.
//
// Almost all of them are elementwise and bandwidth-bound (a load or two and a store per element,
// a handful of flops), written as grid-stride loops over a few waves of 256-thread blocks; the
// single-pointer ones (fill, clamp, the non-finite scan) move a float4 per thread where the
// pointer is 16-byte aligned, as elementwise.cu does, with a scalar loop for the tail. The
// optimiser steps (3 to 5 streams of scalars) and the copies with a per-element index
// computation (copy_rows, broadcast_copy: 64-bit divisions per element) stay scalar: coalesced
// scalar accesses already keep them near the memory roofline at the sizes a training step sees,
// and the division is the next thing to remove if a profile says so.
//
// The ones with structure:
//  - embedding_backward is deterministic without atomics: one thread per (weight row r, column k)
//    scans all n_idx indices in order and sums g[i, k] where idx[i] == r (rows never indexed get
//    zeros), so each row accumulates in index order, as the reference does. That is
//    O(num_weights * dim * n_idx) index reads (all the same few cache lines, broadcast across a
//    warp), fine because n_idx is a batch; a large vocabulary with long index lists would want a
//    sort-by-index and segmented sum instead.
//  - log_softmax over [outer, n, inner] runs one thread per (outer, inner) line when the lines are
//    short or strided (inner >= 32 keeps a warp's loads coalesced across the line index), and one
//    block per line for long contiguous lines (a block max with a fixed shuffle tree, then a
//    block_sum of the exponentials: deterministic). Three passes over the line either way; the
//    line stays in L1/L2 between them.
//  - any_non_finite writes flag[0] = 0 in a one-thread launch, then every thread that sees a NaN
//    or Inf stores 1 (a plain store of the same value from any number of threads: well defined,
//    no atomics, and the result does not depend on timing). The scan is fully parallel and
//    stops nothing early: it reads all of x, the roofline for a scan.
// Finiteness is tested as fabsf(v) <= FLT_MAX (false for NaN and +-Inf) because isfinite is not
// in the host <cmath>'s global namespace, which the emulated build needs.
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256;      // the elementwise kernels
constexpr int kLineThreads = 128;  // log_softmax, one block per line

__device__ __forceinline__ int64_t thread_index() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

__device__ __forceinline__ bool finite_f32(float v) { return fabsf(v) <= FLT_MAX; }

// ---- fills, copies, casts

template <class T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) out[i] = value;
}

__global__ void fill_vec_kernel(float* out, int64_t n, float value) {
  const int64_t n4 = n / 4;
  float4 v;
  v.x = v.y = v.z = v.w = value;
  for (int64_t i = thread_index(); i < n4; i += grid_stride()) reinterpret_cast<float4*>(out)[i] = v;
  for (int64_t i = n4 * 4 + thread_index(); i < n; i += grid_stride()) out[i] = value;
}

template <class T>
__global__ void copy_rows_kernel(T* dst, int64_t dst_stride, const T* src, int64_t src_stride,
                                 int64_t total, int64_t cols) {
  for (int64_t i = thread_index(); i < total; i += grid_stride()) {
    const int64_t r = i / cols, c = i - r * cols;
    dst[r * dst_stride + c] = src[r * src_stride + c];
  }
}

template <class To, class From>
__global__ void cast_kernel(To* out, const From* in, int64_t n) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) out[i] = To(in[i]);
}

__global__ void broadcast_copy_kernel(float* out, const float* x, Broadcast bc) {
  for (int64_t i = thread_index(); i < bc.numel; i += grid_stride()) {
    int64_t off, unused;  // stride_b is not read for a copy (the compiler drops it)
    broadcast_offsets(i, bc, &off, &unused);
    out[i] = x[off];
  }
}

// ---- embedding

__global__ void embedding_forward_kernel(float* out, const int64_t* idx, const float* w,
                                         int64_t total, int64_t dim) {
  for (int64_t i = thread_index(); i < total; i += grid_stride()) {
    const int64_t row = i / dim, k = i - row * dim;
    out[i] = w[idx[row] * dim + k];
  }
}

// One thread per element of dw: the sum over the indices equal to its row, in index order.
__global__ void embedding_backward_kernel(float* dw, const float* g, const int64_t* idx,
                                          int64_t n_idx, int64_t total, int64_t dim) {
  for (int64_t e = thread_index(); e < total; e += grid_stride()) {
    const int64_t row = e / dim, k = e - row * dim;
    float acc = 0.0f;
    for (int64_t i = 0; i < n_idx; ++i)
      if (idx[i] == row) acc += g[i * dim + k];
    dw[e] = acc;
  }
}

// ---- log-softmax along the middle dimension of [outer, n, inner]

// One thread per line (o, i); consecutive threads take consecutive i, so for inner >= 32 a warp
// reads 32 consecutive floats at each step along the line.
__global__ void log_softmax_line_kernel(float* out, const float* x, int64_t lines, int64_t n,
                                        int64_t inner) {
  for (int64_t l = thread_index(); l < lines; l += grid_stride()) {
    const int64_t o = l / inner, i = l - o * inner;
    const int64_t base = o * n * inner + i;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmaxf(m, x[base + k * inner]);
    float s = 0.0f;
    for (int64_t k = 0; k < n; ++k) s += expf(x[base + k * inner] - m);
    const float lse = m + logf(s);
    for (int64_t k = 0; k < n; ++k) out[base + k * inner] = x[base + k * inner] - lse;
  }
}

__device__ __forceinline__ float warp_max(float v) {
  for (int d = 16; d > 0; d /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}

// The maximum over a block, the same in every thread (max is exact, so any tree gives the same
// value; this one is fixed anyway). `scratch` holds 32 floats.
template <int kBlock>
__device__ __forceinline__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kBlock / 32 ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// One block per line: every thread strides along the line, then block-wide max and sum.
__global__ void __launch_bounds__(kLineThreads)
    log_softmax_block_kernel(float* out, const float* x, int64_t n, int64_t inner) {
  __shared__ float scratch[32];
  const int64_t l = blockIdx.x;
  const int64_t o = l / inner, i = l - o * inner;
  const int64_t base = o * n * inner + i;
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < n; k += kLineThreads) m = fmaxf(m, x[base + k * inner]);
  m = block_max<kLineThreads>(m, scratch);
  float s = 0.0f;
  for (int64_t k = threadIdx.x; k < n; k += kLineThreads) s += expf(x[base + k * inner] - m);
  s = block_sum<kLineThreads>(s, scratch);
  const float lse = m + logf(s);
  for (int64_t k = threadIdx.x; k < n; k += kLineThreads)
    out[base + k * inner] = x[base + k * inner] - lse;
}

// ---- batch norm running statistics

__global__ void bn_update_running_kernel(float* running_mean, float* running_var,
                                         const float* mean, const float* var, int64_t c,
                                         float keep, float momentum, float momentum_unbias) {
  for (int64_t i = thread_index(); i < c; i += grid_stride()) {
    running_mean[i] = keep * running_mean[i] + momentum * mean[i];
    running_var[i] = keep * running_var[i] + momentum_unbias * var[i];
  }
}

// ---- optimiser updates and in-place ops, the operation order of kernels/cpu/optim.cpp

// The optimisers' step counts live on the device (StepCounter): the grid's last block advances
// the count once every block has read it (SGD reads it for its first step).
__global__ void rmsprop_kernel(float* p, const float* g, float* s, int64_t n, float a,
                               float one_minus_a, float eps, float neg_lr, StepCounter counter) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) {
    const float gi = g[i];
    const float si = s[i] * a + one_minus_a * gi * gi;
    s[i] = si;
    p[i] = p[i] + neg_lr * gi / (sqrtf(si) + eps);
  }
  if (last_block_done(counter.ticket)) *counter.step += 1;
}

__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, float mu,
                           float neg_lr, StepCounter counter) {
  const bool first = *counter.step == 0;
  for (int64_t i = thread_index(); i < n; i += grid_stride()) {
    float d = g[i];
    if (buf) {
      d = first ? d : buf[i] * mu + d;
      buf[i] = d;
    }
    p[i] = p[i] + neg_lr * d;
  }
  if (last_block_done(counter.ticket)) *counter.step += 1;
}

__global__ void add_i64_kernel(int64_t* x, int64_t n, int64_t value) {
  for (int64_t i = thread_index(); i < n; i += grid_stride()) x[i] += value;
}

// std::min(std::max(x, lo), hi) exactly, NaN included: a NaN stays NaN (fminf/fmaxf would
// replace it by a bound).
__device__ __forceinline__ float clamp_one(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return hi < v ? hi : v;
}

__global__ void clamp_kernel(float* x, int64_t n, bool vec, float lo, float hi) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = thread_index(); i < n4; i += grid_stride()) {
      float4 v = reinterpret_cast<float4*>(x)[i];
      v.x = clamp_one(v.x, lo, hi);
      v.y = clamp_one(v.y, lo, hi);
      v.z = clamp_one(v.z, lo, hi);
      v.w = clamp_one(v.w, lo, hi);
      reinterpret_cast<float4*>(x)[i] = v;
    }
    start = n4 * 4;
  }
  for (int64_t i = start + thread_index(); i < n; i += grid_stride())
    x[i] = clamp_one(x[i], lo, hi);
}

__global__ void set_flag_kernel(int* flag, int value) {
  if (threadIdx.x == 0 && blockIdx.x == 0) flag[0] = value;
}

__global__ void non_finite_kernel(int* flag, const float* x, int64_t n, bool vec) {
  bool bad = false;
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = thread_index(); i < n4; i += grid_stride()) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      bad |= !(finite_f32(v.x) && finite_f32(v.y) && finite_f32(v.z) && finite_f32(v.w));
    }
    start = n4 * 4;
  }
  for (int64_t i = start + thread_index(); i < n; i += grid_stride()) bad |= !finite_f32(x[i]);
  if (bad) flag[0] = 1;  // the same value from every writer: no atomic needed
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// A few waves of blocks over the work; the grid-stride loops do the rest.
unsigned grid_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return unsigned(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

void fill_f32(float* out, int64_t n, float value, Stream stream) {
  if (n <= 0) return;
  if (aligned16(out)) {
    launch("fill_f32", fill_vec_kernel, dim3(grid_for(n / 4 + 1)), dim3(kThreads), stream, out, n,
           value);
    return;
  }
  launch("fill_f32", fill_kernel<float>, dim3(grid_for(n)), dim3(kThreads), stream, out, n, value);
}

void fill_i64(int64_t* out, int64_t n, int64_t value, Stream stream) {
  if (n <= 0) return;
  launch("fill_i64", fill_kernel<int64_t>, dim3(grid_for(n)), dim3(kThreads), stream, out, n,
         value);
}

void broadcast_copy_f32(float* out, const float* x, const Broadcast& bc, Stream stream) {
  if (bc.numel <= 0) return;
  launch("broadcast_copy_f32", broadcast_copy_kernel, dim3(grid_for(bc.numel)), dim3(kThreads),
         stream, out, x, bc);
}

void copy_rows_f32(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                   int64_t rows, int64_t cols, Stream stream) {
  const int64_t total = rows * cols;
  if (rows <= 0 || cols <= 0) return;
  launch("copy_rows_f32", copy_rows_kernel<float>, dim3(grid_for(total)), dim3(kThreads), stream,
         dst, dst_stride, src, src_stride, total, cols);
}

void copy_rows_i64(int64_t* dst, int64_t dst_stride, const int64_t* src, int64_t src_stride,
                   int64_t rows, int64_t cols, Stream stream) {
  const int64_t total = rows * cols;
  if (rows <= 0 || cols <= 0) return;
  launch("copy_rows_i64", copy_rows_kernel<int64_t>, dim3(grid_for(total)), dim3(kThreads),
         stream, dst, dst_stride, src, src_stride, total, cols);
}

void cast_i64_to_f32(float* out, const int64_t* in, int64_t n, Stream stream) {
  if (n <= 0) return;
  launch("cast_i64_to_f32", cast_kernel<float, int64_t>, dim3(grid_for(n)), dim3(kThreads), stream,
         out, in, n);
}

void cast_f32_to_i64(int64_t* out, const float* in, int64_t n, Stream stream) {
  if (n <= 0) return;
  launch("cast_f32_to_i64", cast_kernel<int64_t, float>, dim3(grid_for(n)), dim3(kThreads), stream,
         out, in, n);
}

void batch_norm_update_running_f32(float* running_mean, float* running_var, const float* mean,
                                   const float* var, int64_t c, int64_t count, double momentum,
                                   Stream stream) {
  if (c <= 0) return;
  // PyTorch's convention: the running variance is the unbiased estimate.
  const double unbias = count > 1 ? double(count) / double(count - 1) : 1.0;
  launch("batch_norm_update_running_f32", bn_update_running_kernel, dim3(grid_for(c)),
         dim3(kThreads), stream, running_mean, running_var, mean, var, c, float(1 - momentum),
         float(momentum), float(momentum * unbias));
}

void embedding_forward_f32(float* out, const int64_t* idx, const float* w, int64_t n_idx,
                           int64_t dim, Stream stream) {
  const int64_t total = n_idx * dim;
  if (n_idx <= 0 || dim <= 0) return;
  launch("embedding_forward_f32", embedding_forward_kernel, dim3(grid_for(total)), dim3(kThreads),
         stream, out, idx, w, total, dim);
}

void embedding_backward_f32(float* dw, const float* g, const int64_t* idx, int64_t n_idx,
                            int64_t dim, int64_t num_weights, Stream stream) {
  const int64_t total = num_weights * dim;
  if (num_weights <= 0 || dim <= 0) return;
  launch("embedding_backward_f32", embedding_backward_kernel, dim3(grid_for(total)),
         dim3(kThreads), stream, dw, g, idx, n_idx, total, dim);
}

void log_softmax_f32(float* out, const float* x, int64_t outer, int64_t n, int64_t inner,
                     Stream stream) {
  const int64_t lines = outer * inner;
  if (lines <= 0 || n <= 0) return;
  // Long lines whose elements are close together: a block per line. Otherwise (short lines, or
  // inner >= 32 where a warp of lines reads coalesced) a thread per line.
  if (n >= 128 && inner < 32) {
    launch("log_softmax_f32", log_softmax_block_kernel, dim3(unsigned(lines)), dim3(kLineThreads),
           stream, out, x, n, inner);
    return;
  }
  launch("log_softmax_f32", log_softmax_line_kernel, dim3(grid_for(lines)), dim3(kThreads), stream,
         out, x, lines, n, inner);
}

// An empty tensor still takes its step: these launch at least one block.
void rmsprop_step_f32(float* p, const float* g, float* s, int64_t n, double lr, double alpha,
                      double eps, StepCounter counter, Stream stream) {
  launch("rmsprop_step_f32", rmsprop_kernel, dim3(grid_for(n > 0 ? n : 1)), dim3(kThreads), stream, p, g,
         s, n, float(alpha), float(1 - alpha), float(eps), float(-lr), counter);
}

void sgd_step_f32(float* p, const float* g, float* buf, int64_t n, double lr, double momentum,
                  StepCounter counter, Stream stream) {
  launch("sgd_step_f32", sgd_kernel, dim3(grid_for(n > 0 ? n : 1)), dim3(kThreads), stream, p, g, buf, n,
         float(momentum), float(-lr), counter);
}

void add_i64(int64_t* x, int64_t n, int64_t value, Stream stream) {
  if (n <= 0) return;
  launch("add_i64", add_i64_kernel, dim3(grid_for(n)), dim3(kThreads), stream, x, n, value);
}

void clamp_inplace_f32(float* x, int64_t n, double lo, double hi, Stream stream) {
  if (n <= 0) return;
  const bool vec = aligned16(x);
  launch("clamp_inplace_f32", clamp_kernel, dim3(grid_for(vec ? n / 4 + 1 : n)), dim3(kThreads),
         stream, x, n, vec, float(lo), float(hi));
}

void any_non_finite_f32(int* flag, const float* x, int64_t n, Stream stream) {
  launch("any_non_finite_f32 (clear)", set_flag_kernel, dim3(1), dim3(32), stream, flag, 0);
  if (n <= 0) return;
  const bool vec = aligned16(x);
  launch("any_non_finite_f32", non_finite_kernel, dim3(grid_for(vec ? n / 4 + 1 : n)),
         dim3(kThreads), stream, flag, x, n, vec);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
