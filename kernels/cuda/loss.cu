// Losses with the reduction fused in: one kernel reads logits and targets once and writes either
// the elementwise loss or its mean/sum. A GAN's loss is over one logit per image (n = batch), so
// the reduced form runs as a single block of 1024 threads summing strided slices in order and
// then a fixed shuffle tree: deterministic, no atomics, no second launch.
//
// WGAN-GP's penalty on the critic's input gradient, mean_i (||g_i|| - 1)^2, in two launches (a
// block per sample for the norms, one block for the mean) and its derivative in one, where the
// composition of elementwise ops and reductions took 18 launches for both: 15 fewer per critic
// update (a dcgan28 wgan-gp step: 656 kernels before, 581 after, `duel bench step --dry-run`). Roofline: the norms read the gradient once, the derivative reads it and
// writes one of its size; both memory-bound, at batch 64 a few microseconds of launches.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 1024;

struct Bce {
  // max(x, 0) - x t + log(1 + exp(-|x|)): finite for every x
  __device__ float operator()(float x, float t) const {
    return fmaxf(x, 0.0f) - x * t + log1pf(expf(-fabsf(x)));
  }
};

struct Mse {
  __device__ float operator()(float x, float t) const { return (x - t) * (x - t); }
};

template <class F>
__global__ void loss_none_kernel(float* out, const float* x, const float* t, int64_t n, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = f(x[i], t[i]);
}

template <class F>
__global__ void __launch_bounds__(kThreads)
    loss_reduce_kernel(float* out, const float* x, const float* t, int64_t n, float scale, F f) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) acc += f(x[i], t[i]);
  acc = block_sum<kThreads>(acc, scratch);
  if (threadIdx.x == 0) out[0] = acc * scale;
}

template <class F>
void loss(const char* name, float* out, const float* x, const float* t, int64_t n, Reduce r, F f,
          Stream stream) {
  if (r == Reduce::none) {
    if (n == 0) return;
    const int64_t blocks = (n + 255) / 256;
    launch(name, loss_none_kernel<F>, dim3(unsigned(blocks < 4096 ? blocks : 4096)), dim3(256),
           stream, out, x, t, n, f);
    return;
  }
  // A mean over nothing is NaN, as in PyTorch; a sum over nothing is 0.
  const float scale = r == Reduce::mean ? (n > 0 ? 1.0f / float(n) : NAN) : 1.0f;
  launch(name, loss_reduce_kernel<F>, dim3(1), dim3(kThreads), stream, out, x, t, n, scale, f);
}

constexpr int kPenaltyThreads = 256;
constexpr int kPenaltyPerThread = 8;  // elements per thread in the derivative

__global__ void __launch_bounds__(kPenaltyThreads)
    sample_norms_kernel(float* norms, const float* x, int64_t per, float eps) {
  __shared__ float scratch[32];
  const float* xi = x + int64_t(blockIdx.x) * per;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < per; j += kPenaltyThreads) s = fmaf(xi[j], xi[j], s);
  s = block_sum<kPenaltyThreads>(s, scratch);
  if (threadIdx.x == 0) norms[blockIdx.x] = sqrtf(s + eps);
}

__global__ void __launch_bounds__(kPenaltyThreads)
    norm_penalty_mean_kernel(float* out, const float* norms, int64_t b, float target) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < b; i += kPenaltyThreads) {
    const float d = norms[i] - target;
    acc = fmaf(d, d, acc);
  }
  acc = block_sum<kPenaltyThreads>(acc, scratch);
  if (threadIdx.x == 0) out[0] = acc / float(b);
}

// dx[i, j] = 2 g (n_i - target) / (b n_i) x[i, j]. Each block covers one slice of one sample
// (its index decoded once per block, not per element), so the per-element work is a multiply.
__global__ void __launch_bounds__(kPenaltyThreads)
    norm_penalty_backward_kernel(float* dx, const float* g, const float* x, const float* norms, int64_t b,
                                 int64_t per, unsigned slices, float target) {
  const int64_t sample = blockIdx.x / slices;
  const unsigned slice = blockIdx.x % slices;
  const float n = norms[sample];
  const float f = 2.0f * g[0] / float(b) * ((n - target) / n);
  const int64_t base = sample * per;
  const int64_t begin = int64_t(slice) * kPenaltyThreads * kPenaltyPerThread;
  const int64_t end = begin + kPenaltyThreads * kPenaltyPerThread < per ? begin + kPenaltyThreads * kPenaltyPerThread
                                                                        : per;
  for (int64_t j = begin + threadIdx.x; j < end; j += kPenaltyThreads) dx[base + j] = f * x[base + j];
}

}  // namespace

void sample_norm_penalty_f32(float* out, float* norms, const float* x, int64_t b, int64_t per,
                             double target, double eps, Stream stream) {
  if (b <= 0) return;
  launch("sample_norm_penalty_f32 (norms)", sample_norms_kernel, dim3(unsigned(b)), dim3(kPenaltyThreads),
         stream, norms, x, per, float(eps));
  launch("sample_norm_penalty_f32", norm_penalty_mean_kernel, dim3(1), dim3(kPenaltyThreads), stream, out,
         static_cast<const float*>(norms), b, float(target));
}

void sample_norm_penalty_backward_f32(float* dx, const float* g, const float* x, const float* norms,
                                      int64_t b, int64_t per, double target, Stream stream) {
  if (b <= 0 || per <= 0) return;
  const int64_t slices = (per + kPenaltyThreads * kPenaltyPerThread - 1) / (kPenaltyThreads * kPenaltyPerThread);
  if (b * slices > 0x7fffffff)
    throw std::runtime_error("sample_norm_penalty_backward_f32: " + std::to_string(b) + " samples of " +
                             std::to_string(per) + " elements need more blocks than one launch has");
  launch("sample_norm_penalty_backward_f32", norm_penalty_backward_kernel, dim3(unsigned(b * slices)),
         dim3(kPenaltyThreads), stream, dx, g, x, norms, b, per, unsigned(slices), float(target));
}

void bce_with_logits_f32(float* out, const float* x, const float* t, int64_t n, Reduce r,
                         Stream stream) {
  loss("bce_with_logits_f32", out, x, t, n, r, Bce{}, stream);
}

void mse_f32(float* out, const float* x, const float* t, int64_t n, Reduce r, Stream stream) {
  loss("mse_f32", out, x, t, n, r, Mse{}, stream);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
