// The CPU's math policy for the formulas written once for both backends (normgrad/hd.h):
// our vectorizable float functions where the kernels have always used them (exp, tanh,
// erf, sigmoid, normal_cdf), libm elsewhere (and for double).
#pragma once
#include <cmath>

#include "vec_math.h"

namespace ng::cpu {

struct CpuMath {
  template <class T>
  static NG_VEC_INLINE T exp(T x) {
    return vexp(x);
  }
  template <class T>
  static NG_VEC_INLINE T tanh(T x) {
    return vtanh(x);
  }
  template <class T>
  static NG_VEC_INLINE T erf(T x) {
    return verf(x);
  }
  template <class T>
  static NG_VEC_INLINE T sigmoid(T x) {
    return vsigmoid(x);
  }
  template <class T>
  static NG_VEC_INLINE T normal_cdf(T x) {
    return vnormal_cdf(x);
  }
  template <class T>
  static NG_VEC_INLINE T sqrt(T x) {
    return std::sqrt(x);
  }
  template <class T>
  static NG_VEC_INLINE T log(T x) {
    return std::log(x);
  }
  template <class T>
  static NG_VEC_INLINE T log1p(T x) {
    return std::log1p(x);
  }
  template <class T>
  static NG_VEC_INLINE T abs(T x) {
    return std::abs(x);
  }
  template <class T>
  static NG_VEC_INLINE T pow(T x, T y) {
    return std::pow(x, y);
  }
  // libm's versions where an op promises them (the erf op; exp inside softplus)
  template <class T>
  static NG_VEC_INLINE T erf_libm(T x) {
    return std::erf(x);
  }
  template <class T>
  static NG_VEC_INLINE T exp_libm(T x) {
    return std::exp(x);
  }
};

}  // namespace ng::cpu
