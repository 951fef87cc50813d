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

}  // namespace ng::cuda
