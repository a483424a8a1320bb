// Device discovery, memory, copies, the compute stream, and what a graph-captured training step
// needs: launch accounting, stream capture, pinned memory and events.
#include <cstdint>
#include <cuda_runtime.h>

#include <map>
#include <vector>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/cuda_api.h"

namespace duel::kernels::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "unknown CUDA device";
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
         ", " + std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

}  // namespace duel::kernels::cuda

// ---- memory and the compute stream

namespace duel::kernels::cuda {

namespace {

constexpr int kMaxDevices = 16;

void use_device(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

}  // namespace

Stream compute_stream(int device) {
  static cudaStream_t streams[kMaxDevices] = {};
  if (device < 0 || device >= kMaxDevices) throw std::runtime_error("CUDA device index out of range");
  if (!streams[device]) {
    use_device(device);
    check(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking), "cudaStreamCreate");
    // Keep freed blocks in the pool: the steady state of training allocates nothing new.
    cudaMemPool_t pool;
    check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
    uint64_t keep_all = UINT64_MAX;
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
          "cudaMemPoolSetAttribute");
  }
  return streams[device];
}

void* device_allocate(size_t bytes, int device) {
  cudaStream_t s = cudaStream_t(compute_stream(device));
  use_device(device);
  void* p = nullptr;
  check(cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, s), "cudaMallocAsync");
  return p;
}

void device_release(void* p, int device) {
  if (!p) return;
  use_device(device);
  // A failure here (e.g. at process exit after the context is gone) is not worth a throw from a
  // destructor.
  if (cudaFreeAsync(p, cudaStream_t(compute_stream(device))) != cudaSuccess) cudaGetLastError();
}

void copy_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  use_device(device);
  // From pageable host memory the copy is staged by the driver; the call returns once the source
  // may be reused, so the host buffer can go away afterwards.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cudaStream_t(compute_stream(device))),
        "cudaMemcpyAsync (host to device)");
}

void copy_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  use_device(device);
  cudaStream_t s = cudaStream_t(compute_stream(device));
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (device to host)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

void copy_on_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  use_device(device);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cudaStream_t(compute_stream(device))),
        "cudaMemcpyAsync (device to device)");
}

void synchronize(int device) {
  use_device(device);
  check(cudaStreamSynchronize(cudaStream_t(compute_stream(device))), "cudaStreamSynchronize");
}

}  // namespace duel::kernels::cuda

// ---- launch accounting and graph capture

namespace duel::kernels::cuda {

namespace {

int64_t g_kernel_launches = 0;
std::map<const char*, int64_t> g_launches_by_name;  // keyed by the launcher's name literal

// Calls the runtime with this thread's capture mode relaxed: cudaMalloc and cudaFuncSetAttribute
// are "potentially unsafe" during a capture (they are not recorded), which is exactly what a
// graph's own memory and a kernel's attribute should be.
template <class F>
cudaError_t relaxed(F&& f) {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t err = f();
  cudaThreadExchangeStreamCaptureMode(&mode);
  return err;
}

}  // namespace

void count_kernel_launch(const char* name) {
  ++g_kernel_launches;
  ++g_launches_by_name[name];
}
int64_t kernel_launches() { return g_kernel_launches; }
std::map<std::string, int64_t> kernel_launches_by_name() {
  std::map<std::string, int64_t> out;
  for (const auto& [name, n] : g_launches_by_name) out[name] += n;
  return out;
}

void allow_dynamic_shared(const void* kernel, size_t bytes, const char* name) {
  static std::mutex mutex;
  static std::map<const void*, size_t> done;
  std::lock_guard<std::mutex> lock(mutex);
  size_t& have = done[kernel];
  if (have >= bytes) return;
  check(relaxed([&] {
          return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
        }),
        name);
  have = bytes;
}

void* device_allocate_static(size_t bytes, int device) {
  use_device(device);
  void* p = nullptr;
  check(relaxed([&] { return cudaMalloc(&p, bytes == 0 ? 1 : bytes); }), "cudaMalloc (graph memory)");
  return p;
}

void device_release_static(void* p, int device) {
  if (!p) return;
  use_device(device);
  if (cudaFree(p) != cudaSuccess) cudaGetLastError();
}

void begin_capture(int device) {
  use_device(device);
  check(cudaStreamBeginCapture(cudaStream_t(compute_stream(device)), cudaStreamCaptureModeThreadLocal),
        "cudaStreamBeginCapture");
}

void* end_capture(int device, int64_t* kernel_nodes) {
  use_device(device);
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(cudaStream_t(compute_stream(device)), &graph), "cudaStreamEndCapture");
  size_t count = 0;
  cudaError_t err = cudaGraphGetNodes(graph, nullptr, &count);
  int64_t kernels = 0;
  if (err == cudaSuccess && count > 0) {
    std::vector<cudaGraphNode_t> nodes(count);
    err = cudaGraphGetNodes(graph, nodes.data(), &count);
    for (size_t i = 0; err == cudaSuccess && i < count; ++i) {
      cudaGraphNodeType type;
      err = cudaGraphNodeGetType(nodes[i], &type);
      kernels += type == cudaGraphNodeTypeKernel;
    }
  }
  cudaGraphExec_t exec = nullptr;
  if (err == cudaSuccess) err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check(err, "cudaGraphInstantiate");
  if (kernel_nodes) *kernel_nodes = kernels;
  return exec;
}

