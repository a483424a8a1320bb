// gan/idx and gan/image: IDX files written by hand (raw and gzip) and read back, one hand-made
// bad file per rejection the reader promises, truncation/bit-flip sweeps, the real
// Fashion-MNIST files, PNG grids read back with stb_image, and image folders.
#include <cstdint>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "gan/data.h"
#include "gan/folder.h"
#include "gan/idx.h"
#include "gan/image.h"
#include "gan/picture.h"

using namespace duel;
using namespace duel::gan;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// A fresh empty directory under DUEL_TEST_TMP per test (ctest may run tests in parallel),
// removed afterwards.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    static std::atomic<int> count{0};
    path = fs::path(DUEL_TEST_TMP) / str_cat("idx_image_", ::getpid(), "_", count++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

// An IDX file's bytes: magic 00 00 <type> <ndim>, big-endian u32 sizes, then `data`.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes out = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(d >> shift));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes counting_bytes(size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = uint8_t(i * 37 + 11);
  return out;
}

void write_raw(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// The message of the duel::Error that `f` throws; fails the test if it throws none. Every
// message the readers give is one line.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("expected a duel::Error");
  return {};
}

std::string idx_error(const std::string& path) {
  return error_of([&] { read_idx(path); });
}

// A uniform picture of `width` x `height` pixels of one colour (1 or 3 channels).
Bytes uniform_pixels(int width, int height, std::initializer_list<uint8_t> colour) {
  Bytes out;
  for (int i = 0; i < width * height; ++i) out.insert(out.end(), colour);
  return out;
}

struct Loaded {
  int width = 0, height = 0, channels = 0;
  Bytes pixels;
};

Loaded load_png(const std::string& path) {
  Loaded l;
  std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> p(
      stbi_load(path.c_str(), &l.width, &l.height, &l.channels, 0), stbi_image_free);
  INFO(path);
  REQUIRE(p != nullptr);
  l.pixels.assign(p.get(), p.get() + size_t(l.width) * size_t(l.height) * size_t(l.channels));
  return l;
}

float scaled(uint8_t byte) { return float(byte) / 127.5f - 1.0f; }

// Element [n, c, y, x] of an f32 NCHW tensor.
float at(const Tensor& t, int64_t n, int64_t c, int64_t y, int64_t x) {
  return t.data<float>()[((n * t.size(1) + c) * t.size(2) + y) * t.size(3) + x];
}

// Whether every pixel of image n, channel c is `want` within `tolerance` (in [-1, 1] units).
bool plane_is(const Tensor& t, int64_t n, int64_t c, float want, float tolerance = 0) {
  for (int64_t y = 0; y < t.size(2); ++y) {
    for (int64_t x = 0; x < t.size(3); ++x) {
      if (std::abs(at(t, n, c, y, x) - want) > tolerance) return false;
    }
  }
  return true;
}

}  // namespace

// ---- IDX: reading ----------------------------------------------------------------------------

TEST_CASE("read_idx reads raw and gzip IDX files of 1 to 4 dimensions", "[idx]") {
  ScratchDir dir;
  for (const std::vector<uint32_t>& dims :
       std::vector<std::vector<uint32_t>>{{5}, {2, 3}, {2, 3, 4}, {2, 1, 3, 2}}) {
    size_t count = 1;
    for (uint32_t d : dims) count *= d;
    const Bytes data = counting_bytes(count);
    write_raw(dir.file("raw"), idx_bytes(dims, data));
    write_gzip(dir.file("packed.gz"), idx_bytes(dims, data));
    for (const char* name : {"raw", "packed.gz"}) {
      INFO(name << " with " << dims.size() << " dimensions");
      const IdxArray a = read_idx(dir.file(name));
      CHECK(a.dims == std::vector<int64_t>(dims.begin(), dims.end()));
      CHECK(a.data == data);
    }
  }
}

TEST_CASE("read_idx reads sizes as big-endian u32", "[idx]") {
  ScratchDir dir;
  const std::vector<uint32_t> dims = {258, 3};  // 258 = 0x00000102: byte order matters
  const Bytes data = counting_bytes(258 * 3);
  write_raw(dir.file("big.idx"), idx_bytes(dims, data));
  const IdxArray a = read_idx(dir.file("big.idx"));
  CHECK(a.dims == std::vector<int64_t>{258, 3});
  CHECK(a.data == data);
}

TEST_CASE("read_idx reads data larger than one internal chunk", "[idx]") {
  ScratchDir dir;
  const std::vector<uint32_t> dims = {3, 1000, 1000};  // 3 MB, read in 1 MiB pieces
  const Bytes data = counting_bytes(3'000'000);
  write_gzip(dir.file("large.gz"), idx_bytes(dims, data));
  const IdxArray a = read_idx(dir.file("large.gz"));
  CHECK(a.dims == std::vector<int64_t>{3, 1000, 1000});
  CHECK(a.data == data);
}

// ---- IDX: to tensors -------------------------------------------------------------------------

TEST_CASE("idx_images_to_tensor gives f32 [N, 1, rows, cols] in [-1, 1]", "[idx]") {
  const IdxArray a{{2, 2, 3}, {0, 255, 51, 127, 128, 1, 2, 3, 4, 5, 6, 200}};
  const Tensor t = idx_images_to_tensor(a, "images.idx");
  REQUIRE(t.dtype() == DType::f32);
  REQUIRE(t.shape() == Shape{2, 1, 2, 3});
  const std::vector<double> v = t.to_vector();
  for (size_t i = 0; i < a.data.size(); ++i) CHECK(v[i] == double(scaled(a.data[i])));
  CHECK(v[0] == -1.0);
  CHECK(v[1] == 1.0);
  CHECK(at(t, 1, 0, 1, 2) == scaled(200));  // row-major order is kept
}

