// The safetensors file format, read strictly and written atomically. Knows nothing about
// duel::Tensor: a file is a list of named byte blobs with a dtype and a shape.
//
// Layout: 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON
//   {"__metadata__": {str: str},            (optional)
//    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the byte buffer; offsets are relative to the start of that buffer.
//
// The reader rejects anything the reference implementation would reject (and a little more:
// duplicate names, unknown fields), throwing duel::Error with one line that starts with the
// source (usually the file name) and says what is wrong. It never reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace duel::safetensors {

struct TensorRecord {
  std::string name;
  std::string dtype;            // safetensors spelling: "F32", "F64", "I64"
  std::vector<int64_t> shape;   // empty = scalar (one element)
  std::vector<std::byte> data;  // little-endian raw bytes, size = numel * element size
};

struct Contents {
  std::vector<TensorRecord> tensors;            // in the order of their data offsets
  std::map<std::string, std::string> metadata;  // "__metadata__" (string to string)
  const TensorRecord* find(std::string_view name) const;  // nullptr if absent
};

// Parses a whole file's bytes. `source` (usually the file name) starts every error message.
Contents parse(std::span<const std::byte> bytes, std::string_view source);

// Reads and parses `path`; errors name the path.
Contents read_file(const std::string& path);

// The file's bytes: header padded with spaces to a multiple of 8 (as the reference library
// does), then the tensors' data in the order given, contiguously. Throws duel::Error for
// duplicate names, the reserved name "__metadata__", an unsupported dtype, a negative dimension
// or data whose size does not match the shape.
std::vector<std::byte> serialize(const Contents& c);

// Writes to a temporary file in the same directory, fsyncs it, renames it over `path`
// (and fsyncs the directory), so a crash leaves either the old file or the new one.
void write_file_atomic(const std::string& path, const Contents& c);

}  // namespace duel::safetensors
