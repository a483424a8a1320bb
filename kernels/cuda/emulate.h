// A CPU emulation of the CUDA execution model, for checking kernel logic on machines without a
// GPU. A kernel source compiled by the host compiler with DUEL_CUDA_EMULATE runs here as it
// would on the device: every CUDA thread of a block is a fiber (its own stack, switched with
// swapcontext), blocks run one after another, __syncthreads is a barrier over the block's fibers,
// warp shuffles exchange values over the 32 fibers of a warp, and __shared__ arrays are shared by
// the block's threads (a function-local static, correct because only one block runs at a time).
//
// Fibers run one at a time, each until it reaches a barrier. So a missing __syncthreads shows up
// deterministically (thread 0 reads shared memory that later threads have not written yet), and a
// barrier that some threads never reach (one under a divergent condition, or after some threads
// returned) is reported at once as a deadlock instead of hanging.
// What it cannot check: speed, occupancy, coalescing, register spills, or device math-library
// rounding (expf, tanhf etc. come from the host's libm here, so tests compare with a tolerance).
#pragma once

#include <ucontext.h>
#include <utility>

#if defined(__x86_64__)
// kernels/cuda/emulate.cpp: saves the running fiber's registers and stack pointer to *save_sp
// and resumes the fiber whose stack pointer is next_sp.
extern "C" void duel_emu_switch(void** save_sp, void* next_sp);
#define DUEL_EMU_FAST_SWITCH 1
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "kernels/cuda/emu_graph.h"
#include "kernels/cuda/emu_asan.h"

namespace duel::emu {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// One cp.async in flight: its bytes were read from global memory when it was issued and land in
// shared memory when a cp.async.wait_group retires its group (kernels/cuda/emulate_mma.h).
struct AsyncCopy {
  void* dst;
  unsigned char bytes[16];
  int size;
};

// The built-in variables of the thread that is running, and its private machine state.
struct ThreadState {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
  int lane = 0, warp = 0;
  unsigned collectives = 0;  // warp collectives entered so far: picks the collective buffer
  unsigned exchanges = 0;    // warp shuffles entered so far: picks the half of the warp's slots
  // cp.async copies issued and not landed yet, oldest first: the committed groups end at
  // async_group_ends (counts into async_copies), the open group is the rest. Both vectors keep
  // their capacity from block to block, so steady state allocates nothing.
  std::vector<AsyncCopy> async_copies;
  std::vector<size_t> async_group_ends;
};

enum class Wait { none, block, warp, done };

struct Fiber {
  void* sp = nullptr;  // the saved stack pointer (fast switch)
  ucontext_t context{};  // the saved context (swapcontext, elsewhere)
  ThreadState state;
  Wait wait = Wait::none;
  const char* stack = nullptr;  // its usable stack, for ASan (emu_asan.h)
  size_t stack_size = 0;
  void* asan_fake = nullptr;
};

// Bytes one lane may publish to a warp collective (an mma.sync's fragments: 40 bytes).
constexpr size_t kCollectiveBytes = 64;

struct Block {
  void* scheduler_sp = nullptr;
  ucontext_t scheduler{};
  const void* scheduler_stack = nullptr;  // for ASan: the stack the fibers switch back to
  size_t scheduler_stack_size = 0;
  void* scheduler_asan_fake = nullptr;
  std::vector<Fiber> fibers;
  std::vector<uint64_t> warp_slots;  // 2 x 32 per warp (successive shuffles alternate)
  // Two buffers per warp of 32 x kCollectiveBytes, used alternately by successive collectives,
  // so one warp barrier per collective suffices (a lane cannot reach collective i+2 before every
  // lane has read collective i).
  std::vector<unsigned char> collective;
  unsigned char* dynamic_shared = nullptr;  // the launch's extern __shared__ array
  size_t dynamic_shared_bytes = 0;
  std::function<void()> body;
  int running = 0;
};

inline thread_local Block* block_now = nullptr;
inline thread_local ThreadState* current = nullptr;

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "emulated CUDA kernel: %s\n", what);
  std::abort();
}