TEST_CASE("idx_labels_to_tensor gives i64 [N]", "[idx]") {
  const IdxArray a{{5}, {0, 9, 3, 7, 255}};
  const Tensor t = idx_labels_to_tensor(a, "labels.idx");
  REQUIRE(t.dtype() == DType::i64);
  REQUIRE(t.shape() == Shape{5});
  CHECK(t.to_vector() == std::vector<double>{0, 9, 3, 7, 255});
}

TEST_CASE("IDX to tensor rejects the wrong shape, naming the source", "[idx]") {
  const IdxArray labels{{3}, {1, 2, 3}};
  const IdxArray images{{1, 2, 2}, {1, 2, 3, 4}};
  std::string e = error_of([&] { idx_images_to_tensor(labels, "train-labels.gz"); });
  CHECK_THAT(e, Contains("train-labels.gz") && Contains("[N, rows, cols]") && Contains("[3]"));
  e = error_of([&] { idx_labels_to_tensor(images, "train-images.gz"); });
  CHECK_THAT(e, Contains("train-images.gz") && Contains("[N]") && Contains("[1, 2, 2]"));
  const IdxArray short_data{{2, 2, 2}, {1, 2, 3}};
  e = error_of([&] { idx_images_to_tensor(short_data, "made.idx"); });
  CHECK_THAT(e, Contains("made.idx") && Contains("[2, 2, 2]") && Contains("3 bytes"));
  const IdxArray negative{{-2, 1, 1}, {}};
  CHECK_THROWS_AS(idx_images_to_tensor(negative, "made.idx"), Error);
}

// ---- IDX: rejections, one bad file each ------------------------------------------------------

TEST_CASE("read_idx rejects a missing file", "[idx]") {
  ScratchDir dir;
  const std::string path = dir.file("nowhere.gz");
  CHECK_THAT(idx_error(path), Contains(path) && Contains("cannot open") &&
                                  Contains("No such file or directory"));
}

TEST_CASE("read_idx rejects a folder", "[idx]") {
  ScratchDir dir;
  CHECK_THAT(idx_error(dir.path.string()),
             Contains(dir.path.string()) && Contains("cannot read") && Contains("directory"));
}

TEST_CASE("read_idx rejects an empty file", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("empty"), {});
  CHECK_THAT(idx_error(dir.file("empty")), Contains("empty") && Contains("ends after 0 bytes"));
}

TEST_CASE("read_idx rejects bad magic bytes", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("text.idx"), {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK_THAT(idx_error(dir.file("text.idx")),
             Contains("text.idx") && Contains("not an IDX file") && Contains("68 65 6c 6c"));
  // A gzip file whose contents are not IDX: the magic is checked after inflating.
  write_gzip(dir.file("text.gz"), {'h', 'e', 'l', 'l', 'o', '\n'});
  CHECK_THAT(idx_error(dir.file("text.gz")), Contains("not an IDX file"));
}

TEST_CASE("read_idx rejects element types other than unsigned byte", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("floats.idx"), idx_bytes({2}, Bytes(8), 0x0D));
  CHECK_THAT(idx_error(dir.file("floats.idx")),
             Contains("floats.idx") && Contains("0x0d") && Contains("f32") &&
                 Contains("not supported"));
  write_raw(dir.file("odd.idx"), idx_bytes({2}, Bytes(2), 0x42));
  CHECK_THAT(idx_error(dir.file("odd.idx")), Contains("0x42") && Contains("unknown"));
}

TEST_CASE("read_idx rejects 0 dimensions", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("scalar.idx"), idx_bytes({}, {7}));
  CHECK_THAT(idx_error(dir.file("scalar.idx")),
             Contains("scalar.idx") && Contains("0 dimensions") && Contains("1 to 4"));
}

TEST_CASE("read_idx rejects more than 4 dimensions", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("five.idx"), idx_bytes({1, 1, 1, 1, 1}, {7}));
  CHECK_THAT(idx_error(dir.file("five.idx")), Contains("five.idx") && Contains("5 dimensions"));
}

TEST_CASE("read_idx rejects a dimension of size 0", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("hollow.idx"), idx_bytes({3, 0, 2}, {}));
  CHECK_THAT(idx_error(dir.file("hollow.idx")),
             Contains("hollow.idx") && Contains("dimension 1 of [3, 0, 2] is 0"));
}

TEST_CASE("read_idx rejects sizes over 2^31 elements without allocating them", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("huge.idx"), idx_bytes({65536, 65536}, {1, 2, 3}));
  CHECK_THAT(idx_error(dir.file("huge.idx")),
             Contains("huge.idx") && Contains("[65536, 65536]") && Contains("2^31"));
  // Exactly 2^31 passes the size check; the file is then simply too short. The reader grows
  // its buffer as data arrives, so this costs kilobytes, not 2 GiB.
  write_raw(dir.file("claims.idx"), idx_bytes({32768, 65536}, {1, 2, 3}));
  CHECK_THAT(idx_error(dir.file("claims.idx")),
             Contains("truncated") && Contains("2147483648") && Contains("holds 3"));
}

TEST_CASE("read_idx rejects a truncated header", "[idx]") {
  ScratchDir dir;
  Bytes bytes = idx_bytes({2, 3, 4}, {});
  bytes.resize(9);  // magic + one size + one byte of the next
  write_raw(dir.file("cut.idx"), bytes);
  CHECK_THAT(idx_error(dir.file("cut.idx")),
             Contains("cut.idx") && Contains("inside the IDX header") && Contains("9 of 16"));
}

