#include "core/cpu_allocator.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace duel {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCachedFrom = size_t(64) << 10;

size_t size_class(size_t bytes) {
  if (bytes < kCachedFrom) return (bytes + kAlign - 1) / kAlign * kAlign;
  size_t p = kCachedFrom;
  while (p * 2 <= bytes) p *= 2;
  for (size_t quarter = 0; quarter <= 4; ++quarter) {
    const size_t c = p + p / 4 * quarter;
    if (c >= bytes) return c;
  }
  return 2 * p;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0;
  size_t limit = [] {
    const char* env = std::getenv("DUEL_CPU_CACHE_MB");
    return size_t(env ? std::strtoull(env, nullptr, 10) : 2048) << 20;
  }();
  ~Cache() {
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) std::free(p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

size_t cpu_memory_bytes() {
  static const size_t total = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(1) << 62;
  }();
  return total;
}

std::string bytes_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void* cpu_allocate(size_t bytes) {
  // Larger than the machine's memory: refused at once rather than left to overcommit and the
  // out-of-memory killer (and before size_class, whose doubling would not end near 2^64).
  DUEL_CHECK(bytes <= cpu_memory_bytes(), "cannot allocate ", bytes_text(double(bytes)),
             " on the CPU: more than this machine's memory (", bytes_text(double(cpu_memory_bytes())), ")");
  const size_t rounded = size_class(bytes == 0 ? kAlign : bytes);
  if (rounded >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(rounded);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= rounded;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) {
    cpu_empty_cache();  // give the cache back and try once more before failing
    p = std::aligned_alloc(kAlign, rounded);
  }
  DUEL_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes on the CPU");
  return p;
}

void cpu_release(void* p, size_t bytes) {
  if (!p) return;
  const size_t rounded = size_class(bytes == 0 ? kAlign : bytes);
  if (rounded >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached + rounded <= c.limit) {
      c.free_blocks[rounded].push_back(p);
      c.cached += rounded;
      return;
    }
  }
  std::free(p);
}

size_t cpu_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.cached;
}

void cpu_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

}  // namespace duel
