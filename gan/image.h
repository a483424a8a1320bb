// Pictures out: PNG (or JPEG) grids of generated samples. (Pictures in: gan/picture.h, and
// gan/folder.h for folders of them as training data.)
// Pixel values map to [-1, 1] as x / 127.5 - 1 on the way in and round((v + 1) * 127.5) on the
// way out. Every error is one line naming the file or folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

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

}  // namespace duel::gan
