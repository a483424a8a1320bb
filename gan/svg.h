// Line charts as standalone SVG text, for the HTML pages duel writes (lab.html, duel report) and
// for the figures in docs/.
#pragma once

#include <string>
#include <vector>

namespace duel::gan {

struct Series {
  std::string name;
  std::string colour;  // any SVG colour, e.g. "#1f77b4"
  std::vector<double> x, y;
  double opacity = 1.0;       // a faint line (the raw values under a smoothed curve): 0.25
  double stroke_width = 1.5;
  bool in_legend = true;
};

// The centred moving average of `s` over `window` points (odd; shorter at the ends), skipping
// non-finite values; same x.
Series moving_average(const Series& s, int window);

// A chart with axes, ticks, grid lines and a legend. Non-finite points are skipped (and with
// log_y, points <= 0). An empty series list gives an empty frame with the title.
std::string svg_line_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                           int width = 640, int height = 280, bool log_y = false);

// The standard colours of the i-th series.
const char* series_colour(size_t i);
// Colours for the 2D lab's curves, clear of the frames' green (real) and purple (fake): blue,
// orange, red, grey, brown, cyan.
const char* chart_colour(size_t i);

// Escapes text for HTML and SVG.
std::string html_escape(const std::string& s);

}  // namespace duel::gan
