#include "core/cuda_backend.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/cpu_allocator.h"
#include "core/error.h"
#include "core/graph_pool.h"
#include "kernels/cuda/emu_graph.h"

namespace duel::cuda_backend {

static bool& emulation_flag() {
  static bool on = [] {
    const char* v = std::getenv("DUEL_CUDA_EMULATE");
    return v && std::string_view(v) == "1";
  }();
  return on;
}

bool emulated() { return emulation_flag(); }
void set_emulated(bool on) { emulation_flag() = on; }

void check_usable(Device d) {
  if (!d.is_cuda()) return;
  if (emulated()) {
    DUEL_CHECK(d.index == 0, "device ", d.str(), ": the emulated CUDA device is cuda:0 only");
    return;
  }
  DUEL_CHECK(cuda_built(), "device ", d.str(), ": this build has no CUDA backend (nvcc was not "
             "found at configure time); use --device cpu, or DUEL_CUDA_EMULATE=1 for the slow CPU "
             "emulation of the CUDA kernels");
  const int n = cuda_device_count();
  DUEL_CHECK(n > 0, "device ", d.str(), ": no CUDA GPU is visible (the driver reports none); use "
             "--device cpu, or DUEL_CUDA_EMULATE=1 for the slow CPU emulation of the CUDA kernels");
  DUEL_CHECK(d.index < n, "device ", d.str(), ": only ", n, " CUDA device(s) visible");
}

// The CUDA runtime reports errors as std::runtime_error; duel's callers expect duel::Error.
template <class F>
static auto rethrow(const char* what, F&& f) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(what, ": ", e.what());
  }
}

// ---- capture state, host syncs, pinned memory

namespace {

struct CaptureState {
  bool open = false;
  Device device;
  std::shared_ptr<GraphPool> pool;
  std::vector<std::tuple<void*, size_t, Device>> deferred;  // ordinary blocks released meanwhile
};

CaptureState& capture_state() {
  static CaptureState s;
  return s;
}

struct SyncLog {
  int64_t count = 0;
  int watches = 0;       // HostSyncWatch objects alive
  int64_t watched = 0;   // syncs seen by them
  std::string first;
};

SyncLog& sync_log() {
  static SyncLog s;
  return s;
}

// Pinned host blocks: their start and size (a copy from them may be captured).
std::map<const char*, size_t>& pinned_blocks() {
  static std::map<const char*, size_t> m;
  return m;
}

bool is_pinned(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto& m = pinned_blocks();
  auto it = m.upper_bound(c);
  if (it == m.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

// Reading the device from the host: counted, and an error inside a capture.
void host_sync(const std::string& what) {
  SyncLog& log = sync_log();
  ++log.count;
  if (log.watches > 0 && log.watched++ == 0) log.first = what;
  DUEL_CHECK(!capture_state().open, "CUDA graph capture: ", what, " inside the captured step (a graph "
             "cannot wait for the host; such a step runs eagerly)");
}

void release_now(void* p, size_t bytes, Device d) {
  if (emulated()) return cpu_release(p, bytes);
#ifdef DUEL_HAVE_CUDA
  kernels::cuda::device_release(p, d.index);
#endif
}

}  // namespace

Block allocate(size_t bytes, Device d) {
  check_usable(d);
  CaptureState& cs = capture_state();
  if (cs.open && cs.device == d) return {cs.pool->allocate(bytes), cs.pool};
  if (emulated()) return {cpu_allocate(bytes), nullptr};
#ifdef DUEL_HAVE_CUDA
  return {rethrow("cuda storage", [&] { return kernels::cuda::device_allocate(bytes, d.index); }), nullptr};
#else
  fail("cuda storage: no CUDA backend");
#endif
}

void release(const Block& block, size_t bytes, Device d) {
  if (!block.ptr) return;
  if (block.pool) return block.pool->release(block.ptr);
  CaptureState& cs = capture_state();
  if (cs.open) {
    cs.deferred.emplace_back(block.ptr, bytes, d);
    return;
  }
  release_now(block.ptr, bytes, d);
}

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, bytes);
    return;
  }
  if (dst_device.is_cpu()) host_sync("a copy from " + src_device.str() + " to the host (item(), to(cpu))");
  if (src_device.is_cpu() && capture_state().open)
    DUEL_CHECK(is_pinned(src, bytes), "CUDA graph capture: a copy to ", dst_device.str(), " from pageable "
               "host memory inside the captured step (only pinned memory can be copied from in a graph)");
  if (emulated()) {
    if (dst_device.is_cpu()) {
      std::memmove(dst, src, bytes);
      return;
    }
    rethrow("copy", [&] { emu::submit_copy(dst, src, bytes); });
    return;
  }
