// Pictures in and out: PNG grids of generated samples, and image folders as training data.
// Pixel values map to [-1, 1] as x / 127.5 - 1 on the way in and round((v + 1) * 127.5) on the
// way out. Every error is one line naming the file or folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "gan/picture.h"

namespace duel::gan {

// Writes an 8-bit PNG of `height` rows of `width` pixels, `channels` interleaved bytes each
// (1 = gray, 3 = RGB), atomically: a temporary file in the same directory, then a rename, so a
// reader never sees half a picture. Throws duel::Error naming the path on failure.
void write_png(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
               int64_t channels);

// Saves `images`, an f32 or f64 CPU tensor [N, C, H, W] with C = 1 or 3 and values in [-1, 1]
// (clamped; NaN is drawn black), as a PNG (or, by the name, JPEG: write_picture) grid with `nrow` images per row and `padding` black
// pixels around and between them, like torchvision.utils.make_grid + save_image:
//   width  = ncol * (W + padding) + padding, ncol  = min(nrow, N)
//   height = nrows * (H + padding) + padding, nrows = ceil(N / ncol)
// Unlike make_grid, a single image is padded too, and a gray grid stays a gray PNG.
void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow,
                     int64_t padding = 2);

// Writes `pixels` ([height, width, channels] bytes) as PNG or, for a name ending in .jpg/.jpeg,
// as JPEG of quality 95; atomically, like write_png. Any other name is an error.
void write_picture(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
                   int64_t channels);

struct ImageFolder {
  Tensor images;         // [N, channels, size, size] f32 in [-1, 1]: the pictures that could be used
  int64_t files = 0;     // picture files found (by name: .png .jpg .jpeg .bmp .gif .webp)
  int64_t skipped = 0;   // of those, refused by read_picture
  std::vector<std::string> first_reasons;  // up to 3 messages of skipped files
  // "skipped 2 of 40 pictures in DIR that could not be used; first: ..." (empty when none)
  std::string skipped_summary(const std::string& dir) const;
};

// Reads every picture file in `dir` (not recursively; by name, sorted) with read_picture,
// converting it to `channels` (1 gray, 3 RGB); crops the central square and resizes it to
// size x size with stb_image_resize (torchvision's Resize(size) + CenterCrop(size), up to the
// filter). A file read_picture refuses (corrupt, not PNG or JPEG, over the pixel budget) is
// skipped and counted. Throws naming the folder: not a directory, no picture files, none
// usable (with the first reasons), or more pixels than `memory_budget` bytes of f32 hold.
ImageFolder read_image_folder(const std::string& dir, int64_t channels, int64_t size,
                              int64_t memory_budget = int64_t(1) << 40, const PictureLimits& limits = {});

}  // namespace duel::gan
