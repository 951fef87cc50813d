// Shared by the binding files of normgrad._core: each binds one part of the API.
#pragma once
#include <nanobind/nanobind.h>

#include <string>

#include "normgrad/dtype.h"

namespace ngpy {
namespace nb = nanobind;

// "float32" / "float64" / "int64" (numpy's spelling, also ng::dtype_name's).
ng::DType parse_dtype(const std::string& name);
ng::Device parse_device_name(const std::string& name);

void bind_tensor(nb::module_& m);
void bind_nn(nb::module_& m, nb::module_& nn, nb::module_& optim);
void bind_train(nb::module_& m);
}  // namespace ngpy
