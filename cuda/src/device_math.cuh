// Device math shared by the elementwise and norm kernels: one name per function for
// float and double (CUDA's precise versions; we never build with --use_fast_math).
#pragma once
#include <cuda_runtime.h>

#include <type_traits>

namespace ng::cuda {

template <class T>
__device__ __forceinline__ T d_exp(T x) {
  if constexpr (std::is_same_v<T, float>)
    return expf(x);
  else
    return exp(x);
}
template <class T>
__device__ __forceinline__ T d_log(T x) {
  if constexpr (std::is_same_v<T, float>)
    return logf(x);
  else
    return log(x);
}
template <class T>
__device__ __forceinline__ T d_log1p(T x) {
  if constexpr (std::is_same_v<T, float>)
    return log1pf(x);
  else
    return log1p(x);
}
template <class T>
__device__ __forceinline__ T d_sqrt(T x) {
  if constexpr (std::is_same_v<T, float>)
    return sqrtf(x);
  else
    return sqrt(x);
}
template <class T>
__device__ __forceinline__ T d_tanh(T x) {
  if constexpr (std::is_same_v<T, float>)
    return tanhf(x);
  else
    return tanh(x);
}
template <class T>
__device__ __forceinline__ T d_erf(T x) {
  if constexpr (std::is_same_v<T, float>)
    return erff(x);
  else
    return erf(x);
}
template <class T>
__device__ __forceinline__ T d_erfc(T x) {
  if constexpr (std::is_same_v<T, float>)
    return erfcf(x);
  else
    return erfc(x);
}
template <class T>
__device__ __forceinline__ T d_pow(T x, T y) {
  if constexpr (std::is_same_v<T, float>)
    return powf(x, y);
  else
    return pow(x, y);
}
template <class T>
__device__ __forceinline__ T d_sigmoid(T x) {
  return T(1) / (T(1) + d_exp(-x));
}

// The GPU's math policy for the formulas written once for both backends (normgrad/hd.h):
// CUDA's precise functions. Host + device so that host+device formulas may name them; only
// device code calls them.
struct DeviceMath {
  template <class T>
  static __host__ __device__ __forceinline__ T exp(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::expf(x);
    else
      return ::exp(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T log(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::logf(x);
    else
      return ::log(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T log1p(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::log1pf(x);
    else
      return ::log1p(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T sqrt(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::sqrtf(x);
    else
      return ::sqrt(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T tanh(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::tanhf(x);
    else
      return ::tanh(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T erf(T x) {
    if constexpr (std::is_same_v<T, float>)
      return ::erff(x);
    else
      return ::erf(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T pow(T x, T y) {
    if constexpr (std::is_same_v<T, float>)
      return ::powf(x, y);
    else
      return ::pow(x, y);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T abs(T x) {
    return x < T(0) ? -x : (x == T(0) ? T(0) : x);  // |-0| = +0, NaN kept
  }
  template <class T>
  static __host__ __device__ __forceinline__ T sigmoid(T x) {
    return T(1) / (T(1) + exp(-x));
  }
  // Phi(x) = erfc(-x / sqrt(2)) / 2: no 1 + erf cancellation for negative x
  template <class T>
  static __host__ __device__ __forceinline__ T normal_cdf(T x) {
    if constexpr (std::is_same_v<T, float>)
      return 0.5f * ::erfcf(-x * 0.70710678118654752f);
    else
      return 0.5 * ::erfc(-x * 0.70710678118654752);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T erf_libm(T x) {
    return erf(x);
  }
  template <class T>
  static __host__ __device__ __forceinline__ T exp_libm(T x) {
    return exp(x);
  }
};

}  // namespace ng::cuda