TEST_CASE("read_idx rejects truncated raw data", "[idx]") {
  ScratchDir dir;
  write_raw(dir.file("short.idx"), idx_bytes({2, 3, 4}, counting_bytes(20)));
  CHECK_THAT(idx_error(dir.file("short.idx")),
             Contains("short.idx") && Contains("truncated") && Contains("need 24") &&
                 Contains("holds 20"));
}

TEST_CASE("read_idx rejects a truncated gzip stream", "[idx]") {
  ScratchDir dir;
  write_gzip(dir.file("whole.gz"), idx_bytes({10, 100}, counting_bytes(1000)));
  const Bytes whole = read_raw(dir.file("whole.gz"));
  write_raw(dir.file("half.gz"), Bytes(whole.begin(), whole.begin() + whole.size() / 2));
  CHECK_THAT(idx_error(dir.file("half.gz")),
             Contains("half.gz") && Contains("gzip stream ends early") &&
                 Contains("unexpected end of file"));
  // All data present, only the 8-byte trailer (CRC and length) missing.
  write_raw(dir.file("no_trailer.gz"), Bytes(whole.begin(), whole.end() - 8));
  CHECK_THAT(idx_error(dir.file("no_trailer.gz")),
             Contains("no_trailer.gz") && Contains("gzip stream ends early"));
}

TEST_CASE("read_idx rejects trailing bytes after the data", "[idx]") {
  ScratchDir dir;
  Bytes bytes = idx_bytes({2, 2}, {1, 2, 3, 4});
  bytes.push_back(5);
  write_raw(dir.file("long.idx"), bytes);
  CHECK_THAT(idx_error(dir.file("long.idx")),
             Contains("long.idx") && Contains("more bytes follow the 4 data bytes") &&
                 Contains("[2, 2]"));
  write_gzip(dir.file("long.gz"), bytes);
  CHECK_THAT(idx_error(dir.file("long.gz")), Contains("more bytes follow"));
}

TEST_CASE("read_idx ignores non-gzip bytes after the gzip stream, as gunzip does", "[idx]") {
  ScratchDir dir;
  const Bytes raw = idx_bytes({2, 2}, {1, 2, 3, 4});
  write_gzip(dir.file("tail.gz"), raw);
  Bytes packed = read_raw(dir.file("tail.gz"));
  for (char ch : std::string("garbage")) packed.push_back(uint8_t(ch));
  write_raw(dir.file("tail.gz"), packed);
  CHECK(read_idx(dir.file("tail.gz")).data == Bytes{1, 2, 3, 4});
}

TEST_CASE("read_idx rejects a corrupt gzip stream", "[idx]") {
  ScratchDir dir;
  write_gzip(dir.file("good.gz"), idx_bytes({10, 100}, counting_bytes(1000)));
  const Bytes good = read_raw(dir.file("good.gz"));

  Bytes bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0xff;  // the trailer's CRC-32
  write_raw(dir.file("bad_crc.gz"), bad_crc);
  CHECK_THAT(idx_error(dir.file("bad_crc.gz")),
             Contains("bad_crc.gz") && Contains("corrupt gzip data") &&
                 Contains("incorrect data check"));

  Bytes bad_block = good;
  bad_block[10] = 0x07;  // first deflate block header: final, type 3 (reserved)
  write_raw(dir.file("bad_block.gz"), bad_block);
  CHECK_THAT(idx_error(dir.file("bad_block.gz")),
             Contains("bad_block.gz") && Contains("corrupt gzip data") &&
                 Contains("invalid block type"));
}

TEST_CASE("read_idx throws, never crashes, on every truncation and bit flip of a file", "[idx]") {
  ScratchDir dir;
  const Bytes data = counting_bytes(12);
  const Bytes raw = idx_bytes({3, 2, 2}, data);
  write_gzip(dir.file("good.gz"), raw);
  const Bytes packed = read_raw(dir.file("good.gz"));
  for (const Bytes* good : {&raw, &packed}) {
    const bool gz = good == &packed;
    for (size_t n = 0; n < good->size(); ++n) {
      write_raw(dir.file("cut"), Bytes(good->begin(), good->begin() + n));
      INFO("truncated to " << n << " of " << good->size() << " bytes");
      CHECK_THROWS_AS(read_idx(dir.file("cut")), Error);
    }
    int threw = 0;
    for (size_t i = 0; i < good->size(); ++i) {
      for (uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
        Bytes flipped = *good;
        flipped[i] ^= mask;
        write_raw(dir.file("flipped"), flipped);
        INFO((gz ? "gzip" : "raw") << " file, byte " << i << " ^ " << int(mask));
        std::optional<IdxArray> read;
        try {
          read = read_idx(dir.file("flipped"));
        } catch (const Error&) {
          ++threw;
        }
        if (!gz) {
          // Raw: a flip in the 16 header bytes must be refused; one in the data reads as it is.
          if (i < 16) {
            CHECK_FALSE(read.has_value());
          } else {
            REQUIRE(read.has_value());
            CHECK(read->dims == std::vector<int64_t>{3, 2, 2});
            CHECK(read->data == Bytes(flipped.begin() + 16, flipped.end()));
          }
        } else if ((i >= 4 && i <= 9) || (i == 3 && mask == 0x01)) {
          // gzip's unchecked header fields (time, extra flags, OS; the text flag): still the same data.
          REQUIRE(read.has_value());
          CHECK(read->data == data);
        } else if (read.has_value()) {
          // Anywhere else the CRC-32 guards the data: if it reads at all, it is the original.
          CHECK(read->dims == std::vector<int64_t>{3, 2, 2});
          CHECK(read->data == data);
        }
      }
    }
    CHECK(threw > int(good->size()));  // most flips are refused
  }
}

