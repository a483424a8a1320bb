// nn/safetensors: round trips, a byte-exact file, one hand-made corrupt file per rejection the
// reader promises, the writer's refusals, atomic replacement, and a small truncate/flip fuzz.
#include "nn/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace st = duel::safetensors;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSource = "bad.safetensors";

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out;
  for (char ch : text) out.push_back(static_cast<std::byte>(ch));
  return out;
}

template <class T>
std::vector<std::byte> bytes_of_values(std::initializer_list<T> values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

// A file by hand: length field (the header's size unless given), header, then a zero-filled
// byte buffer. No padding, so the tests also cover headers whose size is not a multiple of 8.
std::vector<std::byte> file_with(std::string_view header, size_t buffer_bytes,
                                 std::optional<uint64_t> length_field = std::nullopt) {
  const uint64_t length = length_field.value_or(header.size());
  std::vector<std::byte> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((length >> (8 * i)) & 0xff));
  const auto header_bytes = bytes_of(header);
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  out.resize(out.size() + buffer_bytes);
  return out;
}

// "name":{"dtype":...,"shape":...,"data_offsets":...}, with shape and offsets as JSON text.
std::string entry(std::string_view name, std::string_view dtype, std::string_view shape,
                  std::string_view offsets) {
  return duel::str_cat('"', name, "\":{\"dtype\":\"", dtype, "\",\"shape\":", shape,
                       ",\"data_offsets\":", offsets, "}");
}

st::Contents sample_contents() {
  st::Contents c;
  c.tensors.push_back(
      {"0.weight", "F32", {2, 3}, bytes_of_values<float>({1, -2, 3.5f, 0, 1e-3f, 7})});
  c.tensors.push_back({"0.bias", "F64", {3}, bytes_of_values<double>({0.25, -1e300, 3})});
  c.tensors.push_back({"step", "I64", {}, bytes_of_values<int64_t>({-42})});
  c.tensors.push_back({"empty", "F32", {0, 5}, {}});
  c.tensors.push_back({"1.num_batches_tracked", "I64", {1}, bytes_of_values<int64_t>({INT64_MAX})});
  c.metadata = {{"format", "pt"}, {"note", "naïve \"quoted\"\nline"}};
  return c;
}

void require_same(const st::Contents& got, const st::Contents& want) {
  REQUIRE(got.metadata == want.metadata);
  REQUIRE(got.tensors.size() == want.tensors.size());
  for (const st::TensorRecord& w : want.tensors) {
    const st::TensorRecord* g = got.find(w.name);
    REQUIRE(g != nullptr);
    CHECK(g->dtype == w.dtype);
    CHECK(g->shape == w.shape);
    CHECK(g->data == w.data);
  }
}

// A fresh empty directory per test, removed afterwards.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    static std::atomic<int> count{0};
    path = fs::temp_directory_path() /
           duel::str_cat("duel_test_safetensors_", ::getpid(), "_", count++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace

// Every reader error: thrown as duel::Error, one line, starting with the source, naming the
// problem. (Matchers combine by reference, so this has to stay a macro, in one expression.)
#define REQUIRE_PARSE_FAILS_WITH(bytes, problem)                                              \
  REQUIRE_THROWS_MATCHES(st::parse(bytes, kSource), duel::Error,                              \
                         Catch::Matchers::Predicate<duel::Error>([](const duel::Error& e) {  \
                           const std::string what = e.what();                                 \
                           return what.starts_with(std::string(kSource) + ": ") &&            \
                                  what.find('\n') == std::string::npos;                       \
                         }, "starts with the source and is one line"));                       \
  REQUIRE_THROWS_WITH(st::parse(bytes, kSource), Catch::Contains(problem))

TEST_CASE("safetensors round trip keeps names, dtypes, shapes, bytes and metadata",
          "[safetensors]") {
  const st::Contents original = sample_contents();
  const std::vector<std::byte> bytes = st::serialize(original);
  const st::Contents parsed = st::parse(bytes, "memory");
  require_same(parsed, original);

  SECTION("tensors come back in the order of their offsets, which is the order written") {
    REQUIRE(parsed.tensors.size() == original.tensors.size());
    for (size_t i = 0; i < original.tensors.size(); ++i) {
      CHECK(parsed.tensors[i].name == original.tensors[i].name);
    }
  }
  SECTION("the header is padded to 8 bytes with spaces") {
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, bytes.data(), 8);  // the test host is little-endian
    CHECK(header_bytes % 8 == 0);
    CHECK(bytes[8 + header_bytes - 1] != std::byte{0});
  }
  SECTION("serialize(parse(x)) == x") { CHECK(st::serialize(parsed) == bytes); }
  SECTION("find returns nullptr for a missing name") {
    CHECK(parsed.find("missing") == nullptr);
    REQUIRE(parsed.find("step") != nullptr);
    CHECK(parsed.find("step")->shape.empty());
  }
}

