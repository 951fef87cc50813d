// The fused causal attention kernels (device code only; flash_attention.cu launches them).
// Written against a few CUDA names (threadIdx, __syncthreads, __shfl_xor_sync, min, max,
// d_exp, d_log, the NG_FLASH_SHARED_MEMORY declaration) so that tests/test_flash_emulation.cpp
// can run these exact kernels on the CPU, one std::thread per GPU thread.
#pragma once
#include <cstdint>
#include <type_traits>

#include "flash_plan.h"

// nvcc unrolls the fixed-trip loops; a host compiler (the emulation test) needs no hint
#ifdef __CUDACC__
#define NG_UNROLL _Pragma("unroll")
#else
#define NG_UNROLL
#endif

#ifndef NG_FLASH_SHARED_MEMORY
#define NG_FLASH_SHARED_MEMORY(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace ng::cuda::flash {
// Internal linkage: the CPU emulation test compiles its own host copy of these templates,
// which must never merge with the CUDA library's launch stubs of the same names.
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

// Our own max/min: the same code on the GPU and in the host emulation (where ng::max, the
// tensor op, would hide the global one). -inf is the identity of larger().
template <class A>
__host__ __device__ __forceinline__ A larger(A a, A b) {
  return a < b ? b : a;
}
template <class A>
__host__ __device__ __forceinline__ A smaller(A a, A b) {
  return b < a ? b : a;
}

