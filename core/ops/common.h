// Helpers shared by the op implementations in core/ops/*.cpp (not a public header).
#pragma once

#include "core/autograd.h"
#include "core/config.h"
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

// The device the op runs on. This build has kernels for the CPU only; CUDA ones come with the
// CUDA backend, and until then a CUDA tensor gets this error rather than a wrong answer.
inline void check_device_supported(const char* op, const Tensor& t) {
  DUEL_CHECK(t.device().is_cpu(), op, ": no kernel for ", t.device().str(),
             " in this build (CPU only so far); move the tensors with .to(cpu)");
}

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

}  // namespace duel::ops_detail
