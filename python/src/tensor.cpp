// Tensor: layout, numpy interchange (zero-copy only, or an error), autograd, operators and
// the ops of normgrad/ops.h under their C++ names.
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "normgrad/gradcheck.h"
#include "normgrad/normgrad.h"

namespace ngpy {
namespace {
using ng::Tensor;
using Dims = std::vector<int64_t>;

nb::tuple as_tuple(const std::vector<int64_t>& v) {
  nb::list l;
  for (int64_t x : v) l.append(x);
  return nb::tuple(l);
}

// A tensor's memory as a numpy array without a copy; the array keeps the tensor's storage
// alive. Refused where numpy would see memory autograd does not (like PyTorch's .numpy()).
nb::ndarray<nb::numpy> to_numpy(const Tensor& t) {
  NG_CHECK(t.device() == ng::Device::CPU, "to_numpy", "the tensor is on ",
           ng::device_name(t.device()), ": call .to('cpu') first (a copy)");
  NG_CHECK(!t.requires_grad(), "to_numpy",
           "the tensor requires grad: numpy writes would bypass autograd; use .detach() first");
  nb::dlpack::dtype dt = t.dtype() == ng::DType::F32   ? nb::dtype<float>()
                         : t.dtype() == ng::DType::F64 ? nb::dtype<double>()
                                                       : nb::dtype<int64_t>();
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  // The owner: a heap copy of the handle (shares the storage), freed with the array.
  auto* keep = new Tensor(t);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return nb::ndarray<nb::numpy>(t.raw_data(), shape.size(), shape.data(), owner, t.strides().data(),
                                dt);
}

// A tensor over a numpy array's memory; the storage holds the array until the last view of
// it dies. Anything normgrad cannot view as it is (other dtypes, negative strides, read-only
// arrays) is an error naming the explicit copy (normgrad.tensor).
Tensor from_numpy(nb::ndarray<nb::device::cpu> a) {
  ng::DType dt;
  if (a.dtype() == nb::dtype<float>())
    dt = ng::DType::F32;
  else if (a.dtype() == nb::dtype<double>())
    dt = ng::DType::F64;
  else if (a.dtype() == nb::dtype<int64_t>())
    dt = ng::DType::I64;
  else
    ng::fail("from_numpy",
             "no zero-copy view of this dtype (float32, float64 and int64 only): "
             "normgrad.tensor(array, dtype=...) copies");
  ng::Shape shape(a.ndim()), strides(a.ndim());
  int64_t span = 1;  // elements from the first to one past the last
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = (int64_t)a.shape(i);
    strides[i] = a.stride(i);
    NG_CHECK(strides[i] >= 0, "from_numpy",
             "negative strides (a reversed view) cannot be viewed: normgrad.tensor(array) copies");
    if (shape[i] == 0) span = 0;
  }
  if (span) {
    for (size_t i = 0; i < a.ndim(); ++i) span += (shape[i] - 1) * strides[i];
  }
  auto st = std::make_shared<ng::Storage>();
  st->data = a.data();
  st->nbytes = (size_t)span * ng::dtype_size(dt);
  st->device = ng::Device::CPU;
  auto* keep = new nb::ndarray<nb::device::cpu>(a);
  st->release = [keep](void*) {
    // The last view may die in C++ code that released the GIL (backward, train).
    if (!Py_IsInitialized()) return;  // interpreter gone: nothing left to free into
    nb::gil_scoped_acquire gil;
    delete keep;
  };
  if (!st->data) st->data = keep;  // empty arrays: release must still run
  return ng::make_tensor(st, shape, strides, 0, dt);
}

ng::TensorOptions opts(const std::string& dtype, bool requires_grad) {
  return {.dtype = parse_dtype(dtype), .requires_grad = requires_grad};
}

ng::Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return ng::Reduction::Mean;
  if (r == "sum") return ng::Reduction::Sum;
  if (r == "none") return ng::Reduction::None;
  ng::fail("cross_entropy", "reduction must be mean, sum or none, not '", r, "'");
}

Dims dims_of(nb::handle d) {
  if (d.is_none()) return {};
  if (nb::isinstance<nb::int_>(d)) return {nb::cast<int64_t>(d)};
  return nb::cast<Dims>(d);
}