template <class T>
__device__ __forceinline__ T half_warp_max(T v) {
  NG_UNROLL
  for (int o = kSide / 2; o > 0; o >>= 1) v = larger(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class T>
__device__ __forceinline__ T half_warp_sum(T v) {
  NG_UNROLL
  for (int o = kSide / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// acc[r][c] += sum_d A[ty + 16 r][d] * B[tx + 16 c][d]  (A rows x D, B rows x D; ld = row length)
template <class T, int RM>
__device__ __forceinline__ void rows_dot_rows(T (&acc)[RM][RM], const T* A, const T* B, int ld,
                                              int D, int ty, int tx) {
  for (int d = 0; d < D; ++d) {
    T a[RM], b[RM];
    NG_UNROLL
    for (int r = 0; r < RM; ++r) a[r] = A[owned_index(ty, r) * ld + d];
    NG_UNROLL
    for (int c = 0; c < RM; ++c) b[c] = B[owned_index(tx, c) * ld + d];
    NG_UNROLL
    for (int r = 0; r < RM; ++r) NG_UNROLL
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
  NG_FLASH_SHARED_MEMORY(smem_raw);
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
  NG_UNROLL
  for (int r = 0; r < RM; ++r) {
    m[r] = -INFINITY;
    l[r] = 0;
    NG_UNROLL
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
    NG_UNROLL
    for (int r = 0; r < RM; ++r) {
      // a padding row (past T) is computed like the last real row and never written
      const int64_t i = smaller<int64_t>(q0 + owned_index(ty, r), g.T - 1);
      T row_max = -INFINITY;
      NG_UNROLL
      for (int c = 0; c < RM; ++c) {
        const int64_t j = k0 + owned_index(tx, c);
        s[r][c] = attends(i, j, g.T) ? s[r][c] * scale : T(-INFINITY);
        row_max = larger(row_max, s[r][c]);
      }
      // Key tile 0 holds key 0, which every row attends: m is finite from the first tile on.
      const T m_new = larger(m[r], half_warp_max(row_max));
      const T rescale = d_exp(m[r] - m_new);  // exp(-inf) = 0 on the first tile
      T row_sum = 0;
      NG_UNROLL
      for (int c = 0; c < RM; ++c) {
        s[r][c] = d_exp(s[r][c] - m_new);
        row_sum += s[r][c];
        Ps[owned_index(ty, r) * PL + owned_index(tx, c)] = s[r][c];
      }
      l[r] = l[r] * rescale + half_warp_sum(row_sum);
      m[r] = m_new;
      NG_UNROLL
      for (int k = 0; k < DK; ++k) o[r][k] *= rescale;
    }
    __syncthreads();
    for (int c = 0; c < BC; ++c) {  // o += P V
      T v[DK];
      NG_UNROLL
      for (int k = 0; k < DK; ++k) v[k] = Vs[c * LD + owned_index(tx, k)];
      NG_UNROLL
      for (int r = 0; r < RM; ++r) {
        const T p = Ps[owned_index(ty, r) * PL + c];
        NG_UNROLL
        for (int k = 0; k < DK; ++k) o[r][k] += p * v[k];
      }
    }
    __syncthreads();  // the next tile overwrites K, V and P
  }
  NG_UNROLL
  for (int r = 0; r < RM; ++r) {
    const int64_t i = q0 + owned_index(ty, r);
    if (i >= g.T) continue;
    const T inv = T(1) / l[r];
    T* out = y + (b * g.T + i) * g.C + h * D;
    NG_UNROLL
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
  NG_UNROLL
  for (int r = 0; r < RM; ++r) NG_UNROLL
  for (int c = 0; c < RM; ++c) p[r][c] = 0;
  rows_dot_rows<T, RM>(p, Qs, Ks, LD, D, ty, tx);
  rows_dot_rows<T, RM>(dp, dYs, Vs, LD, D, ty, tx);
  NG_UNROLL
  for (int r = 0; r < RM; ++r) {
    const int ri = owned_index(ty, r);
    NG_UNROLL
    for (int c = 0; c < RM; ++c) {
      const bool on = attends(q0 + ri, k0 + owned_index(tx, c), Tn);
      p[r][c] = on ? d_exp(p[r][c] * scale - lse_s[ri]) : T(0);
      // masked: exactly 0, also when a future key's v is not finite (as the CPU kernel)
      ds[r][c] = on ? p[r][c] * (dp[r][c] - dv_s[ri]) : T(0);
    }
  }
}

// The backward kernels' shared memory (backward_elems): q, dy, k, v tiles, then P and dS
// tiles, then the rows' lse and Dv.
template <class T>
struct BackwardTiles {
  T *Q, *dY, *K, *V, *P, *dS, *lse, *dv;
};
template <class T, int RM, int DK>
__device__ __forceinline__ BackwardTiles<T> backward_tiles(unsigned char* raw) {
  constexpr int BR = kSide * RM, LD = row_len<DK>(), PL = BR + 1;
  BackwardTiles<T> t;
  t.Q = reinterpret_cast<T*>(raw);
  t.dY = t.Q + BR * LD;
  t.K = t.dY + BR * LD;
  t.V = t.K + BR * LD;
  t.P = t.V + BR * LD;
  t.dS = t.P + BR * PL;
  t.lse = t.dS + BR * PL;
  t.dv = t.lse + BR;
  return t;
}

// dk, dv of one key tile: summed over the query tiles that attend it, in tile order.
template <class T, int RM, int DK>
__global__ void __launch_bounds__(kThreads)
    dkv_kernel(Geo g, T scale, const T* __restrict__ qkv, const T* __restrict__ dy,
               const T* __restrict__ lse, const T* __restrict__ dvec, T* __restrict__ dqkv) {
  constexpr int BR = kSide * RM, BC = kSide * RM, LD = row_len<DK>(), PL = BC + 1;
  NG_FLASH_SHARED_MEMORY(smem_raw);
  const BackwardTiles<T> t = backward_tiles<T, RM, DK>(smem_raw);
  T *Qs = t.Q, *dYs = t.dY, *Ks = t.K, *Vs = t.V, *Ps = t.P, *dSs = t.dS, *lse_s = t.lse,
    *dv_s = t.dv;
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
    NG_UNROLL
    for (int r = 0; r < RM; ++r) NG_UNROLL
    for (int c = 0; c < RM; ++c) {
      Ps[owned_index(ty, r) * PL + owned_index(tx, c)] = p[r][c];
      dSs[owned_index(ty, r) * PL + owned_index(tx, c)] = ds[r][c];
    }
    __syncthreads();
    // dv[key] += sum_i P[i, key] dy[i];  dk[key] += sum_i dS[i, key] q[i]
    for (int i = 0; i < BR; ++i) {
      T gyv[DK], qv[DK];
      NG_UNROLL
      for (int k = 0; k < DK; ++k) {
        gyv[k] = dYs[i * LD + owned_index(tx, k)];
        qv[k] = Qs[i * LD + owned_index(tx, k)];
      }
      NG_UNROLL
      for (int r = 0; r < RM; ++r) {
        const T pk = Ps[i * PL + owned_index(ty, r)], sk = dSs[i * PL + owned_index(ty, r)];
        NG_UNROLL
        for (int k = 0; k < DK; ++k) {
          dv[r][k] += pk * gyv[k];
          dk[r][k] += sk * qv[k];
        }
      }
    }
    __syncthreads();  // the next query tile overwrites Q, dy, P, dS
  }
  NG_UNROLL
  for (int r = 0; r < RM; ++r) {
    const int64_t j = k0 + owned_index(ty, r);
    if (j >= g.T) continue;
    T* out = dqkv + (b * g.T + j) * stride + h * D;
    NG_UNROLL
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
  NG_FLASH_SHARED_MEMORY(smem_raw);
  const BackwardTiles<T> t = backward_tiles<T, RM, DK>(smem_raw);  // t.P unused here
  T *Qs = t.Q, *dYs = t.dY, *Ks = t.K, *Vs = t.V, *dSs = t.dS, *lse_s = t.lse, *dv_s = t.dv;
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
    NG_UNROLL
    for (int r = 0; r < RM; ++r) NG_UNROLL
    for (int c = 0; c < RM; ++c) dSs[owned_index(ty, r) * PL + owned_index(tx, c)] = ds[r][c];
    __syncthreads();
    for (int c = 0; c < BC; ++c) {  // dq += dS k
      T kv[DK];
      NG_UNROLL
      for (int k = 0; k < DK; ++k) kv[k] = Ks[c * LD + owned_index(tx, k)];
      NG_UNROLL
      for (int r = 0; r < RM; ++r) {
        const T sr = dSs[owned_index(ty, r) * PL + c];
        NG_UNROLL
        for (int k = 0; k < DK; ++k) dq[r][k] += sr * kv[k];
      }
    }
    __syncthreads();  // the next key tile overwrites K, V, dS
  }
  NG_UNROLL
  for (int r = 0; r < RM; ++r) {
    const int64_t i = q0 + owned_index(ty, r);
    if (i >= g.T) continue;
    T* out = dqkv + (b * g.T + i) * stride + h * D;
    NG_UNROLL
    for (int k = 0; k < DK; ++k)
      if (owned_index(tx, k) < D) out[owned_index(tx, k)] = dq[r][k] * scale;
  }
}

// float: 64 x 64 tiles; double: 32 x 32 (twice the bytes per element, same shared memory).
template <class T>
__host__ __device__ constexpr int rows_per_thread() {
  return std::is_same_v<T, float> ? 4 : 2;
}

}  // namespace
}  // namespace ng::cuda::flash
