// Adam over all of a model's parameters in one launch: the tensors' pointers and sizes travel in
// the kernel's parameter block (up to kMaxTensors per launch; more are done in several), each
// block updates one chunk of one tensor. The update is elementwise and in place, the same
// operation order as kernels/cpu/optim.cpp (PyTorch 1.13's single-tensor Adam).
// The step count of each tensor lives on the device: every block computes the bias corrections
// of step + 1 from it (in double, as the CPU does), and the launch's last block advances the
// counts, so a launch captured into a CUDA graph takes the right step at every replay.
// On request each block also leaves the sum of its chunk's squared gradients, which is what the
// logged gradient norm needs: the norm costs no pass over the gradients of its own.
// Roofline: reads p, g, m, v and writes p, m, v: 28 bytes per parameter, a handful of flops;
// memory-bound, and the one launch saves the per-tensor launch latency that dominates at
// dcgan28's sizes (the largest tensor has 524k parameters).
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256, kPerThread = 8, kChunk = kThreads * kPerThread;
constexpr int kMaxTensors = 48;

struct AdamBatch {
  AdamTensor t[kMaxTensors];
  int64_t first_block[kMaxTensors + 1];  // tensor i owns blocks [first_block[i], first_block[i+1])
  int count;
};

struct AdamHyper {
  double lr, beta1, beta2;
  float b1, one_minus_b1, b2, one_minus_b2, wd, eps;
  bool decay;
};

__global__ void __launch_bounds__(kThreads)
    adam_kernel(AdamBatch batch, AdamHyper h, unsigned long long* ticket, float* grad_sumsq) {
  __shared__ float neg_step_size, bc2_sqrt;
  __shared__ float scratch[32];
  const int64_t blk = blockIdx.x;
  int i = 0;
  while (i + 1 < batch.count && batch.first_block[i + 1] <= blk) ++i;
  const AdamTensor& t = batch.t[i];
  if (threadIdx.x == 0) {
    // As the CPU (PyTorch): bias corrections in double, the update in float.
    const double step = double(*t.step + 1);
    const double bc1 = 1.0 - pow(h.beta1, step), bc2 = 1.0 - pow(h.beta2, step);
    neg_step_size = float(-(h.lr / bc1));
    bc2_sqrt = float(sqrt(bc2));
  }
  __syncthreads();
  const int64_t begin = (blk - batch.first_block[i]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  float sq = 0.0f;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    const float raw = t.g[e];
    sq = fmaf(raw, raw, sq);
    const float g = h.decay ? raw + h.wd * t.p[e] : raw;
    const float m = t.m[e] * h.b1 + h.one_minus_b1 * g;
    const float v = t.v[e] * h.b2 + h.one_minus_b2 * g * g;
    t.m[e] = m;
    t.v[e] = v;
    const float denom = sqrtf(v) / bc2_sqrt + h.eps;
    t.p[e] = t.p[e] + neg_step_size * m / denom;
  }
  if (grad_sumsq) {  // the chunk's sum of squared gradients, for the logged gradient norm
    sq = block_sum<kThreads>(sq, scratch);
    if (threadIdx.x == 0) grad_sumsq[blk] = sq;
  }
  if (last_block_done(ticket))
    for (int k = 0; k < batch.count; ++k) *batch.t[k].step += 1;
}

}  // namespace

void adam_step_f32(const AdamTensor* tensors, int count, double lr, double beta1, double beta2,
                   double eps, double weight_decay, unsigned long long* ticket, float* grad_sumsq,
                   Stream stream) {
  const AdamHyper h{lr,
                    beta1,
                    beta2,
                    float(beta1),
                    float(1 - beta1),
                    float(beta2),
                    float(1 - beta2),
                    float(weight_decay),
                    float(eps),
                    weight_decay != 0};
  for (int start = 0; start < count; start += kMaxTensors) {
    AdamBatch batch{};
    int64_t blocks = 0;
    for (int i = start; i < count && batch.count < kMaxTensors; ++i) {
      batch.t[batch.count] = tensors[i];
      batch.first_block[batch.count] = blocks;
      blocks += (tensors[i].n + kChunk - 1) / kChunk;
      ++batch.count;
    }
    batch.first_block[batch.count] = blocks;
    // Empty tensors still take their step: a launch has at least one block.
    launch("adam_step_f32", adam_kernel, dim3(unsigned(blocks > 0 ? blocks : 1)), dim3(kThreads), stream,
           batch, h, ticket, grad_sumsq);
    if (grad_sumsq) grad_sumsq += blocks;
  }
}

}  // namespace duel::kernels::DUEL_CUDA_NS
