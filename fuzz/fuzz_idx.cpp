// IDX (MNIST format) files, raw or gzip: the header, the sizes and the data (gan/idx.h), and the
// conversion to tensors.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "fuzz/memory_file.h"
#include "gan/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = duel::fuzz::memory_file(data, size);
  try {
    const duel::gan::IdxArray a = duel::gan::read_idx(path);
    if (a.dims.size() == 3) (void)duel::gan::idx_images_to_tensor(a, path);
    if (a.dims.size() == 1) (void)duel::gan::idx_labels_to_tensor(a, path);
  } catch (const duel::Error&) {
  }
  return 0;
}