TEST_CASE("safetensors with no tensors and no metadata round-trips", "[safetensors]") {
  const std::vector<std::byte> bytes = st::serialize({});
  CHECK(bytes == file_with("{}      ", 0));
  const st::Contents parsed = st::parse(bytes, "memory");
  CHECK(parsed.tensors.empty());
  CHECK(parsed.metadata.empty());
}

TEST_CASE("safetensors writer output is byte-exact", "[safetensors]") {
  st::Contents c;
  c.metadata = {{"k", "v"}};
  c.tensors.push_back({"a", "F32", {2}, bytes_of_values<float>({1.0f, 2.0f})});
  c.tensors.push_back({"b", "I64", {}, bytes_of_values<int64_t>({-1})});

  // Header: 26 bytes of metadata, 52 for "a", a comma, 52 for "b" and the closing brace make
  // 132; four spaces pad it to 136 = 0x88.
  const std::string header =
      R"({"__metadata__":{"k":"v"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}    )";
  REQUIRE(header.size() == 136);
  std::vector<std::byte> expected = bytes_of(std::string("\x88\0\0\0\0\0\0\0", 8) + header);
  const unsigned char data[] = {
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,  // 1.0f, 2.0f
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // int64 -1
  };
  for (unsigned char b : data) expected.push_back(std::byte{b});

  CHECK(st::serialize(c) == expected);
  require_same(st::parse(expected, "memory"), c);
}

TEST_CASE("safetensors reader accepts what the reference accepts", "[safetensors]") {
  SECTION("unpadded header and entries listed out of offset order") {
    const std::string header = "{" + entry("z", "F32", "[1]", "[0,4]") + "," +
                               entry("a", "F64", "[1]", "[4,12]") + "}";
    const st::Contents c = st::parse(file_with(header, 12), kSource);
    REQUIRE(c.tensors.size() == 2);
    CHECK(c.tensors[0].name == "z");
    CHECK(c.tensors[1].name == "a");
  }
  SECTION("empty tensors sharing an offset with a non-empty one") {
    const std::string header = "{" + entry("full", "F32", "[1]", "[0,4]") + "," +
                               entry("e1", "F32", "[0]", "[0,0]") + "," +
                               entry("e2", "I64", "[3,0]", "[4,4]") + "}";
    const st::Contents c = st::parse(file_with(header, 4), kSource);
    REQUIRE(c.tensors.size() == 3);
    CHECK(c.tensors[0].name == "e1");
    CHECK(c.tensors[1].name == "full");
    CHECK(c.tensors[2].name == "e2");
  }
  SECTION("trailing whitespace after the object") {
    CHECK(st::parse(file_with("{}  \n\t ", 0), kSource).tensors.empty());
  }
}

TEST_CASE("safetensors reader rejects a file too short for the length field", "[safetensors]") {
  REQUIRE_PARSE_FAILS_WITH(std::vector<std::byte>{}, "too short");
  REQUIRE_PARSE_FAILS_WITH(std::vector<std::byte>(7), "file is 7 bytes, too short");
}

TEST_CASE("safetensors reader rejects a header length past the end of the file",
          "[safetensors]") {
  REQUIRE_PARSE_FAILS_WITH(file_with("{}", 0, 3), "header length 3 runs past the end");
  REQUIRE_PARSE_FAILS_WITH(file_with("", 0, 1), "runs past the end");
  // Near 2^64: a check written as 8 + length > size would wrap around and pass.
  REQUIRE_PARSE_FAILS_WITH(file_with("{}", 0, ~uint64_t{0}), "header length");
}

TEST_CASE("safetensors reader rejects a header over 100 MB", "[safetensors]") {
  REQUIRE_PARSE_FAILS_WITH(file_with("{}", 0, 100'000'001), "over the limit of 100000000");
}

