// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw, read strictly.
//
// Layout: 4 magic bytes 0x00 0x00 <type> <ndim>, then ndim big-endian u32 dimension sizes, then
// the elements row-major. Only type 0x08 (unsigned byte) is read: it is what every MNIST-style
// data set uses. Every error is one line that starts with the file name and says what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace duel::gan {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} or {60000}
  std::vector<uint8_t> data;  // row-major, size = product of dims
};

// Reads an unsigned-byte IDX file, gzip-compressed or raw (zlib reads both). Throws duel::Error
// naming the file when it cannot be opened or read, the magic bytes are wrong, the element type
// is not 0x08, there are 0 or more than 4 dimensions, a dimension is 0 or all of them hold more
// than 2^31 elements, the data is shorter or longer than the header says, or the gzip stream is
// corrupt or truncated. Like gunzip (and zlib), it ignores bytes after the end of a gzip stream
// that do not start another gzip stream.
IdxArray read_idx(const std::string& path);

// Only the header: the sizes, checked as read_idx checks them, without reading the data (so a
// caller can hold them against a memory budget first).
std::vector<int64_t> read_idx_dims(const std::string& path);

// images [N, rows, cols] -> f32 tensor [N, 1, rows, cols] scaled to [-1, 1] (x / 127.5 - 1).
// Throws naming `source` (usually the file name) for any other shape.
Tensor idx_images_to_tensor(const IdxArray& a, const std::string& source);

// labels [N] -> i64 tensor [N]. Throws naming `source` for any other shape.
Tensor idx_labels_to_tensor(const IdxArray& a, const std::string& source);

}  // namespace duel::gan
