// Helpers shared by the op definitions (argument checks, kernel-side views).
#pragma once
#include <algorithm>

#include "normgrad/autograd.h"
#include "normgrad/backend.h"
#include "normgrad/ops.h"

namespace ng::detail {

inline void check_float(const Tensor& t, const char* op) {
  if (!t.defined()) fail(op, "got an undefined tensor");
  if (!is_floating(t.dtype()))
    fail(op, "expected a floating-point tensor, got ", dtype_name(t.dtype()), " of shape ",
         shape_str(t.shape()));
}

// An int64 index tensor on the same device as the tensor it indexes (`data`).
inline void check_index(const Tensor& t, const Tensor& data, const char* op) {
  if (!t.defined()) fail(op, "got an undefined index tensor");
  if (t.dtype() != DType::I64)
    fail(op, "indices must be int64, got ", dtype_name(t.dtype()), " of shape ",
         shape_str(t.shape()));
  if (data.defined() && t.device() != data.device())
    fail(op, "device mismatch: indices ", shape_str(t.shape()), " on ", device_name(t.device()),
         ", tensor ", shape_str(data.shape()), " on ", device_name(data.device()),
         " (move the indices with .to())");
}

// Same dtype and device, or a message naming both operands.
inline void check_match(const Tensor& a, const Tensor& b, const char* op) {
  check_float(a, op);
  check_float(b, op);
  if (a.dtype() != b.dtype())
    fail(op, "dtype mismatch: ", dtype_name(a.dtype()), " ", shape_str(a.shape()), " vs ",
         dtype_name(b.dtype()), " ", shape_str(b.shape()), " (convert one with .to())");
  if (a.device() != b.device())
    fail(op, "device mismatch: ", device_name(a.device()), " vs ", device_name(b.device()));
}

// A stride-0 view of t broadcast to `shape`, for kernels (records no autograd).
inline Tensor kernel_expand(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t lead = shape.size() - t.dim();
  Shape st(shape.size(), 0);
  for (size_t i = lead; i < shape.size(); ++i)
    if (t.shape()[i - lead] != 1) st[i] = t.strides()[i - lead];
  return make_tensor(t.impl()->storage, shape, st, t.offset(), t.dtype());
}

inline Tensor empty_like_shape(const Tensor& t, const Shape& s) {
  return empty(s, {.dtype = t.dtype(), .device = t.device()});
}

// Sorted, unique, wrapped dims; empty means all dims.
inline Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op) {
  Dims out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    fail(op, "dim repeated in ", shape_str(dims));
  if (ndim == 0) out.clear();
  return out;
}

inline Shape keepdim_shape(const Shape& s, const Dims& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}

inline Shape reduced_shape(const Shape& s, const Dims& dims, bool keepdim) {
  if (keepdim) return keepdim_shape(s, dims);
  Shape r;
  for (int64_t d = 0; d < (int64_t)s.size(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) r.push_back(s[d]);
  return r;
}

}  // namespace ng::detail