TEST_CASE("safetensors reader rejects a header that is not valid JSON", "[safetensors]") {
  SECTION("cut off") { REQUIRE_PARSE_FAILS_WITH(file_with(R"({"a":)", 0), "not valid JSON"); }
  SECTION("trailing garbage") { REQUIRE_PARSE_FAILS_WITH(file_with("{}x", 0), "not valid JSON"); }
  SECTION("invalid UTF-8 in a name") {
    REQUIRE_PARSE_FAILS_WITH(file_with("{\"\xff\":1}", 0), "not valid JSON");
  }
  SECTION("NUL byte") {
    REQUIRE_PARSE_FAILS_WITH(file_with(std::string("{\0}", 3), 0), "not valid JSON");
  }
  SECTION("comments are not JSON") {
    REQUIRE_PARSE_FAILS_WITH(file_with("{/* c */}", 0), "not valid JSON");
  }
}

TEST_CASE("safetensors reader rejects a header that is not a JSON object", "[safetensors]") {
  SECTION("array") { REQUIRE_PARSE_FAILS_WITH(file_with("[1,2]", 0), "not a JSON object"); }
  SECTION("number") { REQUIRE_PARSE_FAILS_WITH(file_with("8", 0), "not a JSON object"); }
  SECTION("empty") { REQUIRE_PARSE_FAILS_WITH(file_with("", 0), "header is empty"); }
  SECTION("leading whitespace, as the reference") {
    REQUIRE_PARSE_FAILS_WITH(file_with(" {}", 0), "not a JSON object");
  }
  SECTION("byte-order mark") {
    REQUIRE_PARSE_FAILS_WITH(file_with("\xef\xbb\xbf{}", 0), "not a JSON object");
  }
}

TEST_CASE("safetensors reader rejects nesting no header needs", "[safetensors]") {
  const std::string header = R"({"a":)" + std::string(100'000, '[');
  REQUIRE_PARSE_FAILS_WITH(file_with(header, 0), "levels deep");
}

TEST_CASE("safetensors reader rejects malformed entries", "[safetensors]") {
  const auto one = [](const std::string& body) { return file_with("{\"t\":" + body + "}", 8); };
  const std::string offsets = R"("data_offsets":[0,8])";
  SECTION("entry not an object") {
    REQUIRE_PARSE_FAILS_WITH(one("[1]"), R"(tensor "t": entry must be a JSON object)");
  }
  SECTION("missing field") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32",)" + offsets + "}"),
                             R"(missing field "shape")");
  }
  SECTION("unexpected field") {
    REQUIRE_PARSE_FAILS_WITH(
        one(R"({"dtype":"F32","shape":[2],)" + offsets + R"(,"extra":1})"),
        R"(unexpected field "extra")");
  }
  SECTION("dtype not a string") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":4,"shape":[2],)" + offsets + "}"),
                             "dtype must be a string");
  }
  SECTION("shape not an array") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":2,)" + offsets + "}"),
                             "shape must be an array of non-negative integers, got 2");
  }
  SECTION("negative dimension") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[-2],)" + offsets + "}"),
                             "shape must be an array of non-negative integers, got [-2]");
  }
  SECTION("fractional dimension") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[2.0],)" + offsets + "}"),
                             "shape must be an array of non-negative integers");
  }
  SECTION("dimension past int64") {
    REQUIRE_PARSE_FAILS_WITH(
        one(R"({"dtype":"F32","shape":[9223372036854775808],)" + offsets + "}"),
        "shape must be an array of non-negative integers");
  }
  SECTION("data_offsets with three numbers") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"),
                             "data_offsets must be an array of two non-negative integers");
  }
  SECTION("negative data_offsets") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
                             "data_offsets must be an array of two non-negative integers");
  }
  SECTION("data_offsets as strings") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[2],"data_offsets":["0","8"]})"),
                             "data_offsets must be an array of two non-negative integers");
  }
  SECTION("data_offsets ending before they begin") {
    REQUIRE_PARSE_FAILS_WITH(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"),
                             "end before they begin");
  }
}

