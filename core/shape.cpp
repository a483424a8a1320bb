#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace duel {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    DUEL_CHECK(d >= 0, "shape ", shape_str(s), " has a negative size");
    if (__builtin_mul_overflow(n, d, &n)) fail("shape ", shape_str(s), " holds more than 2^63 elements");
  }
  return n;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  DUEL_CHECK(dim >= lo && dim <= hi, op, ": dimension ", dim, " is out of range for a ", ndim,
             "-D tensor (expected ", lo, " to ", hi, ")");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DUEL_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
               shape_str(b), " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db,
               ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace duel
