// Strict safetensors reader and atomic writer. See safetensors.h for the format.
//
// The checks follow the reference implementation (huggingface/safetensors, safetensors/src/
// tensor.rs): header at most 100 MB, header starts with '{', tensors sorted by offsets must
// tile the byte buffer exactly, byte size must equal numel * element size. On top of that we
// reject duplicate keys and unknown fields, which serde would accept or silently resolve.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/atomic_file.h"

namespace duel::safetensors {
namespace {

using json = nlohmann::json;

// The reference implementation's MAX_HEADER_SIZE: bounds what a hostile file can make us parse.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three deep (object > entry > shape array). A little slack keeps the
// messages for slightly-wrong headers precise; the cap stops a header of 100 MB of '[' from
// building a 100-million-deep parser stack.
constexpr int kMaxJsonNesting = 8;
constexpr const char* kSupportedDtypes = "F32, F64, I64";
constexpr std::string_view kMetadataKey = "__metadata__";

// Text from the file (names, JSON snippets, parser messages) may hold control characters or
// invalid UTF-8; escape everything but printable ASCII so an error stays one readable line,
// and cut it short so a megabyte-long name does not become a megabyte-long message.
std::string printable(std::string_view text, size_t max_bytes = 64) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > max_bytes) out += str_cat("... (", text.size(), " bytes)");
  return out;
}

// Not named quoted(): for a std::string argument ADL would pick std::quoted, which escapes nothing.
std::string quoted_text(std::string_view text) { return str_cat('"', printable(text), '"'); }

