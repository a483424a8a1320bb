// Shapes: a list of dimension sizes, row-major, outermost first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duel {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
// Product of sizes; 1 for a scalar shape []. Throws for a negative size or a product over 2^63.
int64_t shape_numel(const Shape& s);

// Normalises a possibly negative dimension index for a tensor of `ndim` dimensions, or throws
// naming `op`.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Numpy broadcasting of two shapes, or throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace duel
