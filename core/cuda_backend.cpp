#include "core/cuda_backend.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string_view>

#include "core/cpu_allocator.h"
#include "core/error.h"

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

void* allocate(size_t bytes, Device d) {
  check_usable(d);
  if (emulated()) return cpu_allocate(bytes);
#ifdef DUEL_HAVE_CUDA
  return rethrow("cuda storage", [&] { return kernels::cuda::device_allocate(bytes, d.index); });
#else
  fail("cuda storage: no CUDA backend");
#endif
}

void release(void* p, size_t bytes, Device d) {
  if (emulated()) return cpu_release(p, bytes);
#ifdef DUEL_HAVE_CUDA
  kernels::cuda::device_release(p, d.index);
#endif
}

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if ((dst_device.is_cpu() && src_device.is_cpu()) || emulated()) {
    std::memmove(dst, src, bytes);
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
  if (!d.is_cuda() || emulated()) return;
#ifdef DUEL_HAVE_CUDA
  rethrow("synchronize", [&] { kernels::cuda::synchronize(d.index); });
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
