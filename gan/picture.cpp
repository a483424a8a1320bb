#include "gan/picture.h"

#include <algorithm>
#include <fcntl.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <system_error>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "core/error.h"

namespace duel::gan {

namespace {

// A decoder's message as one short printable line.
std::string printable(const char* text) {
  std::string out;
  for (const char* p = text; p && *p && out.size() < 200; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    out += (c < 0x20 || c == 0x7f) ? ' ' : char(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "unknown error" : out;
}

std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::generic_category().message(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, ": cannot read: ", std::generic_category().message(errno));
  if (!S_ISREG(st.st_mode)) fail(path, ": not a regular file");
  if (st.st_size > max_bytes) fail(path, ": ", st.st_size, " bytes, more than the ", max_bytes, " a picture may have");
  std::vector<uint8_t> bytes(size_t(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, ": cannot read: ", std::generic_category().message(errno));
    if (n == 0) break;  // shrank while reading
    got += size_t(n);
  }
  bytes.resize(got);
  return bytes;
}

void check_size(const std::string& path, const char* format, int64_t width, int64_t height,
                const PictureLimits& limits) {
  if (width < 1 || height < 1) fail(path, ": ", format, " declares ", width, " x ", height, " pixels (empty)");
  if (width > limits.max_pixels / height)
    fail(path, ": ", format, " declares ", width, " x ", height, " pixels, more than the budget of ",
         limits.max_pixels / (1 << 20), " megapixels a picture may have");
}

// ----- PNG: libpng's simplified API, which reports errors in the image struct ------------------

// Read as RGBA whatever is stored, so that transparency can be composited onto the caller's
// background in the stored (sRGB) values, as image editors and browsers do (libpng's own
// compositing works in linear light, which lightens half-transparent pixels on black).
Picture decode_png(const std::string& path, const std::vector<uint8_t>& bytes, const PictureLimits& limits,
                   uint8_t background) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  struct Freer {
    png_image* image;
    ~Freer() { png_image_free(image); }
  } freer{&image};
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    fail(path, ": not a readable PNG: ", printable(image.message));
  check_size(path, "PNG", image.width, image.height, limits);
  Picture p;
  p.colour = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const bool alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  image.format = alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  p.width = image.width;
  p.height = image.height;
  p.channels = 3;
  const size_t n = size_t(p.width) * size_t(p.height);
  p.pixels.assign(n * (alpha ? 4 : 3), 0);
  if (!png_image_finish_read(&image, nullptr, p.pixels.data(), 0, nullptr))
    fail(path, ": corrupt PNG: ", printable(image.message));
  if (alpha) {  // in place: pixel i's 3 bytes go to 3 i, never ahead of what is still read
    uint8_t* px = p.pixels.data();
    for (size_t i = 0; i < n; ++i) {
      const int a = px[4 * i + 3];
      for (int c = 0; c < 3; ++c) px[3 * i + size_t(c)] = uint8_t((a * px[4 * i + size_t(c)] + (255 - a) * background + 127) / 255);
    }
    p.pixels.resize(n * 3);
  }
  return p;
}

// ----- JPEG: libjpeg-turbo; its errors long-jump back to the decoder ---------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void jpeg_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}
extern "C" void jpeg_quiet(j_common_ptr, int) {}  // warnings (corrupt but decodable data) pass

struct JpegScanLimit {
  jpeg_progress_mgr mgr;
  int max_scans;
};
extern "C" void jpeg_count_scans(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  const auto* limit = reinterpret_cast<JpegScanLimit*>(cinfo->progress);
  if (d->input_scan_number > limit->max_scans) {
    std::snprintf(reinterpret_cast<JpegError*>(cinfo->err)->message, JMSG_LENGTH_MAX,
                  "more than %d progressive scans", limit->max_scans);
    std::longjmp(reinterpret_cast<JpegError*>(cinfo->err)->jump, 2);
  }
}

// Plain C-style on purpose: nothing with a destructor lives between setjmp and longjmp. Returns
// an empty message on success, else the reason; `pixels` is sized once the header is read.
std::string decode_jpeg_c(const std::vector<uint8_t>& bytes, const PictureLimits& limits, int64_t* width,
                          int64_t* height, std::vector<uint8_t>* pixels, bool* too_large, bool* colour) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  JpegScanLimit scans;
  std::memset(&cinfo, 0, sizeof cinfo);
  std::memset(&scans, 0, sizeof scans);
  err.message[0] = '\0';
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_quiet;
  *too_large = false;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return err.message[0] ? std::string(err.message) : std::string("corrupt data");
  }
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = 512L << 20;
  scans.mgr.progress_monitor = jpeg_count_scans;
  scans.max_scans = limits.max_jpeg_scans;
  cinfo.progress = &scans.mgr;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  *width = cinfo.image_width;
  *height = cinfo.image_height;
  *colour = cinfo.num_components >= 3;
  if (*width < 1 || *height < 1 || *width > limits.max_pixels / std::max<int64_t>(*height, 1)) {
    *too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return "";
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  pixels->resize(size_t(*width) * size_t(*height) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels->data() + size_t(cinfo.output_scanline) * size_t(*width) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return "";
}

Picture decode_jpeg(const std::string& path, const std::vector<uint8_t>& bytes, const PictureLimits& limits) {
  Picture p;
  bool too_large = false;
  const std::string error = decode_jpeg_c(bytes, limits, &p.width, &p.height, &p.pixels, &too_large, &p.colour);
  if (!error.empty()) fail(path, ": corrupt JPEG: ", printable(error.c_str()));
  if (too_large) check_size(path, "JPEG", p.width, p.height, limits);  // throws with the reason
  p.channels = 3;
  return p;
}

}  // namespace

std::string picture_format(const uint8_t* b, size_t n) {
  if (n >= 8 && !std::memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "png";
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "jpeg";
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "bmp";
  if (n >= 6 && (!std::memcmp(b, "GIF87a", 6) || !std::memcmp(b, "GIF89a", 6))) return "gif";
  if (n >= 12 && !std::memcmp(b, "RIFF", 4) && !std::memcmp(b + 8, "WEBP", 4)) return "webp";
  return "";
}

Picture read_picture(const std::string& path, int64_t channels, const PictureLimits& limits, uint8_t background) {
  DUEL_CHECK(channels == 1 || channels == 3, path, ": read_picture: channels must be 1 or 3, got ", channels);
  const std::vector<uint8_t> bytes = read_file_bytes(path, limits.max_file_bytes);
  const std::string format = picture_format(bytes.data(), bytes.size());
  Picture p;
  if (format == "png") {
    p = decode_png(path, bytes, limits, background);
  } else if (format == "jpeg") {
    p = decode_jpeg(path, bytes, limits);
  } else if (bytes.empty()) {
    fail(path, ": empty file");
  } else {
    fail(path, ": ", format.empty() ? std::string("not a PNG or JPEG file") : "a " + format + " file; only PNG and JPEG are read (convert it)");
  }
  if (channels == 1) {
    // In place: pixel i's gray value goes to byte i, which is never ahead of what is still read.
    const size_t n = size_t(p.width) * size_t(p.height);
    uint8_t* px = p.pixels.data();
    for (size_t i = 0; i < n; ++i) {
      const int r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
      px[i] = uint8_t((299 * r + 587 * g + 114 * b + 500) / 1000);
    }
    p.pixels.resize(n);
    p.channels = 1;
  }
  return p;
}

}  // namespace duel::gan
