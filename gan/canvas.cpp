#include "gan/canvas.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gan/image.h"

namespace duel::gan {

Canvas::Canvas(int width, int height, Rgb background) : w_(width), h_(height) {
  DUEL_CHECK(width > 0 && height > 0, "canvas: size must be positive");
  rgb_.resize(static_cast<size_t>(width) * size_t(height) * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_ || alpha <= 0) return;
  alpha = std::min(alpha, 1.0);
  uint8_t* p = &rgb_[(size_t(y) * size_t(w_) + size_t(x)) * 3];
  p[0] = uint8_t(std::lround(p[0] * (1 - alpha) + c.r * alpha));
  p[1] = uint8_t(std::lround(p[1] * (1 - alpha) + c.g * alpha));
  p[2] = uint8_t(std::lround(p[2] * (1 - alpha) + c.b * alpha));
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c) {
  for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
    for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) blend(x, y, c);
}

void Canvas::disc(double cx, double cy, double radius, Rgb c, double alpha) {
  const int x0 = int(std::floor(cx - radius - 1)), x1 = int(std::ceil(cx + radius + 1));
  const int y0 = int(std::floor(cy - radius - 1)), y1 = int(std::ceil(cy + radius + 1));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      // Coverage of the pixel centre, with a one-pixel soft edge (cheap anti-aliasing).
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      blend(x, y, c, alpha * std::clamp(radius + 0.5 - d, 0.0, 1.0));
    }
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double width, double alpha) {
  const double len = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, int(std::ceil(len * 2)));
  for (int i = 0; i <= steps; ++i) {
    const double t = double(i) / steps;
    disc(x0 + t * (x1 - x0), y0 + t * (y1 - y0), width / 2, c, alpha);
  }
}

void Canvas::arrow(double x0, double y0, double x1, double y1, Rgb c, double width) {
  line(x0, y0, x1, y1, c, width);
  const double len = std::hypot(x1 - x0, y1 - y0);
  if (len < 1e-9) return;
  const double ux = (x1 - x0) / len, uy = (y1 - y0) / len, head = std::min(6.0, 0.4 * len + 2);
  // Two strokes at +-30 degrees back from the tip.
  const double c30 = 0.8660254037844386, s30 = 0.5;
  line(x1, y1, x1 - head * (ux * c30 - uy * s30), y1 - head * (uy * c30 + ux * s30), c, width);
  line(x1, y1, x1 - head * (ux * c30 + uy * s30), y1 - head * (uy * c30 - ux * s30), c, width);
}

void Canvas::save_png(const std::string& path) const { write_png(path, rgb_.data(), w_, h_, 3); }

Rgb belief_colour(double v) {
  v = std::clamp(std::isfinite(v) ? v : 0.5, 0.0, 1.0);
  const Rgb fake{196, 150, 222}, mid{248, 248, 248}, real{140, 214, 160};
  const auto mix = [](Rgb a, Rgb b, double t) {
    return Rgb{uint8_t(std::lround(a.r + (b.r - a.r) * t)), uint8_t(std::lround(a.g + (b.g - a.g) * t)),
               uint8_t(std::lround(a.b + (b.b - a.b) * t))};
  };
  return v < 0.5 ? mix(fake, mid, v * 2) : mix(mid, real, (v - 0.5) * 2);
}

}  // namespace duel::gan
