// Per-element formulas shared by the generic kernels and their AVX-512 builds
// (avx512.cpp): one definition, compiled once per instruction set.
#pragma once
#include "vec_math.h"

namespace ng::cpu {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

// y = x Phi(x)
template <class T>
NG_VEC_INLINE T gelu_erf(T x) {
  return x * vnormal_cdf(x);
}
// g * (Phi(x) + x phi(x))
template <class T>
NG_VEC_INLINE T gelu_erf_backward(T g, T x) {
  return g * (vnormal_cdf(x) + x * T(kInvSqrt2Pi) * vexp(T(-0.5) * x * x));
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
