// The CUDA row kernels every fused norm kind is instantiated with (see normgrad/norm_kind.h;
// the kinds' formulas are the same lines the CPU kernels use).
//
// Forward: one warp per row; row statistics are warp-shuffle sums. Backward: one block per
// chunk of kRows rows. Row statistics come from the forward; a kind's row sums are reduced
// one warp per row; then each thread owns columns, so the chunk's per-channel (dw, db) and
// scalar gradients accumulate in registers. Stage one writes one partial row per chunk;
// stage two adds the chunks in order. No atomics anywhere: gradients repeat bit for bit.
// The learnable scalars are read from device memory inside the kernels: no host sync.
#pragma once
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"
#include "normgrad/norm_kind.h"

namespace ng::cuda {

namespace norm_rows {

constexpr int kRows = 32;

template <int N>
constexpr int at_least_1 = N > 0 ? N : 1;

// Device pointers to a kind's one-element scalars, passed by value into the kernels.
template <class K, class T>
struct ScalarPtrs {
  const T* p[at_least_1<K::kScalars>];
};

// row_sum(f) = sum over the row of f(x[i]), one warp per row (every lane gets the sum).
// Host + device so that a kind's host+device stats() may call it; only the GPU ever does.
template <class T>
struct WarpRowSum {
  const T* x;
  int64_t C;
  int lane;
  template <class F>
  __host__ __device__ T operator()(F f) const {
#ifdef __CUDA_ARCH__
    T a = 0;
    for (int64_t i = lane; i < C; i += 32) a += f(x[i]);
    return warp_sum(a);
#else
    return T(0);
#endif
  }
};

template <class K, class T>
__global__ void forward_kernel(typename K::Consts k, ScalarPtrs<K, T> sp, int64_t N, int64_t C,
                               const T* x, const T* w, const T* b, T* y, T* stats) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  T s[at_least_1<K::kScalars>], st[at_least_1<K::kStats>];
  for (int j = 0; j < K::kScalars; ++j) s[j] = *sp.p[j];
  const T* xr = x + row * C;
  T* yr = y + row * C;
  if constexpr (K::kStats > 0) {
    K::template stats<DeviceMath, T>(WarpRowSum<T>{xr, C, lane}, C, s, k, st);
    if (lane == 0)
      for (int j = 0; j < K::kStats; ++j) stats[row * K::kStats + j] = st[j];
  }
  for (int64_t i = lane; i < C; i += 32) {
    T v = K::template value<DeviceMath, T>(xr[i], s, st, k);
    if (w) v *= w[i];
    if (b) v += b[i];
    yr[i] = v;
  }
}

// Sums v over the block for each of kN values; result in out[] (shared), fixed order.
template <class T, int kN>
__device__ void block_sums(T (&v)[kN], T* scratch, T* out) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
#pragma unroll
  for (int j = 0; j < kN; ++j) {
    const T s = warp_sum(v[j]);
    if (lane == 0) scratch[warp * kN + j] = s;
  }
  __syncthreads();
  for (int j = threadIdx.x; j < kN; j += blockDim.x) {
    T s = 0;
    for (int w = 0; w < nwarps; ++w) s += scratch[w * kN + j];
    out[j] = s;
  }
  __syncthreads();
}

template <class K, class T>
__global__ void backward_kernel(typename K::Consts k, ScalarPtrs<K, T> sp, int64_t N, int64_t C,
                                const T* g, const T* x, const T* w, const T* stats, T* dx,
                                T* dw_part, T* db_part, T* ds_part) {
  constexpr int S = at_least_1<K::kScalars>, ST = at_least_1<K::kStats>,
                R = at_least_1<K::kRowSums>;
  __shared__ T scratch[(kThreads / 32) * S], sc[S];
  __shared__ T st[kRows][ST], rs[kRows][R];
  T s[S];
  for (int j = 0; j < K::kScalars; ++j) s[j] = *sp.p[j];
  const int64_t r0 = (int64_t)blockIdx.x * kRows;
  const int rows = (int)(N - r0 < kRows ? N - r0 : kRows);
  if constexpr (K::kStats > 0) {
    for (int i = threadIdx.x; i < rows * K::kStats; i += blockDim.x)
      st[i / K::kStats][i % K::kStats] = stats[r0 * K::kStats + i];
    __syncthreads();
  }
  if constexpr (K::kRowSums > 0) {  // pass 1: the kind's row sums, one warp per row
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    for (int r = warp; r < rows; r += nwarps) {
      T acc[R] = {};
      for (int64_t c = lane; c < C; c += 32) {
        const int64_t at = (r0 + r) * C + c;
        T o[R];
        K::template row_terms<DeviceMath, T>(x[at], g[at] * (w ? w[c] : T(1)), s, st[r], k, o);
        for (int j = 0; j < K::kRowSums; ++j) acc[j] += o[j];
      }
      for (int j = 0; j < K::kRowSums; ++j) {
        const T total = warp_sum(acc[j]);
        if (lane == 0) rs[r][j] = total;
      }
    }
    __syncthreads();
  }
  // Pass 2: dx, and this chunk's per-channel sums (g * pre-affine output, g) and scalars.
  T ds[S] = {};
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const T wc = w ? w[c] : T(1);
    T acc_w = 0, acc_b = 0;
#pragma unroll 4
    for (int r = 0; r < rows; ++r) {
      const int64_t at = (r0 + r) * C + c;
      const T gr = g[at];
      const auto e = K::template backward<DeviceMath, T>(x[at], gr * wc, s, st[r], rs[r], C, k);
      dx[at] = e.dx;
      acc_w += gr * e.y;
      acc_b += gr;
      for (int j = 0; j < K::kScalars; ++j) ds[j] += e.ds[j];
    }
    if (dw_part) dw_part[blockIdx.x * C + c] = acc_w;
    if (db_part) db_part[blockIdx.x * C + c] = acc_b;
  }
  if constexpr (K::kScalars > 0)
    if (ds_part) {
      block_sums<T, S>(ds, scratch, sc);
      if (threadIdx.x < S) ds_part[blockIdx.x * S + threadIdx.x] = sc[threadIdx.x];
    }
}

