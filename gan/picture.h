// Reading pictures that come from anywhere: PNG through libpng and JPEG through libjpeg-turbo
// (Debian's, maintained for untrusted input), never through stb_image. The format is read from
// the file's first bytes, not its name. A picture's declared size is checked against a pixel
// budget before anything is decoded, so a small file cannot claim gigabytes, and every failure
// is a duel::Error whose message names the file and is one printable line.
//
// read_picture is the one reader for picture files; folder datasets (gan/data.h) call it per
// file and skip, counting, the files it refuses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duel::gan {

struct PictureLimits {
  int64_t max_pixels = int64_t(64) << 20;      // width * height: 64 megapixels (8192 x 8192)
  int64_t max_file_bytes = int64_t(256) << 20;  // bytes read from the file
  int max_jpeg_scans = 500;                    // progressive JPEG scans (libjpeg-turbo's advice)
};

struct Picture {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [height, width, channels], rows top to bottom
  bool colour = false;          // the file holds colour (before any conversion to gray)
};

// Decodes a PNG or JPEG file to `channels` 8-bit channels: 3 (RGB) or 1 (gray, as
// round(0.299 R + 0.587 G + 0.114 B), ITU-R BT.601). Transparent pixels are composited onto
// the gray level `background` (0 black, 255 white) in the stored sRGB values, as image editors
// do, never shown in the colour they hide; 16-bit PNGs are reduced to 8 bits. Throws duel::Error "<path>: <reason>" when the file cannot
// be read, is neither PNG nor JPEG, declares a width or height of 0 or more than
// limits.max_pixels pixels, or is corrupt or truncated.
Picture read_picture(const std::string& path, int64_t channels, const PictureLimits& limits = {},
                     uint8_t background = 0);

// The format by its first bytes: "png", "jpeg", "bmp", "gif", "webp" or "" (unknown).
std::string picture_format(const uint8_t* bytes, size_t size);

}  // namespace duel::gan