TEST_CASE("safetensors reader rejects metadata that is not string to string",
          "[safetensors]") {
  SECTION("not an object") {
    REQUIRE_PARSE_FAILS_WITH(file_with(R"({"__metadata__":["a"]})", 0),
                             "\"__metadata__\" must be an object of string to string");
  }
  SECTION("a value that is not a string") {
    REQUIRE_PARSE_FAILS_WITH(file_with(R"({"__metadata__":{"epoch":3}})", 0),
                             R"("epoch" maps to number)");
  }
}

TEST_CASE("safetensors reader rejects unknown dtypes", "[safetensors]") {
  const auto with_dtype = [](std::string_view dtype) {
    return file_with("{" + entry("w", dtype, "[2]", "[0,8]") + "}", 8);
  };
  REQUIRE_PARSE_FAILS_WITH(with_dtype("Q7"), R"(unknown dtype "Q7" (supported: F32, F64, I64))");
  REQUIRE_PARSE_FAILS_WITH(with_dtype("f32"), R"(unknown dtype "f32")");
}

TEST_CASE("safetensors reader names real dtypes duel does not support", "[safetensors]") {
  for (std::string_view dtype : {"F16", "BF16", "I32", "U8", "BOOL"}) {
    CAPTURE(dtype);
    // Built with append: GCC 12 misreports "{" + std::string as an overlapping memcpy (-Wrestrict).
    std::string header = "{";
    header += entry("w", dtype, "[2]", "[0,8]");
    header += "}";
    const auto bytes = file_with(header, 8);
    REQUIRE_PARSE_FAILS_WITH(bytes, "duel does not support");
    REQUIRE_PARSE_FAILS_WITH(bytes, "supported: F32, F64, I64");
  }
}

TEST_CASE("safetensors reader rejects offsets past the byte buffer", "[safetensors]") {
  REQUIRE_PARSE_FAILS_WITH(file_with("{" + entry("w", "F32", "[2]", "[0,8]") + "}", 4),
                           "[0,8] out of range: the data buffer has 4 bytes");
  // Both offsets far past the end, and a huge end that would overflow begin + size.
  REQUIRE_PARSE_FAILS_WITH(
      file_with("{" + entry("w", "F32", "[0]", "[18446744073709551615,18446744073709551615]") +
                    "}", 0),
      "out of range");
}

TEST_CASE("safetensors reader rejects a byte size that does not match the shape",
          "[safetensors]") {
  REQUIRE_PARSE_FAILS_WITH(file_with("{" + entry("w", "F32", "[3]", "[0,8]") + "}", 8),
                           "hold 8 bytes but shape [3] of F32 needs 12");
  REQUIRE_PARSE_FAILS_WITH(file_with("{" + entry("w", "I64", "[]", "[0,4]") + "}", 4),
                           "hold 4 bytes but shape [] of I64 needs 8");
  SECTION("shape whose byte size overflows 64 bits") {
    // 2^62 * 4 * 4 bytes wraps to 0, which would match these offsets without the check.
    REQUIRE_PARSE_FAILS_WITH(
        file_with("{" + entry("w", "F32", "[4611686018427387904,4]", "[0,0]") + "}", 0),
        "overflows 64 bits");
  }
}

TEST_CASE("safetensors reader rejects tensors that do not tile the byte buffer",
          "[safetensors]") {
  SECTION("overlap") {
    const std::string header = "{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                               entry("b", "F32", "[2]", "[4,12]") + "}";
    REQUIRE_PARSE_FAILS_WITH(file_with(header, 12), R"("a" [0,8) and "b" [4,12) overlap)");
  }
  SECTION("two tensors on the same bytes") {
    const std::string header = "{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                               entry("b", "I64", "[1]", "[0,8]") + "}";
    REQUIRE_PARSE_FAILS_WITH(file_with(header, 8), "overlap");
  }
  SECTION("gap between tensors") {
    const std::string header = "{" + entry("a", "F32", "[1]", "[0,4]") + "," +
                               entry("b", "F32", "[1]", "[8,12]") + "}";
    REQUIRE_PARSE_FAILS_WITH(file_with(header, 12), R"(gap in the data buffer: bytes [4,8))");
  }
  SECTION("first tensor not at offset 0") {
    REQUIRE_PARSE_FAILS_WITH(file_with("{" + entry("a", "F32", "[1]", "[4,8]") + "}", 8),
                             "gap in the data buffer: bytes [0,4)");
  }
  SECTION("bytes after the last tensor") {
    REQUIRE_PARSE_FAILS_WITH(file_with("{" + entry("a", "F32", "[1]", "[0,4]") + "}", 8),
                             "4 trailing bytes belong to no tensor");
  }
  SECTION("a byte buffer but no tensors") {
    REQUIRE_PARSE_FAILS_WITH(file_with("{}", 1), "1 trailing bytes");
  }
}

