// Fused causal self-attention on the GPU with an online softmax (the FlashAttention-2
// schedule): no T x T matrix ever reaches global memory. The forward keeps, per row, only
// the log-sum-exp of its scaled scores; the backward recomputes each tile's probabilities
// from it. Tiles live in shared memory, products are float/double FMAs on 16 x 16 threads
// (flash_plan.h has the schedule and the thread map, checked on the CPU).
//
//   forward   one block per (query tile, batch*head): y and lse
//   rowdot    Dv[i] = sum_d dy[i, d] y[i, d]        (the softmax backward's row term)
//   dkv       one block per (key tile, batch*head): dk, dv summed over its query tiles
//   dq        one block per (query tile, batch*head): dq summed over its key tiles
// dq and dk/dv come from separate kernels so that every output element is written by one
// thread in a fixed order: no atomics, bit-identical runs.
#include <mutex>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"
#include "flash_attention.cuh"
#include "flash_plan.h"

namespace ng::cuda::flash {
namespace {

struct Geo {
  int64_t B, T, C, H, D;
};

// Shared-memory layout of one tile of rows x (16 * DK) values, odd row length (bank spread).
template <int DK>
__host__ __device__ constexpr int row_len() {
  return kSide * DK + 1;
}

// rows [r0, r0 + R) of a head's D columns (row stride `stride` in src) into dst (ld columns);
// rows past T and columns past D become zeros.
template <class T>
__device__ void load_tile(T* dst, int ld, int R, const T* src, int64_t stride, int64_t r0,
                          int64_t Tn, int D, int width) {
  for (int idx = threadIdx.x; idx < R * width; idx += kThreads) {
    const int r = idx / width, d = idx % width;
    const int64_t row = r0 + r;
    dst[r * ld + d] = (row < Tn && d < D) ? src[row * stride + d] : T(0);
  }
}

template <class T>
__device__ void load_row_stat(T* dst, int R, const T* src, int64_t r0, int64_t Tn) {
  for (int r = threadIdx.x; r < R; r += kThreads) dst[r] = r0 + r < Tn ? src[r0 + r] : T(0);
}

template <class T>
__device__ __forceinline__ T half_warp_max(T v) {
#pragma unroll
  for (int o = kSide / 2; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class T>
__device__ __forceinline__ T half_warp_sum(T v) {
#pragma unroll
  for (int o = kSide / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// acc[r][c] += sum_d A[ty + 16 r][d] * B[tx + 16 c][d]  (A rows x D, B rows x D; ld = row length)
template <class T, int RM>
__device__ __forceinline__ void rows_dot_rows(T (&acc)[RM][RM], const T* A, const T* B, int ld,
                                              int D, int ty, int tx) {
  for (int d = 0; d < D; ++d) {
    T a[RM], b[RM];
#pragma unroll
    for (int r = 0; r < RM; ++r) a[r] = A[owned_index(ty, r) * ld + d];
#pragma unroll
    for (int c = 0; c < RM; ++c) b[c] = B[owned_index(tx, c) * ld + d];
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < RM; ++c) acc[r][c] += a[r] * b[c];
  }
}

// Shared memory of each kernel, in elements of T.
template <int RM, int DK>
__host__ __device__ constexpr int forward_elems() {  // Q, K, V tiles + P
  return 3 * kSide * RM * row_len<DK>() + kSide * RM * (kSide * RM + 1);
}
template <int RM, int DK>
__host__ __device__ constexpr int backward_elems() {  // Q, dO, K, V tiles + P, dS + lse, Dv
  return 4 * kSide * RM * row_len<DK>() + 2 * kSide * RM * (kSide * RM + 1) + 2 * kSide * RM;
}

template <class T, int RM, int DK>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Geo g, T scale, const T* __restrict__ qkv, T* __restrict__ y,
                   T* __restrict__ lse) {
  constexpr int BR = kSide * RM, BC = kSide * RM, LD = row_len<DK>(), PL = BC + 1;
  extern __shared__ unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* Ks = Qs + BR * LD;
  T* Vs = Ks + BC * LD;
  T* Ps = Vs + BC * LD;
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide, D = (int)g.D;
  const int64_t bh = blockIdx.x, b = bh / g.H, h = bh % g.H;
  const int64_t qt = gridDim.y - 1 - blockIdx.y;  // the longest (last) query tiles first
  const int64_t q0 = qt * BR, stride = 3 * g.C;
  const T* q = qkv + b * g.T * stride + h * D;
  load_tile(Qs, LD, BR, q, stride, q0, g.T, D, kSide * DK);

  T o[RM][DK], m[RM], l[RM];
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    m[r] = -INFINITY;
    l[r] = 0;
#pragma unroll
    for (int k = 0; k < DK; ++k) o[r][k] = 0;
  }
  const TileRange keys = key_tiles_of_query_tile(qt, g.T, BR, BC);
  for (int64_t kt = keys.begin; kt < keys.end; ++kt) {
    const int64_t k0 = kt * BC;
    load_tile(Ks, LD, BC, q + g.C, stride, k0, g.T, D, kSide * DK);
    load_tile(Vs, LD, BC, q + 2 * g.C, stride, k0, g.T, D, kSide * DK);
    __syncthreads();
    T s[RM][RM] = {};
    rows_dot_rows<T, RM>(s, Qs, Ks, LD, D, ty, tx);
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      // a padding row (past T) is computed like the last real row and never written
      const int64_t i = min(q0 + owned_index(ty, r), g.T - 1);
      T row_max = -INFINITY;
#pragma unroll
      for (int c = 0; c < RM; ++c) {
        const int64_t j = k0 + owned_index(tx, c);
        s[r][c] = attends(i, j, g.T) ? s[r][c] * scale : T(-INFINITY);
        row_max = max(row_max, s[r][c]);
      }
      // Key tile 0 holds key 0, which every row attends: m is finite from the first tile on.
      const T m_new = max(m[r], half_warp_max(row_max));
      const T rescale = d_exp(m[r] - m_new);  // exp(-inf) = 0 on the first tile
      T row_sum = 0;
#pragma unroll
      for (int c = 0; c < RM; ++c) {
        s[r][c] = d_exp(s[r][c] - m_new);
        row_sum += s[r][c];
        Ps[owned_index(ty, r) * PL + owned_index(tx, c)] = s[r][c];
      }
      l[r] = l[r] * rescale + half_warp_sum(row_sum);
      m[r] = m_new;
#pragma unroll
      for (int k = 0; k < DK; ++k) o[r][k] *= rescale;
    }
    __syncthreads();
    for (int c = 0; c < BC; ++c) {  // o += P V
      T v[DK];
#pragma unroll
      for (int k = 0; k < DK; ++k) v[k] = Vs[c * LD + owned_index(tx, k)];
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const T p = Ps[owned_index(ty, r) * PL + c];
#pragma unroll
        for (int k = 0; k < DK; ++k) o[r][k] += p * v[k];
      }
    }
    __syncthreads();  // the next tile overwrites K, V and P
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int64_t i = q0 + owned_index(ty, r);
    if (i >= g.T) continue;
    const T inv = T(1) / l[r];
    T* out = y + (b * g.T + i) * g.C + h * D;
#pragma unroll
    for (int k = 0; k < DK; ++k)
      if (owned_index(tx, k) < D) out[owned_index(tx, k)] = o[r][k] * inv;
    if (tx == 0) lse[bh * g.T + i] = m[r] + d_log(l[r]);
  }
}

// Dv[bh, i] = sum_d dy[b, i, h D + d] y[b, i, h D + d]: one thread per (b, i, h).
template <class T>
__global__ void rowdot_kernel(Geo g, const T* __restrict__ dy, const T* __restrict__ y,
                              T* __restrict__ dv) {
  const int64_t n = g.B * g.T * g.H;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n;
       t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t h = t % g.H, i = (t / g.H) % g.T, b = t / (g.H * g.T);
    const T* a = dy + (b * g.T + i) * g.C + h * g.D;
    const T* c = y + (b * g.T + i) * g.C + h * g.D;
    T acc = 0;
    for (int64_t d = 0; d < g.D; ++d) acc += a[d] * c[d];
    dv[(b * g.H + h) * g.T + i] = acc;
  }
}

