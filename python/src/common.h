// Shared by the binding files of normgrad._core: each binds one part of the API.
#pragma once
#include <nanobind/nanobind.h>

#include <csignal>
#include <string>

#include "normgrad/dtype.h"
#include "normgrad/tensor.h"

namespace ngpy {
namespace nb = nanobind;

// "float32" / "float64" / "int64" (numpy's spelling, also ng::dtype_name's).
ng::DType parse_dtype(const std::string& name);
ng::Device parse_device_name(const std::string& name);

// x[key] for numpy's basic indexing (indexing.cpp).
ng::Tensor tensor_getitem(const ng::Tensor& x, nb::handle key);
void tensor_setitem(ng::Tensor& x, nb::handle key, nb::handle value);

// A C++ loop that Ctrl-C (SIGINT) stopped has finished its step and saved its checkpoint;
// Python then gets what any interrupted Python code raises, KeyboardInterrupt(message), with
// the result as its `result` attribute. Any other ending (or another signal) returns it.
template <class Result>
nb::object result_or_keyboard_interrupt(Result r, int signal, const std::string& message) {
  nb::object obj = nb::cast(std::move(r));
  if (signal != SIGINT) return obj;
  nb::object e = nb::handle(PyExc_KeyboardInterrupt)(message);
  nb::setattr(e, "result", obj);
  PyErr_SetObject(PyExc_KeyboardInterrupt, e.ptr());
  throw nb::python_error();
}

void bind_tensor(nb::module_& m);
void bind_nn(nb::module_& m, nb::module_& nn, nb::module_& optim);
void bind_train(nb::module_& m);
void bind_checkpoint(nb::module_& m);
void bind_report(nb::module_& m);
}  // namespace ngpy