TEST_CASE("safetensors reader rejects duplicate keys", "[safetensors]") {
  SECTION("tensor name") {
    const std::string header = "{" + entry("w", "F32", "[1]", "[0,4]") + "," +
                               entry("w", "F32", "[1]", "[4,8]") + "}";
    REQUIRE_PARSE_FAILS_WITH(file_with(header, 8), R"(duplicate tensor name "w")");
  }
  SECTION("field of an entry") {
    REQUIRE_PARSE_FAILS_WITH(
        file_with(R"({"w":{"dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4]}})", 4),
        R"(tensor "w": duplicate field "dtype")");
  }
  SECTION("metadata key") {
    REQUIRE_PARSE_FAILS_WITH(file_with(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
                             R"(duplicate metadata key "k")");
  }
  SECTION("two metadata objects") {
    REQUIRE_PARSE_FAILS_WITH(file_with(R"({"__metadata__":{},"__metadata__":{}})", 0),
                             "two \"__metadata__\" entries");
  }
}

TEST_CASE("safetensors reader escapes hostile names in its one-line messages",
          "[safetensors]") {
  const std::string name = "line\\nbreak\\u0007" + std::string(200, 'x');
  const auto bytes = file_with("{" + entry(name, "F32", "[1]", "[0,8]") + "}", 8);
  REQUIRE_PARSE_FAILS_WITH(bytes, R"(tensor "line\x0abreak\x07xxx)");
  REQUIRE_PARSE_FAILS_WITH(bytes, "(211 bytes)");
}

TEST_CASE("safetensors writer rejects what it cannot write faithfully", "[safetensors]") {
  st::Contents c;
  c.tensors.push_back({"w", "F32", {2}, bytes_of_values<float>({1, 2})});
  SECTION("duplicate names") {
    c.tensors.push_back(c.tensors[0]);
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains(R"(tensor "w": duplicate tensor name)"));
  }
  SECTION("the reserved name __metadata__") {
    c.tensors[0].name = "__metadata__";
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains("reserved"));
  }
  SECTION("unsupported and unknown dtypes") {
    c.tensors[0].dtype = "F16";
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains("duel does not support"));
    c.tensors[0].dtype = "float32";
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains(R"(unknown dtype "float32")"));
  }
  SECTION("data size not matching the shape") {
    c.tensors[0].shape = {3};
    REQUIRE_THROWS_WITH(st::serialize(c),
                        Catch::Contains("data has 8 bytes but shape [3] of F32 needs 12"));
  }
  SECTION("negative dimension") {
    c.tensors[0].shape = {-2};
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains("negative dimension"));
  }
  SECTION("byte size overflowing 64 bits") {
    c.tensors[0].shape = {INT64_MAX, INT64_MAX};
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains("overflows 64 bits"));
  }
  SECTION("name that is not UTF-8") {
    c.tensors[0].name = "bad\xff";
    REQUIRE_THROWS_WITH(st::serialize(c), Catch::Contains("not valid UTF-8"));
  }
  SECTION("errors are duel::Error") {
    c.tensors[0].dtype = "F16";
    REQUIRE_THROWS_AS(st::serialize(c), duel::Error);
  }
}