// out[c] = sum over chunks of part[chunk, c], in chunk order.
template <class T>
__global__ void sum_chunks(int64_t chunks, int64_t C, const T* part, T* out) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  double acc = 0;
  for (int64_t j = 0; j < chunks; ++j) acc += (double)part[j * C + c];
  out[c] = (T)acc;
}

template <class K, class T>
ScalarPtrs<K, T> scalar_ptrs(const NormCall& c) {
  ScalarPtrs<K, T> sp{};
  for (int j = 0; j < K::kScalars; ++j) sp.p[j] = c.scalars[j].data<T>();
  return sp;
}

template <class K, class T>
void forward(const NormCall& c) {
  const int64_t C = c.x.size(-1), N = C ? c.x.numel() / C : 0;
  if (N == 0) return;
  const int per_block = kThreads / 32;
  forward_kernel<K, T><<<(unsigned)((N + per_block - 1) / per_block), kThreads, 0, stream()>>>(
      c.consts.unpack<typename K::Consts>(), scalar_ptrs<K, T>(c), N, C, c.x.data<T>(),
      cptr<T>(c.w), cptr<T>(c.b), c.y.data<T>(), mptr<T>(c.stats));
  check_launch(K::kName);
}

template <class K, class T>
void backward(const NormCall& c) {
  const int64_t C = c.x.size(-1), N = C ? c.x.numel() / C : 0;
  const int64_t chunks = (N + kRows - 1) / kRows, S = K::kScalars;
  if (N == 0) {
    for (const Tensor* t : {&c.dw, &c.db, &c.ds})
      if (t->defined()) backend(Device::CUDA).fill(*t, 0.0);
    return;
  }
  const bool want_w = c.dw.defined(), want_b = c.db.defined(), want_s = c.ds.defined();
  DeviceBuffer part(((want_w + want_b) * chunks * C + chunks * std::max<int64_t>(S, 1)) *
                    sizeof(T));
  T* dw_part = want_w ? part.as<T>() : nullptr;
  T* db_part = want_b ? part.as<T>() + (want_w ? chunks * C : 0) : nullptr;
  T* ds_part = want_s ? part.as<T>() + (want_w + want_b) * chunks * C : nullptr;
  backward_kernel<K, T><<<(unsigned)chunks, kThreads, 0, stream()>>>(
      c.consts.unpack<typename K::Consts>(), scalar_ptrs<K, T>(c), N, C, c.g.data<T>(),
      c.x.data<T>(), cptr<T>(c.w), cptr<T>(c.stats), c.dx.data<T>(), dw_part, db_part, ds_part);
  check_launch(K::kName);
  if (dw_part)
    sum_chunks<T><<<blocks_for(C), kThreads, 0, stream()>>>(chunks, C, dw_part, c.dw.data<T>());
  if (db_part)
    sum_chunks<T><<<blocks_for(C), kThreads, 0, stream()>>>(chunks, C, db_part, c.db.data<T>());
  if (ds_part) sum_chunks<T><<<1, kThreads, 0, stream()>>>(chunks, S, ds_part, c.ds.data<T>());
  check_launch(K::kName);
}

}  // namespace norm_rows

// NG_CUDA_NORM(K): registers the CUDA row kernels instantiated for kind K (float, double).
template <class K>
bool register_cuda_norm() {
  register_norm_kernels(
      Device::CUDA, K::kName,
      norm_kernels_for<&norm_rows::forward<K, float>, &norm_rows::forward<K, double>,
                       &norm_rows::backward<K, float>, &norm_rows::backward<K, double>>());
  return true;
}
#define NG_CUDA_NORM(K) \
  [[maybe_unused]] static const bool ng_cuda_norm_##K = ::ng::cuda::register_cuda_norm<K>()

}  // namespace ng::cuda
