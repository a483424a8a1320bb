// safetensors: the strict parser of a checkpoint's tensors (nn/safetensors.h). Anything may be
// refused with duel::Error; nothing may crash, hang or touch memory it does not own.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto c = duel::safetensors::parse({reinterpret_cast<const std::byte*>(data), size}, "fuzz input");
    // What parses must serialise and parse back to the same tensors.
    const auto again = duel::safetensors::parse(duel::safetensors::serialize(c), "round trip");
    if (again.tensors.size() != c.tensors.size()) __builtin_trap();
  } catch (const duel::Error&) {
  }
  return 0;
}
