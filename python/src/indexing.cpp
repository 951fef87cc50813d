// Tensor.__getitem__: numpy's basic indexing (ints, slices, None, ...) over the C++ views
// (select, slice, unsqueeze), so results share storage and stay differentiable. The one
// exception is a negative step: normgrad strides are non-negative, so that axis is gathered
// by index_select into a copy (its gradient still flows back).
#include <nanobind/stl/string.h>

#include <vector>

#include "common.h"
#include "normgrad/normgrad.h"

namespace ngpy {
namespace {
using ng::Tensor;

// The parts of a key, each one of these.
enum class Part { Int, Slice, NewAxis, Ellipsis };

Part classify(const Tensor& x, nb::handle item) {
  if (item.is_none()) return Part::NewAxis;
  if (item.ptr() == Py_Ellipsis) return Part::Ellipsis;
  if (PySlice_Check(item.ptr())) return Part::Slice;
  // bool is an int in Python but a mask in numpy: refuse rather than guess.
  if (!PyBool_Check(item.ptr()) && PyIndex_Check(item.ptr())) return Part::Int;
  const std::string type = nb::cast<std::string>(nb::str(item.type().attr("__name__")));
  ng::fail("getitem", "index of type ", type, " for a tensor of shape ", ng::shape_str(x.shape()),
           ": only ints, slices, None and ... (advanced indexing by lists, arrays or tensors: "
           "index_select / gather)");
}

int64_t as_index(nb::handle item) {
  const Py_ssize_t i = PyNumber_AsSsize_t(item.ptr(), PyExc_IndexError);
  if (i == -1 && PyErr_Occurred()) throw nb::python_error();
  return (int64_t)i;
}

// x[..., start:stop:step, ...] on dim d, for the numbers Python's slice.indices() gives.
Tensor slice_dim(const Tensor& x, int64_t d, nb::handle item) {
  Py_ssize_t start = 0, stop = 0, step = 1;
  if (PySlice_Unpack(item.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
  const Py_ssize_t len = PySlice_AdjustIndices((Py_ssize_t)x.size(d), &start, &stop, step);
  if (len == 0) return x.slice(d, 0, 0);  // empty, whatever the step
  if (step > 0) return x.slice(d, start, start + (len - 1) * step + 1, step);
  std::vector<int64_t> idx(len);
  for (Py_ssize_t k = 0; k < len; ++k) idx[k] = start + k * step;
  Tensor index = ng::from_vector(idx, {(int64_t)len});
  return ng::index_select(x, d, index.to(x.device()));
}

}  // namespace

Tensor tensor_getitem(const Tensor& x, nb::handle key) {
  std::vector<nb::handle> items;
  if (nb::isinstance<nb::tuple>(key)) {
    for (nb::handle h : nb::borrow<nb::tuple>(key)) items.push_back(h);
  } else {
    items.push_back(key);
  }
  std::vector<Part> parts;
  int64_t consumed = 0, ellipses = 0;
  for (nb::handle h : items) {
    parts.push_back(classify(x, h));
    consumed += parts.back() == Part::Int || parts.back() == Part::Slice;
    ellipses += parts.back() == Part::Ellipsis;
  }
  NG_CHECK(ellipses <= 1, "getitem", "an index can only have one ellipsis (...)");
  NG_CHECK(consumed <= x.dim(), "getitem", "too many indices (", consumed,
           ") for a tensor of shape ", ng::shape_str(x.shape()));

  Tensor r = x;
  int64_t d = 0;    // the dim of r the next part applies to
  int64_t src = 0;  // the dim of x it is (for errors)
  for (size_t k = 0; k < items.size(); ++k) {
    switch (parts[k]) {
      case Part::Int: {
        const int64_t i = as_index(items[k]), n = r.size(d);
        NG_CHECK(i >= -n && i < n, "getitem", "index ", i, " out of range for dim ", src, " (size ",
                 n, ") of shape ", ng::shape_str(x.shape()));
        r = r.select(d, i);
        ++src;
        break;
      }
      case Part::Slice:
        r = slice_dim(r, d++, items[k]);
        ++src;
        break;
      case Part::NewAxis:
        r = r.unsqueeze(d++);
        break;
      case Part::Ellipsis:
        d += x.dim() - consumed;  // the dims no part names stay whole
        src += x.dim() - consumed;
        break;
    }
  }
  return r;
}

}  // namespace ngpy
