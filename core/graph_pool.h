// The memory of a captured training step: a private pool that serves every allocation made
// while a graph capture is open (core/cuda_backend.h), so the graph's kernels read and write the
// same blocks at every replay and the steady state allocates nothing.
//
// Inside the capture, a block freed by the host is free for the next allocation of the same
// capture (the graph runs its nodes in stream order, so a later node never overlaps an earlier
// user of the block). After the capture, the pool serves no one else: its free blocks are the
// graph's scratch space at every replay. Blocks still held by tensors after the capture (the
// gradients, the logged scalars) are rewritten by each replay. The pool's segments come from
// the device once (cudaMalloc) and go back when the graph and the last tensor in it are gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/device.h"

namespace duel::cuda_backend {

class GraphPool {
 public:
  explicit GraphPool(Device d);
  ~GraphPool();
  GraphPool(const GraphPool&) = delete;
  GraphPool& operator=(const GraphPool&) = delete;

  // Best fit among the free blocks (256-byte aligned), else a new segment of at least 16 MiB.
  void* allocate(size_t bytes);
  void release(void* p);
  Device device() const { return device_; }
  size_t reserved_bytes() const;  // the segments' total
  size_t used_bytes() const;      // in blocks handed out and not released

 private:
  struct Span {
    size_t size;
    size_t segment;
  };
  Device device_;
  mutable std::mutex mutex_;
  std::vector<std::pair<char*, size_t>> segments_;
  std::map<char*, Span> free_, used_;
};

}  // namespace duel::cuda_backend
