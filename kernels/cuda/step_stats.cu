// What a training step logs, computed on the device so that no step reads the device from the
// host (a graph-captured step cannot): the losses, the critic's mean outputs and the gradient
// norms land in one small buffer that the host copies back asynchronously and reads a step late.
//
// One launch per step: a block that adds the chunks' sums of squared gradients in order (Adam
// leaves them as it updates; for the other optimisers a multi-tensor launch here computes them),
// averages the critic outputs and writes the buffer. Both are deterministic (fixed chunking and
// fixed reduction trees, no atomics), so a replayed step logs bitwise what the eager one does.
// Roofline: the first reads every gradient once (4 bytes per parameter), the second a few
// kilobytes.
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256, kChunk = kThreads * 8;
constexpr int kMaxTensors = 48;

struct SquaresBatch {
  const float* t[kMaxTensors];
  int64_t n[kMaxTensors];
  int64_t first_chunk[kMaxTensors + 1];
  int count;
};

__global__ void __launch_bounds__(kThreads) sum_squares_kernel(float* partials, SquaresBatch batch) {
  __shared__ float scratch[32];
  const int64_t chunk = blockIdx.x;
  int i = 0;
  while (i + 1 < batch.count && batch.first_chunk[i + 1] <= chunk) ++i;
  const float* x = batch.t[i];
  const int64_t begin = (chunk - batch.first_chunk[i]) * kChunk;
  const int64_t end = begin + kChunk < batch.n[i] ? begin + kChunk : batch.n[i];
  float s = 0.0f;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) s = fmaf(x[e], x[e], s);
  s = block_sum<kThreads>(s, scratch);
  if (threadIdx.x == 0) partials[chunk] = s;
}

// A fixed-order sum over the block in double: thread k's value, then a halving tree in shared
// memory.
__device__ double block_sum_double(double v, double* scratch) {
  __syncthreads();  // scratch may still be read by a previous call
  scratch[threadIdx.x] = v;
  for (int half = kThreads / 2; half > 0; half /= 2) {
    __syncthreads();
    if (int(threadIdx.x) < half) scratch[threadIdx.x] += scratch[threadIdx.x + half];
  }
  __syncthreads();
  return scratch[0];
}

__device__ double strided_sum(const float* x, int64_t n, bool sigmoid) {
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < n; e += kThreads) {
    const double v = x[e];
    s += sigmoid ? 1.0 / (1.0 + exp(-v)) : v;
  }
  return s;
}

__global__ void __launch_bounds__(kThreads) step_scalars_kernel(float* out, StepScalarInputs in) {
  __shared__ double scratch[kThreads];
  const double inv_batch = in.batch > 0 ? 1.0 / double(in.batch) : 0.0;
  const double d_x = block_sum_double(strided_sum(in.d_real, in.batch, in.sigmoid), scratch) * inv_batch;
  const double d_gz = block_sum_double(strided_sum(in.d_fake, in.batch, in.sigmoid), scratch) * inv_batch;
  const double d_gz_after =
      block_sum_double(strided_sum(in.d_fake_after, in.batch, in.sigmoid), scratch) * inv_batch;
  double g2 = 0.0, d2 = 0.0;
  for (int64_t k = threadIdx.x; k < in.g_chunks; k += kThreads) g2 += in.g_partials[k];
  for (int64_t k = threadIdx.x; k < in.d_chunks; k += kThreads) d2 += in.d_partials[k];
  g2 = block_sum_double(g2, scratch);
  d2 = block_sum_double(d2, scratch);
  if (threadIdx.x == 0) {
    const float v[kStepScalars - 1] = {*in.loss_d, *in.loss_g, in.gp ? *in.gp : 0.0f, float(d_x), float(d_gz),
                                       float(d_gz_after), float(sqrt(g2)), float(sqrt(d2))};
    bool bad = false;
    for (int k = 0; k < kStepScalars - 1; ++k) {
      out[k] = v[k];
      bad |= !(fabsf(v[k]) <= FLT_MAX);  // NaN or infinite
    }
    out[kStepScalars - 1] = bad ? 1.0f : 0.0f;
  }
}

}  // namespace

int64_t sum_squares_chunks(const int64_t* sizes, int count) {
  int64_t chunks = 0;
  for (int i = 0; i < count; ++i) chunks += (sizes[i] + kChunk - 1) / kChunk;
  return chunks;
}

void sum_squares_partials_f32(float* partials, const float* const* tensors, const int64_t* sizes,
                              int count, Stream stream) {
  int64_t base = 0;
  for (int start = 0; start < count; start += kMaxTensors) {
    SquaresBatch batch{};
    int64_t chunks = 0;
    for (int i = start; i < count && batch.count < kMaxTensors; ++i) {
      batch.t[batch.count] = tensors[i];
      batch.n[batch.count] = sizes[i];
      batch.first_chunk[batch.count] = chunks;
      chunks += (sizes[i] + kChunk - 1) / kChunk;
      ++batch.count;
    }
    batch.first_chunk[batch.count] = chunks;
    launch("sum_squares_partials_f32", sum_squares_kernel, dim3(unsigned(chunks)), dim3(kThreads), stream,
           partials + base, batch);
    base += chunks;
  }
}

void step_scalars_f32(float* out, const StepScalarInputs& in, Stream stream) {
  launch("step_scalars_f32", step_scalars_kernel, dim3(1), dim3(kThreads), stream, out, in);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
