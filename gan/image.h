// Pictures in and out: PNG grids of generated samples, and image folders as training data.
// Pixel values map to [-1, 1] as x / 127.5 - 1 on the way in and round((v + 1) * 127.5) on the
// way out. Every error is one line naming the file or folder.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace duel::gan {

// Writes an 8-bit PNG of `height` rows of `width` pixels, `channels` interleaved bytes each
// (1 = gray, 3 = RGB), atomically: a temporary file in the same directory, then a rename, so a
// reader never sees half a picture. Throws duel::Error naming the path on failure.
void write_png(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
               int64_t channels);

// Saves `images`, an f32 or f64 CPU tensor [N, C, H, W] with C = 1 or 3 and values in [-1, 1]
// (clamped; NaN is drawn black), as a PNG grid with `nrow` images per row and `padding` black
// pixels around and between them, like torchvision.utils.make_grid + save_image:
//   width  = ncol * (W + padding) + padding, ncol  = min(nrow, N)
//   height = nrows * (H + padding) + padding, nrows = ceil(N / ncol)
// Unlike make_grid, a single image is padded too, and a gray grid stays a gray PNG.
void save_image_grid(const std::string& path, const Tensor& images, int64_t nrow,
                     int64_t padding = 2);

// Reads every .png/.jpg/.jpeg/.bmp file (any case) in `dir`, not recursively, sorted by file
// name; converts each to `channels` (1 = gray by stb's luma weights, 3 = RGB), crops the central
// square and resizes it to size x size with stb_image_resize (torchvision's Resize(size) +
// CenterCrop(size), up to the filter), and returns an f32 tensor [N, channels, size, size] in
// [-1, 1]. Throws naming the folder or file: not a directory, no images, an image stb cannot
// decode (with stb's reason).
Tensor read_image_folder(const std::string& dir, int64_t channels, int64_t size);

}  // namespace duel::gan
