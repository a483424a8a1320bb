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

#include "core/device.h"
#include "kernels/cuda/emu_api.h"
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

void* allocate(size_t bytes, Device d);
void release(void* p, size_t bytes, Device d);
// Copies between any two devices (cpu or cuda). A copy to the host waits for the device.
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Waits until the device has finished all queued work (a no-op when emulated).
void synchronize(Device d);

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
