// Pictures from users: PNG (libpng) and JPEG (libjpeg-turbo) through read_picture, with a small
// pixel budget so that the fuzzer spends its time on the decoders rather than on big pictures.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "fuzz/memory_file.h"
#include "gan/picture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = duel::fuzz::memory_file(data, size);
  duel::gan::PictureLimits limits;
  limits.max_pixels = 1 << 20;
  for (int channels : {1, 3}) {
    try {
      const duel::gan::Picture p = duel::gan::read_picture(path, channels, limits);
      if (p.pixels.size() != size_t(p.width * p.height * p.channels)) __builtin_trap();
    } catch (const duel::Error&) {
    }
  }
  return 0;
}