// P and dS of one (query tile, key tile) pair, from the tiles in shared memory:
// P = exp(scale q.k - lse) where i attends j (else 0), dS = P (dP - Dv), dP = dy.v.
template <class T, int RM, int DK>
__device__ __forceinline__ void probs_and_dscores(const T* Qs, const T* dYs, const T* Ks,
                                                  const T* Vs, const T* lse_s, const T* dv_s,
                                                  int64_t q0, int64_t k0, int64_t Tn, int D,
                                                  T scale, int ty, int tx, T (&p)[RM][RM],
                                                  T (&ds)[RM][RM]) {
  constexpr int LD = row_len<DK>();
  T dp[RM][RM] = {};
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < RM; ++c) p[r][c] = 0;
  rows_dot_rows<T, RM>(p, Qs, Ks, LD, D, ty, tx);
  rows_dot_rows<T, RM>(dp, dYs, Vs, LD, D, ty, tx);
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int ri = owned_index(ty, r);
#pragma unroll
    for (int c = 0; c < RM; ++c) {
      const bool on = attends(q0 + ri, k0 + owned_index(tx, c), Tn);
      p[r][c] = on ? d_exp(p[r][c] * scale - lse_s[ri]) : T(0);
      ds[r][c] = p[r][c] * (dp[r][c] - dv_s[ri]);
    }
  }
}

