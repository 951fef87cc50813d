// Whether the GPU tests can run here; otherwise each test case prints why it skipped.
#pragma once
#include <doctest/doctest.h>

#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

namespace ngt {

// True when the GPU tests can run; otherwise prints the reason once per test case.
inline bool gpu_ready() {
#ifndef NG_HAS_CUDA
  MESSAGE("skipped: normgrad was built without the CUDA backend (NG_CUDA=OFF or no nvcc)");
  return false;
#else
  if (!ng::cuda::is_available()) {
    MESSAGE("skipped: CUDA backend built, but no usable GPU here ("
            << ng::cuda::unavailable_reason() << ")");
    return false;
  }
  return true;
#endif
}

}  // namespace ngt
