// Elementwise kernels: unary ops, the masks of the piecewise-linear ones, and broadcast binary
// ops. Bandwidth-bound (one or two loads and a store per element), so the aim is full-width
// memory transactions: where every pointer is 16-byte aligned each thread moves a float4 (the
// caching pool hands out 256-byte-aligned blocks), with a scalar loop for the tail; otherwise one
// float per thread. A grid-stride loop keeps the grid at a few waves for any n.
#include <cmath>
#include <cstdint>

#include "kernels/cuda/portable.cuh"

namespace duel::kernels::DUEL_CUDA_NS {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float unary_one(UnaryOp op, float x, float p0, float p1) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return expf(x);
    case UnaryOp::log: return logf(x);
    case UnaryOp::sqrt: return sqrtf(x);
    case UnaryOp::abs: return fabsf(x);
    case UnaryOp::sign: return float((x > 0.0f) - (x < 0.0f));
    case UnaryOp::relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::tanh: return tanhf(x);
    case UnaryOp::sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::pow: return powf(x, p0);
    case UnaryOp::leaky_relu: return x > 0.0f ? x : p0 * x;
    case UnaryOp::clamp: return fminf(fmaxf(x, p0), p1);
    case UnaryOp::softplus: {
      const float bx = p0 * x;
      return bx > p1 ? x : log1pf(expf(bx)) / p0;
    }
  }
  return NAN;
}

__device__ __forceinline__ float mask_one(MaskOp op, float g, float x, float p0, float p1) {
  if (op == MaskOp::leaky_relu) return x > 0.0f ? g : g * p0;
  return (x >= p0 && x <= p1) ? g : 0.0f;
}

__device__ __forceinline__ float binary_one(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::add: return x + y;
    case BinaryOp::sub: return x - y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
  }
  return NAN;
}

__device__ __forceinline__ int64_t thread_index() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

// Elements [0, n4*4) as float4, the rest one by one.
__global__ void unary_kernel(UnaryOp op, float* out, const float* x, int64_t n, bool vec,
                             float p0, float p1) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = thread_index(); i < n4; i += grid_stride()) {
      float4 v = reinterpret_cast<const float4*>(x)[i];
      v.x = unary_one(op, v.x, p0, p1);
      v.y = unary_one(op, v.y, p0, p1);
      v.z = unary_one(op, v.z, p0, p1);
      v.w = unary_one(op, v.w, p0, p1);
      reinterpret_cast<float4*>(out)[i] = v;
    }
    start = n4 * 4;
  }
  for (int64_t i = start + thread_index(); i < n; i += grid_stride())
    out[i] = unary_one(op, x[i], p0, p1);
}

__global__ void mask_kernel(MaskOp op, float* out, const float* g, const float* x, int64_t n,
                            bool vec, float p0, float p1) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = thread_index(); i < n4; i += grid_stride()) {
      const float4 a = reinterpret_cast<const float4*>(g)[i];
      const float4 b = reinterpret_cast<const float4*>(x)[i];
      float4 r;
      r.x = mask_one(op, a.x, b.x, p0, p1);
      r.y = mask_one(op, a.y, b.y, p0, p1);
      r.z = mask_one(op, a.z, b.z, p0, p1);
      r.w = mask_one(op, a.w, b.w, p0, p1);
      reinterpret_cast<float4*>(out)[i] = r;
    }
    start = n4 * 4;
  }
  for (int64_t i = start + thread_index(); i < n; i += grid_stride())
    out[i] = mask_one(op, g[i], x[i], p0, p1);
}

// Same shapes, no broadcasting: the vectorised case.
__global__ void binary_same_kernel(BinaryOp op, float* out, const float* a, const float* b,
                                   int64_t n, bool vec) {
  int64_t start = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = thread_index(); i < n4; i += grid_stride()) {
      const float4 u = reinterpret_cast<const float4*>(a)[i];
      const float4 v = reinterpret_cast<const float4*>(b)[i];
      float4 r;
      r.x = binary_one(op, u.x, v.x);
      r.y = binary_one(op, u.y, v.y);
      r.z = binary_one(op, u.z, v.z);
      r.w = binary_one(op, u.w, v.w);
      reinterpret_cast<float4*>(out)[i] = r;
    }
    start = n4 * 4;
  }
  for (int64_t i = start + thread_index(); i < n; i += grid_stride())
    out[i] = binary_one(op, a[i], b[i]);
}

// General broadcasting: the operand offsets decoded from the output index.
__global__ void binary_bcast_kernel(BinaryOp op, float* out, const float* a, const float* b,
                                    Broadcast bc) {
  for (int64_t i = thread_index(); i < bc.numel; i += grid_stride()) {
    int64_t oa, ob;
    broadcast_offsets(i, bc, &oa, &ob);
    out[i] = binary_one(op, a[oa], b[ob]);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// A few waves of blocks over the work; the grid-stride loop does the rest.
unsigned grid_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return unsigned(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

void unary_f32(UnaryOp op, float* out, const float* x, int64_t n, double p0, double p1,
               Stream stream) {
  if (n == 0) return;
  const bool vec = aligned16(out) && aligned16(x);
  launch("unary_f32", unary_kernel, dim3(grid_for(vec ? n / 4 + 1 : n)), dim3(kThreads), stream,
         op, out, x, n, vec, float(p0), float(p1));
}

void mask_backward_f32(MaskOp op, float* out, const float* grad, const float* x, int64_t n,
                       double p0, double p1, Stream stream) {
  if (n == 0) return;
  const bool vec = aligned16(out) && aligned16(grad) && aligned16(x);
  launch("mask_backward_f32", mask_kernel, dim3(grid_for(vec ? n / 4 + 1 : n)), dim3(kThreads),
         stream, op, out, grad, x, n, vec, float(p0), float(p1));
}

void binary_f32(BinaryOp op, float* out, const float* a, const float* b, const Broadcast& bc,
                Stream stream) {
  if (bc.numel == 0) return;
  bool same = true;  // both operands contiguous with the output's shape
  int64_t expect = 1;
  for (int d = bc.ndim - 1; d >= 0 && same; --d) {
    same = bc.stride_a[d] == expect && bc.stride_b[d] == expect;
    expect *= bc.size[d];
  }
  if (same) {
    const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
    launch("binary_f32", binary_same_kernel, dim3(grid_for(vec ? bc.numel / 4 + 1 : bc.numel)),
           dim3(kThreads), stream, op, out, a, b, bc.numel, vec);
    return;
  }
  launch("binary_f32 (broadcast)", binary_bcast_kernel, dim3(grid_for(bc.numel)), dim3(kThreads),
         stream, op, out, a, b, bc);
}

}  // namespace duel::kernels::DUEL_CUDA_NS