// ---- IDX: the real data set ------------------------------------------------------------------

TEST_CASE("read_idx reads Fashion-MNIST", "[idx]") {
  const fs::path root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root / "train-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST not installed under " << root << "; skipped");
    return;
  }
  struct Split {
    std::string prefix;
    int64_t n;
  };
  for (const Split& split : {Split{"train", 60000}, Split{"t10k", 10000}}) {
    INFO(split.prefix);
    const std::string images_path = (root / (split.prefix + "-images-idx3-ubyte.gz")).string();
    const std::string labels_path = (root / (split.prefix + "-labels-idx1-ubyte.gz")).string();
    const IdxArray images = read_idx(images_path);
    const IdxArray labels = read_idx(labels_path);
    CHECK(images.dims == std::vector<int64_t>{split.n, 28, 28});
    CHECK(labels.dims == std::vector<int64_t>{split.n});
    CHECK(*std::max_element(images.data.begin(), images.data.end()) == 255);
    CHECK(*std::min_element(images.data.begin(), images.data.end()) == 0);
    // Fashion-MNIST is balanced: every class 0..9 appears n / 10 times.
    std::array<int64_t, 10> per_class{};
    for (uint8_t label : labels.data) {
      REQUIRE(label <= 9);
      ++per_class[label];
    }
    for (int64_t count : per_class) CHECK(count == split.n / 10);

    const Tensor x = idx_images_to_tensor(images, images_path);
    const Tensor y = idx_labels_to_tensor(labels, labels_path);
    CHECK(x.shape() == Shape{split.n, 1, 28, 28});
    CHECK(y.shape() == Shape{split.n});
    const float* px = x.data<float>();
    const auto [lo, hi] = std::minmax_element(px, px + x.numel());
    CHECK(*lo == -1.0f);
    CHECK(*hi == 1.0f);
  }
}

// ---- PNG writing -----------------------------------------------------------------------------

TEST_CASE("write_png writes gray and RGB PNGs that stb_image reads back", "[image]") {
  ScratchDir dir;
  const Bytes gray = {0, 50, 100, 150, 200, 255};  // 3 wide, 2 high
  write_png(dir.file("gray.png"), gray.data(), 3, 2, 1);
  Loaded g = load_png(dir.file("gray.png"));
  CHECK(g.width == 3);
  CHECK(g.height == 2);
  CHECK(g.channels == 1);
  CHECK(g.pixels == gray);

  const Bytes rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3};  // 2 wide, 2 high
  write_png(dir.file("rgb.png"), rgb.data(), 2, 2, 3);
  Loaded c = load_png(dir.file("rgb.png"));
  CHECK(c.width == 2);
  CHECK(c.height == 2);
  CHECK(c.channels == 3);
  CHECK(c.pixels == rgb);
}

TEST_CASE("write_png replaces a file atomically and leaves no temporary file", "[image]") {
  ScratchDir dir;
  const Bytes first = {10, 20}, second = {30, 40};
  write_png(dir.file("out.png"), first.data(), 2, 1, 1);
  write_png(dir.file("out.png"), second.data(), 2, 1, 1);
  CHECK(load_png(dir.file("out.png")).pixels == second);
  CHECK(dir.entries() == std::vector<std::string>{"out.png"});
}

TEST_CASE("write_png rejects bad arguments and unwritable paths, naming the path", "[image]") {
  ScratchDir dir;
  const Bytes pixels(64, 0);
  const std::string path = dir.file("x.png");
  CHECK_THAT(error_of([&] { write_png(path, pixels.data(), 2, 2, 2); }),
             Contains(path) && Contains("channels must be 1 (gray) or 3 (RGB), got 2"));
  CHECK_THAT(error_of([&] { write_png(path, pixels.data(), 0, 2, 1); }),
             Contains(path) && Contains("empty or too large"));
  CHECK_THAT(error_of([&] { write_png(path, pixels.data(), int64_t(1) << 40, 2, 1); }),
             Contains("empty or too large"));
  CHECK_THAT(error_of([&] { write_png(path, nullptr, 2, 2, 1); }), Contains("null"));
  const std::string nowhere = dir.file("missing/x.png");
  CHECK_THAT(error_of([&] { write_png(nowhere, pixels.data(), 2, 2, 1); }),
             Contains(nowhere) && Contains("cannot create temporary file") &&
                 Contains("No such file or directory"));
  CHECK(dir.entries().empty());
}

// ---- Image grids -----------------------------------------------------------------------------

