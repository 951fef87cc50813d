// Element offsets of strided operands, shared by every CUDA kernel that walks a view.
// Plain C++ apart from the host/device marker, so the CPU test suite checks the index
// arithmetic (tests/test_cuda.cpp) even on machines without a GPU.
#pragma once
#include <array>
#include <cstdint>

#include "normgrad/error.h"
#include "normgrad/shape.h"

#ifdef __CUDACC__
#define NG_HOST_DEVICE __host__ __device__
#define NG_UNROLL _Pragma("unroll")
#else
#define NG_HOST_DEVICE
#define NG_UNROLL
#endif

namespace ng::cuda {

constexpr int kMaxDims = 10;

// Element offsets of N operands for a linear index over a (coalesced) shape.
template <int N>
struct OffsetCalc {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};

  NG_HOST_DEVICE inline void get(int64_t linear, int64_t* off) const {
    NG_UNROLL
    for (int a = 0; a < N; ++a) off[a] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % size[d];
      linear /= size[d];
      NG_UNROLL
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

}  // namespace ng::cuda
