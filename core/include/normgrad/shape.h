// Shapes and strides: broadcasting, contiguity, readable printing.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace ng {

// Sizes per dimension (also used for strides, in elements).
using Shape = std::vector<int64_t>;

// The product of the sizes; an error instead of an overflow.
int64_t numel_of(const Shape& s);
// Row-major strides for a shape.
Shape contiguous_strides(const Shape& s);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
std::string shape_str(const Shape& s);

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << shape_str(s); }

}  // namespace ng