// dk, dv of one key tile: summed over the query tiles that attend it, in tile order.
template <class T, int RM, int DK>
__global__ void __launch_bounds__(kThreads)
    dkv_kernel(Geo g, T scale, const T* __restrict__ qkv, const T* __restrict__ dy,
               const T* __restrict__ lse, const T* __restrict__ dvec, T* __restrict__ dqkv) {
  constexpr int BR = kSide * RM, BC = kSide * RM, LD = row_len<DK>(), PL = BC + 1;
  extern __shared__ unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* dYs = Qs + BR * LD;
  T* Ks = dYs + BR * LD;
  T* Vs = Ks + BC * LD;
  T* Ps = Vs + BC * LD;
  T* dSs = Ps + BR * PL;
  T* lse_s = dSs + BR * PL;
  T* dv_s = lse_s + BR;
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide, D = (int)g.D;
  const int64_t bh = blockIdx.x, b = bh / g.H, h = bh % g.H;
  const int64_t kt = blockIdx.y, k0 = kt * BC, stride = 3 * g.C;
  const T* q = qkv + b * g.T * stride + h * D;
  const T* gy = dy + b * g.T * g.C + h * D;
  load_tile(Ks, LD, BC, q + g.C, stride, k0, g.T, D, kSide * DK);
  load_tile(Vs, LD, BC, q + 2 * g.C, stride, k0, g.T, D, kSide * DK);

  T dk[RM][DK] = {}, dv[RM][DK] = {};  // rows: keys ty + 16 r; columns: head dims
  const TileRange queries = query_tiles_of_key_tile(kt, g.T, BR, BC);
  for (int64_t qt = queries.begin; qt < queries.end; ++qt) {
    const int64_t q0 = qt * BR;
    load_tile(Qs, LD, BR, q, stride, q0, g.T, D, kSide * DK);
    load_tile(dYs, LD, BR, gy, g.C, q0, g.T, D, kSide * DK);
    load_row_stat(lse_s, BR, lse + bh * g.T, q0, g.T);
    load_row_stat(dv_s, BR, dvec + bh * g.T, q0, g.T);
    __syncthreads();
    T p[RM][RM], ds[RM][RM];
    probs_and_dscores<T, RM, DK>(Qs, dYs, Ks, Vs, lse_s, dv_s, q0, k0, g.T, D, scale, ty, tx, p,
                                 ds);
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < RM; ++c) {
        Ps[owned_index(ty, r) * PL + owned_index(tx, c)] = p[r][c];
        dSs[owned_index(ty, r) * PL + owned_index(tx, c)] = ds[r][c];
      }
    __syncthreads();
    // dv[key] += sum_i P[i, key] dy[i];  dk[key] += sum_i dS[i, key] q[i]
    for (int i = 0; i < BR; ++i) {
      T gyv[DK], qv[DK];
#pragma unroll
      for (int k = 0; k < DK; ++k) {
        gyv[k] = dYs[i * LD + owned_index(tx, k)];
        qv[k] = Qs[i * LD + owned_index(tx, k)];
      }
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const T pk = Ps[i * PL + owned_index(ty, r)], sk = dSs[i * PL + owned_index(ty, r)];
#pragma unroll
        for (int k = 0; k < DK; ++k) {
          dv[r][k] += pk * gyv[k];
          dk[r][k] += sk * qv[k];
        }
      }
    }
    __syncthreads();  // the next query tile overwrites Q, dy, P, dS
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int64_t j = k0 + owned_index(ty, r);
    if (j >= g.T) continue;
    T* out = dqkv + (b * g.T + j) * stride + h * D;
#pragma unroll
    for (int k = 0; k < DK; ++k) {
      const int d = owned_index(tx, k);
      if (d >= D) continue;
      out[g.C + d] = dk[r][k] * scale;
      out[2 * g.C + d] = dv[r][k];
    }
  }
}