// A parsed value shown in an error message, e.g. shape [2,-1].
std::string snippet(const json& value) {
  return printable(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += str_cat(i ? "," : "", shape[i]);
  return out + "]";
}

// Bytes per element of a supported dtype. `context` and `name` only serve the error message.
size_t element_size(std::string_view dtype, std::string_view context, std::string_view name) {
  if (dtype == "F32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  // Every other dtype the safetensors spec defines: a file holding one is well-formed, just
  // not something duel can load, and the message should say so rather than call it garbage.
  static constexpr std::string_view kKnownUnsupported[] = {
      "BOOL", "U8",      "I8",      "U16",     "I16", "U32",     "I32",     "U64",  "F16",
      "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64"};
  if (std::find(std::begin(kKnownUnsupported), std::end(kKnownUnsupported), dtype) !=
      std::end(kKnownUnsupported)) {
    fail(context, ": tensor ", quoted_text(name), ": dtype ", dtype,
         " is a safetensors dtype that duel does not support (supported: ", kSupportedDtypes,
         ")");
  }
  fail(context, ": tensor ", quoted_text(name), ": unknown dtype ", quoted_text(dtype),
       " (supported: ", kSupportedDtypes, ")");
}

// numel(shape) * element_size, or false if that overflows 64 bits.
bool checked_byte_size(const std::vector<uint64_t>& dims, uint64_t element_bytes,
                       uint64_t& bytes) {
  uint64_t product = element_bytes;
  for (uint64_t dim : dims) {
    if (__builtin_mul_overflow(product, dim, &product)) return false;
  }
  bytes = product;
  return true;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<uint64_t>(p[i]);
  return value;
}

void append_u64_le(std::vector<std::byte>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
}

// ---- reading -------------------------------------------------------------------------------

// json::parse silently keeps the last of two equal keys, so a file naming a tensor twice would
// load half of itself. This parser callback sees every key as it is read and throws on a
// repeat; it also caps nesting (see kMaxJsonNesting).
class HeaderWatcher {
 public:
  explicit HeaderWatcher(std::string_view source) : source_(source) {}

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_of_open_objects_.emplace_back();
        enter();
        break;
      case json::parse_event_t::array_start:
        enter();
        break;
      case json::parse_event_t::object_end:
        keys_of_open_objects_.pop_back();
        --nesting_;
        break;
      case json::parse_event_t::array_end:
        --nesting_;
        break;
      case json::parse_event_t::key:
        check_key(parsed.get_ref<const std::string&>());
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;  // keep every value; validation happens on the finished tree
  }

 private:
  void enter() {
    if (++nesting_ > kMaxJsonNesting) {
      fail(source_, ": header nests JSON more than ", kMaxJsonNesting,
           " levels deep; a safetensors header needs three");
    }
  }

  void check_key(const std::string& key) {
    if (nesting_ == 1) entry_name_ = key;
    if (keys_of_open_objects_.back().insert(key).second) return;
    if (nesting_ == 1) {
      if (key == kMetadataKey) fail(source_, ": header has two \"__metadata__\" entries");
      fail(source_, ": duplicate tensor name ", quoted_text(key), " in the header");
    }
    if (entry_name_ == kMetadataKey) {
      fail(source_, ": duplicate metadata key ", quoted_text(key));
    }
    // Deeper than an entry's own fields nothing is valid anyway; still say where it is.
    fail(source_, ": tensor ", quoted_text(entry_name_), ": duplicate ",
         nesting_ == 2 ? "field " : "key ", quoted_text(key));
  }

  std::string_view source_;
  int nesting_ = 0;
  std::string entry_name_;  // the top-level key whose value is being read
  std::vector<std::set<std::string>> keys_of_open_objects_;
};

json parse_header_json(std::string_view header, std::string_view source) {
  // The reference rejects a header not starting with '{' (no BOM, no leading whitespace).
  if (header.empty()) fail(source, ": header is empty; expected a JSON object");
  if (header.front() != '{') {
    fail(source, ": header is not a JSON object (it starts with ", quoted_text(header.substr(0, 1)),
         ", not '{')");
  }
  HeaderWatcher watcher(source);
  try {
    return json::parse(header.begin(), header.end(), std::ref(watcher));
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 7: ...";
    // the bracketed id helps nobody reading a CLI error.
    std::string_view what = e.what();
    if (auto close = what.find("] "); what.starts_with('[') && close != what.npos) {
      what.remove_prefix(close + 2);
    }
    fail(source, ": header is not valid JSON: ", printable(what, 200));
  }
}

// A JSON integer >= 0; nlohmann stores those as unsigned, except "-0".
bool as_non_negative_integer(const json& value, uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

// One header entry, validated on its own; the layout checks need all of them.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Entry validated_entry(const std::string& name, const json& value, uint64_t buffer_bytes,
                      std::string_view source) {
  const auto where = [&] { return str_cat(source, ": tensor ", quoted_text(name)); };
  if (!value.is_object()) {
    fail(where(), ": entry must be a JSON object with dtype, shape and data_offsets, got ",
         value.type_name(), " ", snippet(value));
  }
  for (const auto& [field, unused] : value.items()) {
    if (field != "dtype" && field != "shape" && field != "data_offsets") {
      fail(where(), ": unexpected field ", quoted_text(field),
           " (an entry has exactly dtype, shape and data_offsets)");
    }
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) fail(where(), ": missing field \"", field, "\"");
  }

  Entry entry;
  entry.name = name;
  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) fail(where(), ": dtype must be a string, got ", snippet(dtype));
  entry.dtype = dtype.get<std::string>();

  const json& shape = value.at("shape");
  std::vector<uint64_t> dims;
  bool shape_ok = shape.is_array();
  for (size_t i = 0; shape_ok && i < shape.size(); ++i) {
    uint64_t dim = 0;
    shape_ok = as_non_negative_integer(shape[i], dim) &&
               dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    dims.push_back(dim);
  }
  if (!shape_ok) {
    fail(where(), ": shape must be an array of non-negative integers, got ", snippet(shape));
  }
  entry.shape.assign(dims.begin(), dims.end());

  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 ||
      !as_non_negative_integer(offsets[0], entry.begin) ||
      !as_non_negative_integer(offsets[1], entry.end)) {
    fail(where(), ": data_offsets must be an array of two non-negative integers, got ",
         snippet(offsets));
  }
  if (entry.begin > entry.end) {
    fail(where(), ": data_offsets [", entry.begin, ",", entry.end, "] end before they begin");
  }

  const size_t element_bytes = element_size(entry.dtype, source, name);
  if (entry.end > buffer_bytes) {
    fail(where(), ": data_offsets [", entry.begin, ",", entry.end,
         "] out of range: the data buffer has ", buffer_bytes, " bytes");
  }
  uint64_t expected_bytes = 0;
  if (!checked_byte_size(dims, element_bytes, expected_bytes)) {
    fail(where(), ": shape ", shape_str(entry.shape), " of ", entry.dtype,
         " has a byte size that overflows 64 bits");
  }
  if (expected_bytes != entry.end - entry.begin) {
    fail(where(), ": data_offsets [", entry.begin, ",", entry.end, "] hold ",
         entry.end - entry.begin, " bytes but shape ", shape_str(entry.shape), " of ",
         entry.dtype, " needs ", expected_bytes);
  }
  return entry;
}

