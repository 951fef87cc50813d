// Per-element formulas shared by the generic kernels and their AVX-512 builds
// (avx512.cpp): one definition, compiled once per instruction set.
#pragma once
#include "cpu_math.h"
#include "normgrad/elementwise_formulas.h"

namespace ng::cpu {

// GELU's formulas (normgrad/elementwise_formulas.h) with the CPU's math.
template <class T>
NG_VEC_INLINE T gelu_erf(T x) {
  return formulas::gelu_erf<CpuMath, T>(x);
}
template <class T>
NG_VEC_INLINE T gelu_erf_backward(T g, T x) {
  return formulas::gelu_erf_backward<CpuMath, T>(g, x);
}

// One Adam/AdamW element, PyTorch's formulation (see AdamParams).
template <class T>
struct AdamConsts {
  T b1, b2, eps, decay, l2, step_size, inv_sqrt_b2;
};
template <class T>
NG_VEC_INLINE void adam_element(const AdamConsts<T>& k, T& p, T g, T& m, T& v) {
  const T gi = g + k.l2 * p;
  m = k.b1 * m + (T(1) - k.b1) * gi;
  v = k.b2 * v + (T(1) - k.b2) * gi * gi;
  p = p * k.decay - k.step_size * m / (std::sqrt(v) * k.inv_sqrt_b2 + k.eps);
}

}  // namespace ng::cpu