TEST_CASE("save_image_grid lays out a gray grid like torchvision's make_grid", "[image]") {
  ScratchDir dir;
  // 5 images of 2 x 3, 3 per row, padding 2: 3 * (3 + 2) + 2 = 17 wide, 2 * (2 + 2) + 2 = 10
  // high; the sixth cell stays background.
  const int64_t n = 5, h = 2, w = 3, nrow = 3, padding = 2;
  std::vector<double> values(size_t(n * h * w));
  for (size_t i = 0; i < values.size(); ++i) values[i] = -1.0 + double(i) / 14.5;
  values[0] = -3.0;  // clamped to black
  values[1] = 2.5;   // clamped to white
  values[2] = 0.0;   // 127.5 rounds up
  const Tensor images = from_vector(values, {n, 1, h, w});
  save_image_grid(dir.file("grid.png"), images, nrow, padding);

  const Loaded grid = load_png(dir.file("grid.png"));
  REQUIRE(grid.width == 17);
  REQUIRE(grid.height == 10);
  REQUIRE(grid.channels == 1);
  const auto pixel = [&](int y, int x) { return int(grid.pixels[size_t(y * grid.width + x)]); };
  CHECK(pixel(2, 2) == 0);    // image 0 at (0, 0): -3 clamped
  CHECK(pixel(2, 3) == 255);  // image 0 at (0, 1): 2.5 clamped
  CHECK(pixel(2, 4) == 128);  // image 0 at (0, 2): round(127.5)
  // Every pixel: background unless inside a cell, then round((v + 1) * 127.5) of float v.
  const float* v = images.data<float>();
  for (int y = 0; y < grid.height; ++y) {
    for (int x = 0; x < grid.width; ++x) {
      // the cell (row, col) and the position (iy, ix) inside it
      const int64_t row = (y - padding) / (h + padding), iy = (y - padding) % (h + padding);
      const int64_t col = (x - padding) / (w + padding), ix = (x - padding) % (w + padding);
      const int64_t image = row * nrow + col;
      const bool inside = y >= padding && x >= padding && iy < h && ix < w && image < n;
      int want = 0;
      if (inside) {
        const double value = std::clamp(double(v[(image * h + iy) * w + ix]), -1.0, 1.0);
        want = int(std::lround((value + 1.0) * 127.5));
      }
      INFO("pixel y " << y << " x " << x);
      CHECK(pixel(y, x) == want);
    }
  }
}

TEST_CASE("save_image_grid writes RGB from f64 and pads a single image too", "[image]") {
  ScratchDir dir;
  // Two 1 x 1 RGB images, red and blue, nrow larger than N: one row of two cells.
  const Tensor two = from_vector({1, -1, -1, -1, -1, 1}, {2, 3, 1, 1}, DType::f64);
  save_image_grid(dir.file("rgb.png"), two, 8, 1);
  const Loaded rgb = load_png(dir.file("rgb.png"));
  REQUIRE(rgb.width == 2 * (1 + 1) + 1);
  REQUIRE(rgb.height == 1 * (1 + 1) + 1);
  REQUIRE(rgb.channels == 3);
  const auto colour = [&](int y, int x) {
    const size_t at = size_t(y * rgb.width + x) * 3;
    return std::vector<int>{rgb.pixels[at], rgb.pixels[at + 1], rgb.pixels[at + 2]};
  };
  CHECK(colour(1, 1) == std::vector<int>{255, 0, 0});
  CHECK(colour(1, 3) == std::vector<int>{0, 0, 255});
  CHECK(colour(0, 0) == std::vector<int>{0, 0, 0});
  CHECK(colour(1, 2) == std::vector<int>{0, 0, 0});

  save_image_grid(dir.file("one.png"), from_vector({0, 0, 0, 0}, {1, 1, 2, 2}), 4, 3);
  const Loaded one = load_png(dir.file("one.png"));
  CHECK(one.width == 2 + 2 * 3);
  CHECK(one.height == 2 + 2 * 3);

  save_image_grid(dir.file("tight.png"), from_vector({-1, 1, 1, -1}, {4, 1, 1, 1}), 2, 0);
  const Loaded tight = load_png(dir.file("tight.png"));
  CHECK(tight.width == 2);
  CHECK(tight.height == 2);
  CHECK(tight.pixels == Bytes{0, 255, 255, 0});
}

TEST_CASE("save_image_grid draws NaN as black", "[image]") {
  ScratchDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  save_image_grid(dir.file("nan.png"), from_vector({nan, 1.0}, {2, 1, 1, 1}), 2, 0);
  CHECK(load_png(dir.file("nan.png")).pixels == Bytes{0, 255});
}

TEST_CASE("save_image_grid rejects bad input, naming the path", "[image]") {
  ScratchDir dir;
  const std::string path = dir.file("grid.png");
  const Tensor good = zeros({2, 1, 2, 2});
  CHECK_THAT(error_of([&] { save_image_grid(path, zeros({2, 2, 2}), 2); }),
             Contains(path) && Contains("[N, C, H, W]") && Contains("f32[2, 2, 2]"));
  CHECK_THAT(error_of([&] { save_image_grid(path, zeros({2, 2, 2, 2}), 2); }),
             Contains("C = 1 or 3"));
  CHECK_THAT(error_of([&] { save_image_grid(path, zeros({2, 1, 2, 2}, DType::i64), 2); }),
             Contains(path) && Contains("f32 or f64") && Contains("i64[2, 1, 2, 2]"));
  CHECK_THAT(error_of([&] { save_image_grid(path, zeros({0, 1, 2, 2}), 2); }),
             Contains("no pixels"));
  CHECK_THAT(error_of([&] { save_image_grid(path, good, 0); }), Contains("nrow"));
  CHECK_THAT(error_of([&] { save_image_grid(path, good, 2, -1); }), Contains("padding"));
  CHECK_THAT(error_of([&] { save_image_grid(path, good, 2, int64_t(1) << 40); }),
             Contains("too large for a PNG"));
  CHECK_THAT(error_of([&] { save_image_grid(path, Tensor(), 2); }), Contains("undefined"));
  CHECK(dir.entries().empty());
}

// ---- Image folders (gan/folder.h, through read_picture) ---------------------------------------