std::map<std::string, std::string> validated_metadata(const json& value,
                                                      std::string_view source) {
  if (!value.is_object()) {
    fail(source, ": \"__metadata__\" must be an object of string to string, got ",
         value.type_name());
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail(source, ": \"__metadata__\" must map strings to strings, but ", quoted_text(key),
           " maps to ", item.type_name(), " ", snippet(item));
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// Sorted by offsets, the tensors must tile [0, buffer_bytes): no overlap, no gap, no tail.
// Ties (several empty tensors at one offset, or one before a non-empty one) sort by end so a
// valid layout always passes, then by name so the order is deterministic.
void check_layout(std::vector<Entry>& entries, uint64_t buffer_bytes, std::string_view source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t covered = 0;  // end of the previous tensor
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered) {
      fail(source, ": tensors ", quoted_text(previous->name), " [", previous->begin, ",",
           previous->end, ") and ", quoted_text(e.name), " [", e.begin, ",", e.end,
           ") overlap in the data buffer");
    }
    if (e.begin > covered) {
      fail(source, ": gap in the data buffer: bytes [", covered, ",", e.begin,
           ") belong to no tensor (before ", quoted_text(e.name), ")");
    }
    covered = e.end;
    previous = &e;
  }
  if (covered != buffer_bytes) {
    fail(source, ": the data buffer has ", buffer_bytes, " bytes but the tensors cover only ",
         covered, "; ", buffer_bytes - covered, " trailing bytes belong to no tensor");
  }
}

// ---- writing -------------------------------------------------------------------------------

// A JSON string literal. nlohmann refuses invalid UTF-8, which a safetensors header must be.
std::string json_string(const std::string& text, std::string_view context, std::string_view what) {
  try {
    return json(text).dump();
  } catch (const json::exception&) {
    fail(context, ": ", what, " ", quoted_text(text), " is not valid UTF-8");
  }
}