// dq of one query tile: summed over the key tiles it attends, in tile order.
template <class T, int RM, int DK>
__global__ void __launch_bounds__(kThreads)
    dq_kernel(Geo g, T scale, const T* __restrict__ qkv, const T* __restrict__ dy,
              const T* __restrict__ lse, const T* __restrict__ dvec, T* __restrict__ dqkv) {
  constexpr int BR = kSide * RM, BC = kSide * RM, LD = row_len<DK>(), PL = BC + 1;
  extern __shared__ unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* dYs = Qs + BR * LD;
  T* Ks = dYs + BR * LD;
  T* Vs = Ks + BC * LD;
  T* dSs = Vs + BC * LD;
  T* lse_s = dSs + 2 * BR * PL;  // same layout as dkv_kernel's (one P-sized block unused)
  T* dv_s = lse_s + BR;
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide, D = (int)g.D;
  const int64_t bh = blockIdx.x, b = bh / g.H, h = bh % g.H;
  const int64_t qt = gridDim.y - 1 - blockIdx.y;  // the longest first
  const int64_t q0 = qt * BR, stride = 3 * g.C;
  const T* q = qkv + b * g.T * stride + h * D;
  load_tile(Qs, LD, BR, q, stride, q0, g.T, D, kSide * DK);
  load_tile(dYs, LD, BR, dy + b * g.T * g.C + h * D, g.C, q0, g.T, D, kSide * DK);
  load_row_stat(lse_s, BR, lse + bh * g.T, q0, g.T);
  load_row_stat(dv_s, BR, dvec + bh * g.T, q0, g.T);

  T dq[RM][DK] = {};  // rows: queries ty + 16 r; columns: head dims
  const TileRange keys = key_tiles_of_query_tile(qt, g.T, BR, BC);
  for (int64_t kt = keys.begin; kt < keys.end; ++kt) {
    const int64_t k0 = kt * BC;
    load_tile(Ks, LD, BC, q + g.C, stride, k0, g.T, D, kSide * DK);
    load_tile(Vs, LD, BC, q + 2 * g.C, stride, k0, g.T, D, kSide * DK);
    __syncthreads();
    T p[RM][RM], ds[RM][RM];
    probs_and_dscores<T, RM, DK>(Qs, dYs, Ks, Vs, lse_s, dv_s, q0, k0, g.T, D, scale, ty, tx, p,
                                 ds);
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < RM; ++c) dSs[owned_index(ty, r) * PL + owned_index(tx, c)] = ds[r][c];
    __syncthreads();
    for (int c = 0; c < BC; ++c) {  // dq += dS k
      T kv[DK];
#pragma unroll
      for (int k = 0; k < DK; ++k) kv[k] = Ks[c * LD + owned_index(tx, k)];
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const T sr = dSs[owned_index(ty, r) * PL + c];
#pragma unroll
        for (int k = 0; k < DK; ++k) dq[r][k] += sr * kv[k];
      }
    }
    __syncthreads();  // the next key tile overwrites K, V, dS
  }
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int64_t i = q0 + owned_index(ty, r);
    if (i >= g.T) continue;
    T* out = dqkv + (b * g.T + i) * stride + h * D;
#pragma unroll
    for (int k = 0; k < DK; ++k)
      if (owned_index(tx, k) < D) out[owned_index(tx, k)] = dq[r][k] * scale;
  }
}

// float: 64 x 64 tiles; double: 32 x 32 (twice the bytes per element, same shared memory).
template <class T>
__host__ __device__ constexpr int rows_per_thread() {
  return std::is_same_v<T, float> ? 4 : 2;
}

// Raises one kernel's dynamic shared-memory limit above the 48 KiB default, once per kernel
// (a template on the kernel itself: instantiations of one signature share a pointer type).
template <auto Kernel>
void allow_shared(size_t bytes) {
  static std::once_flag once;
  std::call_once(once, [&] {
    check(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
          "causal_self_attention");
  });
}

size_t shared_limit() {
  static const size_t limit = [] {
    int dev = 0, v = 0;
    check(cudaGetDevice(&dev), "causal_self_attention");
    check(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
          "causal_self_attention");
    return (size_t)v;
  }();
  return limit;
}

Geo geo_of(const Tensor& qkv, int64_t n_head) {
  const int64_t C = qkv.size(2) / 3;
  const Geo g{qkv.size(0), qkv.size(1), C, n_head, C / n_head};
  // grid: x = batch * head (2^31 - 1 blocks), y = row tiles (65535 blocks of >= 32 rows)
  if (g.B * g.H > INT32_MAX || tiles_for(g.T, kSide * 2) > 65535)
    fail("causal_self_attention", "qkv ", shape_str(qkv.shape()), " with ", n_head,
         " heads exceeds the fused kernel's grid (batch * heads <= 2^31 - 1, T <= 2^21)");
  return g;
}