namespace {

// A folder's pictures as f32 [N, C, S, S] in [-1, 1] (as a batch sees them), with what
// read_folder reported.
struct FolderRead {
  Tensor images;
  FolderData data;
};

FolderRead read_all(const std::string& dir, int64_t channels, int64_t size, int64_t budget = -1) {
  FolderOptions o;
  o.channels = channels;
  o.size = size;
  o.progress = false;
  o.memory_budget = budget;
  FolderRead r;
  r.data = read_folder(dir, o);
  const PictureStore& p = *r.data.pictures;
  r.images = empty({p.count(), channels, size, size}, DType::f32);
  std::vector<uint8_t> bytes(size_t(p.picture_bytes()));
  float* dst = r.images.data<float>();
  for (int64_t i = 0; i < p.count(); ++i) {
    p.read(i, bytes.data());
    for (uint8_t b : bytes) *dst++ = scaled(b);
  }
  return r;
}

}  // namespace

TEST_CASE("read_folder reads PNG and JPEG of any size in name order, skipping what it cannot use",
          "[image]") {
  ScratchDir dir;
  const std::string root = dir.path.string();
  // Uniform pictures, so each must come back uniform whatever the crop and resize do.
  write_png(dir.file("a.PNG"), uniform_pixels(12, 6, {255, 0, 0}).data(), 12, 6, 3);
  write_png(dir.file("b.png"), uniform_pixels(8, 8, {200}).data(), 8, 8, 1);
  REQUIRE(stbi_write_bmp(dir.file("c.bmp").c_str(), 4, 4, 3,
                         uniform_pixels(4, 4, {0, 0, 255}).data()) != 0);
  REQUIRE(stbi_write_jpg(dir.file("d.jpeg").c_str(), 16, 16, 3,
                         uniform_pixels(16, 16, {0, 255, 0}).data(), 100) != 0);
  write_raw(dir.file("notes.txt"), {'h', 'i'});
  fs::create_directories(dir.path / "e.png");  // a folder, not an image

  const FolderRead folder = read_all(root, 3, 4);
  const Tensor& rgb = folder.images;
  CHECK(folder.data.files == 4);
  CHECK(folder.data.skipped == 1);  // the BMP: only PNG and JPEG are decoded
  REQUIRE(folder.data.first_skipped.size() == 1);
  CHECK_THAT(folder.data.first_skipped[0], Contains("c.bmp") && Contains("only PNG and JPEG"));
  DataOptions quiet;
  quiet.progress = false;
  const Dataset d = load_dataset("folder:" + root, true, 3, 4, quiet);
  REQUIRE(d.notes.size() == 1);
  CHECK_THAT(d.notes[0], Contains("skipped 1 of 4") && Contains("c.bmp"));
  REQUIRE(rgb.dtype() == DType::f32);
  REQUIRE(rgb.shape() == Shape{3, 3, 4, 4});
  const float* p = rgb.data<float>();
  CHECK(std::all_of(p, p + rgb.numel(), [](float v) { return v >= -1.0f && v <= 1.0f; }));
  // a: red (cropped 12 x 6 -> 6 x 6, resized to 4 x 4)
  CHECK(plane_is(rgb, 0, 0, 1.0f));
  CHECK(plane_is(rgb, 0, 1, -1.0f));
  CHECK(plane_is(rgb, 0, 2, -1.0f));
  // b: gray 200 becomes RGB (200, 200, 200)
  for (int c = 0; c < 3; ++c) CHECK(plane_is(rgb, 1, c, scaled(200)));
  // d: green, through a lossy codec
  const float jpeg_tolerance = 4 / 127.5f;
  CHECK(plane_is(rgb, 2, 0, -1.0f, jpeg_tolerance));
  CHECK(plane_is(rgb, 2, 1, 1.0f, jpeg_tolerance));
  CHECK(plane_is(rgb, 2, 2, -1.0f, jpeg_tolerance));
}

TEST_CASE("read_folder converts RGB to gray with the BT.601 luma weights", "[image]") {
  ScratchDir dir;
  write_png(dir.file("1_red.png"), uniform_pixels(5, 5, {255, 0, 0}).data(), 5, 5, 3);
  write_png(dir.file("2_green.png"), uniform_pixels(5, 5, {0, 255, 0}).data(), 5, 5, 3);
  write_png(dir.file("3_blue.png"), uniform_pixels(5, 5, {0, 0, 255}).data(), 5, 5, 3);
  write_png(dir.file("4_gray.png"), uniform_pixels(5, 5, {77}).data(), 5, 5, 1);
  const Tensor gray = read_all(dir.path.string(), 1, 5).images;
  REQUIRE(gray.shape() == Shape{4, 1, 5, 5});
  // round(0.299 r + 0.587 g + 0.114 b)
  CHECK(plane_is(gray, 0, 0, scaled(76)));
  CHECK(plane_is(gray, 1, 0, scaled(150)));
  CHECK(plane_is(gray, 2, 0, scaled(29)));
  CHECK(plane_is(gray, 3, 0, scaled(77)));
}

TEST_CASE("read_folder crops the central square before resizing", "[image]") {
  ScratchDir dir;
  // 8 wide x 4 high: two white columns at each side around a black 4 x 4 centre.
  Bytes wide(8 * 4, 0);
  for (int y = 0; y < 4; ++y) {
    for (int x : {0, 1, 6, 7}) wide[size_t(y * 8 + x)] = 255;
  }
  write_png(dir.file("a_wide.png"), wide.data(), 8, 4, 1);
  // 4 wide x 6 high: a white top and bottom row around a black 4 x 4 centre.
  Bytes tall(4 * 6, 0);
  for (int x = 0; x < 4; ++x) tall[size_t(x)] = tall[size_t(5 * 4 + x)] = 255;
  write_png(dir.file("b_tall.png"), tall.data(), 4, 6, 1);

  const Tensor same = read_all(dir.path.string(), 1, 4).images;  // no resize
  CHECK(plane_is(same, 0, 0, -1.0f));
  CHECK(plane_is(same, 1, 0, -1.0f));
  // Resized from the cropped square only: the white border never leaks in.
  const Tensor small = read_all(dir.path.string(), 1, 2).images;
  REQUIRE(small.shape() == Shape{2, 1, 2, 2});
  CHECK(plane_is(small, 0, 0, -1.0f));
  CHECK(plane_is(small, 1, 0, -1.0f));
}

