// Philox random fills on the GPU: one thread per Philox block, the same counter layout as the
// CPU (core/philox.h), so a (seed, offset) draw is bitwise identical on both.
#include <cstdint>

#include "core/philox.h"
#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256;

__global__ void uniform_f32_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset,
                                   double lo, double span) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = float(philox::shift_scale(lo, span, double(philox::uniform_f32(seed, offset, uint64_t(i)))));
}

template <class T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                              double std) {
  const int64_t pair = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // elements 2p, 2p+1
  const int64_t i = 2 * pair;
  if (i >= n) return;
  double z0, z1;
  philox::normal_pair(philox::block(seed, offset, uint64_t(pair)), &z0, &z1);
  out[i] = T(philox::shift_scale(mean, std, z0));
  if (i + 1 < n) out[i + 1] = T(philox::shift_scale(mean, std, z1));
}

// The same fills drawing from a generator that lives on the device: state = (seed, offset,
// ticket). Every thread reads (seed, offset); the grid's last block moves the offset on by one,
// as a host generator's take_offset() does, so a captured launch draws fresh numbers at every
// replay and the sequence equals the host generator's.
__global__ void uniform_f32_state_kernel(float* out, int64_t n, unsigned long long* state, double lo,
                                         double span) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const uint64_t seed = state[0], offset = state[1];
    out[i] = float(philox::shift_scale(lo, span, double(philox::uniform_f32(seed, offset, uint64_t(i)))));
  }
  if (last_block_done(&state[2])) state[1] += 1;
}

__global__ void normal_f32_state_kernel(float* out, int64_t n, unsigned long long* state, double mean,
                                        double std) {
  const int64_t pair = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // elements 2p, 2p+1
  const int64_t i = 2 * pair;
  if (i < n) {
    const uint64_t seed = state[0], offset = state[1];
    double z0, z1;
    philox::normal_pair(philox::block(seed, offset, uint64_t(pair)), &z0, &z1);
    out[i] = float(philox::shift_scale(mean, std, z0));
    if (i + 1 < n) out[i + 1] = float(philox::shift_scale(mean, std, z1));
  }
  if (last_block_done(&state[2])) state[1] += 1;
}

}  // namespace

void random_uniform_state_f32(float* out, int64_t n, uint64_t* state, double lo, double hi,
                              Stream stream) {
  // An empty draw still takes its offset: one block that only advances it.
  launch("random_uniform_state_f32", uniform_f32_state_kernel, dim3(n > 0 ? blocks_for(n, kThreads) : 1),
         dim3(kThreads), stream, out, n, reinterpret_cast<unsigned long long*>(state), lo, hi - lo);
}

void random_normal_state_f32(float* out, int64_t n, uint64_t* state, double mean, double std,
                             Stream stream) {
  launch("random_normal_state_f32", normal_f32_state_kernel,
         dim3(n > 0 ? blocks_for((n + 1) / 2, kThreads) : 1), dim3(kThreads), stream, out, n,
         reinterpret_cast<unsigned long long*>(state), mean, std);
}

void random_uniform_f32(float* out, int64_t n, uint64_t seed, uint64_t offset, double lo,
                        double hi, Stream stream) {
  if (n == 0) return;
  launch("random_uniform_f32", uniform_f32_kernel, dim3(blocks_for(n, kThreads)), dim3(kThreads),
         stream, out, n, seed, offset, lo, hi - lo);
}

void random_normal_f32(float* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                       double std, Stream stream) {
  if (n == 0) return;
  launch("random_normal_f32", normal_kernel<float>, dim3(blocks_for((n + 1) / 2, kThreads)),
         dim3(kThreads), stream, out, n, seed, offset, mean, std);
}

void random_normal_f64(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                       double std, Stream stream) {
  if (n == 0) return;
  launch("random_normal_f64", normal_kernel<double>, dim3(blocks_for((n + 1) / 2, kThreads)),
         dim3(kThreads), stream, out, n, seed, offset, mean, std);
}

}  // namespace duel::kernels::cuda
