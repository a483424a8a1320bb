// Device discovery.
#include <cstdint>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

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
