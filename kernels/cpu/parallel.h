// Small helpers shared by the fast CPU kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace duel::kernels::cpu {

// Below this many elements a loop runs on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// Sum of f(i) for i in [0, n), in double. The partition into fixed-size chunks does not depend on
// the number of threads and the partials are added in chunk order, so the result is the same
// bit for bit whatever OMP_NUM_THREADS is.
template <class F>
double deterministic_sum(int64_t n, F f) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks > 0 ? chunks : 1), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t c = 0; c < chunks; ++c) {
    double acc = 0;
    const int64_t end = (c + 1) * kChunk < n ? (c + 1) * kChunk : n;
    for (int64_t i = c * kChunk; i < end; ++i) acc += f(i);
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

// A per-thread scratch buffer that grows and is reused across calls (no allocation in steady
// state). Each call site passes its own tag type so two buffers in one kernel do not collide.
// 64-byte aligned, like tensor storage, so no vectorised loop sees a different alignment (and
// with it possibly a different summation order) from one run or thread to the next.
template <class T, class Tag>
T* scratch(size_t count) {
  struct Buffer {
    T* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (buffer.size < count) {
    const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
    T* grown = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (grown == nullptr) throw std::bad_alloc();
    std::free(buffer.data);
    buffer.data = grown;
    buffer.size = count;
  }
  return buffer.data;
}

}  // namespace duel::kernels::cpu
