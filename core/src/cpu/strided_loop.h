// Iterates N same-shaped strided operands. Dims are coalesced first (a contiguous tensor
// becomes one long row), then each thread walks whole or partial rows and hands the
// typed inner loop a pointer offset per operand and a row length.
#pragma once
#include <array>
#include <cstdint>

#include "normgrad/error.h"
#include "normgrad/shape.h"
#include "parallel.h"

namespace ng::cpu {

constexpr int kMaxDims = 16;

template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  StridedLoop(const Shape& shape, const std::array<const Shape*, N>& st) {
    NG_CHECK(shape.size() <= (size_t)kMaxDims, "kernel", "tensors of more than ", kMaxDims,
             " dims are not supported, got ", shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;  // size-1 dims never move the pointer
      if (ndim > 0 && mergeable(shape[d], st, d)) {
        sizes[ndim - 1] *= shape[d];
        for (int k = 0; k < N; ++k) strides[k][ndim - 1] = (*st[k])[d];
        continue;
      }
      sizes[ndim] = shape[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = (*st[k])[d];
      ++ndim;
    }
    if (ndim == 0) {  // a scalar: one row of one element
      sizes[0] = numel_of(shape) == 0 ? 0 : 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 1;
      ndim = 1;
    }
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= sizes[d];
    return n;
  }
  int64_t inner_stride(int k) const { return strides[k][ndim - 1]; }

 private:
  // The previous kept dim (outer) can absorb dim d (inner) if, for every operand,
  // stepping the outer dim once equals stepping the inner dim across its whole size.
  bool mergeable(int64_t size_d, const std::array<const Shape*, N>& st, size_t d) const {
    for (int k = 0; k < N; ++k)
      if (strides[k][ndim - 1] != (*st[k])[d] * size_d) return false;
    return true;
  }
};

// inner(const int64_t* offsets, int64_t n): process n elements of the innermost dim.
template <int N, class Inner>
void strided_for(const StridedLoop<N>& L, int64_t grain, Inner&& inner) {
  const int64_t total = L.numel();
  if (total == 0) return;
  const int last = L.ndim - 1;
  parallel_for(total, grain, [&](int64_t begin, int64_t end) {
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % L.sizes[d];
      rem /= L.sizes[d];
    }
    int64_t off[N];
    for (int64_t pos = begin; pos < end;) {
      for (int k = 0; k < N; ++k) {
        off[k] = 0;
        for (int d = 0; d <= last; ++d) off[k] += idx[d] * L.strides[k][d];
      }
      int64_t n = std::min(L.sizes[last] - idx[last], end - pos);
      inner(off, n);
      pos += n;
      idx[last] += n;
      for (int d = last; d > 0 && idx[d] == L.sizes[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

}  // namespace ng::cpu