// serialize() and write_file_atomic() differ only in what starts their error messages.
std::vector<std::byte> serialize_with_context(const Contents& c, std::string_view context) {
  std::string header = "{";
  if (!c.metadata.empty()) {
    header += "\"__metadata__\":{";
    const char* separator = "";
    for (const auto& [key, value] : c.metadata) {
      header += str_cat(separator, json_string(key, context, "metadata key"), ":",
                        json_string(value, context, "metadata value"));
      separator = ",";
    }
    header += "}";
  }

  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const TensorRecord& t : c.tensors) {
    const auto where = [&] { return str_cat(context, ": tensor ", quoted_text(t.name)); };
    if (t.name == kMetadataKey) fail(where(), ": the name is reserved for the metadata");
    if (!names.insert(t.name).second) fail(where(), ": duplicate tensor name");
    const size_t element_bytes = element_size(t.dtype, context, t.name);
    std::vector<uint64_t> dims;
    for (int64_t dim : t.shape) {
      if (dim < 0) fail(where(), ": negative dimension in shape ", shape_str(t.shape));
      dims.push_back(static_cast<uint64_t>(dim));
    }
    uint64_t expected_bytes = 0;
    if (!checked_byte_size(dims, element_bytes, expected_bytes)) {
      fail(where(), ": shape ", shape_str(t.shape), " of ", t.dtype,
           " has a byte size that overflows 64 bits");
    }
    if (t.data.size() != expected_bytes) {
      fail(where(), ": data has ", t.data.size(), " bytes but shape ", shape_str(t.shape),
           " of ", t.dtype, " needs ", expected_bytes);
    }
    // Field order and compact spacing as the reference writer (serde_json) emits them.
    header += str_cat(header.size() > 1 ? "," : "", json_string(t.name, context, "tensor name"),
                      ":{\"dtype\":\"", t.dtype, "\",\"shape\":", shape_str(t.shape),
                      ",\"data_offsets\":[", offset, ",", offset + expected_bytes, "]}");
    offset += expected_bytes;
  }
  header += "}";
  if (header.size() > kMaxHeaderBytes) {
    fail(context, ": header of ", header.size(), " bytes is over the ", kMaxHeaderBytes,
         "-byte limit readers enforce; use fewer or shorter names and metadata");
  }
  // Padding keeps the byte buffer 8-byte aligned in the file, as the reference writer does.
  header.append((8 - header.size() % 8) % 8, ' ');

  std::vector<std::byte> out;
  out.reserve(8 + header.size() + offset);
  append_u64_le(out, header.size());
  for (char ch : header) out.push_back(static_cast<std::byte>(ch));
  for (const TensorRecord& t : c.tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

std::string errno_text(int error) { return std::generic_category().message(error); }

}  // namespace

// ---- public API ----------------------------------------------------------------------------

const TensorRecord* Contents::find(std::string_view name) const {
  for (const TensorRecord& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Contents parse(std::span<const std::byte> bytes, std::string_view source) {
  if (bytes.size() < 8) {
    fail(source, ": file is ", bytes.size(),
         " bytes, too short for safetensors (the header length alone takes 8)");
  }
  const uint64_t header_bytes = read_u64_le(bytes.data());
  if (header_bytes > kMaxHeaderBytes) {
    fail(source, ": header length ", header_bytes, " is over the limit of ", kMaxHeaderBytes,
         " bytes (corrupt or not a safetensors file)");
  }
  if (header_bytes > bytes.size() - 8) {
    fail(source, ": header length ", header_bytes, " runs past the end of the file (",
         bytes.size() - 8, " bytes follow the length; truncated or not a safetensors file)");
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), header_bytes);
  const std::span<const std::byte> buffer = bytes.subspan(8 + header_bytes);

  const json root = parse_header_json(header, source);
  Contents contents;
  std::vector<Entry> entries;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey) {
      contents.metadata = validated_metadata(value, source);
    } else {
      entries.push_back(validated_entry(key, value, buffer.size(), source));
    }
  }
  check_layout(entries, buffer.size(), source);

  contents.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    const auto data = buffer.subspan(e.begin, e.end - e.begin);
    contents.tensors.push_back(TensorRecord{std::move(e.name), std::move(e.dtype),
                                            std::move(e.shape), {data.begin(), data.end()}});
  }
  return contents;
}

Contents read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", errno_text(errno));
  std::vector<std::byte> bytes;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && info.st_size > 0) bytes.reserve(static_cast<size_t>(info.st_size));
  std::byte chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      fail(path, ": cannot read: ", errno_text(error));
    }
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
  ::close(fd);
  return parse(bytes, path);
}

std::vector<std::byte> serialize(const Contents& c) {
  return serialize_with_context(c, "safetensors writer");
}

void write_file_atomic(const std::string& path, const Contents& c) {
  // Validate and build everything before touching the disk.
  const std::vector<std::byte> bytes = serialize_with_context(c, path);
  duel::write_file_atomic(path, bytes);
}

}  // namespace duel::safetensors
