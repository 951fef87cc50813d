// Shared pieces of the CUDA backend: error checks, the one stream every kernel runs on,
// strided-offset calculators for kernels, and launch helpers.
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "normgrad/backend.h"
#include "normgrad/dtype_dispatch.h"
#include "offsets.h"

namespace ng::cuda {

// Turns a CUDA status into an ng::Error naming the op; clears the sticky error first.
void check(cudaError_t e, const char* op);
// After a kernel launch: launch-configuration errors surface here, not later.
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

cudaStream_t stream();   // created on first use, non-blocking
int sm_count();          // multiprocessors of the current device
void count_host_sync();  // for waits outside wait_for_stream (device_errors.cuh)

// Temporary device buffer from the caching allocator, freed on scope exit (stream-ordered:
// later kernels on our one stream may reuse it at once).
struct DeviceBuffer {
  std::shared_ptr<Storage> storage;
  explicit DeviceBuffer(size_t nbytes);
  template <class T>
  T* as() const {
    return static_cast<T*>(storage->data);
  }
};

constexpr int kThreads = 256;

inline int blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return (int)std::min<int64_t>(std::max<int64_t>(b, 1), 1 << 20);
}

template <int N, class F>
__global__ void strided_kernel(int64_t n, OffsetCalc<N> oc, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[N];
    oc.get(i, off);
    f(off);
  }
}

template <int N, class F>
__global__ void flat_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[N];
#pragma unroll
    for (int a = 0; a < N; ++a) off[a] = i;
    f(off);
  }
}

// Runs f(offsets) for every element of `shape`; offsets are in elements, one per operand.
template <int N, class F>
void launch_map(const Shape& shape, const std::array<const Shape*, N>& strides, const char* op,
                F f) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  const OffsetCalc<N> oc = make_offsets<N>(shape, strides, op);
  if (is_flat(oc))
    flat_kernel<N><<<blocks_for(n), kThreads, 0, stream()>>>(n, f);
  else
    strided_kernel<N><<<blocks_for(n), kThreads, 0, stream()>>>(n, oc, f);
  check_launch(op);
}

using ng::dispatch_all;  // normgrad/dtype_dispatch.h
using ng::dispatch_float;

// Warp-wide sum (all lanes get the result); fixed shuffle order, so deterministic.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
const T* cptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace ng::cuda