// The result of gradcheck: truthy when every element agreed.
struct CheckResult {
  bool ok;
  std::string message;
};

}  // namespace

void bind_tensor(nb::module_& m) {
  using namespace nb::literals;
  auto T = nb::class_<Tensor>(m, "Tensor", "A strided view of a storage, with autograd.");
  T.def_prop_ro("shape", [](const Tensor& t) { return as_tuple(t.shape()); })
      .def_prop_ro(
          "strides", [](const Tensor& t) { return as_tuple(t.strides()); },
          "strides in elements (numpy's are in bytes)")
      .def_prop_ro("dtype", [](const Tensor& t) { return std::string(ng::dtype_name(t.dtype())); })
      .def_prop_ro("device",
                   [](const Tensor& t) { return std::string(ng::device_name(t.device())); })
      .def_prop_ro("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("__len__", [](const Tensor& t) { return t.dim() ? t.size(0) : 0; })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone)
      .def("detach", &Tensor::detach)
      .def("item", &Tensor::item)
      .def("__float__", &Tensor::item)
      .def("tolist", &Tensor::to_vector, "the values, row-major, as a flat list")
      .def("to_numpy", &to_numpy,
           "A numpy view of the same memory (no copy); an error where none is possible "
           "(requires_grad, non-CPU). numpy_copy() copies.")
      .def(
          "numpy_copy",
          [](const Tensor& t) {
            nb::object view = nb::cast(to_numpy(t.detach().to(ng::Device::CPU).clone()));
            return view;
          },
          "A numpy array with its own copy of the values.")
      .def(
          "to",
          [](const Tensor& t, const std::string& s) {
            if (s == "cpu" || s == "cuda") return t.to(parse_device_name(s));
            return t.to(parse_dtype(s));
          },
          "dtype_or_device"_a, "a dtype name (float32, float64, int64) or a device (cpu, cuda)")
      .def("__repr__", &Tensor::str)
      // autograd
      .def_prop_rw(
          "requires_grad", [](const Tensor& t) { return t.requires_grad(); },
          [](Tensor& t, bool on) { t.requires_grad_(on); })
      .def(
          "requires_grad_", [](Tensor& t, bool on) { return t.requires_grad_(on); }, "on"_a = true)
      .def_prop_ro("grad",
                   [](const Tensor& t) -> std::optional<Tensor> {
                     Tensor g = t.grad();
                     return g.defined() ? std::optional<Tensor>(g) : std::nullopt;
                   })
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("grad_fn", &Tensor::grad_fn_name)
      .def("zero_grad", &Tensor::zero_grad)
      .def("retain_grad", &Tensor::retain_grad)
      .def(
          "backward",
          [](const Tensor& t, std::optional<Tensor> grad, bool retain_graph, bool create_graph) {
            nb::gil_scoped_release nogil;
            t.backward(grad.value_or(Tensor()), retain_graph, create_graph);
          },
          "grad"_a = nb::none(), "retain_graph"_a = false, "create_graph"_a = false)
      // views
      .def(
          "reshape", [](const Tensor& t, Dims s) { return t.reshape(s); }, "shape"_a)
      .def(
          "view", [](const Tensor& t, Dims s) { return t.view(s); }, "shape"_a)
      .def("transpose", &Tensor::transpose, "dim0"_a, "dim1"_a)
      .def("t", &Tensor::t)
      .def_prop_ro("T", &Tensor::t)
      .def("permute", &Tensor::permute, "dims"_a)
      .def("narrow", &Tensor::narrow, "dim"_a, "start"_a, "length"_a)
      .def("select", &Tensor::select, "dim"_a, "index"_a)
      .def("slice", &Tensor::slice, "dim"_a, "start"_a, "end"_a, "step"_a = 1)
      .def("__getitem__", &tensor_getitem, "key"_a,
           "numpy's basic indexing (ints, slices, None, ...): a view sharing storage, except "
           "along a negative step (a copy: strides are non-negative)")
      .def("__setitem__", &tensor_setitem, "key"_a, "value"_a,
           "writes a Tensor (broadcast, converted to this dtype) or a number into the view "
           "x[key]; refused on a tensor that needs grad outside no_grad, and along a negative step")
      .def(
          "expand", [](const Tensor& t, Dims s) { return t.expand(s); }, "shape"_a)
      .def("squeeze", &Tensor::squeeze, "dim"_a = nb::none())
      .def("unsqueeze", &Tensor::unsqueeze, "dim"_a)
      .def("flatten", &Tensor::flatten)
      .def("norm", &Tensor::norm)
      // in place (refused by the C++ side on tensors that need grad)
      .def("fill_", [](Tensor& t, double v) { return t.fill_(v); })
      .def("zero_", [](Tensor& t) { return t.zero_(); })
      .def("copy_", [](Tensor& t, const Tensor& s) { return t.copy_(s); });

  // Arithmetic: tensor (op) tensor, tensor (op) number, number (op) tensor.
  T.def("__add__", [](const Tensor& a, const Tensor& b) { return a + b; })
      .def("__add__", [](const Tensor& a, double b) { return a + b; })
      .def("__radd__", [](const Tensor& a, double b) { return b + a; })
      .def("__sub__", [](const Tensor& a, const Tensor& b) { return a - b; })
      .def("__sub__", [](const Tensor& a, double b) { return a - b; })
      .def("__rsub__", [](const Tensor& a, double b) { return b - a; })
      .def("__mul__", [](const Tensor& a, const Tensor& b) { return a * b; })
      .def("__mul__", [](const Tensor& a, double b) { return a * b; })
      .def("__rmul__", [](const Tensor& a, double b) { return b * a; })
      .def("__truediv__", [](const Tensor& a, const Tensor& b) { return a / b; })
      .def("__truediv__", [](const Tensor& a, double b) { return a / b; })
      .def("__rtruediv__", [](const Tensor& a, double b) { return b / a; })
      .def("__neg__", [](const Tensor& a) { return -a; })
      .def("__pow__", [](const Tensor& a, double e) { return ng::pow(a, e); })
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { return ng::matmul(a, b); });

  // The ops, as module functions and (for one-tensor ops) methods too.
#define NG_UNARY(name)                                            \
  m.def(                                                          \
      #name, [](const Tensor& x) { return ng::name(x); }, "x"_a); \
  T.def(#name, [](const Tensor& x) { return ng::name(x); });
  NG_UNARY(neg)
  NG_UNARY(exp)
  NG_UNARY(log)
  NG_UNARY(sqrt)
  NG_UNARY(rsqrt)
  NG_UNARY(abs)
  NG_UNARY(square)
  NG_UNARY(tanh)
  NG_UNARY(sigmoid)
  NG_UNARY(relu)
  NG_UNARY(silu)
  NG_UNARY(erf)
  NG_UNARY(softplus)
#undef NG_UNARY
#define NG_BINARY(name) \
  m.def(                \
      #name, [](const Tensor& a, const Tensor& b) { return ng::name(a, b); }, "a"_a, "b"_a);
  NG_BINARY(add)
  NG_BINARY(sub)
  NG_BINARY(mul)
  NG_BINARY(div)
  NG_BINARY(maximum)
  NG_BINARY(minimum)
  NG_BINARY(matmul)
#undef NG_BINARY
#define NG_REDUCE(name)                                    \
  m.def(                                                   \
      #name,                                               \
      [](const Tensor& x, nb::handle dims, bool keepdim) { \
        return ng::name(x, dims_of(dims), keepdim);        \
      },                                                   \
      "x"_a, "dims"_a = nb::none(), "keepdim"_a = false);  \
  T.def(                                                   \
      #name,                                               \
      [](const Tensor& x, nb::handle dims, bool keepdim) { \
        return ng::name(x, dims_of(dims), keepdim);        \
      },                                                   \
      "dims"_a = nb::none(), "keepdim"_a = false);
  NG_REDUCE(sum)
  NG_REDUCE(mean)
  NG_REDUCE(max)
  NG_REDUCE(min)
#undef NG_REDUCE
  m.def(
      "var",
      [](const Tensor& x, nb::handle dims, int64_t correction, bool keepdim) {
        return ng::var(x, dims_of(dims), correction, keepdim);
      },
      "x"_a, "dims"_a = nb::none(), "correction"_a = 1, "keepdim"_a = false);
  m.def(
      "pow", [](const Tensor& x, double e) { return ng::pow(x, e); }, "x"_a, "exponent"_a);
  m.def("clamp", &ng::clamp, "x"_a, "lo"_a = nb::none(), "hi"_a = nb::none());
  m.def(
      "gelu",
      [](const Tensor& x, bool tanh) {
        return ng::gelu(x, tanh ? ng::GeluApprox::Tanh : ng::GeluApprox::None);
      },
      "x"_a, "tanh"_a = false);
  m.def("softmax", &ng::softmax, "x"_a, "dim"_a);
  m.def("log_softmax", &ng::log_softmax, "x"_a, "dim"_a);
  T.def("softmax", &ng::softmax, "dim"_a);
  T.def("log_softmax", &ng::log_softmax, "dim"_a);
  m.def(
      "cross_entropy",
      [](const Tensor& logits, const Tensor& target, int64_t ignore_index,
         const std::string& reduction) {
        return ng::cross_entropy(logits, target, ignore_index, parse_reduction(reduction));
      },
      "logits"_a, "target"_a, "ignore_index"_a = -100, "reduction"_a = "mean");
  m.def("linear", &ng::linear, "x"_a, "weight"_a, "bias"_a);
  m.def("cat", &ng::cat, "tensors"_a, "dim"_a = 0);
  m.def("stack", &ng::stack, "tensors"_a, "dim"_a = 0);

  // Creation.
  m.def(
      "zeros", [](Dims s, const std::string& dt, bool rg) { return ng::zeros(s, opts(dt, rg)); },
      "shape"_a, "dtype"_a = "float32", "requires_grad"_a = false);
  m.def(
      "ones", [](Dims s, const std::string& dt, bool rg) { return ng::ones(s, opts(dt, rg)); },
      "shape"_a, "dtype"_a = "float32", "requires_grad"_a = false);
  m.def(
      "full",
      [](Dims s, double v, const std::string& dt, bool rg) { return ng::full(s, v, opts(dt, rg)); },
      "shape"_a, "value"_a, "dtype"_a = "float32", "requires_grad"_a = false);
  m.def(
      "randn", [](Dims s, const std::string& dt, bool rg) { return ng::randn(s, opts(dt, rg)); },
      "shape"_a, "dtype"_a = "float32", "requires_grad"_a = false,
      "normal samples from the global generator (manual_seed)");
  m.def(
      "rand", [](Dims s, const std::string& dt, bool rg) { return ng::rand(s, opts(dt, rg)); },
      "shape"_a, "dtype"_a = "float32", "requires_grad"_a = false);
  m.def(
      "arange",
      [](double start, double end, double step, const std::string& dt) {
        return ng::arange(start, end, step, opts(dt, false));
      },
      "start"_a, "end"_a, "step"_a = 1.0, "dtype"_a = "float32");
  m.def("manual_seed", &ng::manual_seed, "seed"_a);
  m.def("from_numpy", &from_numpy, "array"_a,
        "A tensor over the array's memory (no copy): float32, float64 or int64, non-negative "
        "strides, writable; anything else is an error (normgrad.tensor copies).");

  nb::class_<CheckResult>(m, "GradcheckResult")
      .def_ro("ok", &CheckResult::ok)
      .def_ro("message", &CheckResult::message)
      .def("__bool__", [](const CheckResult& r) { return r.ok; })
      .def("__repr__", [](const CheckResult& r) {
        return std::string("GradcheckResult(ok=") + (r.ok ? "True" : "False") + ", message='" +
               r.message + "')";
      });
  m.def(
      "gradcheck",
      [](nb::callable f, const ng::TensorList& inputs, double eps, double atol, double rtol) {
        // Called back with the GIL held: gradcheck runs f many times, all in Python.
        auto fn = [&f](const ng::TensorList& xs) {
          nb::list args;
          for (const Tensor& x : xs) args.append(nb::cast(x));
          return nb::cast<Tensor>(f(*args));
        };
        const ng::GradcheckResult r = ng::gradcheck(fn, inputs, {eps, atol, rtol});
        return CheckResult{r.ok, r.message};
      },
      "f"_a, "inputs"_a, "eps"_a = 1e-6, "atol"_a = 1e-5, "rtol"_a = 1e-3,
      "Finite differences vs backward for f(*inputs) (use float64 inputs).");
}

}  // namespace ngpy