#ifdef DUEL_HAVE_CUDA
  rethrow("copy", [&] {
    if (src_device.is_cpu())
      kernels::cuda::copy_to_device(dst, src, bytes, dst_device.index);
    else if (dst_device.is_cpu())
      kernels::cuda::copy_to_host(dst, src, bytes, src_device.index);
    else if (src_device == dst_device)
      kernels::cuda::copy_on_device(dst, src, bytes, dst_device.index);
    else
      fail("copy from ", src_device.str(), " to ", dst_device.str(),
           ": copies between two GPUs are not supported; go through the CPU");
  });
#else
  fail("copy between ", src_device.str(), " and ", dst_device.str(), ": no CUDA backend");
#endif
}

void synchronize(Device d) {
  if (!d.is_cuda()) return;
  host_sync("a synchronisation with " + d.str());
  if (emulated()) return;
#ifdef DUEL_HAVE_CUDA
  rethrow("synchronize", [&] { kernels::cuda::synchronize(d.index); });
#endif
}

int64_t host_syncs() { return sync_log().count; }

HostSyncWatch::HostSyncWatch() {
  SyncLog& log = sync_log();
  if (log.watches++ == 0) {
    log.watched = 0;
    log.first.clear();
  }
}
HostSyncWatch::~HostSyncWatch() { --sync_log().watches; }
int64_t HostSyncWatch::count() const { return sync_log().watched; }
const std::string& HostSyncWatch::first() const { return sync_log().first; }

int64_t kernel_launches() {
  int64_t n = emu::kernel_launches();
#ifdef DUEL_HAVE_CUDA
  n += kernels::cuda::kernel_launches();
#endif
  return n;
}

std::map<std::string, int64_t> kernel_launches_by_name() {
  std::map<std::string, int64_t> n = emu::kernel_launches_by_name();
#ifdef DUEL_HAVE_CUDA
  for (const auto& [name, count] : kernels::cuda::kernel_launches_by_name()) n[name] += count;
#endif
  return n;
}

// ---- graphs

Graph::~Graph() {
#ifdef DUEL_HAVE_CUDA
  if (exec_) kernels::cuda::destroy_graph(exec_);
#endif
}

void Graph::launch() {
  DUEL_CHECK(!capture_state().open, "CUDA graph: launched while a capture is open");
  if (emu_) {
    rethrow("graph launch", [&] { emu::replay(*emu_); });
    return;
  }
#ifdef DUEL_HAVE_CUDA
  rethrow("graph launch", [&] { kernels::cuda::launch_graph(exec_, device_.index); });
#endif
}

void begin_capture(Device d, std::shared_ptr<GraphPool> pool) {
  check_usable(d);
  DUEL_CHECK(d.is_cuda(), "CUDA graph capture: ", d.str(), " is not a CUDA device");
  CaptureState& cs = capture_state();
  DUEL_CHECK(!cs.open, "CUDA graph capture: a capture is open already");
  DUEL_CHECK(pool && pool->device() == d, "CUDA graph capture: the pool must belong to ", d.str());
  if (emulated()) {
    rethrow("graph capture", [] { emu::begin_capture(); });
  } else {
#ifdef DUEL_HAVE_CUDA
    rethrow("graph capture", [&] { kernels::cuda::begin_capture(d.index); });
#endif
  }
  cs.open = true;
  cs.device = d;
  cs.pool = std::move(pool);
}

namespace {

void close_capture_state() {
  CaptureState& cs = capture_state();
  cs.open = false;
  cs.pool.reset();
  auto deferred = std::move(cs.deferred);
  cs.deferred.clear();
  for (const auto& [p, bytes, dev] : deferred) release_now(p, bytes, dev);
}

}  // namespace

