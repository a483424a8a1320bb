#include "gan/idx.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <system_error>

#include "core/error.h"
#include "core/shape.h"

namespace duel::gan {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kMaxDims = 4;
// A header claiming more is far more likely corrupt than real (MNIST's train images: 47 MB).
constexpr uint64_t kMaxElements = uint64_t{1} << 31;
// The data arrives in pieces of this size, so a header that claims more than the file holds
// costs no more memory than the file does before the truncation is found.
constexpr size_t kChunkBytes = size_t{1} << 20;

std::string_view idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return "unknown type";
  }
}

std::string hex_bytes(const uint8_t* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0xf];
  }
  return out;
}

uint32_t read_u32_be(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// A file read through zlib, which inflates gzip and passes anything else through unchanged, so
// one reader serves both the downloaded .gz files and unpacked ones. Closed on every path.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    // open(2) rather than gzopen, so a missing file is reported with its errno.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, ": cannot open: ", std::generic_category().message(errno));
    file_ = gzdopen(fd, "rb");
    if (file_ == nullptr) {
      ::close(fd);
      fail(path, ": cannot open: out of memory for the zlib reader");
    }
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to `len` bytes (at most kChunkBytes); fewer only at the end of the data.
  size_t read(uint8_t* out, size_t len) {
    const int got = gzread(file_, out, static_cast<unsigned>(len));
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    // zlib reports a gzip stream that stops before its end as a short read plus Z_BUF_ERROR,
    // not as an error, so it has to be asked.
    if (code == Z_BUF_ERROR) {
      fail(path_, ": gzip stream ends early (", zlib_text(message), "); truncated download?");
    }
    if (got < 0 || code != Z_OK) {
      fail(path_,
           code == Z_ERRNO        ? ": cannot read: "
           : code == Z_DATA_ERROR ? ": corrupt gzip data: "
                                  : ": zlib error: ",
           zlib_text(message));
    }
    return static_cast<size_t>(got);
  }

 private:
  // gzerror's text starts with "<fd:N>: " for a gzdopen'ed file; our messages name the path.
  static std::string_view zlib_text(std::string_view message) {
    if (message.starts_with("<fd:")) {
      const size_t colon = message.find(": ");
      if (colon != std::string_view::npos) message.remove_prefix(colon + 2);
    }
    return message;
  }

  std::string path_;
  gzFile file_ = nullptr;
};

void check_data_size(const IdxArray& a, const std::string& source) {
  const bool sizes_ok = std::all_of(a.dims.begin(), a.dims.end(), [](int64_t d) { return d >= 0; });
  if (!sizes_ok || uint64_t(shape_numel(a.dims)) != a.data.size()) {
    fail(source, ": IDX array of shape ", shape_str(a.dims), " holds ", a.data.size(),
         " bytes of data, which does not match");
  }
}

}  // namespace

namespace {

// The magic bytes and sizes, checked as read_idx promises; leaves `in` at the first data byte.
std::vector<int64_t> read_header(GzReader& in, const std::string& path, uint64_t* count_out) {
  uint8_t magic[4];
  const size_t magic_got = in.read(magic, sizeof magic);
  if (magic_got < sizeof magic) {
    fail(path, ": file ends after ", magic_got,
         " bytes, inside the 4 magic bytes (empty or not an IDX file)");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    fail(path, ": not an IDX file: starts with ", hex_bytes(magic, 4),
         ", expected 00 00 08 <ndim> (after gunzip, if compressed)");
  }
  if (magic[2] != kUnsignedByte) {
    fail(path, ": IDX element type 0x", hex_bytes(magic + 2, 1), " (", idx_type_name(magic[2]),
         ") is not supported; only 0x08 (unsigned byte)");
  }
  const int ndim = magic[3];
  if (ndim == 0 || ndim > kMaxDims) {
    fail(path, ": IDX header declares ", ndim, " dimensions; expected 1 to ", kMaxDims);
  }

  uint8_t size_bytes[4 * kMaxDims];
  const size_t header_rest = 4 * size_t(ndim);
  const size_t sizes_got = in.read(size_bytes, header_rest);
  if (sizes_got < header_rest) {
    fail(path, ": file ends inside the IDX header (", 4 + sizes_got, " of ", 4 + header_rest,
         " bytes)");
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < ndim; ++d) dims.push_back(read_u32_be(size_bytes + 4 * d));
  uint64_t count = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 0) fail(path, ": IDX dimension ", d, " of ", shape_str(dims), " is 0");
    // Each size is below 2^32 and count stays at most 2^31, so this cannot overflow.
    count *= uint64_t(dims[d]);
    if (count > kMaxElements) {
      fail(path, ": IDX sizes ", shape_str(dims),
           " hold more than 2^31 elements (corrupt header?)");
    }
  }
  *count_out = count;
  return dims;
}

}  // namespace

std::vector<int64_t> read_idx_dims(const std::string& path) {
  GzReader in(path);
  uint64_t count = 0;
  return read_header(in, path, &count);
}

IdxArray read_idx(const std::string& path) {
  GzReader in(path);
  IdxArray a;
  uint64_t count = 0;
  a.dims = read_header(in, path, &count);

  while (a.data.size() < count) {
    const size_t before = a.data.size();
    const size_t want = std::min<size_t>(count - before, kChunkBytes);
    a.data.resize(before + want);
    const size_t got = in.read(a.data.data() + before, want);
    if (got < want) {
      fail(path, ": truncated: IDX sizes ", shape_str(a.dims), " need ", count,
           " data bytes, the file holds ", before + got);
    }
  }
  // One more read both finds extra bytes and makes zlib check the gzip trailer (CRC, length).
  uint8_t extra;
  if (in.read(&extra, 1) != 0) {
    fail(path, ": more bytes follow the ", count, " data bytes that IDX sizes ",
         shape_str(a.dims), " declare");
  }
  return a;
}

Tensor idx_images_to_tensor(const IdxArray& a, const std::string& source) {
  DUEL_CHECK(a.dims.size() == 3, source, ": expected IDX images of shape [N, rows, cols], got ",
             shape_str(a.dims));
  check_data_size(a, source);
  Tensor images = empty({a.dims[0], 1, a.dims[1], a.dims[2]}, DType::f32);
  float* out = images.data<float>();
  for (size_t i = 0; i < a.data.size(); ++i) out[i] = float(a.data[i]) / 127.5f - 1.0f;
  return images;
}

Tensor idx_labels_to_tensor(const IdxArray& a, const std::string& source) {
  DUEL_CHECK(a.dims.size() == 1, source, ": expected IDX labels of shape [N], got ",
             shape_str(a.dims));
  check_data_size(a, source);
  Tensor labels = empty({a.dims[0]}, DType::i64);
  int64_t* out = labels.data<int64_t>();
  for (size_t i = 0; i < a.data.size(); ++i) out[i] = a.data[i];
  return labels;
}

}  // namespace duel::gan
