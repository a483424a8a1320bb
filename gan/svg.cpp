#include "gan/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace duel::gan {

const char* series_colour(size_t i) {
  static const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  return kColours[i % 8];
}

const char* chart_colour(size_t i) {
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#d62728", "#7f7f7f", "#8c564b", "#17becf"};
  return kColours[i % 6];
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// Tick positions at 1, 2 or 5 times a power of ten, about `target` of them across [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

// Tick labels a reader takes in at a glance: 25k and 1.5M rather than 2.5e+04; 1e-4 without the
// exponent's padding.
std::string num(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a >= 1e4 && a < 1e9) {
    const bool mega = a >= 1e6;
    std::snprintf(buf, sizeof buf, "%g%s", v / (mega ? 1e6 : 1e3), mega ? "M" : "k");
  } else if (v != 0 && (a >= 1e9 || a < 1e-3)) {
    const int e = int(std::floor(std::log10(a)));
    std::snprintf(buf, sizeof buf, "%ge%d", std::round(v / std::pow(10.0, e) * 10) / 10, e);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

}  // namespace

Series moving_average(const Series& s, int window) {
  Series out = s;
  const int half = std::max(0, window / 2);
  const size_t n = std::min(s.x.size(), s.y.size());
  for (size_t i = 0; i < n; ++i) {
    double sum = 0;
    int count = 0;
    const size_t lo = i >= size_t(half) ? i - size_t(half) : 0, hi = std::min(n - 1, i + size_t(half));
    for (size_t j = lo; j <= hi; ++j)
      if (std::isfinite(s.y[j])) sum += s.y[j], ++count;
    out.y[i] = count > 0 ? sum / count : NAN;
  }
  return out;
}

std::string svg_line_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label,
                           int width, int height, bool log_y) {
  size_t in_legend = 0;
  for (const Series& s : series) in_legend += s.in_legend;
  const double left = 62, right = 14, top = 28, bottom = 40 + 16.0 * double((in_legend + 2) / 3);
  const double pw = width - left - right, ph = height - top - bottom;
  auto fy = [&](double y) { return log_y ? std::log10(y) : y; };
  auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (usable(s.x[i], s.y[i])) {
        x0 = std::min(x0, s.x[i]);
        x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, fy(s.y[i]));
        y1 = std::max(y1, fy(s.y[i]));
      }
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\">"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
     << "<text x=\"" << width / 2 << "\" y=\"17\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
     << html_escape(title) << "</text>";
  if (!std::isfinite(x0)) return os.str() + "<text x=\"50%\" y=\"50%\" text-anchor=\"middle\">no data</text></svg>";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1 - (fy(y) - y0) / (y1 - y0)) * ph; };
  auto py_raw = [&](double v) { return top + (1 - (v - y0) / (y1 - y0)) * ph; };
  os << "<g stroke=\"#ddd\">";
  for (double t : nice_ticks(x0, x1, 6)) os << "<line x1=\"" << px(t) << "\" x2=\"" << px(t) << "\" y1=\"" << top << "\" y2=\"" << top + ph << "\"/>";
  std::vector<double> yt;
  if (log_y) {  // 1, 2 and 5 times powers of ten, in log10 units
    for (double e = std::floor(y0); e <= std::ceil(y1); ++e)
      for (double m : {1.0, 2.0, 5.0}) {
        const double t = e + std::log10(m);
        if (t >= y0 && t <= y1 && (m == 1.0 || y1 - y0 < 2.5)) yt.push_back(t);
      }
  } else {
    yt = nice_ticks(y0, y1, 5);
  }
  for (double t : yt)
    if (t >= y0 && t <= y1) os << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << py_raw(t) << "\" y2=\"" << py_raw(t) << "\"/>";
  os << "</g><rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
     << "\" fill=\"none\" stroke=\"#444\"/>";
  for (double t : nice_ticks(x0, x1, 6))
    os << "<text x=\"" << px(t) << "\" y=\"" << top + ph + 14 << "\" text-anchor=\"middle\">" << num(t) << "</text>";
  for (double t : yt)
    if (t >= y0 && t <= y1)
      os << "<text x=\"" << left - 5 << "\" y=\"" << py_raw(t) + 4 << "\" text-anchor=\"end\">"
         << (log_y ? num(std::pow(10.0, t)) : num(t)) << "</text>";
  os << "<text x=\"" << left + pw / 2 << "\" y=\"" << top + ph + 29 << "\" text-anchor=\"middle\">" << html_escape(x_label)
     << "</text>";
  size_t legend = 0;
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    os << "<polyline fill=\"none\" stroke-width=\"" << s.stroke_width << "\" stroke=\"" << s.colour << "\"";
    if (s.opacity < 1) os << " stroke-opacity=\"" << s.opacity << "\"";
    os << " points=\"";
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (usable(s.x[i], s.y[i])) os << px(s.x[i]) << "," << py(s.y[i]) << " ";
    os << "\"/>";
    if (!s.in_legend) continue;
    const size_t slot = legend++;
    const double lx = left + double(slot % 3) * pw / 3, ly = top + ph + 44 + 16.0 * double(slot / 3);
    os << "<line x1=\"" << lx << "\" x2=\"" << lx + 18 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
       << "\" stroke-width=\"2\" stroke=\"" << s.colour << "\"/><text x=\"" << lx + 22 << "\" y=\"" << ly << "\">"
       << html_escape(s.name) << "</text>";
  }
  os << "</svg>";
  return os.str();
}

}  // namespace duel::gan