std::unique_ptr<Graph> end_capture(Device d) {
  CaptureState& cs = capture_state();
  DUEL_CHECK(cs.open && cs.device == d, "CUDA graph capture: none is open on ", d.str());
  std::unique_ptr<Graph> g(new Graph);
  g->device_ = d;
  try {
    if (emulated()) {
      g->emu_ = std::make_unique<emu::Graph>(emu::end_capture());
      g->kernel_nodes_ = g->emu_->kernel_nodes();
      g->nodes_ = int64_t(g->emu_->nodes.size());
    } else {
#ifdef DUEL_HAVE_CUDA
      rethrow("graph capture", [&] { g->exec_ = kernels::cuda::end_capture(d.index, &g->kernel_nodes_); });
      g->nodes_ = g->kernel_nodes_;
#endif
    }
  } catch (...) {
    close_capture_state();
    throw;
  }
  close_capture_state();
  return g;
}

void abort_capture(Device d) {
  CaptureState& cs = capture_state();
  if (!cs.open) return;
  if (emulated()) {
    if (emu::capturing()) emu::end_capture();
  } else {
#ifdef DUEL_HAVE_CUDA
    kernels::cuda::abort_capture(d.index);
#endif
  }
  close_capture_state();
}

bool capturing() { return capture_state().open; }

// ---- pinned memory, asynchronous copies back, events

void* pinned_allocate(size_t bytes, Device d) {
  void* p = nullptr;
  if (emulated() || !d.is_cuda()) {
    p = cpu_allocate(bytes);
  } else {
#ifdef DUEL_HAVE_CUDA
    p = rethrow("pinned memory", [&] { return kernels::cuda::pinned_allocate(bytes); });
#else
    p = cpu_allocate(bytes);
#endif
  }
  pinned_blocks()[static_cast<const char*>(p)] = bytes;
  return p;
}

void pinned_release(void* p, Device d) {
  if (!p) return;
  auto& m = pinned_blocks();
  auto it = m.find(static_cast<const char*>(p));
  const size_t bytes = it == m.end() ? 0 : it->second;
  if (it != m.end()) m.erase(it);
  if (emulated() || !d.is_cuda()) return cpu_release(p, bytes);
#ifdef DUEL_HAVE_CUDA
  kernels::cuda::pinned_release(p);
#endif
}

void copy_to_host_async(void* pinned_dst, const void* src, size_t bytes, Device d) {
  if (bytes == 0) return;
  DUEL_CHECK(!capture_state().open, "CUDA graph capture: copy_to_host_async inside the captured step");
  if (emulated() || !d.is_cuda()) {
    std::memmove(pinned_dst, src, bytes);
    return;
  }
#ifdef DUEL_HAVE_CUDA
  rethrow("copy", [&] { kernels::cuda::copy_to_host_async(pinned_dst, src, bytes, d.index); });
#endif
}

Event::Event(Device d) : device_(d) {
#ifdef DUEL_HAVE_CUDA
  if (d.is_cuda() && !emulated()) event_ = rethrow("event", [&] { return kernels::cuda::event_create(d.index); });
#endif
}

Event::~Event() {
#ifdef DUEL_HAVE_CUDA
  if (event_) kernels::cuda::event_release(event_);
#endif
}

void Event::record() {
#ifdef DUEL_HAVE_CUDA
  if (event_) rethrow("event", [&] { kernels::cuda::event_record(event_, device_.index); });
#endif
}

void Event::wait() {
#ifdef DUEL_HAVE_CUDA
  if (event_) rethrow("event", [&] { kernels::cuda::event_wait(event_); });
#endif
}

void* allocate_static(size_t bytes, Device d) {
  if (emulated()) return cpu_allocate(bytes);
#ifdef DUEL_HAVE_CUDA
  return rethrow("graph memory", [&] { return kernels::cuda::device_allocate_static(bytes, d.index); });
#else
  fail("graph memory: no CUDA backend");
#endif
}

void release_static(void* p, size_t bytes, Device d) {
  if (!p) return;
  if (emulated()) return cpu_release(p, bytes);
#ifdef DUEL_HAVE_CUDA
  kernels::cuda::device_release_static(p, d.index);
#endif
}

#ifdef DUEL_HAVE_CUDA
kernels::cuda::Stream stream(Device d) {
  return rethrow("cuda stream", [&] { return kernels::cuda::compute_stream(d.index); });
}
#endif

void f64_unsupported(const char* op) {
  fail(op, ": the CUDA kernels are float32 only; convert with .to(f32) or run float64 on the cpu");
}

}  // namespace duel::cuda_backend
