// Branch-free float exp/tanh that GCC auto-vectorizes (libm's calls block vectorization).
// Accuracy: a few ulp over the whole range; tested against std:: in tests/test_kernels.
// float64 kernels call std:: directly (they serve gradcheck, not speed).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace ng::cpu {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

inline float fast_expf(float x) {
  const float xc = std::fmin(std::fmax(x, -87.0f), 88.72f);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  // r = x - n*ln2 in two steps so r keeps full precision
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n built from bits as 2^(n-1) * 2 so that n = 128 stays representable
  const float scale = bits_to_float(((int32_t)n + 126) << 23) * 2.0f;
  float y = p * scale;
  y = x < -87.0f ? 0.0f : y;
  y = x > 88.72f ? std::numeric_limits<float>::infinity() : y;
  return y;
}

inline float fast_tanhf(float x) {
  const float a = std::fmin(std::fabs(x), 10.0f);  // tanh(10) == 1 in float
  const float x2 = x * x;
  // odd Taylor series: exact to float precision for |x| < 0.3
  const float small =
      x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 +
                                       x2 * (62.0f / 2835 + x2 * (-1382.0f / 155925)))));
  const float big = std::copysign(1.0f - 2.0f / (fast_expf(2.0f * a) + 1.0f), x);
  float y = std::fabs(x) < 0.3f ? small : big;
  return x != x ? x : y;  // keep NaN
}

inline float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

template <class T> inline T vexp(T x) { return std::exp(x); }
template <> inline float vexp<float>(float x) { return fast_expf(x); }
template <class T> inline T vtanh(T x) { return std::tanh(x); }
template <> inline float vtanh<float>(float x) { return fast_tanhf(x); }
template <class T> inline T vsigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <> inline float vsigmoid<float>(float x) { return fast_sigmoidf(x); }

}  // namespace ng::cpu
