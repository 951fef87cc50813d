// Branch-free float exp/tanh that GCC auto-vectorizes (libm's calls block vectorization).
// Accuracy: a few ulp over the whole range; tested against std:: in tests/test_kernels.
// float64 kernels call std:: directly (they serve gradcheck, not speed).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

// Forced inline: out of line, the call alone stops the loop from vectorizing.
#define NG_VEC_INLINE inline __attribute__((always_inline))

namespace ng::cpu {

NG_VEC_INLINE float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

// Plain compares and selects only: std::fmin/fmax/floor keep GCC from vectorizing
// unless -ffast-math, which we refuse (it would break NaN/Inf handling elsewhere).
NG_VEC_INLINE float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// Splits x = n ln2 + r with |r| <= ln2/2; returns n (a whole number, as float).
NG_VEC_INLINE float reduce_ln2(float x, float& r) {
  // round-to-nearest by adding and removing 1.5 * 2^23 (exact for |v| < 2^22)
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 in two parts: r stays exact
  return n;
}

// e^r - 1 for |r| <= ln2/2: the Taylor polynomial without its constant term, so small
// results keep full relative precision (error < 1 ulp at the interval's ends).
NG_VEC_INLINE float expm1_poly(float r) {
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r;
}

// 2^n for whole n in [-125, 128], built from exponent bits as 2^(n-1) * 2.
NG_VEC_INLINE float pow2(float n) { return bits_to_float(((int32_t)n + 126) << 23) * 2.0f; }

NG_VEC_INLINE float fast_expf(float x) {
  float r;
  const float n = reduce_ln2(clampf(x, -87.0f, 88.72f), r);
  // 2^n e^r as 2^(n-1) e^r * 2: 2^n itself overflows for n = 128 (x in (88.03, 88.72]),
  // where the result is still finite.
  const float half_scale = bits_to_float(((int32_t)n + 126) << 23);
  float y = (half_scale * expm1_poly(r) + half_scale) * 2.0f;
  y = x < -87.0f ? 0.0f : y;
  y = x > 88.72f ? std::numeric_limits<float>::infinity() : y;
  return y;
}

// expm1 for 0 <= x <= 20: 2^n (e^r - 1) + (2^n - 1), exact in relative terms near 0.
NG_VEC_INLINE float fast_expm1f_pos(float x) {
  float r;
  const float n = reduce_ln2(x, r);
  const float scale = pow2(n);
  return scale * expm1_poly(r) + (scale - 1.0f);
}

// tanh(a) = (e^{2a} - 1) / (e^{2a} + 1) = m / (m + 2), m = expm1(2a)
NG_VEC_INLINE float fast_tanhf(float x) {
  const float ax = x < 0 ? -x : x;
  const float a = ax > 9.0f ? 9.0f : ax;  // tanh(9) == 1 in float
  const float m = fast_expm1f_pos(2.0f * a);
  const float t = m / (m + 2.0f);
  const float y = x < 0 ? -t : t;
  return x != x ? x : y;  // keep NaN
}

// erf for float: odd Taylor series below 0.3 (exact to float precision), Abramowitz &
// Stegun 7.1.26 above (absolute error < 1.5e-7, so relative < 5e-7 there).
NG_VEC_INLINE float fast_erff(float x) {
  const float a = x < 0 ? -x : x;
  const float x2 = x * x;
  const float small =
      1.1283791670955126f * x *
      (1.0f + x2 * (-1.0f / 3 + x2 * (1.0f / 10 + x2 * (-1.0f / 42 + x2 * (1.0f / 216)))));
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float poly =
      t * (0.254829592f +
           t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float big_mag = 1.0f - poly * fast_expf(-a * a);
  const float big = x < 0 ? -big_mag : big_mag;
  const float y = a < 0.3f ? small : big;
  return x != x ? x : y;
}

NG_VEC_INLINE float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

// erfc for z >= 0 with fractional error < 1.2e-7 everywhere (the Chebyshev-fitted form
// t exp(-z^2 + P(t)), t = 1 / (1 + z/2), of Numerical Recipes' erfcc): unlike 1 - erf(z),
// it keeps full relative precision in the far tail.
NG_VEC_INLINE float fast_erfcf_pos(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * fast_expf(p - z * z);
}

// The standard normal CDF Phi(x) = erfc(-x/sqrt2)/2, accurate in relative terms for
// negative x (where GELU's x Phi(x) is tiny) and keeping NaN.
NG_VEC_INLINE float fast_normal_cdf(float x) {
  const float z = x * 0.70710678118654752f;
  const float az = z < 0 ? -z : z;
  const float half_tail = 0.5f * fast_erfcf_pos(az > 10.0f ? 10.0f : az);
  const float y = z < 0 ? half_tail : 1.0f - half_tail;
  return x != x ? x : y;
}

// Kernels call these with T = float (our vectorizable versions) or double (libm).
template <class T>
NG_VEC_INLINE T vexp(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_expf(x);
  else
    return std::exp(x);
}
template <class T>
NG_VEC_INLINE T vtanh(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_tanhf(x);
  else
    return std::tanh(x);
}
template <class T>
NG_VEC_INLINE T verf(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_erff(x);
  else
    return std::erf(x);
}
template <class T>
NG_VEC_INLINE T vnormal_cdf(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_normal_cdf(x);
  else
    return T(0.5) * std::erfc(-x * T(0.70710678118654752));
}
template <class T>
NG_VEC_INLINE T vsigmoid(T x) {
  if constexpr (std::is_same_v<T, float>)
    return fast_sigmoidf(x);
  else
    return T(1) / (T(1) + std::exp(-x));
}

}  // namespace ng::cpu
