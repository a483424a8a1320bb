// Helpers shared by the op implementations in core/ops/*.cpp (not a public header).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "core/ops.h"
#include "kernels/cpu/cpu.h"
#include "kernels/reference/reference.h"

namespace duel::ops_detail {

using kernels::BinaryOp;
using kernels::MaskOp;
using kernels::UnaryOp;

// Calls the reference or the fast CPU kernel `fn`, as cpu_path() says.
#define DUEL_CPU_KERNEL(fn, ...)                          \
  do {                                                    \
    if (::duel::cpu_path() == ::duel::CpuPath::reference) \
      ::duel::kernels::reference::fn(__VA_ARGS__);        \
    else                                                  \
      ::duel::kernels::cpu::fn(__VA_ARGS__);              \
  } while (0)

// `name` of `op` must be a defined floating-point tensor.
inline void check_floating(const char* op, const char* name, const Tensor& t) {
  DUEL_CHECK(t.defined(), op, ": ", name, " is undefined");
  DUEL_CHECK(is_floating(t.dtype()), op, ": ", name, " must be f32 or f64, got ", describe(t));
}

// Runs kernel `fn` for element type T on the device `dev`: on the CPU the reference or fast
// path (cpu_path()), on CUDA the float32 kernel fn_f32 (T is float there: check_device_supported
// refuses float64 on CUDA before any kernel runs).
#define DUEL_KERNEL(dev, T, fn, ...)                                 \
  do {                                                               \
    if ((dev).is_cuda()) {                                           \
      if constexpr (std::is_same_v<T, float>)                        \
        DUEL_CUDA_CALL(dev, fn##_f32, __VA_ARGS__);                  \
      else                                                           \
        ::duel::cuda_backend::f64_unsupported(#fn);                  \
    } else {                                                         \
      DUEL_CPU_KERNEL(fn, __VA_ARGS__);                              \
    }                                                                \
  } while (0)

// A float32 scratch buffer of at least one element (a kernel's workspace of size n, maybe 0).
inline Tensor workspace_at_least_one(int64_t n, Device d) {
  return empty({n > 0 ? n : 1}, DType::f32, d);
}

// The device the op runs on: the CPU, or a usable CUDA device with a float32 (or int64) tensor.
inline void check_device_supported(const char* op, const Tensor& t) {
  if (t.device().is_cpu()) return;
  cuda_backend::check_usable(t.device());
  DUEL_CHECK(t.dtype() != DType::f64, op, ": ", describe(t), ": the CUDA kernels are float32 "
             "only; convert with .to(f32) or run float64 on the cpu");
}

// A float32 scratch buffer of n elements on device d (for kernels that need a workspace). The
// *_workspace size functions are host arithmetic, identical in the device and emulated builds;
// ops call the kernels::cuda_emu ones, which exist in every build.
inline Tensor workspace(int64_t n, Device d) { return empty({n}, DType::f32, d); }

// Several tensors of one op: same dtype and same device as the first defined one.
inline void check_compatible(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const Tensor* first = nullptr;
  const char* first_name = nullptr;
  for (auto& [name, t] : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      first_name = name;
      continue;
    }
    DUEL_CHECK(t->device() == first->device(), op, ": ", first_name, " is ", describe(*first),
               " but ", name, " is ", describe(*t), ": tensors on different devices (move one "
               "with .to(device))");
    DUEL_CHECK(t->dtype() == first->dtype(), op, ": ", first_name, " is ", describe(*first),
               " but ", name, " is ", describe(*t), ": dtypes differ (convert one with .to(dtype))");
  }
}

// The shape [1, C, 1, ...] that broadcasts a per-channel vector over an [N, C, *] tensor.
inline Shape channel_shape(const Tensor& x) {
  Shape s(size_t(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

// Dimensions 0 and 2.. of an [N, C, *] tensor: the ones batch norm reduces over.
inline std::vector<int64_t> non_channel_dims(const Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}

// The autograd records of relu, leaky_relu and tanh for an output computed elsewhere (a fused
// convolution epilogue); core/ops/elementwise.cpp.
Tensor record_relu(const Tensor& x, Tensor out);
Tensor record_leaky_relu(const Tensor& x, Tensor out, double slope);
Tensor record_tanh(const Tensor& x, Tensor out);

}  // namespace duel::ops_detail
