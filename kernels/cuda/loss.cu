// Losses with the reduction fused in: one kernel reads logits and targets once and writes either
// the elementwise loss or its mean/sum. A GAN's loss is over one logit per image (n = batch), so
// the reduced form runs as a single block of 1024 threads summing strided slices in order and
// then a fixed shuffle tree: deterministic, no atomics, no second launch.
#include <cmath>
#include <cstdint>

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

}  // namespace

void bce_with_logits_f32(float* out, const float* x, const float* t, int64_t n, Reduce r,
                         Stream stream) {
  loss("bce_with_logits_f32", out, x, t, n, r, Bce{}, stream);
}

void mse_f32(float* out, const float* x, const float* t, int64_t n, Reduce r, Stream stream) {
  loss("mse_f32", out, x, t, n, r, Mse{}, stream);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
