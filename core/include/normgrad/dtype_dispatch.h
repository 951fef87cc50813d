// Turns a runtime dtype into a C++ type once per kernel call, outside the hot loop; shared
// by the CPU and CUDA backends.
#pragma once
#include <cstdint>

#include "normgrad/dtype.h"
#include "normgrad/error.h"

namespace ng {

// f receives a value of the matching type: f(float{}) or f(double{}).
template <class F>
void dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32:
      f(float{});
      return;
    case DType::F64:
      f(double{});
      return;
    default:
      fail(op, "expected a floating-point tensor, got ", dtype_name(t));
  }
}

// Calls f with a value of t's C++ type (float, double or int64_t): one body for every dtype.
template <class F>
void dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      f(float{});
      return;
    case DType::F64:
      f(double{});
      return;
    case DType::I64:
      f(int64_t{});
      return;
  }
}

}  // namespace ng