TEST_CASE("safetensors write_file_atomic replaces the file and leaves no temporary",
          "[safetensors]") {
  ScratchDir dir;
  const std::string path = (dir.path / "G.safetensors").string();
  {
    std::ofstream old(path, std::ios::binary);
    old << "old contents, not even safetensors";
  }
  const st::Contents contents = sample_contents();
  st::write_file_atomic(path, contents);
  CHECK(dir.entries() == std::vector<std::string>{"G.safetensors"});
  require_same(st::read_file(path), contents);

  SECTION("a second write replaces the first") {
    st::Contents smaller;
    smaller.tensors.push_back({"only", "F64", {1}, bytes_of_values<double>({2.5})});
    st::write_file_atomic(path, smaller);
    CHECK(dir.entries() == std::vector<std::string>{"G.safetensors"});
    require_same(st::read_file(path), smaller);
  }
  SECTION("a refused write leaves the old file and nothing else") {
    st::Contents bad = contents;
    bad.tensors[0].shape = {7};
    REQUIRE_THROWS_WITH(st::write_file_atomic(path, bad),
                        Catch::StartsWith(path + ": tensor \"0.weight\""));
    CHECK(dir.entries() == std::vector<std::string>{"G.safetensors"});
    require_same(st::read_file(path), contents);
  }
  SECTION("a directory that does not exist is named in the error") {
    const std::string nowhere = (dir.path / "missing" / "D.safetensors").string();
    REQUIRE_THROWS_WITH(st::write_file_atomic(nowhere, contents), Catch::Contains(nowhere));
  }
}

TEST_CASE("safetensors write_file_atomic works with a bare file name", "[safetensors]") {
  ScratchDir dir;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path);
  st::write_file_atomic("bare.safetensors", sample_contents());
  fs::current_path(previous);
  CHECK(dir.entries() == std::vector<std::string>{"bare.safetensors"});
}

TEST_CASE("safetensors read_file names the path it cannot read", "[safetensors]") {
  ScratchDir dir;
  const std::string missing = (dir.path / "nope.safetensors").string();
  REQUIRE_THROWS_WITH(st::read_file(missing),
                      Catch::StartsWith(missing + ": cannot open") &&
                          Catch::Contains("No such file"));
  REQUIRE_THROWS_WITH(st::read_file(dir.path.string()),
                      Catch::StartsWith(dir.path.string() + ": cannot read"));
  const std::string empty = (dir.path / "empty.safetensors").string();
  std::ofstream{empty};
  REQUIRE_THROWS_WITH(st::read_file(empty), Catch::StartsWith(empty + ": file is 0 bytes"));
}

namespace {

// The fuzz property: parse returns or throws duel::Error with a one-line message that starts
// with the source; anything else (another exception, or a sanitizer report) fails.
enum class Outcome { parsed, rejected, misbehaved };

Outcome parse_outcome(std::span<const std::byte> bytes) {
  try {
    st::parse(bytes, "fuzz");
    return Outcome::parsed;
  } catch (const duel::Error& e) {
    const std::string_view what = e.what();
    const bool well_formed = what.starts_with("fuzz: ") && what.find('\n') == what.npos;
    return well_formed ? Outcome::rejected : Outcome::misbehaved;
  } catch (...) {
    return Outcome::misbehaved;
  }
}

}  // namespace

TEST_CASE("safetensors fuzz-lite: every truncation is rejected cleanly", "[safetensors]") {
  const std::vector<std::byte> bytes = st::serialize(sample_contents());
  for (size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    REQUIRE(parse_outcome(std::span(bytes).first(length)) == Outcome::rejected);
  }
  REQUIRE(parse_outcome(bytes) == Outcome::parsed);
}

TEST_CASE("safetensors fuzz-lite: corrupting any header byte never escapes duel::Error",
          "[safetensors]") {
  const std::vector<std::byte> bytes = st::serialize(sample_contents());
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  // Every bit flipped, one bit flipped, and the bytes JSON gives meaning to.
  const unsigned char replacements[] = {'{', '}', '[', ']', '"', ',', ':', '\\', '-',
                                        '0', '9', 'e', ' ', 0x00, 0x80, 0xff};
  int parsed = 0;
  for (size_t at = 0; at < 8 + header_bytes; ++at) {
    CAPTURE(at);
    std::vector<std::byte> corrupt = bytes;
    for (unsigned mask : {0xffu, 0x01u, 0x02u, 0x80u}) {
      corrupt[at] = bytes[at] ^ static_cast<std::byte>(mask);
      const Outcome outcome = parse_outcome(corrupt);
      REQUIRE(outcome != Outcome::misbehaved);
      parsed += outcome == Outcome::parsed;
    }
    for (unsigned char replacement : replacements) {
      corrupt[at] = std::byte{replacement};
      const Outcome outcome = parse_outcome(corrupt);
      REQUIRE(outcome != Outcome::misbehaved);
      parsed += outcome == Outcome::parsed;
    }
  }
  // Some corruptions stay valid (a changed letter in a name or in the metadata), most do not.
  CHECK(parsed > 0);
}
