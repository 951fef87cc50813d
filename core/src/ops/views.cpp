// View ops: new shape/strides over the same storage, each with its backward.
#include <algorithm>
#include <numeric>
#include <optional>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng {
namespace {

Tensor alias(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  return make_tensor(x.impl()->storage, std::move(shape), std::move(strides), offset, x.dtype());
}

// Strides that let `x` be seen with `shape` without copying, if they exist: groups of old
// dims that are contiguous with each other may be split or merged freely.
std::optional<Shape> view_strides(const Shape& old, const Shape& old_st, const Shape& shape) {
  if (numel_of(old) == 0 || old.empty()) return contiguous_strides(shape);
  Shape st(shape.size());
  int64_t view_d = (int64_t)shape.size() - 1;
  int64_t chunk_stride = old_st.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = (int64_t)old.size() - 1; d >= 0; --d) {
    tensor_numel *= old[d];
    if (d == 0 || (old[d - 1] != 1 && old_st[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_stride = old_st[d - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}

Shape infer_shape(const Shape& s, int64_t numel, const char* op, const Shape& from) {
  Shape out = s;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) fail(op, "only one dimension can be -1, got ", shape_str(s));
      infer = (int64_t)i;
    } else if (s[i] < 0) {
      fail(op, "invalid size in shape ", shape_str(s));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      fail(op, "cannot reshape ", shape_str(from), " into ", shape_str(s));
    out[infer] = numel / known;
  }
  if (numel_of(out) != numel)
    fail(op, "cannot reshape ", shape_str(from), " (", numel, " elements) into ", shape_str(s));
  return out;
}

Tensor reshape_backward(const Tensor& out, const Tensor& x, const char* name) {
  const Shape in = x.shape();
  return autograd::record(name, out, {x}, {}, [in](const TensorList&, const Tensor& g) {
    return TensorList{g.reshape(in)};
  });
}

}  // namespace

Tensor Tensor::view(const Shape& s) const {
  const Shape shape_ = infer_shape(s, numel(), "view", shape());
  auto st = view_strides(shape(), strides(), shape_);
  if (!st)
    fail("view", "shape ", shape_str(shape()), " with strides ", shape_str(strides()),
         " cannot be viewed as ", shape_str(shape_), " without a copy; use reshape()");
  return reshape_backward(alias(*this, shape_, *st, offset()), *this, "view");
}

Tensor Tensor::reshape(const Shape& s) const {
  const Shape shape_ = infer_shape(s, numel(), "reshape", shape());
  if (shape_ == shape()) return *this;
  if (auto st = view_strides(shape(), strides(), shape_))
    return reshape_backward(alias(*this, shape_, *st, offset()), *this, "reshape");
  return contiguous().view(shape_);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  if (dim() == 0) return *this;
  Shape s = shape(), st = strides();
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  return autograd::record(
      "transpose", alias(*this, s, st, offset()), {*this}, {},
      [d0, d1](const TensorList&, const Tensor& g) { return TensorList{g.transpose(d0, d1)}; });
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  if ((int64_t)dims.size() != dim())
    fail("permute", "got ", dims.size(), " dims for a tensor of shape ", shape_str(shape()));
  std::vector<int64_t> p(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape s(dims.size()), st(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p[i] = wrap_dim(dims[i], dim(), "permute");
    if (seen[p[i]]) fail("permute", "dim ", p[i], " repeated in ", shape_str(dims));
    seen[p[i]] = true;
    s[i] = shape()[p[i]];
    st[i] = strides()[p[i]];
    inverse[p[i]] = (int64_t)i;
  }
  return autograd::record(
      "permute", alias(*this, s, st, offset()), {*this}, {},
      [inverse](const TensorList&, const Tensor& g) { return TensorList{g.permute(inverse)}; });
}

// The gradient of a slice: zeros of the input's shape with g written into the slice.
// Differentiable: its own backward slices again.
static Tensor slice_backward(const Tensor& g, const Shape& in, int64_t dim, int64_t start,
                             int64_t step) {
  Tensor out = zeros(in, {.dtype = g.dtype(), .device = g.device()});
  {
    NoGradGuard ng;
    out.slice(dim, start, start + g.size(dim) * step, step).copy_(g);
  }
  const int64_t len = g.size(dim);
  return autograd::record("slice_backward", out, {g}, {},
                          [dim, start, len, step](const TensorList&, const Tensor& gg) {
                            return TensorList{gg.slice(dim, start, start + len * step, step)};
                          });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  if (step <= 0) fail("slice", "step must be positive, got ", step);
  const int64_t n = size(d);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  const Shape in = shape();
  return autograd::record("slice", alias(*this, s, st, offset() + start * stride(d)), {*this}, {},
                          [in, d, start, step](const TensorList&, const Tensor& g) {
                            return TensorList{slice_backward(g, in, d, start, step)};
                          });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += size(d);
  if (start < 0 || length < 0 || start + length > size(d))
    fail("narrow", "start ", start, " length ", length, " out of range for dim ", d, " of shape ",
         shape_str(shape()));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  if (index < -size(d) || index >= size(d))
    fail("select", "index ", index, " out of range for dim ", d, " of shape ", shape_str(shape()));
  if (index < 0) index += size(d);
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& s) const {
  if (s.size() < (size_t)dim())
    fail("expand", "cannot expand shape ", shape_str(shape()), " to fewer dims ", shape_str(s));
  const size_t lead = s.size() - dim();
  Shape out(s.size()), st(s.size(), 0);
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t want = s[i];
    if (i < lead) {
      if (want < 0) fail("expand", "-1 not allowed for new leading dims in ", shape_str(s));
      out[i] = want;
      continue;
    }
    const int64_t have = shape()[i - lead];
    if (want == -1 || want == have) {
      out[i] = have;
      st[i] = strides()[i - lead];
    } else if (have == 1) {
      out[i] = want;
    } else {
      fail("expand", "cannot expand shape ", shape_str(shape()), " to ", shape_str(s));
    }
  }
  if (out == shape()) return *this;
  const Shape in = shape();
  return autograd::record(
      "expand", alias(*this, out, st, offset()), {*this}, {},
      [in](const TensorList&, const Tensor& g) { return TensorList{sum_to(g, in)}; });
}

Tensor Tensor::squeeze(std::optional<int64_t> d) const {
  Shape s, st;
  const int64_t only = d ? wrap_dim(*d, dim(), "squeeze") : -1;
  for (int64_t i = 0; i < dim(); ++i) {
    if (shape()[i] == 1 && (only < 0 || i == only)) continue;
    s.push_back(shape()[i]);
    st.push_back(strides()[i]);
  }
  if (s.size() == (size_t)dim()) return *this;
  return reshape_backward(alias(*this, s, st, offset()), *this, "squeeze");
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t new_stride = d < dim() ? st[d] * s[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  return reshape_backward(alias(*this, s, st, offset()), *this, "unsqueeze");
}

}  // namespace ng
