// Numbers from outside (files, flags, attributes) checked before they size anything: size
// arithmetic that throws instead of wrapping, and range checks with one wording for every
// reader, so a flag and the same field of a file are refused with the same sentence.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace duel {

// a * b and a + b for sizes (non-negative), or throws "<what>: ... is too large" on overflow
// of int64.
int64_t checked_mul(int64_t a, int64_t b, std::string_view what);
int64_t checked_add(int64_t a, int64_t b, std::string_view what);

// The accepted values of a number: an inclusive or exclusive interval, integer or real. Reals are
// always finite.
struct Range {
  bool integer = false;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;  // exclusive ends: (0, 1)

  static Range ints(double lo, double hi) { return {true, lo, hi, false, false}; }
  static Range reals(double lo, double hi, bool lo_open = false, bool hi_open = false) {
    return {false, lo, hi, lo_open, hi_open};
  }
  bool contains(double v) const;
  // "an integer from 1 to 65536", "a number > 0 and <= 10"
  std::string describe() const;
};

// The full text as a number of the range, or throws "<what> must be <range>, got '<text>'".
// Integers are decimal without a fraction or exponent ("64", "-3"); reals are what strtod
// reads, finite.
int64_t parse_int_in(std::string_view text, const Range& r, std::string_view what);
double parse_real_in(std::string_view text, const Range& r, std::string_view what);

// The same checks on a number already parsed (a JSON value).
void check_in(double value, const Range& r, std::string_view what);

// A number printed for a message: integers without exponent, reals with %.6g.
std::string number_text(double v);

}  // namespace duel
