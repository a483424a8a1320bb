// Adam over all of a model's parameters in one launch: the tensors' pointers and sizes travel in
// the kernel's parameter block (up to kMaxTensors per launch; more are done in several), each
// block updates one chunk of one tensor. The update is elementwise and in place, the same
// operation order as kernels/cpu/optim.cpp (PyTorch 1.13's single-tensor Adam).
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
  float b1, one_minus_b1, b2, one_minus_b2, wd, eps, bc2, neg_step;
  bool decay;
};

__global__ void __launch_bounds__(kThreads) adam_kernel(AdamBatch batch, AdamHyper h) {
  const int64_t blk = blockIdx.x;
  int i = 0;
  while (i + 1 < batch.count && batch.first_block[i + 1] <= blk) ++i;
  const AdamTensor& t = batch.t[i];
  const int64_t begin = (blk - batch.first_block[i]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    const float g = h.decay ? t.g[e] + h.wd * t.p[e] : t.g[e];
    const float m = t.m[e] * h.b1 + h.one_minus_b1 * g;
    const float v = t.v[e] * h.b2 + h.one_minus_b2 * g * g;
    t.m[e] = m;
    t.v[e] = v;
    const float denom = sqrtf(v) / h.bc2 + h.eps;
    t.p[e] = t.p[e] + h.neg_step * m / denom;
  }
}

}  // namespace

void adam_step_f32(const AdamTensor* tensors, int count, double beta1, double beta2, double eps,
                   double weight_decay, double step_size, double bias_correction2_sqrt,
                   Stream stream) {
  const AdamHyper h{float(beta1),           float(1 - beta1),   float(beta2),
                    float(1 - beta2),       float(weight_decay), float(eps),
                    float(bias_correction2_sqrt), float(-step_size), weight_decay != 0};
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
    if (blocks == 0) continue;
    launch("adam_step_f32", adam_kernel, dim3(unsigned(blocks)), dim3(kThreads), stream, batch, h);
  }
}

}  // namespace duel::kernels::DUEL_CUDA_NS