inline void yield_at(Wait w) {
  Block& b = *block_now;
  Fiber& f = b.fibers[size_t(b.running)];
  f.wait = w;
  asan::leaving(&f.asan_fake, b.scheduler_stack, b.scheduler_stack_size);
#ifdef DUEL_EMU_FAST_SWITCH
  duel_emu_switch(&f.sp, b.scheduler_sp);
#else
  swapcontext(&f.context, &b.scheduler);
#endif
  asan::arrived(f.asan_fake, nullptr, nullptr);
}

inline void syncthreads() { yield_at(Wait::block); }

// Exchange of one value across the warp: every lane publishes, then reads lane `src`. Successive
// exchanges use the two halves of the warp's slots in turn, so one warp barrier suffices: no lane
// can reach exchange i+2, which reuses exchange i's half, before every lane has passed exchange
// i+1's barrier, that is, before every lane has read exchange i.
template <class T>
T warp_exchange(T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  const unsigned parity = current->exchanges++ & 1u;
  uint64_t* slot = &block_now->warp_slots[(size_t(current->warp) * 2 + parity) * 32];
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  slot[current->lane] = bits;
  yield_at(Wait::warp);
  T out;
  std::memcpy(&out, &slot[src], sizeof(T));
  return out;
}

inline void retire_async_copies(ThreadState& t, size_t keep_groups);

inline void fiber_main() {
  Block& b = *block_now;
  asan::arrived(nullptr, &b.scheduler_stack, &b.scheduler_stack_size);
  b.body();
  // Copies still in flight when a thread exits land anyway.
  current->async_group_ends.push_back(current->async_copies.size());
  retire_async_copies(*current, 0);
  Fiber& f = b.fibers[size_t(b.running)];
  f.wait = Wait::done;
  asan::leaving(nullptr, b.scheduler_stack, b.scheduler_stack_size);  // this stack is done
#ifdef DUEL_EMU_FAST_SWITCH
  duel_emu_switch(&f.sp, b.scheduler_sp);  // never resumed
  __builtin_unreachable();
#endif
  // (swapcontext) returning resumes uc_link, the scheduler
}

// Points fiber f at the start of the kernel body on its own stack.
inline void init_fiber(Fiber& f, Block& b, char* stack, size_t size) {
  f.wait = Wait::none;
  f.stack = stack;
  f.stack_size = size;
#ifdef DUEL_EMU_FAST_SWITCH
  // The frame duel_emu_switch pops: r15 r14 r13 r12 rbx rbp (zero), then the return address
  // fiber_main, placed so that rsp is 8 mod 16 on entry, as after a call.
  const uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  void** frame = reinterpret_cast<void**>(top) - 8;
  std::memset(frame, 0, 8 * sizeof(void*));
  frame[6] = reinterpret_cast<void*>(&fiber_main);  // top - 16
  f.sp = frame;
  (void)b;
#else
  getcontext(&f.context);  // only to initialise the context: never resumed here
  f.context.uc_stack.ss_sp = stack;
  f.context.uc_stack.ss_size = size;
  f.context.uc_link = &b.scheduler;
  makecontext(&f.context, fiber_main, 0);
#endif
}