TEST_CASE("read_folder resizes up and down, keeping a left-to-right ramp", "[image]") {
  ScratchDir dir;
  Bytes ramp(16 * 16);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) ramp[size_t(y * 16 + x)] = uint8_t(x * 17);
  }
  write_png(dir.file("ramp.png"), ramp.data(), 16, 16, 1);
  for (int64_t size : {4, 8, 32}) {
    INFO("size " << size);
    const Tensor t = read_all(dir.path.string(), 1, size).images;
    REQUIRE(t.shape() == Shape{1, 1, size, size});
    for (int64_t y = 0; y < size; ++y) {
      for (int64_t x = 0; x + 1 < size; ++x) {
        CHECK(at(t, 0, 0, y, x) <= at(t, 0, 0, y, x + 1));
        CHECK(std::abs(at(t, 0, 0, y, x) - at(t, 0, 0, 0, x)) <= 1 / 127.5f);  // rows alike
      }
    }
    CHECK(at(t, 0, 0, 0, 0) < -0.7f);
    CHECK(at(t, 0, 0, 0, size - 1) > 0.7f);
  }
}

TEST_CASE("read_folder skips and counts files it cannot decode, and names them when none is left",
          "[image]") {
  ScratchDir dir;
  write_png(dir.file("a_good.png"), uniform_pixels(4, 4, {9}).data(), 4, 4, 1);
  write_raw(dir.file("b_bad.png"), {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'});
  // A real PNG cut short.
  write_png(dir.file("big.png"), counting_bytes(64 * 64).data(), 64, 64, 1);
  const Bytes whole = read_raw(dir.file("big.png"));
  fs::remove(dir.path / "big.png");
  write_raw(dir.file("c_cut.png"), Bytes(whole.begin(), whole.begin() + whole.size() / 2));

  const FolderRead f = read_all(dir.path.string(), 1, 4);
  CHECK(f.images.size(0) == 1);
  CHECK(f.data.files == 3);
  CHECK(f.data.skipped == 2);
  REQUIRE(f.data.first_skipped.size() == 2);
  CHECK_THAT(f.data.first_skipped[0], Contains("b_bad.png") && Contains("not a PNG or JPEG file"));
  CHECK_THAT(f.data.first_skipped[1], Contains("c_cut.png") && Contains("PNG"));

  fs::remove(dir.path / "a_good.png");
  CHECK_THAT(error_of([&] { read_all(dir.path.string(), 1, 4); }),
             Contains("none of its 2 picture files could be used") && Contains("b_bad.png"));
}

TEST_CASE("read_folder rejects a missing folder, a file and a folder with no images",
          "[image]") {
  ScratchDir dir;
  const std::string missing = dir.file("missing");
  CHECK_THAT(error_of([&] { read_all(missing, 3, 8); }), Contains(missing) && Contains("not a folder"));
  write_raw(dir.file("file.png"), {1});
  CHECK_THAT(error_of([&] { read_all(dir.file("file.png"), 3, 8); }), Contains("file.png") && Contains("not a folder"));

  fs::create_directories(dir.path / "empty");
  write_raw(dir.file("empty/readme.txt"), {'x'});
  const std::string empty = dir.file("empty");
  CHECK_THAT(error_of([&] { read_all(empty, 3, 8); }), Contains(empty) && Contains("no pictures"));
}

TEST_CASE("read_folder rejects bad channels and sizes, and streams a folder over the memory budget", "[image]") {
  ScratchDir dir;
  write_png(dir.file("a.png"), uniform_pixels(4, 4, {9}).data(), 4, 4, 1);
  const std::string root = dir.path.string();
  CHECK_THAT(error_of([&] { read_all(root, 2, 8); }), Contains(root) && Contains("1 or 3 channels, got 2"));
  CHECK_THAT(error_of([&] { read_all(root, 3, 0); }),
             Contains(root) && Contains("size must be in [1, ") && Contains("got 0"));
  CHECK_THAT(error_of([&] { read_all(root, 1, int64_t(1) << 20); }), Contains("size must be in"));
  // 1 picture of 3 x 64 x 64 bytes is 12 KiB: beyond a budget of 10000 bytes it is streamed.
  const FolderRead streamed = read_all(root, 3, 64, 10000), kept = read_all(root, 3, 64, 20000);
  CHECK(streamed.data.pictures->streaming());
  CHECK_FALSE(kept.data.pictures->streaming());
  CHECK(streamed.images.to_vector() == kept.images.to_vector());
}

// ---- Pictures from untrusted files: regressions of the 2026-11-30 probe ----------------------

namespace {

// A PNG's IHDR with new sizes and a correct CRC, so only the size checks can refuse it.
Bytes png_with_size(Bytes png, uint32_t width, uint32_t height) {
  // signature (8), length (4), "IHDR" (4), width (4), height (4), ...; CRC over type + data (17)
  REQUIRE(std::string(png.begin() + 12, png.begin() + 16) == "IHDR");
  for (int i = 0; i < 4; ++i) {
    png[size_t(16 + i)] = uint8_t(width >> (24 - 8 * i));
    png[size_t(20 + i)] = uint8_t(height >> (24 - 8 * i));
  }
  const uLong crc = crc32(0, png.data() + 12, 17);
  for (int i = 0; i < 4; ++i) png[size_t(29 + i)] = uint8_t(crc >> (24 - 8 * i));
  return png;
}

// A baseline JPEG whose SOF0 marker declares new sizes.
Bytes jpeg_with_size(Bytes jpeg, uint16_t width, uint16_t height) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      jpeg[i + 5] = uint8_t(height >> 8), jpeg[i + 6] = uint8_t(height);
      jpeg[i + 7] = uint8_t(width >> 8), jpeg[i + 8] = uint8_t(width);
      return jpeg;
    }
  }
  FAIL("no SOF marker");
  return jpeg;
}

}  // namespace

