// Indexing kernels. Tensors arrive contiguous, viewed as [outer, dim, inner]; indices are
// int64. Indices are range-checked on the host (one small copy), which also lets
// index_add group equal indices there: the kernel then adds each group in index order,
// one thread per (group, column), with no atomics -- deterministic, and in the same order
// as the CPU backend, so the sums agree bit for bit.
#include <vector>

#include "common.cuh"
#include "cuda_backend.cuh"

namespace ng::cuda {
namespace indexing {

std::vector<int64_t> host_indices(const char* op, const Tensor& index, int64_t size) {
  std::vector<int64_t> h(index.numel());
  backend(Device::CUDA).copy_to_host(h.data(), index.raw_data(), h.size() * sizeof(int64_t));
  for (int64_t v : h)
    if (v < 0 || v >= size)
      fail(op, "index ", v, " is out of range for a dimension of size ", size);
  return h;
}

Tensor upload(const std::vector<int64_t>& v) {
  Tensor t = empty({(int64_t)v.size()}, {.dtype = DType::I64, .device = Device::CUDA});
  backend(Device::CUDA).copy_from_host(t.raw_data(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

template <class T>
void index_select_typed(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const Split3 s = split_at(x.shape(), dim);
  const int64_t n = index.numel(), inner = s.inner, mid = s.mid;
  const int64_t* idx = index.data<int64_t>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const Shape shape{out.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, "index_select", [=] __device__(const int64_t* off) {
    const int64_t t = off[0], c = t % inner, i = (t / inner) % n, a = t / (inner * n);
    po[t] = px[(a * mid + idx[i]) * inner + c];
  });
}

template <class T>
__global__ void index_add_kernel(int64_t outer, int64_t mid, int64_t inner, int64_t n,
                                 int64_t groups, const int64_t* start, const int64_t* order,
                                 const int64_t* key, const T* src, T* out) {
  // grid-stride: blocks_for caps the grid, so one thread may own several outputs
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * groups * inner;
       t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = t % inner, g = (t / inner) % groups, a = t / (inner * groups);
    T* dst = out + (a * mid + key[g]) * inner + c;
    T acc = *dst;
    for (int64_t q = start[g]; q < start[g + 1]; ++q) acc += src[(a * n + order[q]) * inner + c];
    *dst = acc;
  }
}

template <class T>
void index_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 s = split_at(out.shape(), dim);
  const int64_t n = index.numel();
  if (n == 0 || s.outer * s.inner == 0) return;
  const std::vector<int64_t> h = host_indices("index_add", index, s.mid);
  // Counting sort by destination: groups of equal index, positions in ascending order.
  std::vector<int64_t> count(s.mid + 1, 0);
  for (int64_t v : h) count[v + 1]++;
  for (int64_t i = 0; i < s.mid; ++i) count[i + 1] += count[i];
  std::vector<int64_t> order(n), key, start;
  std::vector<int64_t> fill = count;
  for (int64_t i = 0; i < n; ++i) order[fill[h[i]]++] = i;
  for (int64_t v = 0; v < s.mid; ++v)
    if (count[v + 1] > count[v]) {
      key.push_back(v);
      start.push_back(count[v]);
    }
  start.push_back(n);
  const Tensor d_order = upload(order), d_key = upload(key), d_start = upload(start);
  const int64_t groups = (int64_t)key.size(), total = s.outer * groups * s.inner;
  index_add_kernel<T><<<blocks_for(total), kThreads, 0, stream()>>>(
      s.outer, s.mid, s.inner, n, groups, d_start.data<int64_t>(), d_order.data<int64_t>(),
      d_key.data<int64_t>(), src.data<T>(), out.data<T>());
  check_launch("index_add");
}

template <class T>
void gather_typed(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  const Split3 sx = split_at(x.shape(), dim), si = split_at(index.shape(), dim);
  const int64_t inner = si.inner, imid = si.mid, xmid = sx.mid, xinner = sx.inner;
  const int64_t* idx = index.data<int64_t>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const Shape shape{index.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, "gather", [=] __device__(const int64_t* off) {
    const int64_t t = off[0], c = t % inner, a = t / (inner * imid);
    po[t] = px[(a * xmid + idx[t]) * xinner + c];
  });
}

// One thread per (outer, column): it walks the indexed dim in order, so colliding
// indices are added in a fixed order (the CPU's).
template <class T>
__global__ void scatter_add_kernel(int64_t outer, int64_t imid, int64_t inner, int64_t omid,
                                   int64_t oinner, const int64_t* idx, const T* src, T* out) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner;
       t += (int64_t)gridDim.x * blockDim.x) {  // grid-stride (the grid is capped)
    const int64_t a = t / inner, c = t % inner;
    for (int64_t j = 0; j < imid; ++j) {
      const int64_t q = (a * imid + j) * inner + c;
      out[(a * omid + idx[q]) * oinner + c] += src[q];
    }
  }
}

template <class T>
void scatter_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 so = split_at(out.shape(), dim), si = split_at(index.shape(), dim);
  if (index.numel() == 0) return;
  scatter_add_kernel<T><<<blocks_for(si.outer * si.inner), kThreads, 0, stream()>>>(
      si.outer, si.mid, si.inner, so.mid, so.inner, index.data<int64_t>(), src.data<T>(),
      out.data<T>());
  check_launch("scatter_add");
}

}  // namespace indexing

using namespace indexing;

void CudaBackend::index_select(const Tensor& x, int64_t dim, const Tensor& index,
                               const Tensor& out) {
  host_indices("index_select", index, x.size(dim));
  dispatch_all(x.dtype(), [&](auto tag) { index_select_typed<decltype(tag)>(x, dim, index, out); });
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index,
                            const Tensor& src) {
  dispatch_float(out.dtype(), "index_add",
                 [&](auto tag) { index_add_typed<decltype(tag)>(out, dim, index, src); });
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  host_indices("gather", index, x.size(dim));
  dispatch_float(x.dtype(), "gather",
                 [&](auto tag) { gather_typed<decltype(tag)>(x, dim, index, out); });
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                              const Tensor& src) {
  host_indices("scatter_add", index, out.size(dim));
  dispatch_float(out.dtype(), "scatter_add",
                 [&](auto tag) { scatter_add_typed<decltype(tag)>(out, dim, index, src); });
}

}  // namespace ng::cuda