// Runs the fibers of one block until all have returned, releasing warp barriers when all 32 lanes
// wait at one and the block barrier when every thread does.
inline void run_block(Block& b, int threads) {
  for (;;) {
    for (int t = 0; t < threads; ++t) {  // run every fiber up to its next barrier
      Fiber& f = b.fibers[size_t(t)];
      if (f.wait != Wait::none) continue;
      b.running = t;
      current = &f.state;
      asan::leaving(&b.scheduler_asan_fake, f.stack, f.stack_size);
#ifdef DUEL_EMU_FAST_SWITCH
      duel_emu_switch(&b.scheduler_sp, f.sp);
#else
      swapcontext(&b.scheduler, &f.context);
#endif
      asan::arrived(b.scheduler_asan_fake, nullptr, nullptr);
    }
    int done = 0, at_block = 0;
    bool released = false;
    for (int w = 0; w < threads / 32; ++w) {
      int at_warp = 0;
      for (int l = 0; l < 32; ++l) {
        const Wait s = b.fibers[size_t(w * 32 + l)].wait;
        at_warp += s == Wait::warp;
        done += s == Wait::done;
        at_block += s == Wait::block;
      }
      if (at_warp == 32) {
        for (int l = 0; l < 32; ++l) b.fibers[size_t(w * 32 + l)].wait = Wait::none;
        released = true;
      } else if (at_warp > 0) {
        fail("deadlock: a warp shuffle that not all 32 lanes of the warp reached");
      }
    }
    if (done == threads) return;
    if (at_block == threads) {
      for (Fiber& f : b.fibers) f.wait = Wait::none;
      released = true;
    }
    if (!released) fail("deadlock: a __syncthreads that not all threads of the block reached");
  }
}

// Runs kernel(args...) over grid x block with `shared_bytes` of dynamic shared memory (the
// kernel's extern __shared__ array, poisoned with NaN bytes before every block, as its content
// is undefined on a GPU). Block sizes must be multiples of 32 (full warps), which every duel
// kernel uses.
template <class... P, class... A>
void launch_shared(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared_bytes, A... args) {
  const int threads = int(block.x * block.y * block.z);
  if (threads <= 0 || threads % 32 != 0 || threads > 1024)
    fail("launch with a block size that is not a multiple of 32 up to 1024");
  // Fiber stacks, kept from launch to launch (a fresh mapping per launch costs page faults).
  constexpr size_t kStack = 64 * 1024;  // kernels use a few hundred bytes
  // Stacks 64 KiB apart would put every fiber's top frame in the same cache set; an odd number
  // of extra cache lines per stack spreads them over all sets (the switch is memory-bound).
  constexpr size_t kStride = kStack + 3 * 64;
  static thread_local std::unique_ptr<char[]> stacks;
  static thread_local int stacks_for = 0;
  if (stacks_for < threads) {
    if (stacks) asan::unpoison(stacks.get(), kStride * size_t(stacks_for));
    stacks.reset(new char[kStride * size_t(threads)]);
    stacks_for = threads;
    for (int t = 0; t < threads; ++t) asan::poison_guard(stacks.get() + kStride * size_t(t));
  }
  Block b;
  b.fibers.resize(size_t(threads));
  b.warp_slots.assign(size_t(threads) * 2, 0);
  b.collective.assign(size_t(threads) * 2 * kCollectiveBytes, 0);
  struct Aligned {
    void operator()(unsigned char* p) const { ::operator delete(p, std::align_val_t(64)); }
  };
  std::unique_ptr<unsigned char, Aligned> dynamic(
      shared_bytes ? static_cast<unsigned char*>(::operator new(shared_bytes, std::align_val_t(64))) : nullptr);
  b.dynamic_shared = dynamic.get();
  b.dynamic_shared_bytes = shared_bytes;
  b.body = [&] { kernel(P(args)...); };
  Block* const outer = block_now;
  ThreadState* const outer_state = current;
  block_now = &b;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  const bool reverse = block_order() == BlockOrder::reverse;
  for (uint64_t k = 0; k < blocks; ++k) {
    const uint64_t linear = reverse ? blocks - 1 - k : k;
    const unsigned bx = unsigned(linear % grid.x), by = unsigned(linear / grid.x % grid.y),
                   bz = unsigned(linear / (uint64_t(grid.x) * grid.y));
    for (int t = 0; t < threads; ++t) {
      Fiber& f = b.fibers[size_t(t)];
      f.state.thread_idx = dim3(unsigned(t) % block.x, unsigned(t) / block.x % block.y,
                                unsigned(t) / (block.x * block.y));
      f.state.block_idx = dim3(bx, by, bz);
      f.state.block_dim = block;
      f.state.grid_dim = grid;
      f.state.lane = t % 32;
      f.state.warp = t / 32;
      f.state.collectives = 0;
      f.state.exchanges = 0;
      f.state.async_copies.clear();
      f.state.async_group_ends.clear();
      init_fiber(f, b, stacks.get() + kStride * size_t(t) + asan::kGuard, kStack - asan::kGuard);
    }
    if (shared_bytes) std::memset(b.dynamic_shared, 0xff, shared_bytes);  // NaN floats
    run_block(b, threads);
  }
  block_now = outer;
  current = outer_state;
}

