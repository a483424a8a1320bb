// What a kernel source includes first. Compiled by nvcc it is plain CUDA; compiled by the host
// compiler with DUEL_CUDA_EMULATE it runs on the CPU emulator (kernels/cuda/emulate.h), in the
// namespace duel::kernels::cuda_emu so that both builds can live in one program.
//
//   DUEL_CUDA_NS          cuda (device build) or cuda_emu (emulated build; a test may compile a
//                         source again into another namespace by defining DUEL_CUDA_EMU_NS)
//   launch(name, kernel, grid, block, stream, args...)   a launch, checked, never synchronising
//   launch_shared(name, kernel, grid, block, shared_bytes, stream, args...)   the same with
//                         dynamic shared memory, declared in the kernel by
//                         DUEL_DYNAMIC_SHARED(float, name)
#pragma once

#include <cstdint>

#include "kernels/params.h"

#if defined(DUEL_CUDA_EMULATE)

#include "kernels/cuda/emu_api.h"
#include "kernels/cuda/emulate.h"
#if defined(DUEL_CUDA_EMU_NS)
#define DUEL_CUDA_NS DUEL_CUDA_EMU_NS
#else
#define DUEL_CUDA_NS cuda_emu
#endif
#define DUEL_DYNAMIC_SHARED(type, name) DUEL_EMU_DYNAMIC_SHARED(type, name)

namespace duel::kernels::DUEL_CUDA_NS {
using Stream = void*;
// A launch goes to the emulated stream (kernels/cuda/emu_graph.h): it runs at once, or, while a
// graph capture is open, is recorded with a copy of its arguments.
template <class... P, class... A>
inline void launch_shared(const char* name, void (*kernel)(P...), dim3 grid, dim3 block,
                          size_t shared_bytes, Stream, A... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  const unsigned g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
  ::duel::emu::submit_kernel(name, g, b, [=] { ::duel::emu::launch_shared(kernel, grid, block, shared_bytes, args...); });
}
template <class... P, class... A>
inline void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, Stream stream, A... args) {
  launch_shared(name, kernel, grid, block, 0, stream, args...);
}
}  // namespace duel::kernels::DUEL_CUDA_NS

#else

#include <cuda_runtime.h>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/cuda_api.h"
#define DUEL_CUDA_NS cuda

namespace duel::kernels::cuda {
using Stream = void*;
template <class... P, class... A>
inline void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, Stream stream,
                   A... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  count_kernel_launch(name);
  kernel<<<grid, block, 0, cudaStream_t(stream)>>>(P(args)...);
  check_launch(name);
}
// Above 48 KiB a kernel must opt in to dynamic shared memory; the attribute is a property of the
// function, set once per function and size (runtime.cu), outside any graph capture's way.
template <class... P, class... A>
inline void launch_shared(const char* name, void (*kernel)(P...), dim3 grid, dim3 block,
                          size_t shared_bytes, Stream stream, A... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  if (shared_bytes > 48 * 1024) allow_dynamic_shared(reinterpret_cast<const void*>(kernel), shared_bytes, name);
  count_kernel_launch(name);
  kernel<<<grid, block, shared_bytes, cudaStream_t(stream)>>>(P(args)...);
  check_launch(name);
}
}  // namespace duel::kernels::cuda
#define DUEL_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]

#endif

// `#pragma unroll` for this header, which test sources compiled without -Wno-unknown-pragmas
// include too (the .cu files use the pragma directly).
#if defined(DUEL_CUDA_EMULATE)
#define DUEL_UNROLL
#else
#define DUEL_UNROLL _Pragma("unroll")
#endif

namespace duel::kernels::DUEL_CUDA_NS {

__device__ __forceinline__ float warp_sum(float v) {
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;  // every lane holds the same sum, added in the same order
}

// Deterministic sum over a block of kThreads threads (a multiple of 32): the result, the same
// in every thread, depends only on the inputs, never on timing. `scratch` holds 32 floats.
template <int kThreads>
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024);
  v = warp_sum(v);
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

// The offsets in operands a and b (strides bc.stride_a, bc.stride_b) of output element i. The
// loop runs over all kMaxDims unrolled, so every index into bc is a constant (an indexed
// parameter array would be copied to local memory).
__device__ __forceinline__ void broadcast_offsets(int64_t i, const Broadcast& bc, int64_t* oa,
                                                  int64_t* ob) {
  int64_t linear = i, a = 0, b = 0;
  DUEL_UNROLL
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= bc.ndim) continue;
    const int64_t coord = linear % bc.size[d];
    linear /= bc.size[d];
    a += coord * bc.stride_a[d];
    b += coord * bc.stride_b[d];
  }
  *oa = a;
  *ob = b;
}

inline unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// True in one thread of the whole grid, thread 0 of the block that reaches this point last, once
// every thread of every block has: the place to move on a counter that all blocks have read (a
// random offset, an optimiser's step count), so a kernel can both use a device-side counter and
// advance it in one launch. Every thread of every block must call it (it has a __syncthreads).
// `ticket` is a device word that is 0 between launches: the last block resets it.
__device__ __forceinline__ bool last_block_done(unsigned long long* ticket) {
  __syncthreads();  // every thread of this block is past its reads of the counter
  if (threadIdx.x != 0 || threadIdx.y != 0 || threadIdx.z != 0) return false;
  __threadfence();
  const unsigned long long blocks =
      (unsigned long long)gridDim.x * gridDim.y * gridDim.z;
  if (atomicAdd(ticket, 1ull) != blocks - 1) return false;
  *ticket = 0;
  return true;
}

}  // namespace duel::kernels::DUEL_CUDA_NS