TEST_CASE("read_picture refuses declared sizes of 0 and beyond the pixel budget before decoding", "[image][hardening]") {
  ScratchDir dir;
  write_png(dir.file("small.png"), uniform_pixels(8, 8, {1, 2, 3}).data(), 8, 8, 3);
  const Bytes png = read_raw(dir.file("small.png"));
  REQUIRE(stbi_write_jpg(dir.file("small.jpg").c_str(), 8, 8, 3, uniform_pixels(8, 8, {9, 9, 9}).data(), 90) != 0);
  const Bytes jpg = read_raw(dir.file("small.jpg"));
  REQUIRE(jpg.size() < 2000);

  // A 1.7 kB JPEG declaring 16384 x 16384 once trained on garbage; a small PNG the same.
  write_raw(dir.file("huge.jpg"), jpeg_with_size(jpg, 16384, 16384));
  CHECK_THAT(error_of([&] { read_picture(dir.file("huge.jpg"), 3); }),
             Contains("huge.jpg") && Contains("16384 x 16384") && Contains("megapixels"));
  write_raw(dir.file("huge.png"), png_with_size(png, 20000, 20000));
  CHECK_THAT(error_of([&] { read_picture(dir.file("huge.png"), 1); }),
             Contains("huge.png") && Contains("20000 x 20000") && Contains("megapixels"));
  // Height 0 once reached stb_image_resize's assertion (an abort).
  write_raw(dir.file("flat.png"), png_with_size(png, 8, 0));
  CHECK_THAT(error_of([&] { read_picture(dir.file("flat.png"), 3); }), Contains("flat.png"));
  write_raw(dir.file("flat.jpg"), jpeg_with_size(jpg, 8, 0));
  CHECK_THAT(error_of([&] { read_picture(dir.file("flat.jpg"), 3); }), Contains("flat.jpg"));
  // A smaller budget refuses an ordinary picture too.
  PictureLimits tight;
  tight.max_pixels = 63;
  CHECK_THAT(error_of([&] { read_picture(dir.file("small.png"), 3, tight); }), Contains("8 x 8"));
  // And the real ones still read.
  const Picture p = read_picture(dir.file("small.png"), 3);
  CHECK(p.width == 8);
  CHECK(p.height == 8);
  CHECK(p.pixels[0] == 1);
  CHECK(p.pixels[2] == 3);
}

TEST_CASE("read_picture refuses BMP and other formats by content, whatever the name", "[image][hardening]") {
  ScratchDir dir;
  // 58 bytes of BMP header claiming a huge bitmap: once a 915 MB allocation through stb.
  Bytes bmp(58, 0);
  bmp[0] = 'B', bmp[1] = 'M';
  bmp[14] = 40;                                  // BITMAPINFOHEADER
  bmp[18] = 0xFF, bmp[19] = 0xFF, bmp[20] = 0x00;  // width 65535
  bmp[22] = 0xFF, bmp[23] = 0x0F;                // height 4095
  bmp[26] = 1, bmp[28] = 24;
  write_raw(dir.file("picture.png"), bmp);       // named .png, but a BMP inside
  CHECK_THAT(error_of([&] { read_picture(dir.file("picture.png"), 3); }),
             Contains("picture.png") && Contains("bmp") && Contains("only PNG and JPEG"));
  write_raw(dir.file("empty.jpg"), {});
  CHECK_THAT(error_of([&] { read_picture(dir.file("empty.jpg"), 3); }), Contains("empty file"));
}

TEST_CASE("read_picture errors are one printable line, even from corrupt data full of control bytes",
          "[image][hardening]") {
  ScratchDir dir;
  REQUIRE(stbi_write_jpg(dir.file("a.jpg").c_str(), 32, 32, 3, counting_bytes(32 * 32 * 3).data(), 90) != 0);
  Bytes jpg = read_raw(dir.file("a.jpg"));
  // Every truncation and a sweep of byte changes: each must decode or throw a clean Error.
  int errors = 0, decoded = 0;
  for (size_t cut = 0; cut < jpg.size(); cut += 7) {
    write_raw(dir.file("cut.jpg"), Bytes(jpg.begin(), jpg.begin() + cut));
    try {
      read_picture(dir.file("cut.jpg"), 3);
      ++decoded;
    } catch (const Error& e) {
      ++errors;
      const std::string m = e.what();
      CHECK(std::none_of(m.begin(), m.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
    }
  }
  for (size_t i = 2; i < jpg.size(); i += 3) {
    Bytes bad = jpg;
    bad[i] ^= 0xA5;
    write_raw(dir.file("flip.jpg"), bad);
    try {
      const Picture p = read_picture(dir.file("flip.jpg"), 1);
      CHECK(p.pixels.size() == size_t(p.width * p.height));
      ++decoded;
    } catch (const Error& e) {
      ++errors;
      CHECK_THAT(std::string(e.what()), Contains("flip.jpg"));
    }
  }
  CHECK(errors > 0);   // the sweep did reach the error paths
  CHECK(decoded > 0);  // and the decodable ones
}
