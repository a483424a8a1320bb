#include "core/device.h"

#include <charconv>
#include <system_error>

#include "core/dtype.h"
#include "core/error.h"
#ifdef DUEL_HAVE_CUDA
#include "kernels/cuda/cuda_api.h"
#endif

namespace duel {

Device parse_device(std::string_view s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.substr(0, 5) == "cuda:") {
    int index = -1;
    const auto digits = s.substr(5);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && index >= 0)
      return Device::cuda(index);
  }
  fail("unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

bool cuda_built() {
#ifdef DUEL_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef DUEL_HAVE_CUDA
  return kernels::cuda::device_count();
#else
  return 0;
#endif
}

DType parse_dtype(std::string_view name) {
  if (name == "f32" || name == "float32" || name == "F32") return DType::f32;
  if (name == "f64" || name == "float64" || name == "F64") return DType::f64;
  if (name == "i64" || name == "int64" || name == "I64") return DType::i64;
  fail("unknown dtype '", name, "' (expected f32, f64 or i64)");
}

}  // namespace duel
