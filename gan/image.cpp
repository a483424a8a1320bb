#include "gan/image.h"

#include <fcntl.h>
#include <span>
#include <stb_image_resize.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "core/cpu_allocator.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/atomic_file.h"

namespace duel::gan {
namespace fs = std::filesystem;
namespace {

// stb_image_write builds the whole PNG in one int-indexed buffer of (width * channels + 1)
// bytes per row; doubles keep this check itself from overflowing.
bool fits_png(double width, double height, double channels) {
  return width >= 1 && height >= 1 && (width * channels + 1) * height <= INT_MAX;
}

// [-1, 1] -> 0..255. The negated comparison also sends NaN to black rather than into an
// undefined float-to-integer conversion.
uint8_t to_byte(double v) {
  if (!(v > -1.0)) return 0;
  if (v >= 1.0) return 255;
  return static_cast<uint8_t>(std::lround((v + 1.0) * 127.5));
}

}  // namespace

void write_png(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
               int64_t channels) {
  DUEL_CHECK(channels == 1 || channels == 3, path,
             ": write_png: channels must be 1 (gray) or 3 (RGB), got ", channels);
  DUEL_CHECK(fits_png(double(width), double(height), double(channels)), path, ": write_png: ",
             width, " x ", height, " pixels of ", channels,
             " channels is empty or too large for a PNG");
  DUEL_CHECK(pixels != nullptr, path, ": write_png: pixels is null");
  std::vector<uint8_t> png;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    const auto* bytes = static_cast<const uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int stride = int(width * channels);
  if (stbi_write_png_to_func(append, &png, int(width), int(height), int(channels), pixels,
                             stride) == 0) {
    fail(path, ": write_png: stb_image_write could not encode the PNG (out of memory?)");
  }
  write_file_atomic(path, std::as_bytes(std::span<const uint8_t>(png)));
}

void write_picture(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
                   int64_t channels) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (ext == ".png") return write_png(path, pixels, width, height, channels);
  DUEL_CHECK(ext == ".jpg" || ext == ".jpeg", path, ": pictures are written as PNG (.png) or JPEG (.jpg, .jpeg)");
  DUEL_CHECK(channels == 1 || channels == 3, path, ": write_picture: channels must be 1 or 3, got ", channels);
  DUEL_CHECK(fits_png(double(width), double(height), double(channels)) && width <= 65535 && height <= 65535, path,
             ": ", width, " x ", height, " pixels is empty or too large for a JPEG");
  std::vector<uint8_t> jpeg;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    const auto* bytes = static_cast<const uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  if (stbi_write_jpg_to_func(append, &jpeg, int(width), int(height), int(channels), pixels, 95) == 0)
    fail(path, ": stb_image_write could not encode the JPEG");
  write_file_atomic(path, std::as_bytes(std::span<const uint8_t>(jpeg)));
}

void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow,
                     int64_t padding) {
  DUEL_CHECK(images.defined(), path, ": save_image_grid: the images tensor is undefined");
  DUEL_CHECK(images.device().is_cpu(), path, ": save_image_grid: images must be on the cpu, got ",
             describe(images), "; call .to(Device::cpu()) first");
  DUEL_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), path,
             ": save_image_grid: expected images [N, C, H, W] with C = 1 or 3, got ",
             describe(images));
  DUEL_CHECK(is_floating(images.dtype()), path,
             ": save_image_grid: expected f32 or f64 images, got ", describe(images));
  DUEL_CHECK(images.numel() > 0, path, ": save_image_grid: no pixels in ", describe(images));
  DUEL_CHECK(nrow >= 1, path, ": save_image_grid: nrow must be at least 1, got ", nrow);
  DUEL_CHECK(padding >= 0, path, ": save_image_grid: padding must be >= 0, got ", padding);

  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t ncol = std::min(nrow, n);
  const int64_t nrows = (n + ncol - 1) / ncol;
  const double width = double(ncol) * (double(w) + double(padding)) + double(padding);
  const double height = double(nrows) * (double(h) + double(padding)) + double(padding);
  DUEL_CHECK(fits_png(width, height, double(c)), path, ": save_image_grid: a grid of ", width,
             " x ", height, " pixels is too large for a PNG");
  const int64_t grid_w = int64_t(width), grid_h = int64_t(height);

  std::vector<uint8_t> grid(size_t(grid_w * grid_h * c), 0);  // black background
  dispatch_floating(images.dtype(), "save_image_grid", [&]<class T>() {
    const T* src = images.data<T>();  // [N, C, H, W]
    for (int64_t i = 0; i < n; ++i) {
      const int64_t top = (i / ncol) * (h + padding) + padding;
      const int64_t left = (i % ncol) * (w + padding) + padding;
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t y = 0; y < h; ++y) {
          for (int64_t x = 0; x < w; ++x) {
            // grid is [grid_h, grid_w, C], interleaved as PNG rows are
            grid[size_t(((top + y) * grid_w + left + x) * c + ch)] =
                to_byte(double(src[((i * c + ch) * h + y) * w + x]));
          }
        }
      }
    }
  });
  write_picture(path, grid.data(), grid_w, grid_h, c);
}

}  // namespace duel::gan
