// CPU indexing kernels. Tensors arrive contiguous and are viewed as [outer, dim, inner];
// index tensors are int64. Accumulating kernels (index_add, scatter_add) add in index
// order for each output element, so they are deterministic.
#include <cstring>

#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"

namespace ng::cpu {
namespace {

void check_range(const char* op, const Tensor& index, int64_t size) {
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0, n = index.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= size)
      fail(op, "index ", p[i], " is out of range for a dimension of size ", size);
}

}  // namespace

void CpuBackend::check_indices(const Tensor& index, int64_t size, int64_t ignore, const char* op) {
  const Tensor c = index.contiguous();
  const int64_t* p = c.data<int64_t>();
  for (int64_t i = 0, n = c.numel(); i < n; ++i)
    if (p[i] != ignore && (p[i] < 0 || p[i] >= size))
      fail(op, "index ", p[i], " (element ", i, " of the index tensor) is out of range for a ",
           "dimension of size ", size);
}

void CpuBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index,
                              const Tensor& out) {
  check_range("index_select", index, x.size(dim));
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Split3 s = split_at(x.shape(), dim);
    const int64_t n = index.numel();
    const int64_t* idx = index.data<int64_t>();
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(s.outer * n, std::max<int64_t>(1, kGrain / std::max<int64_t>(s.inner, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t t = b; t < e; ++t) {
                     const int64_t a = t / n, i = t % n;
                     std::memcpy(po + t * s.inner, px + (a * s.mid + idx[i]) * s.inner,
                                 s.inner * sizeof(T));
                   }
                 });
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  check_range("index_add", index, out.size(dim));
  dispatch_float(out.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    const Split3 s = split_at(out.shape(), dim);
    const int64_t n = index.numel();
    const int64_t* idx = index.data<int64_t>();
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    // Parallel over (outer, column block); serial over i keeps the order fixed.
    const int64_t cb = 64, ncb = (s.inner + cb - 1) / cb;
    parallel_for(s.outer * ncb, std::max<int64_t>(1, kGrain / std::max<int64_t>(n * cb, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t t = b; t < e; ++t) {
                     const int64_t a = t / ncb, c0 = (t % ncb) * cb,
                                   c1 = std::min(s.inner, c0 + cb);
                     for (int64_t i = 0; i < n; ++i) {
                       T* dst = po + (a * s.mid + idx[i]) * s.inner;
                       const T* from = ps + (a * n + i) * s.inner;
                       for (int64_t c = c0; c < c1; ++c) dst[c] += from[c];
                     }
                   }
                 });
  });
}

void CpuBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  check_range("gather", index, x.size(dim));
  dispatch_float(x.dtype(), "gather", [&](auto tag) {
    using T = decltype(tag);
    const Split3 sx = split_at(x.shape(), dim), si = split_at(index.shape(), dim);
    const int64_t* idx = index.data<int64_t>();
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(index.numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t c = t % si.inner, a = t / (si.inner * si.mid);
        po[t] = px[(a * sx.mid + idx[t]) * sx.inner + c];
      }
    });
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                             const Tensor& src) {
  check_range("scatter_add", index, out.size(dim));
  dispatch_float(out.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    const Split3 so = split_at(out.shape(), dim), si = split_at(index.shape(), dim);
    const int64_t* idx = index.data<int64_t>();
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    // Each outer slice writes only its own rows: parallel over outer, serial inside.
    parallel_for(si.outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(si.mid * si.inner, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t a = b; a < e; ++a)
                     for (int64_t j = 0; j < si.mid; ++j)
                       for (int64_t c = 0; c < si.inner; ++c) {
                         const int64_t t = (a * si.mid + j) * si.inner + c;
                         po[(a * so.mid + idx[t]) * so.inner + c] += ps[t];
                       }
                 });
  });
}

}  // namespace ng::cpu