template <class T, int DK>
void forward_typed(const Geo& g, double scale, const Tensor& qkv, const Tensor& y,
                   const Tensor& lse) {
  constexpr int RM = rows_per_thread<T>(), BR = kSide * RM;
  const size_t bytes = forward_elems<RM, DK>() * sizeof(T);
  allow_shared<forward_kernel<T, RM, DK>>(bytes);
  const dim3 grid((unsigned)(g.B * g.H), (unsigned)tiles_for(g.T, BR));
  forward_kernel<T, RM, DK>
      <<<grid, kThreads, bytes, stream()>>>(g, T(scale), qkv.data<T>(), y.data<T>(), lse.data<T>());
  check_launch("causal_self_attention");
}

template <class T, int DK>
void backward_typed(const Geo& g, double scale, const Tensor& dy, const Tensor& qkv,
                    const Tensor& y, const Tensor& lse, const Tensor& dqkv) {
  constexpr int RM = rows_per_thread<T>(), BR = kSide * RM;
  const Tensor dvec = empty({g.B, g.H, g.T}, {.dtype = qkv.dtype(), .device = Device::CUDA});
  const int64_t rows = g.B * g.T * g.H;
  rowdot_kernel<T><<<blocks_for(rows), cuda::kThreads, 0, stream()>>>(g, dy.data<T>(), y.data<T>(),
                                                                      dvec.data<T>());
  check_launch("causal_self_attention");
  const size_t bytes = backward_elems<RM, DK>() * sizeof(T);
  const dim3 grid((unsigned)(g.B * g.H), (unsigned)tiles_for(g.T, BR));
  allow_shared<dkv_kernel<T, RM, DK>>(bytes);
  dkv_kernel<T, RM, DK><<<grid, kThreads, bytes, stream()>>>(
      g, T(scale), qkv.data<T>(), dy.data<T>(), lse.data<T>(), dvec.data<T>(), dqkv.data<T>());
  check_launch("causal_self_attention");
  allow_shared<dq_kernel<T, RM, DK>>(bytes);
  dq_kernel<T, RM, DK><<<grid, kThreads, bytes, stream()>>>(
      g, T(scale), qkv.data<T>(), dy.data<T>(), lse.data<T>(), dvec.data<T>(), dqkv.data<T>());
  check_launch("causal_self_attention");
}

// Calls f.template operator()<T, DK>() for the tensor's dtype and the head size's chunks.
template <class F>
void dispatch(DType dt, int64_t D, F&& f) {
  dispatch_float(dt, "causal_self_attention", [&](auto tag) {
    using T = decltype(tag);
    switch (column_chunks(D)) {
      case 1:
        return f.template operator()<T, 1>();
      case 2:
        return f.template operator()<T, 2>();
      case 4:
        return f.template operator()<T, 4>();
      case 8:
        return f.template operator()<T, 8>();
      default:
        fail("causal_self_attention", "head size ", D, " > 128: no fused kernel");
    }
  });
}

}  // namespace

bool supported(DType dt, int64_t head_size) {
  const int DK = column_chunks(head_size);
  if (DK == 0 || head_size < 1) return false;
  const size_t elem = dt == DType::F64 ? 8 : 4;
  const int RM = dt == DType::F64 ? 2 : 4;
  const int LD = kSide * DK + 1, BR = kSide * RM;
  const size_t need = (4 * BR * LD + 2 * BR * (BR + 1) + 2 * BR) * elem;
  return need <= shared_limit();
}

Tensor forward(const Tensor& qkv, int64_t n_head, double scale, const Tensor& y) {
  const Geo g = geo_of(qkv, n_head);
  Tensor lse = empty({g.B, g.H, g.T}, {.dtype = qkv.dtype(), .device = Device::CUDA});
  if (g.B * g.H * g.T == 0) return lse;
  dispatch(qkv.dtype(), g.D,
           [&]<class T, int DK>() { forward_typed<T, DK>(g, scale, qkv, y, lse); });
  return lse;
}

void backward(const Tensor& dy, const Tensor& qkv, const Tensor& y, const Tensor& lse,
              int64_t n_head, double scale, const Tensor& dqkv) {
  const Geo g = geo_of(qkv, n_head);
  if (g.B * g.H * g.T == 0) return;
  dispatch(qkv.dtype(), g.D,
           [&]<class T, int DK>() { backward_typed<T, DK>(g, scale, dy, qkv, y, lse, dqkv); });
}

}  // namespace ng::cuda::flash