template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
  launch_shared(kernel, grid, block, 0, args...);
}

// The running block's dynamic shared memory (extern __shared__).
inline void* dynamic_shared() {
  if (!block_now->dynamic_shared) fail("extern __shared__ used by a kernel launched without dynamic shared memory");
  return block_now->dynamic_shared;
}

// A warp-wide collective: every lane publishes `mine`; when all 32 lanes have arrived, each
// calls fn(all 32 lanes' values, its lane) and gets its own result. One warp barrier.
template <class In, class Fn>
auto warp_collective(const In& mine, Fn&& fn) {
  static_assert(sizeof(In) <= kCollectiveBytes && std::is_trivially_copyable_v<In>);
  Block& b = *block_now;
  const unsigned parity = current->collectives++ & 1u;
  unsigned char* buf = b.collective.data() + (size_t(current->warp) * 2 + parity) * 32 * kCollectiveBytes;
  std::memcpy(buf + size_t(current->lane) * kCollectiveBytes, &mine, sizeof(In));
  yield_at(Wait::warp);
  In all[32];
  for (int l = 0; l < 32; ++l) std::memcpy(&all[l], buf + size_t(l) * kCollectiveBytes, sizeof(In));
  return fn(static_cast<const In*>(all), current->lane);
}

// Lands the oldest committed cp.async groups of thread t until `keep_groups` remain in flight.
inline void retire_async_copies(ThreadState& t, size_t keep_groups) {
  if (t.async_group_ends.size() <= keep_groups) return;
  const size_t groups = t.async_group_ends.size() - keep_groups;
  const size_t landed = t.async_group_ends[groups - 1];
  for (size_t i = 0; i < landed; ++i) {
    const AsyncCopy& c = t.async_copies[i];
    std::memcpy(c.dst, c.bytes, size_t(c.size));
  }
  t.async_copies.erase(t.async_copies.begin(), t.async_copies.begin() + std::ptrdiff_t(landed));
  t.async_group_ends.erase(t.async_group_ends.begin(), t.async_group_ends.begin() + std::ptrdiff_t(groups));
  for (size_t& end : t.async_group_ends) end -= landed;
}

}  // namespace duel::emu

// The CUDA names kernel code uses, mapped onto the emulator.
using duel::emu::dim3;
#define threadIdx (::duel::emu::current->thread_idx)
#define blockIdx (::duel::emu::current->block_idx)
#define blockDim (::duel::emu::current->block_dim)
#define gridDim (::duel::emu::current->grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __shared__ static
inline void __syncthreads() { duel::emu::syncthreads(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  return duel::emu::warp_exchange(v, duel::emu::current->lane ^ lane_mask);
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta) {
  const int src = duel::emu::current->lane + int(delta);
  const T other = duel::emu::warp_exchange(v, src < 32 ? src : duel::emu::current->lane);
  return src < 32 ? other : v;
}
// Correctly rounded double add and multiply that the compiler may not fuse into an fma.
inline double __dadd_rn(double a, double b) {
  volatile double r = a + b;
  return r;
}
inline double __dmul_rn(double a, double b) {
  volatile double r = a * b;
  return r;
}
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
// Atomics are plain read-modify-writes: one fiber runs at a time, so nothing comes between.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = T(old + value);
  return old;
}
// Memory fences order nothing here: every write is visible to every fiber at once.
inline void __threadfence() {}
#define DUEL_EMU_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::duel::emu::dynamic_shared())
