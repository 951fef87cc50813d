// Shared pieces of the CUDA backend: error checks, the one stream every kernel runs on,
// strided-offset calculators for kernels, and launch helpers.
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "normgrad/backend.h"

namespace ng::cuda {

// Turns a CUDA status into an ng::Error naming the op; clears the sticky error first.
void check(cudaError_t e, const char* op);
// After a kernel launch: launch-configuration errors surface here, not later.
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

cudaStream_t stream();  // created on first use, non-blocking
int sm_count();         // multiprocessors of the current device
size_t copy_staging_limit();

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

constexpr int kMaxDims = 10;
constexpr int kThreads = 256;

// Element offsets of N operands for a linear index over a (coalesced) shape.
template <int N>
struct OffsetCalc {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};

  __device__ __forceinline__ void get(int64_t linear, int64_t* off) const {
#pragma unroll
    for (int a = 0; a < N; ++a) off[a] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % size[d];
      linear /= size[d];
#pragma unroll
      for (int a = 0; a < N; ++a) off[a] += i * stride[a][d];
    }
  }
};

// Drops size-1 dims and merges neighbours that are contiguous for every operand, so most
// views become one flat dim; fails (naming op) past kMaxDims.
template <int N>
OffsetCalc<N> make_offsets(const Shape& shape, const std::array<const Shape*, N>& strides,
                           const char* op) {
  OffsetCalc<N> oc;
  int64_t sz[64];
  int64_t st[N][64];
  int nd = 0;
  if (shape.size() > 64) fail(op, "too many dims: ", shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = nd > 0;
    for (int a = 0; a < N && merge; ++a) merge = st[a][nd - 1] == (*strides[a])[d] * shape[d];
    if (merge) {
      sz[nd - 1] *= shape[d];
      for (int a = 0; a < N; ++a) st[a][nd - 1] = (*strides[a])[d];
    } else {
      sz[nd] = shape[d];
      for (int a = 0; a < N; ++a) st[a][nd] = (*strides[a])[d];
      ++nd;
    }
  }
  if (nd > kMaxDims)
    fail(op, "a view with ", nd, " non-mergeable dims; the CUDA kernels take at most ", kMaxDims,
         " (call .contiguous() first)");
  oc.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    oc.size[d] = sz[d];
    for (int a = 0; a < N; ++a) oc.stride[a][d] = st[a][d];
  }
  return oc;
}

// True when every operand walks memory with unit stride in linear order.
template <int N>
bool is_flat(const OffsetCalc<N>& oc) {
  if (oc.ndim == 0) return true;
  if (oc.ndim != 1) return false;
  for (int a = 0; a < N; ++a)
    if (oc.stride[a][0] != 1) return false;
  return true;
}

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
