#include "gan/folder.h"

#include <stb_image_resize.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/cpu_allocator.h"
#include "core/error.h"
#include "gan/picture.h"

namespace duel::gan {

namespace fs = std::filesystem;

Background parse_background(const std::string& s) {
  if (s == "white") return Background::white;
  if (s == "black") return Background::black;
  fail("unknown background '", s, "' (expected white or black)");
}

std::string background_name(Background b) { return b == Background::white ? "white" : "black"; }


namespace {

bool is_picture(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  // BMP, GIF and WebP are counted, to be skipped with the reason (read_picture reads PNG and JPEG).
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" || ext == ".webp";
}

// Every picture file under `dir`, recursively, sorted by path (following no links to folders,
// so a link cycle cannot loop).
std::vector<std::string> pictures_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec) && is_picture(it->path())) out.push_back(it->path().string());
  }
  if (ec) fail(dir.string(), ": cannot list the folder: ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// A one-line progress report on stderr, at most every 0.2 s, only on a terminal.
class Progress {
 public:
  Progress(bool on, std::string what) : on_(on && ::isatty(STDERR_FILENO)), what_(std::move(what)) {}
  void update(int64_t done, int64_t total, int64_t skipped, bool force = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && std::chrono::duration<double>(now - last_).count() < 0.2) return;
    last_ = now;
    std::fprintf(stderr, "\rindexing %s: %lld of %lld pictures%s   ", what_.c_str(), (long long)done, (long long)total,
                 skipped ? str_cat(" (", skipped, " skipped)").c_str() : "");
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool on_;
  std::string what_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

bool load_picture(const std::string& path, const FolderOptions& o, uint8_t* out) {
  // Decoded by the hardened reader (gan/picture.h: libpng, libjpeg-turbo, a pixel budget before
  // decoding), transparency composited onto the background, converted to the model's channels.
  const Picture picture = read_picture(path, o.channels, PictureLimits{}, o.background == Background::white ? 255 : 0);
  const int w = int(picture.width), h = int(picture.height), c = int(o.channels);
  // The central square: [side, side, c] interleaved.
  const int side = std::min(w, h), top = (h - side) / 2, left = (w - side) / 2;
  std::vector<uint8_t> square(size_t(side) * size_t(side) * size_t(c));
  for (int y = 0; y < side; ++y)
    std::copy_n(picture.pixels.data() + (size_t(top + y) * size_t(w) + size_t(left)) * size_t(c), size_t(side) * size_t(c),
                square.data() + size_t(y) * size_t(side) * size_t(c));
  const int s = int(o.size);
  std::vector<uint8_t> resized;
  const uint8_t* src = square.data();
  if (side != s) {
    resized.resize(size_t(s) * size_t(s) * size_t(c));
    if (!stbir_resize_uint8(square.data(), side, side, 0, resized.data(), s, s, 0, c))
      fail(path, ": cannot resize ", side, " x ", side, " to ", s, " x ", s, " (out of memory?)");
    src = resized.data();
  }
  for (int ch = 0; ch < c; ++ch)  // interleaved -> planes
    for (int i = 0; i < s * s; ++i) out[size_t(ch) * size_t(s) * size_t(s) + size_t(i)] = src[size_t(i) * size_t(c) + size_t(ch)];
  return picture.colour;
}

PictureStore::PictureStore(std::vector<std::string> files, FolderOptions options, std::vector<uint8_t> bytes)
    : files_(std::move(files)), options_(options), bytes_(std::move(bytes)) {
  DUEL_CHECK(bytes_.empty() || int64_t(bytes_.size()) == count() * picture_bytes(), "internal: picture store of ",
             bytes_.size(), " bytes for ", count(), " pictures");
}

void PictureStore::read(int64_t i, uint8_t* out) const {
  DUEL_CHECK(i >= 0 && i < count(), "picture ", i, " of ", count(), " requested");
  const int64_t n = picture_bytes();
  if (!streaming()) {
    std::copy_n(bytes_.data() + i * n, n, out);
    return;
  }
  // A file that decoded while indexing but not now was changed or removed during the run.
  try {
    load_picture(files_[size_t(i)], options_, out);
  } catch (const Error& e) {
    fail(e.what(), " (it was readable when the folder was indexed; the folder changed during the run)");
  }
}

FolderData read_folder(const std::string& dir, const FolderOptions& o) {
  DUEL_CHECK(o.channels == 1 || o.channels == 3, dir, ": pictures are read as 1 or 3 channels, got ", o.channels);
  DUEL_CHECK(o.size >= 1 && o.size <= 4096, dir, ": picture size must be in [1, 4096], got ", o.size);
  std::error_code ec;
  DUEL_CHECK(fs::is_directory(dir, ec), dir, ": not a folder", ec ? str_cat(" (", ec.message(), ")") : std::string());
  FolderData d;
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  if (o.class_folders) {
    std::vector<fs::path> classes;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_directory(type_ec)) classes.push_back(it->path());
      else if (is_picture(it->path())) ++d.outside_classes;
    }
    if (ec) fail(dir, ": cannot list the folder: ", ec.message());
    std::sort(classes.begin(), classes.end());
    for (const fs::path& c : classes) {
      const std::vector<std::string> in_class = pictures_under(c);
      if (in_class.empty()) continue;  // an empty sub-folder is no class
      d.class_names.push_back(c.filename().string());
      files.insert(files.end(), in_class.begin(), in_class.end());
      labels.insert(labels.end(), in_class.size(), int64_t(d.class_names.size() - 1));
    }
    DUEL_CHECK(!files.empty(), dir, ": no class sub-folders with pictures (.png, .jpg, .jpeg); --conditional "
               "takes each first-level sub-folder as a class");
  } else {
    files = pictures_under(dir);
    DUEL_CHECK(!files.empty(), dir, ": no pictures (.png, .jpg, .jpeg) in this folder or below it");
  }
  d.files = int64_t(files.size());

  const int64_t per = o.channels * o.size * o.size;
  const int64_t budget = o.memory_budget >= 0 ? o.memory_budget : int64_t(cpu_memory_bytes() / 4);
  // Whether all of them would fit is known before decoding; the usable ones never need more.
  const bool keep = double(per) * double(files.size()) <= double(budget);
  std::vector<uint8_t> bytes, scratch(static_cast<size_t>(per));
  if (keep) bytes.reserve(size_t(per) * files.size());
  std::vector<std::string> kept;
  Progress progress(o.progress, dir);
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      if (keep) bytes.resize(bytes.size() + size_t(per));
      uint8_t* out = keep ? bytes.data() + bytes.size() - size_t(per) : scratch.data();
      d.colour += load_picture(files[i], o, out) ? 1 : 0;
      kept.push_back(files[i]);
      if (!labels.empty()) d.labels.push_back(labels[i]);
    } catch (const Error& e) {
      if (keep) bytes.resize(bytes.size() - size_t(per));
      if (d.first_skipped.size() < 3) d.first_skipped.push_back(e.what());
      ++d.skipped;
    }
    progress.update(int64_t(i + 1), d.files, d.skipped);
  }
  DUEL_CHECK(!kept.empty(), dir, ": none of its ", d.files, " picture files could be used; first: ", d.first_skipped[0]);
  if (!d.labels.empty()) {
    // A class whose every picture was skipped: labels stay the sub-folders' order, so name it.
    std::vector<int64_t> per_class(d.class_names.size(), 0);
    for (int64_t l : d.labels) ++per_class[size_t(l)];
    for (size_t k = 0; k < per_class.size(); ++k)
      DUEL_CHECK(per_class[k] > 0, dir, ": class folder '", d.class_names[k], "' has no decodable picture");
  }
  d.pictures = std::make_shared<PictureStore>(std::move(kept), o, std::move(bytes));
  return d;
}

}  // namespace duel::gan
