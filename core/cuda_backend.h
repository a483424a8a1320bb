// The CUDA side of core/: device memory, copies and the kernel call, for a real GPU or for the
// CPU emulator of one.
//
// Emulated CUDA device: with DUEL_CUDA_EMULATE=1 in the environment, cuda:0 exists on any
// machine. Its memory is host memory and its kernels are the very CUDA sources of kernels/cuda
// run by the emulator (kernels/cuda/emulate.h), so every CUDA code path of duel (dispatch,
// workspaces, copies, the float32-only rule, the kernels' indexing) runs and is tested without a
// GPU. It is slow (each CUDA thread is a fiber) and measures nothing about speed. Host code must
// still go through to(cpu) to read a CUDA tensor, exactly as with a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/device.h"
#include "kernels/cuda/emu_api.h"
#include "kernels/cuda/emu_graph.h"
#ifdef DUEL_HAVE_CUDA
#include "kernels/cuda/cuda_api.h"
#endif

namespace duel::cuda_backend {

bool emulated();  // DUEL_CUDA_EMULATE=1 at start-up, or set_emulated(true)
// Switches the emulated device on or off (tests). Tensors made under one setting must not be
// used under the other.
void set_emulated(bool on);

// Turns emulation on for a scope (tests), restoring the previous setting after.
class EmulatedCudaGuard {
 public:
  explicit EmulatedCudaGuard(bool on = true) : previous_(emulated()) { set_emulated(on); }
  ~EmulatedCudaGuard() { set_emulated(previous_); }
  EmulatedCudaGuard(const EmulatedCudaGuard&) = delete;
  EmulatedCudaGuard& operator=(const EmulatedCudaGuard&) = delete;

 private:
  bool previous_;
};

// Throws duel::Error naming the problem when `d` cannot be used: no CUDA in this build, no GPU,
// or an index past the device count.
void check_usable(Device d);

class GraphPool;  // core/graph_pool.h

// A block of device memory and the graph pool it came from (null: the device's ordinary pool).
struct Block {
  void* ptr = nullptr;
  std::shared_ptr<GraphPool> pool;
};
// While a graph capture is open on `d`, blocks come from the capture's pool (the graph's own
// memory, reused by every replay); otherwise from the stream-ordered pool.
Block allocate(size_t bytes, Device d);
// Returns a block. An ordinary block released while a capture is open is freed when the
// capture ends (a free inside the capture would be recorded into the graph).
void release(const Block& block, size_t bytes, Device d);
// Copies between any two devices (cpu or cuda). A copy to the host waits for the device.
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Waits until the device has finished all queued work (a no-op when emulated).
void synchronize(Device d);

// ---- the host's reads of the device
// Every copy to the host and every synchronize counts as one host synchronisation. Inside a
// graph capture they throw (a captured step cannot wait for the host), naming what did it.
int64_t host_syncs();
// Counts what a piece of code does to the host while it lives: the first iteration of a
// graph-captured training run runs eagerly under one, and a step that read the device from the
// host is not captured (it would fail, or bake the value it read into the graph).
class HostSyncWatch {
 public:
  HostSyncWatch();
  ~HostSyncWatch();
  HostSyncWatch(const HostSyncWatch&) = delete;
  HostSyncWatch& operator=(const HostSyncWatch&) = delete;
  int64_t count() const;
  const std::string& first() const;  // what the first one was, e.g. "a copy from cuda:0 to the host"
};

// ---- launches
// Kernel launches made on any CUDA device (or recorded by a capture) since the start, in all and
// by kernel (the launcher's name, e.g. "binary_f32", "conv2d_forward_f32").
int64_t kernel_launches();
std::map<std::string, int64_t> kernel_launches_by_name();

// ---- graph capture: the work queued on a device, recorded once and replayed
// A captured graph: a CUDA graph instantiated for launch, or the emulator's recorded list.
class Graph {
 public:
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  void launch();              // queues every recorded kernel and copy again
  int64_t kernel_nodes() const { return kernel_nodes_; }
  int64_t nodes() const { return nodes_; }

 private:
  friend std::unique_ptr<Graph> end_capture(Device d);
  Graph() = default;
  Device device_;
  void* exec_ = nullptr;       // cudaGraphExec_t on a GPU
  std::unique_ptr<emu::Graph> emu_;  // the emulator's recorded list
  int64_t kernel_nodes_ = 0, nodes_ = 0;
};
// Opens a capture of device d's stream: kernels and copies queued until end_capture are recorded
// instead of run, device memory comes from `pool`, and host reads throw.
void begin_capture(Device d, std::shared_ptr<GraphPool> pool);
std::unique_ptr<Graph> end_capture(Device d);
// Closes a capture that failed (after an exception), discarding what it recorded.
void abort_capture(Device d);
bool capturing();

// ---- page-locked host memory and events (asynchronous copies back to the host)
void* pinned_allocate(size_t bytes, Device d);
void pinned_release(void* p, Device d);
// A copy from the device into pinned host memory that does not wait for it.
void copy_to_host_async(void* pinned_dst, const void* src, size_t bytes, Device d);
// A point in the device's stream the host can wait for (nothing to wait for when emulated).
class Event {
 public:
  explicit Event(Device d);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record();  // at the current end of the stream
  void wait();    // the host waits until the stream has got there
 private:
  Device device_;
  void* event_ = nullptr;
};

// The device-side memory allocator's own blocks for a graph pool: cudaMalloc (legal while a
// capture is open) or, emulated, host memory.
void* allocate_static(size_t bytes, Device d);
void release_static(void* p, size_t bytes, Device d);

#ifdef DUEL_HAVE_CUDA
kernels::cuda::Stream stream(Device d);
#endif

[[noreturn]] void f64_unsupported(const char* op);

}  // namespace duel::cuda_backend

// Calls CUDA kernel `fn` (a function of kernels/cuda/kernels_api.inc, without its trailing
// stream argument) on device `dev`: on the GPU on duel's compute stream, or on the emulator.
#ifdef DUEL_HAVE_CUDA
#define DUEL_CUDA_CALL(dev, fn, ...)                                                       \
  do {                                                                                     \
    if (::duel::cuda_backend::emulated())                                                  \
      ::duel::kernels::cuda_emu::fn(__VA_ARGS__, nullptr);                                 \
    else                                                                                   \
      ::duel::kernels::cuda::fn(__VA_ARGS__, ::duel::cuda_backend::stream(dev));           \
  } while (0)
#else
// Without the CUDA build a CUDA tensor exists only on the emulated device.
#define DUEL_CUDA_CALL(dev, fn, ...) ::duel::kernels::cuda_emu::fn(__VA_ARGS__, nullptr)
#endif
