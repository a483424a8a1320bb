#include "core/graph_pool.h"

#include <iterator>
#include <utility>

#include "core/cuda_backend.h"
#include "core/error.h"

namespace duel::cuda_backend {

namespace {

constexpr size_t kAlign = 256;                    // as cudaMallocAsync's blocks
constexpr size_t kSegment = size_t(16) << 20;     // the smallest segment

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

GraphPool::GraphPool(Device d) : device_(d) {}

GraphPool::~GraphPool() {
  for (const auto& [base, size] : segments_) release_static(base, size, device_);
}

void* GraphPool::allocate(size_t bytes) {
  const size_t want = round_up(bytes == 0 ? 1 : bytes, kAlign);
  std::lock_guard<std::mutex> lock(mutex_);
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it)
    if (it->second.size >= want && (best == free_.end() || it->second.size < best->second.size)) best = it;
  if (best == free_.end()) {
    const size_t size = round_up(want > kSegment ? want : kSegment, size_t(2) << 20);
    char* base = static_cast<char*>(allocate_static(size, device_));
    segments_.emplace_back(base, size);
    best = free_.emplace(base, Span{size, segments_.size() - 1}).first;
  }
  char* p = best->first;
  const Span span = best->second;
  free_.erase(best);
  if (span.size > want) free_.emplace(p + want, Span{span.size - want, span.segment});
  used_.emplace(p, Span{want, span.segment});
  return p;
}

void GraphPool::release(void* ptr) {
  char* p = static_cast<char*>(ptr);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(p);
  DUEL_CHECK(it != used_.end(), "graph pool: a block it did not hand out was returned");
  Span span = it->second;
  used_.erase(it);
  // Merge with the free neighbours of the same segment.
  auto next = free_.lower_bound(p);
  if (next != free_.end() && next->first == p + span.size && next->second.segment == span.segment) {
    span.size += next->second.size;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size == p && prev->second.segment == span.segment) {
      prev->second.size += span.size;
      return;
    }
  }
  free_.emplace(p, span);
}

size_t GraphPool::reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [base, size] : segments_) n += size;
  return n;
}

size_t GraphPool::used_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [p, span] : used_) n += span.size;
  return n;
}

}  // namespace duel::cuda_backend
