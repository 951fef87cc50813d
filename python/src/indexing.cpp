// Tensor.__getitem__: numpy's basic indexing (ints, slices, None, ...) over the C++ views
// (select, slice, unsqueeze), so results share storage and stay differentiable. Two
// exceptions copy, by index_select (gradients still flow back): a negative step (normgrad
// strides are non-negative) and one integer index array (a list, numpy array or Tensor).
// Tensor.__setitem__: the same key names a view, and the value is written into it (copy_ or
// fill_, with their checks: broadcasting, dtype conversion, refusal on tensors that need
// grad). A negative step is refused there: its copy would take the write and lose it.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <vector>

#include "common.h"
#include "normgrad/normgrad.h"

namespace ngpy {
namespace {
using ng::Tensor;

// The parts of a key, each one of these.
enum class Part { Int, Slice, NewAxis, Ellipsis, Array };

Part classify(const Tensor& x, nb::handle item) {
  if (item.is_none()) return Part::NewAxis;
  if (item.ptr() == Py_Ellipsis) return Part::Ellipsis;
  if (PySlice_Check(item.ptr())) return Part::Slice;
  // A numpy array has __index__ too (for its 0-d form): its dims decide.
  const bool array =
      PyList_Check(item.ptr()) || PyTuple_Check(item.ptr()) || nb::isinstance<Tensor>(item) ||
      (nb::hasattr(item, "__array_interface__") && nb::cast<int64_t>(item.attr("ndim")) > 0);
  if (array) return Part::Array;
  // bool is an int in Python but a mask in numpy: refuse rather than guess.
  if (!PyBool_Check(item.ptr()) && PyIndex_Check(item.ptr())) return Part::Int;
  const std::string type = nb::cast<std::string>(nb::str(item.type().attr("__name__")));
  ng::fail("getitem", "index of type ", type, " for a tensor of shape ", ng::shape_str(x.shape()),
           ": only ints, slices, None, ... and one integer index array (list, numpy array or "
           "Tensor)");
}

// An integer index array's values (row-major) and shape, read through numpy.
struct IndexArray {
  std::vector<int64_t> values;
  ng::Shape shape;
};

IndexArray index_array(const Tensor& x, nb::handle item) {
  nb::module_ np = nb::module_::import_("numpy");
  nb::object a =
      nb::isinstance<Tensor>(item) ? item.attr("numpy_copy")() : np.attr("asarray")(item);
  const std::string kind = nb::cast<std::string>(a.attr("dtype").attr("kind"));
  const std::string dtype = nb::cast<std::string>(a.attr("dtype").attr("name"));
  NG_CHECK(kind != "b", "getitem", "a boolean mask (dtype ", dtype, ") for a tensor of shape ",
           ng::shape_str(x.shape()), ": pass the positions instead (numpy.nonzero(mask)[0])");
  NG_CHECK(kind == "i" || kind == "u" || nb::cast<int64_t>(a.attr("size")) == 0, "getitem",
           "an index array of dtype ", dtype, " for a tensor of shape ", ng::shape_str(x.shape()),
           ": indices must be integers");
  IndexArray r;
  r.values =
      nb::cast<std::vector<int64_t>>(a.attr("astype")("int64").attr("ravel")().attr("tolist")());
  r.shape = nb::cast<ng::Shape>(a.attr("shape"));
  return r;
}

// x[..., index, ...] on dim d (numpy's rule for a key with one index array: the index's dims
// take the place of dim d). A copy by index_select, so gradients scatter back.
Tensor select_array(const Tensor& x, int64_t d, int64_t src, const Tensor& whole, nb::handle item) {
  IndexArray a = index_array(whole, item);
  const int64_t n = x.size(d);
  for (int64_t& i : a.values) {
    NG_CHECK(i >= -n && i < n, "getitem", "index ", i, " out of range for dim ", src, " (size ", n,
             ") of shape ", ng::shape_str(whole.shape()));
    if (i < 0) i += n;
  }
  const int64_t m = (int64_t)a.values.size();
  Tensor r = ng::index_select(x, d, ng::from_vector(a.values, {m}).to(x.device()));
  if (a.shape.size() == 1) return r;
  ng::Shape s(r.shape().begin(), r.shape().begin() + d);
  s.insert(s.end(), a.shape.begin(), a.shape.end());
  s.insert(s.end(), r.shape().begin() + d + 1, r.shape().end());
  return r.reshape(s);
}

int64_t as_index(nb::handle item) {
  const Py_ssize_t i = PyNumber_AsSsize_t(item.ptr(), PyExc_IndexError);
  if (i == -1 && PyErr_Occurred()) throw nb::python_error();
  return (int64_t)i;
}

// x[..., start:stop:step, ...] on dim d, for the numbers Python's slice.indices() gives.
Tensor slice_dim(const Tensor& x, int64_t d, nb::handle item, bool for_assignment) {
  Py_ssize_t start = 0, stop = 0, step = 1;
  if (PySlice_Unpack(item.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
  NG_CHECK(step > 0 || !for_assignment, "setitem", "a slice with step ", (int64_t)step, " on dim ",
           d, " of shape ", ng::shape_str(x.shape()),
           ": normgrad views have non-negative strides, so there is no view to write into "
           "(assign to the positive-step slice and flip the value instead)");
  const Py_ssize_t len = PySlice_AdjustIndices((Py_ssize_t)x.size(d), &start, &stop, step);
  if (len == 0) return x.slice(d, 0, 0);  // empty, whatever the step
  if (step > 0) return x.slice(d, start, start + (len - 1) * step + 1, step);
  std::vector<int64_t> idx(len);
  for (Py_ssize_t k = 0; k < len; ++k) idx[k] = start + k * step;
  Tensor index = ng::from_vector(idx, {(int64_t)len});
  return ng::index_select(x, d, index.to(x.device()));
}

Tensor index_view(const Tensor& x, nb::handle key, bool for_assignment) {
  std::vector<nb::handle> items;
  if (nb::isinstance<nb::tuple>(key)) {
    for (nb::handle h : nb::borrow<nb::tuple>(key)) items.push_back(h);
  } else {
    items.push_back(key);
  }
  std::vector<Part> parts;
  int64_t consumed = 0, ellipses = 0, arrays = 0;
  for (nb::handle h : items) {
    parts.push_back(classify(x, h));
    consumed +=
        parts.back() == Part::Int || parts.back() == Part::Slice || parts.back() == Part::Array;
    ellipses += parts.back() == Part::Ellipsis;
    arrays += parts.back() == Part::Array;
  }
  NG_CHECK(ellipses <= 1, "getitem", "an index can only have one ellipsis (...)");
  // numpy broadcasts several index arrays against each other: not supported, said so
  NG_CHECK(arrays <= 1, "getitem", "a key with ", arrays, " index arrays for a tensor of shape ",
           ng::shape_str(x.shape()), ": one index array per key (index twice instead)");
  NG_CHECK(arrays == 0 || !for_assignment, "setitem",
           "an index array selects a copy of the tensor of shape ", ng::shape_str(x.shape()),
           ", so there is no view to write into: assign through ints and slices, or build the "
           "result out of place (index_add / scatter_add)");
  NG_CHECK(consumed <= x.dim(), "getitem", "too many indices (", consumed,
           ") for a tensor of shape ", ng::shape_str(x.shape()));

  Tensor r = x;
  int64_t array_at = -1, array_dims = 0;  // where the index array's dims are in r
  int64_t d = 0;                          // the dim of r the next part applies to
  int64_t src = 0;                        // the dim of x it is (for errors)
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
        r = slice_dim(r, d++, items[k], for_assignment);
        ++src;
        break;
      case Part::Array: {
        const int64_t before = r.dim();
        r = select_array(r, d, src, x, items[k]);
        array_at = d;
        array_dims = r.dim() - before + 1;
        d += array_dims;
        ++src;
        break;
      }
      case Part::NewAxis:
        r = r.unsqueeze(d++);
        break;
      case Part::Ellipsis:
        d += x.dim() - consumed;  // the dims no part names stay whole
        src += x.dim() - consumed;
        break;
    }
  }
  // numpy: ints count as index arrays beside one; when a slice, ... or None separates them,
  // the array's dims go first
  int64_t first = -1, last = -1, advanced = 0;
  for (size_t k = 0; k < parts.size(); ++k)
    if (parts[k] == Part::Int || parts[k] == Part::Array) {
      if (first < 0) first = (int64_t)k;
      last = (int64_t)k;
      ++advanced;
    }
  if (array_at > 0 && last - first + 1 != advanced) {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < array_dims; ++i) order.push_back(array_at + i);
    for (int64_t i = 0; i < r.dim(); ++i)
      if (i < array_at || i >= array_at + array_dims) order.push_back(i);
    r = r.permute(order);
  }
  return r;
}

}  // namespace

Tensor tensor_getitem(const Tensor& x, nb::handle key) { return index_view(x, key, false); }

void tensor_setitem(Tensor& x, nb::handle key, nb::handle value) {
  Tensor view = index_view(x, key, true);
  if (nb::isinstance<Tensor>(value)) {
    const Tensor& v = nb::cast<const Tensor&>(value);
    // copy_ detaches its source: without this the value's gradient would silently stop here
    NG_CHECK(!(v.requires_grad() && ng::GradMode::enabled()), "setitem", "the value (shape ",
             ng::shape_str(v.shape()),
             ") requires grad, and an assignment is "
             "not recorded by autograd: assign value.detach(), or build the tensor out of place");
    view.copy_(v);
    return;
  }
  if (!PyBool_Check(value.ptr()) && (PyFloat_Check(value.ptr()) || PyIndex_Check(value.ptr()))) {
    view.fill_(nb::cast<double>(value));
    return;
  }
  const std::string type = nb::cast<std::string>(nb::str(value.type().attr("__name__")));
  ng::fail(
      "setitem", "value of type ", type, " for a view of shape ", ng::shape_str(view.shape()),
      ": a Tensor (broadcast to the view) or a number (normgrad.from_numpy converts an array)");
}

}  // namespace ngpy
