// The CPU emulator of the CUDA execution model itself (kernels/cuda/emulate.h): barriers,
// shared memory, warp shuffles and the built-in indices behave as on a GPU, and a kernel that
// forgets a __syncthreads computes a wrong answer here rather than passing by luck.
#include <catch2/catch.hpp>
#include <numeric>
#include <vector>

#define DUEL_CUDA_EMULATE 1
#include "kernels/cuda/portable.cuh"

namespace {

constexpr int kThreads = 128;

// Reverses each block's slice through shared memory; `sync` says whether to wait in between.
__global__ void reverse_kernel(int* out, const int* in, bool sync) {
  __shared__ int tile[kThreads];
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  tile[threadIdx.x] = in[i];
  if (sync) __syncthreads();
  out[i] = tile[kThreads - 1 - int(threadIdx.x)];
}

__global__ void block_sum_kernel(float* out, const float* in) {
  __shared__ float scratch[32];
  const float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  const float s = duel::kernels::cuda_emu::block_sum<kThreads>(v, scratch);
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;  // every thread holds the block's sum
}

__global__ void index_kernel(int* out) {
  const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  out[b * blockDim.x * blockDim.y * blockDim.z + t] = int(b * 1000 + t);
}

__global__ void shfl_down_kernel(int* out) {
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, int(threadIdx.x), 3u);
}

}  // namespace

TEST_CASE("emulator: shared memory and __syncthreads behave as on a GPU", "[cuda-emu][emulator]") {
  std::vector<int> in(3 * kThreads), out(in.size(), -1);
  std::iota(in.begin(), in.end(), 0);
  duel::emu::launch(reverse_kernel, dim3(3), dim3(kThreads), out.data(),
                    static_cast<const int*>(in.data()), true);
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < kThreads; ++t)
      REQUIRE(out[size_t(b * kThreads + t)] == b * kThreads + kThreads - 1 - t);
  // Without the barrier a thread reads slots its successors have not written: the emulator runs
  // each thread up to its next barrier, so the race gives a wrong answer every time.
  duel::emu::launch(reverse_kernel, dim3(3), dim3(kThreads), out.data(),
                    static_cast<const int*>(in.data()), false);
  int wrong = 0;
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < kThreads; ++t) wrong += out[size_t(b * kThreads + t)] != b * kThreads + kThreads - 1 - t;
  CHECK(wrong > 0);
}

TEST_CASE("emulator: block_sum over warps and shuffles", "[cuda-emu][emulator]") {
  std::vector<float> in(2 * kThreads), out(in.size(), -1.0f);
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(i % 7) - 2.5f;
  duel::emu::launch(block_sum_kernel, dim3(2), dim3(kThreads), out.data(),
                    static_cast<const float*>(in.data()));
  for (int b = 0; b < 2; ++b) {
    const float want = std::accumulate(in.begin() + b * kThreads, in.begin() + (b + 1) * kThreads, 0.0f);
    for (int t = 0; t < kThreads; ++t) CHECK(out[size_t(b * kThreads + t)] == Approx(want));
  }
  std::vector<int> lanes(64, -1);
  duel::emu::launch(shfl_down_kernel, dim3(1), dim3(64), lanes.data());
  for (int t = 0; t < 64; ++t) CHECK(lanes[size_t(t)] == (t % 32 + 3 < 32 ? t + 3 : t));
}

TEST_CASE("emulator: 3-D grids and blocks give every thread its own indices", "[cuda-emu][emulator]") {
  const dim3 grid(3, 2, 2), block(8, 2, 2);
  std::vector<int> out(12 * 32, -1);
  duel::emu::launch(index_kernel, grid, block, out.data());
  for (int b = 0; b < 12; ++b)
    for (int t = 0; t < 32; ++t) CHECK(out[size_t(b * 32 + t)] == b * 1000 + t);
}

namespace {

// Writes `bytes` of a local buffer: with more than a fiber's stack (64 KiB) it runs off the bottom
// of its own stack into the guard below it (sanitizer builds) or the neighbouring fiber's stack.
__global__ void deep_stack_kernel(int* out, int bytes) {
  volatile char buffer[96 * 1024];
  for (int i = bytes - 1; i >= 0; --i) buffer[i] = char(i);
  out[threadIdx.x] = buffer[bytes / 2];
}

}  // namespace

// Hidden ([.]): it crashes on purpose. ctest runs it as asan.fiber_stack_overflow in sanitizer
// builds and expects ASan's report: the fiber stacks are announced to ASan and guarded.
TEST_CASE("a kernel that runs off its fiber stack is caught by ASan", "[.asan-probe]") {
  std::vector<int> out(32, 0);
  duel::emu::launch(deep_stack_kernel, dim3(1), dim3(32), out.data(), 96 * 1024);
  FAIL("the overflow went unnoticed");
}
