#include "core/checked.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace duel {

int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out))
    fail(what, ": ", a, " x ", b, " is too large (more than 2^63)");
  return out;
}

int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &out))
    fail(what, ": ", a, " + ", b, " is too large (more than 2^63)");
  return out;
}

bool Range::contains(double v) const {
  if (!std::isfinite(v)) return false;
  if (integer && v != std::floor(v)) return false;
  if (min_open ? !(v > min) : !(v >= min)) return false;
  if (max_open ? !(v < max) : !(v <= max)) return false;
  return true;
}

std::string number_text(double v) {
  char buf[40];
  if (v >= 9223372036854775807.0) return "9223372036854775807";  // 2^63 - 1, the int64 limit
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e18)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string Range::describe() const {
  const std::string kind = integer ? "an integer" : "a number";
  const bool has_min = std::isfinite(min), has_max = std::isfinite(max);
  if (has_min && has_max && !min_open && !max_open) return kind + " from " + number_text(min) + " to " + number_text(max);
  std::string out = kind;
  if (has_min) out += std::string(min_open ? " > " : " >= ") + number_text(min);
  if (has_min && has_max) out += " and";
  if (has_max) out += std::string(max_open ? " < " : " <= ") + number_text(max);
  return out;
}

namespace {
// Messages quote what was given, cut and without control characters.
std::string quoted(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (text.size() > 40) out += "...";
  return "'" + out + "'";
}
}  // namespace

int64_t parse_int_in(std::string_view text, const Range& r, std::string_view what) {
  const std::string s(text);
  errno = 0;
  char* end = nullptr;
  const long long v = s.empty() ? 0 : std::strtoll(s.c_str(), &end, 10);
  const bool whole = !s.empty() && end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0]));
  if (!whole || errno == ERANGE || !r.contains(double(v)))
    fail(what, " must be ", r.describe(), ", got ", quoted(text));
  return v;
}

double parse_real_in(std::string_view text, const Range& r, std::string_view what) {
  const std::string s(text);
  errno = 0;
  char* end = nullptr;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  const bool whole = !s.empty() && end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0]));
  if (!whole || errno == ERANGE || !r.contains(v)) fail(what, " must be ", r.describe(), ", got ", quoted(text));
  return v;
}

void check_in(double value, const Range& r, std::string_view what) {
  if (!r.contains(value)) fail(what, " must be ", r.describe(), ", got ", number_text(value));
}

}  // namespace duel