void abort_capture(int device) {
  use_device(device);
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(cudaStream_t(compute_stream(device)), &graph);  // invalidated: may fail
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void launch_graph(void* exec, int device) {
  use_device(device);
  check(cudaGraphLaunch(cudaGraphExec_t(exec), cudaStream_t(compute_stream(device))), "cudaGraphLaunch");
}

void destroy_graph(void* exec) {
  if (exec) cudaGraphExecDestroy(cudaGraphExec_t(exec));
}

void* pinned_allocate(size_t bytes) {
  void* p = nullptr;
  check(cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocDefault), "cudaHostAlloc");
  return p;
}

void pinned_release(void* p) {
  if (p && cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
}

void copy_to_host_async(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  use_device(device);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cudaStream_t(compute_stream(device))),
        "cudaMemcpyAsync (device to pinned host)");
}

void* event_create(int device) {
  use_device(device);
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  return e;
}

void event_record(void* event, int device) {
  use_device(device);
  check(cudaEventRecord(cudaEvent_t(event), cudaStream_t(compute_stream(device))), "cudaEventRecord");
}

void event_wait(void* event) { check(cudaEventSynchronize(cudaEvent_t(event)), "cudaEventSynchronize"); }

void event_release(void* event) {
  if (event) cudaEventDestroy(cudaEvent_t(event));
}

}  // namespace duel::kernels::cuda

// ---- the host-versus-device RNG check (tests/cuda)

namespace duel::kernels::cuda {

void philox_roundtrip(int64_t n, uint64_t seed, uint64_t offset, double lo, double hi, double mean,
                      double std, float* uniform_f32, float* normal_f32, double* normal_f64) {
  float *du = nullptr, *dn = nullptr;
  double* dd = nullptr;
  check(cudaMalloc(&du, size_t(n) * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&dn, size_t(n) * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&dd, size_t(n) * sizeof(double)), "cudaMalloc");
  random_uniform_f32(du, n, seed, offset, lo, hi, nullptr);
  random_normal_f32(dn, n, seed, offset, mean, std, nullptr);
  random_normal_f64(dd, n, seed, offset, mean, std, nullptr);
  check(cudaMemcpy(uniform_f32, du, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  check(cudaMemcpy(normal_f32, dn, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  check(cudaMemcpy(normal_f64, dd, size_t(n) * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy");
  cudaFree(du);
  cudaFree(dn);
  cudaFree(dd);
}

}  // namespace duel::kernels::cuda
