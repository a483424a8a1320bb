// A small RGB canvas for the pictures duel draws itself (the 2D lab's frames): filled pixels,
// discs, lines and arrows, saved as PNG. No text: legends live in the HTML around the pictures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duel::gan {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  // Blends `c` over pixel (x, y) with opacity alpha in [0, 1]; outside the canvas: ignored.
  void blend(int x, int y, Rgb c, double alpha = 1.0);
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);
  void disc(double cx, double cy, double radius, Rgb c, double alpha = 1.0);
  void line(double x0, double y0, double x1, double y1, Rgb c, double width = 1.0, double alpha = 1.0);
  // A line with a two-stroke head at (x1, y1).
  void arrow(double x0, double y0, double x1, double y1, Rgb c, double width = 1.0);
  void save_png(const std::string& path) const;

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

// A diverging colour for v in [0, 1]: purple (0, "fake") through white to green (1, "real"),
// the colours GAN Lab uses for the discriminator's belief.
Rgb belief_colour(double v);

}  // namespace duel::gan
