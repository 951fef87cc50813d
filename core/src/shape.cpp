#include "normgrad/shape.h"

#include <sstream>

#include "normgrad/error.h"

namespace ng {

int64_t numel_of(const Shape& s) {
  // Checked: a shape from a flag or a file must give an error, not a wrapped size.
  int64_t n = 1;
  for (int64_t d : s)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      fail("shape", shape_str(s), " has no valid element count (negative or over 2^63)");
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t d = (int64_t)s.size() - 1; d >= 0; --d) {
    st[d] = acc;
    if (__builtin_mul_overflow(acc, std::max<int64_t>(s[d], 1), &acc))
      fail("shape", shape_str(s), " is too large to address (strides over 2^63)");
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, "shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast (dim ", i,
           ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    fail(op, "dim ", dim, " is out of range for a tensor with ", ndim, " dims");
  return dim < 0 ? dim + n : dim;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

}  // namespace ng
