// The CPU row kernels every fused norm kind is instantiated with (see normgrad/norm_kind.h).
//
// Forward: rows in parallel; a kind's row statistics are lane sums over the row, then one
// vectorized pass writes y. Backward: rows in fixed blocks of kRowBlock; per-channel (dw,
// db) and scalar gradients are summed per block, then the blocks are added in index order,
// so every gradient is bit-identical whatever the thread count. Each pass over a row is a
// plain loop over a kind's inlined element function, so GCC vectorizes it; sums go through
// lane_sum (32 independent lanes) because a float reduction in one accumulator cannot be.
#pragma once
#include <cmath>
#include <utility>
#include <vector>

#include "cpu_math.h"
#include "dispatch.h"
#include "normgrad/norm_kind.h"
#include "parallel.h"
#include "vec_math.h"

namespace ng::cpu {

namespace norm_rows {

// Lambdas in the row loops are forced inline too: this file instantiates every kind, and
// past GCC's inlining budget a lambda left out of line stops its loop from vectorizing.
#define NG_VEC_LAMBDA __attribute__((always_inline))

constexpr int64_t kRowBlock = 32;

// sum_i f(i) over [0, n) with 32 independent lanes: four AVX accumulators, so the adds
// overlap instead of waiting on each other's latency; GCC vectorizes the lane loop.
template <class T, class F>
NG_VEC_INLINE T lane_sum(int64_t n, F f) {
  constexpr int L = 32;
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) acc[j] += f(i + j);
  T s = 0;
  for (int j = 0; j < L; ++j) s += acc[j];
  for (; i < n; ++i) s += f(i);
  return s;
}

// y[i] = v(i) * w[i] + b[i], with w and b optional.
template <class T, class V>
NG_VEC_INLINE void store_affine(T* y, const T* w, const T* b, int64_t C, V v) {
  if (w && b)
    for (int64_t i = 0; i < C; ++i) y[i] = v(i) * w[i] + b[i];
  else if (w)
    for (int64_t i = 0; i < C; ++i) y[i] = v(i) * w[i];
  else if (b)
    for (int64_t i = 0; i < C; ++i) y[i] = v(i) + b[i];
  else
    for (int64_t i = 0; i < C; ++i) y[i] = v(i);
}

template <class T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// A kind's scalars as values (they live in host memory on the CPU: reading is free).
template <class K, class T>
struct Scalars {
  T v[K::kScalars > 0 ? K::kScalars : 1] = {};
  explicit Scalars(const TensorList& s) {
    for (int j = 0; j < K::kScalars; ++j) v[j] = s[j].data<T>()[0];
  }
};

// f(integral_constant<0>) ... f(integral_constant<N-1>): indices known at compile time, so
// a kind's small per-element arrays stay in registers and the loops vectorize.
template <int N, class F>
NG_VEC_INLINE void static_for(F&& f) {
  [&]<int... J>(std::integer_sequence<int, J...>) { (f(std::integral_constant<int, J>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

template <int N>
constexpr int at_least_1 = N > 0 ? N : 1;

// Everything a row's loops read, as locals: a value read through a pointer could alias the
// output, and GCC would reload it every iteration and give up vectorizing.
template <class K, class T>
struct RowArgs {
  typename K::Consts k;
  T s[at_least_1<K::kScalars>];
  T st[at_least_1<K::kStats>];
};

template <class K, class T>
void forward(const NormCall& c) {
  using M = CpuMath;
  const auto k = c.consts.unpack<typename K::Consts>();
  const Scalars<K, T> sc(c.scalars);
  const int64_t C = c.x.size(-1), N = C ? c.x.numel() / C : 0;
  const T *X = c.x.data<T>(), *w = ptr<T>(c.w), *b = ptr<T>(c.b);
  T* Y = c.y.data<T>();
  T* stats = K::kStats ? c.stats.data<T>() : nullptr;
  parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)),
               [=](int64_t r0, int64_t r1) {
                 RowArgs<K, T> a{k, {}, {}};
                 for (int j = 0; j < K::kScalars; ++j) a.s[j] = sc.v[j];
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* x = X + r * C;
                   if constexpr (K::kStats > 0) {
                     K::template stats<M, T>(
                         [&](auto f) NG_VEC_LAMBDA {
                           return lane_sum<T>(C, [&](int64_t i) NG_VEC_LAMBDA { return f(x[i]); });
                         },
                         C, a.s, a.k, a.st);
                     for (int j = 0; j < K::kStats; ++j) stats[r * K::kStats + j] = a.st[j];
                   }
                   const RowArgs<K, T> ra = a;
                   store_affine(Y + r * C, w, b, C, [&](int64_t i) NG_VEC_LAMBDA {
                     return K::template value<M, T>(x[i], ra.s, ra.st, ra.k);
                   });
                 }
               });
}

template <class K, class T>
void backward(const NormCall& c) {
  using M = CpuMath;
  constexpr int S = K::kScalars, R = K::kRowSums;
  const auto k = c.consts.unpack<typename K::Consts>();
  const Scalars<K, T> sc(c.scalars);
  const int64_t C = c.x.size(-1), N = C ? c.x.numel() / C : 0;
  const int64_t nb = (N + kRowBlock - 1) / kRowBlock;
  const T *X = c.x.data<T>(), *G = c.g.data<T>(), *w = ptr<T>(c.w);
  const T* stats = K::kStats ? c.stats.data<T>() : nullptr;
  T* DX = c.dx.data<T>();
  const bool want_w = c.dw.defined(), want_b = c.db.defined(), want_s = c.ds.defined();
  std::vector<T> dw_part(want_w ? nb * C : 0), db_part(want_b ? nb * C : 0);
  std::vector<T> ds_part(want_s ? nb * S : 0);
  parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    // gw = g * w; y = the pre-affine output; ds = per-element scalar-gradient shares
    std::vector<T> gw(C), y(C), ds(at_least_1<S> * C);
    RowArgs<K, T> a{k, {}, {}};
    for (int j = 0; j < S; ++j) a.s[j] = sc.v[j];
    for (int64_t blk = b0; blk < b1; ++blk) {
      T* pw = want_w ? dw_part.data() + blk * C : nullptr;
      T* pb = want_b ? db_part.data() + blk * C : nullptr;
      if (pw) std::fill(pw, pw + C, T(0));
      if (pb) std::fill(pb, pb + C, T(0));
      T ds_blk[at_least_1<S>] = {};
      for (int64_t r = blk * kRowBlock; r < std::min(N, (blk + 1) * kRowBlock); ++r) {
        const T* x = X + r * C;
        const T* g = G + r * C;
        T* dx = DX + r * C;
        for (int j = 0; j < K::kStats; ++j) a.st[j] = stats[r * K::kStats + j];
        const RowArgs<K, T> ra = a;
        T* gwp = gw.data();
        if (w)
          for (int64_t i = 0; i < C; ++i) gwp[i] = g[i] * w[i];
        else
          for (int64_t i = 0; i < C; ++i) gwp[i] = g[i];
        T rs[at_least_1<R>] = {};
        static_for<R>([&](auto J) NG_VEC_LAMBDA {
          rs[J] = lane_sum<T>(C, [&](int64_t i) NG_VEC_LAMBDA {
            T o[at_least_1<R>];
            K::template row_terms<M, T>(x[i], gwp[i], ra.s, ra.st, ra.k, o);
            return o[J];
          });
        });
        T rsl[at_least_1<R>];
        for (int j = 0; j < R; ++j) rsl[j] = rs[j];
        T* yp = y.data();
        T* dsp = ds.data();
        // dx, y and ds are distinct buffers (ivdep: no run-time overlap check, which GCC's
        // versioned loop could fail and fall back to scalar code)
#pragma GCC ivdep
        for (int64_t i = 0; i < C; ++i) {
          const auto e = K::template backward<M, T>(x[i], gwp[i], ra.s, ra.st, rsl, C, ra.k);
          dx[i] = e.dx;
          yp[i] = e.y;
          static_for<S>([&](auto J) NG_VEC_LAMBDA { dsp[J * C + i] = e.ds[J]; });
        }
        if (want_s)
          static_for<S>([&](auto J) NG_VEC_LAMBDA {
            const T* d = dsp + J * C;
            ds_blk[J] += lane_sum<T>(C, [&](int64_t i) NG_VEC_LAMBDA { return d[i]; });
          });
        if (pw)
          for (int64_t i = 0; i < C; ++i) pw[i] += g[i] * yp[i];
        if (pb)
          for (int64_t i = 0; i < C; ++i) pb[i] += g[i];
      }
      if (want_s)
        for (int j = 0; j < S; ++j) ds_part[blk * S + j] = ds_blk[j];
    }
  });
  // Blocks are added in index order (double accumulation for float).
  auto reduce_blocks = [&](const std::vector<T>& part, int64_t width, T* out) {
    parallel_for(width, 256, [&](int64_t c0, int64_t c1) {
      for (int64_t j = c0; j < c1; ++j) {
        double acc = 0;
        for (int64_t blk = 0; blk < nb; ++blk) acc += part[blk * width + j];
        out[j] = (T)acc;
      }
    });
  };
  if (want_w) reduce_blocks(dw_part, C, c.dw.data<T>());
  if (want_b) reduce_blocks(db_part, C, c.db.data<T>());
  if (want_s) reduce_blocks(ds_part, S, c.ds.data<T>());
}

}  // namespace norm_rows

// NG_CPU_NORM(K): makes kind K known by name and, when it has a fused kernel, registers the
// CPU row kernels instantiated for it (float and double).
template <class K>
bool register_cpu_norm() {
  register_norm_kind(describe_norm<K>());
  if constexpr (K::kFused)
    register_norm_kernels(
        Device::CPU, K::kName,
        norm_kernels_for<&norm_rows::forward<K, float>, &norm_rows::forward<K, double>,
                         &norm_rows::backward<K, float>, &norm_rows::backward<K, double>>());
  return true;
}
#define NG_CPU_NORM(K) \
  [[maybe_unused]] static const bool ng_cpu_norm_##K = ::ng::cpu::register_cpu_norm<K>()

}  // namespace ng::cpu
