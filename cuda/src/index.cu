// Indexing kernels. Tensors arrive contiguous, viewed as [outer, dim, inner]; indices are
// int64. No op waits for the GPU: kernels check every index they read and report one out of
// range through the device error slot (device_errors.cuh), skipping it. index_add sorts
// (index, position) pairs on the device and adds each group of equal indices in position
// order, one thread per (group, column), with no atomics: deterministic, and in the CPU
// backend's order, so the sums agree bit for bit.
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_errors.cuh"

namespace ng::cuda {
namespace indexing {

template <class T>
void index_select_typed(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const Split3 s = split_at(x.shape(), dim);
  const int64_t n = index.numel(), inner = s.inner, mid = s.mid;
  const int64_t* idx = index.data<int64_t>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const IndexGuard guard = index_guard("index_select");
  const Shape shape{out.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, "index_select", [=] __device__(const int64_t* off) {
    const int64_t t = off[0], c = t % inner, i = (t / inner) % n, a = t / (inner * n);
    const int64_t k = idx[i];
    po[t] = guard.ok(k, i, mid) ? px[(a * mid + k) * inner + c] : T(0);
  });
}

// keys[i] = index[i] * n + i: unique, so any sort orders them the same way; an index out of
// range is reported and given the key of group `mid`, which the add kernel skips.
__global__ void index_add_keys(int64_t n, int64_t mid, const int64_t* idx, uint64_t* keys,
                               IndexGuard guard) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t k = guard.ok(idx[i], i, mid) ? idx[i] : mid;
    keys[i] = (uint64_t)k * (uint64_t)n + (uint64_t)i;
  }
}

// One thread per (outer, sorted position, column); the thread at the first position of a
// group adds the whole group in position order, the others return at once.
template <class T>
__global__ void index_add_sorted(int64_t outer, int64_t mid, int64_t n, int64_t inner,
                                 const uint64_t* sorted, const T* src, T* out) {
  const uint64_t un = (uint64_t)n;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * n * inner;
       t += (int64_t)gridDim.x * blockDim.x) {  // grid-stride: the grid is capped
    const int64_t c = t % inner, j = (t / inner) % n, a = t / (inner * n);
    const uint64_t key = sorted[j] / un;
    if (key >= (uint64_t)mid || (j > 0 && sorted[j - 1] / un == key)) continue;
    T* dst = out + (a * mid + (int64_t)key) * inner + c;
    T acc = *dst;
    for (int64_t q = j; q < n && sorted[q] / un == key; ++q)
      acc += src[(a * n + (int64_t)(sorted[q] % un)) * inner + c];
    *dst = acc;
  }
}

template <class T>
void index_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 s = split_at(out.shape(), dim);
  const int64_t n = index.numel();
  if (n == 0 || s.outer * s.inner == 0) return;
  if ((uint64_t)(s.mid + 1) > UINT64_MAX / (uint64_t)n)
    fail("index_add", n, " indices into a dimension of size ", s.mid, " overflow the sort key");
  int end_bit = 1;
  while (end_bit < 64 && ((uint64_t)(s.mid + 1) * (uint64_t)n) >> end_bit) ++end_bit;
  const DeviceBuffer keys(n * sizeof(uint64_t)), sorted(n * sizeof(uint64_t));
  index_add_keys<<<blocks_for(n), kThreads, 0, stream()>>>(
      n, s.mid, index.data<int64_t>(), keys.as<uint64_t>(), index_guard("index_add"));
  check_launch("index_add");
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, keys.as<uint64_t>(),
                                       sorted.as<uint64_t>(), n, 0, end_bit, stream()),
        "index_add: sort");
  const DeviceBuffer temp(std::max<size_t>(temp_bytes, 1));
  check(cub::DeviceRadixSort::SortKeys(temp.storage->data, temp_bytes, keys.as<uint64_t>(),
                                       sorted.as<uint64_t>(), n, 0, end_bit, stream()),
        "index_add: sort");
  const int64_t total = s.outer * n * s.inner;
  index_add_sorted<T><<<blocks_for(total), kThreads, 0, stream()>>>(
      s.outer, s.mid, n, s.inner, sorted.as<uint64_t>(), src.data<T>(), out.data<T>());
  check_launch("index_add");
}

template <class T>
void gather_typed(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const Split3 sx = split_at(x.shape(), dim), si = split_at(index.shape(), dim);
  const int64_t inner = si.inner, imid = si.mid, xmid = sx.mid, xinner = sx.inner;
  const int64_t* idx = index.data<int64_t>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const IndexGuard guard = index_guard("gather");
  const Shape shape{index.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, "gather", [=] __device__(const int64_t* off) {
    const int64_t t = off[0], c = t % inner, a = t / (inner * imid);
    const int64_t k = idx[t];
    po[t] = guard.ok(k, t, xmid) ? px[(a * xmid + k) * xinner + c] : T(0);
  });
}

// One thread per (outer, column): it walks the indexed dim in order, so colliding
// indices are added in a fixed order (the CPU's).
template <class T>
__global__ void scatter_add_kernel(int64_t outer, int64_t imid, int64_t inner, int64_t omid,
                                   int64_t oinner, const int64_t* idx, const T* src, T* out,
                                   IndexGuard guard) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner;
       t += (int64_t)gridDim.x * blockDim.x) {  // grid-stride (the grid is capped)
    const int64_t a = t / inner, c = t % inner;
    for (int64_t j = 0; j < imid; ++j) {
      const int64_t q = (a * imid + j) * inner + c, k = idx[q];
      if (guard.ok(k, q, omid)) out[(a * omid + k) * oinner + c] += src[q];
    }
  }
}

template <class T>
void scatter_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 so = split_at(out.shape(), dim), si = split_at(index.shape(), dim);
  if (index.numel() == 0) return;
  scatter_add_kernel<T><<<blocks_for(si.outer * si.inner), kThreads, 0, stream()>>>(
      si.outer, si.mid, si.inner, so.mid, so.inner, index.data<int64_t>(), src.data<T>(),
      out.data<T>(), index_guard("scatter_add"));
  check_launch("scatter_add");
}

}  // namespace indexing

using namespace indexing;

void CudaBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index,
                               const Tensor& out) {
  dispatch_all(x.dtype(), [&](auto tag) { index_select_typed<decltype(tag)>(x, dim, index, out); });
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index,
                            const Tensor& src) {
  dispatch_float(out.dtype(), "index_add",
                 [&](auto tag) { index_add_typed<decltype(tag)>(out, dim, index, src); });
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  dispatch_float(x.dtype(), "gather",
                 [&](auto tag) { gather_typed<decltype(tag)>(x, dim, index, out); });
}

void CudaBackend::check_indices(const Tensor& index, int64_t size, int64_t ignore, const char* op) {
  const Tensor c = index.contiguous();
  const int64_t* idx = c.data<int64_t>();
  const IndexGuard guard = index_guard(op);
  const Shape shape{c.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, op, [=] __device__(const int64_t* off) {
    const int64_t k = idx[off[0]];
    if (k != ignore) guard.ok(k, off[0], size);
  });
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                              const Tensor& src) {
  dispatch_float(out.dtype(), "scatter_add",
                 [&](auto tag) { scatter_add_typed<decltype(tag)>(out, dim, index, src); });
}

}  // namespace ng::cuda
