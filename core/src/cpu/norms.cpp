// Fused normalization kernels: one pass per row forward, one pass per row backward.
//
// Parameter gradients (per-channel dw, db and the scalars alpha/beta/shift) are summed
// per fixed block of kRowBlock rows, then the blocks are added in order: the result is
// bit-identical whatever the thread count.
#include <cmath>
#include <vector>

#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"
#include "vec_math.h"

namespace ng::cpu {
namespace {

constexpr int64_t kRowBlock = 32;
constexpr double k2OverSqrtPi = 1.1283791670955126;

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

template <class T>
struct Rows {
  int64_t N, C;
  const T* x;
  const T* w;  // null when the norm has no weight
};

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
void forward(const NormParams& p, const Rows<T>& R, const T* b, T* y, T* stats) {
  const int64_t C = R.C;
  const T eps = (T)p.eps, a = (T)p.scalar, s = (T)p.shift, pf = (T)p.prefactor;
  parallel_for(R.N, std::max<int64_t>(1, kGrain / C), [&, eps, a, s, pf](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = R.x + r * C;
      T* yr = y + r * C;
      switch (p.op) {
        case NormOp::LayerNorm: {
          const T mean = lane_sum<T>(C, [&](int64_t i) { return x[i]; }) / (T)C;
          const T var = lane_sum<T>(C,
                                    [&](int64_t i) {
                                      const T d = x[i] - mean;
                                      return d * d;
                                    }) /
                        (T)C;
          const T rstd = T(1) / std::sqrt(var + eps);
          stats[2 * r] = mean;
          stats[2 * r + 1] = rstd;
          store_affine(yr, R.w, b, C, [&](int64_t i) { return (x[i] - mean) * rstd; });
          break;
        }
        case NormOp::RMSNorm: {
          const T ms = lane_sum<T>(C, [&](int64_t i) { return x[i] * x[i]; }) / (T)C;
          const T rstd = T(1) / std::sqrt(ms + eps);
          stats[2 * r] = 0;
          stats[2 * r + 1] = rstd;
          store_affine(yr, R.w, b, C, [&](int64_t i) { return x[i] * rstd; });
          break;
        }
        case NormOp::DyT:
          store_affine(yr, R.w, b, C, [&](int64_t i) { return pf * vtanh(a * x[i]); });
          break;
        case NormOp::DyISRU:
          store_affine(yr, R.w, b, C,
                       [&](int64_t i) { return pf * x[i] / std::sqrt(a + x[i] * x[i]); });
          break;
        case NormOp::Derf:
          store_affine(yr, R.w, b, C, [&](int64_t i) { return pf * verf(a * x[i] + s); });
          break;
      }
    }
  });
}

template <class T>
void backward(const NormParams& p, const Rows<T>& R, const T* g, const T* stats, T* dx, T* dw,
              T* db, T* dscalar) {
  const int64_t N = R.N, C = R.C, nb = (N + kRowBlock - 1) / kRowBlock;
  const T a = (T)p.scalar, s = (T)p.shift, pf = (T)p.prefactor;
  std::vector<T> dw_part(dw ? nb * C : 0), db_part(db ? nb * C : 0), sc_part(nb * 2, T(0));
  parallel_for(nb, 1, [&, a, s, pf](int64_t b0, int64_t b1) {
    // (scalars captured by value: by reference, GCC reloads them every iteration and
    // gives up vectorizing)
    std::vector<T> gw(C), nv(C);  // g * w * prefactor; the normalized value before affine
    for (int64_t blk = b0; blk < b1; ++blk) {
      T* pw = dw ? dw_part.data() + blk * C : nullptr;
      T* pb = db ? db_part.data() + blk * C : nullptr;
      if (pw) std::fill(pw, pw + C, T(0));
      if (pb) std::fill(pb, pb + C, T(0));
      T sa = 0, ss = 0;  // this block's d(scalar), d(shift)
      for (int64_t r = blk * kRowBlock; r < std::min(N, (blk + 1) * kRowBlock); ++r) {
        const T* x = R.x + r * C;
        const T* gr = g + r * C;
        T* dxr = dx + r * C;
        for (int64_t i = 0; i < C; ++i) gw[i] = gr[i] * (R.w ? R.w[i] : T(1)) * pf;
        switch (p.op) {
          case NormOp::LayerNorm:
          case NormOp::RMSNorm: {
            // xhat = (x - mean) rstd;  dx = rstd (gw - mean(gw) - xhat mean(gw xhat))
            // (RMSNorm: mean = 0 and no mean(gw) term)
            const T mean = stats[2 * r], rstd = stats[2 * r + 1];
            for (int64_t i = 0; i < C; ++i) nv[i] = (x[i] - mean) * rstd;
            const T m_gx = lane_sum<T>(C, [&](int64_t i) { return gw[i] * nv[i]; }) / (T)C;
            const T m_g = p.op == NormOp::LayerNorm
                              ? lane_sum<T>(C, [&](int64_t i) { return gw[i]; }) / (T)C
                              : T(0);
            for (int64_t i = 0; i < C; ++i) dxr[i] = rstd * (gw[i] - m_g - nv[i] * m_gx);
            break;
          }
          case NormOp::DyT:
            // t = tanh(a x): dx = gw a (1 - t^2);  da = sum gw x (1 - t^2)
            for (int64_t i = 0; i < C; ++i) nv[i] = vtanh(a * x[i]);
            for (int64_t i = 0; i < C; ++i) dxr[i] = gw[i] * a * (T(1) - nv[i] * nv[i]);
            sa += lane_sum<T>(C, [&](int64_t i) { return gw[i] * x[i] * (T(1) - nv[i] * nv[i]); });
            for (int64_t i = 0; i < C; ++i) nv[i] *= pf;
            break;
          case NormOp::DyISRU:
            // y = x u^(-1/2), u = beta + x^2: dx = gw beta u^(-3/2);  dbeta = sum -gw x/2 u^(-3/2)
            sa += lane_sum<T>(C, [&](int64_t i) {
              const T r = T(1) / std::sqrt(a + x[i] * x[i]);
              return -gw[i] * x[i] * T(0.5) * r * r * r;
            });
            for (int64_t i = 0; i < C; ++i) {
              const T r = T(1) / std::sqrt(a + x[i] * x[i]);
              dxr[i] = gw[i] * a * r * r * r;
              nv[i] = pf * x[i] * r;
            }
            break;
          case NormOp::Derf:
            // z = a x + s: dz = gw 2/sqrt(pi) e^(-z^2);  dx = dz a;  da = sum dz x;  ds = sum dz
            for (int64_t i = 0; i < C; ++i) {
              const T z = a * x[i] + s;
              gw[i] *= T(k2OverSqrtPi) * vexp(-z * z);  // now dz
              dxr[i] = gw[i] * a;
              nv[i] = pf * verf(z);
            }
            sa += lane_sum<T>(C, [&](int64_t i) { return gw[i] * x[i]; });
            ss += lane_sum<T>(C, [&](int64_t i) { return gw[i]; });
            break;
        }
        if (pw)
          for (int64_t i = 0; i < C; ++i) pw[i] += gr[i] * nv[i];
        if (pb)
          for (int64_t i = 0; i < C; ++i) pb[i] += gr[i];
      }
      sc_part[2 * blk] = sa;
      sc_part[2 * blk + 1] = ss;
    }
  });
  // Blocks are added in index order (double accumulation for float).
  auto reduce_blocks = [&](const std::vector<T>& part, T* out) {
    parallel_for(C, 256, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0;
        for (int64_t blk = 0; blk < nb; ++blk) acc += part[blk * C + c];
        out[c] = (T)acc;
      }
    });
  };
  if (dw) reduce_blocks(dw_part, dw);
  if (db) reduce_blocks(db_part, db);
  if (dscalar) {
    double sa = 0, ss = 0;
    for (int64_t blk = 0; blk < nb; ++blk) {
      sa += sc_part[2 * blk];
      ss += sc_part[2 * blk + 1];
    }
    dscalar[0] = (T)sa;
    dscalar[1] = (T)ss;
  }
}

template <class T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void CpuBackend::norm_forward(const NormParams& p, const Tensor& x, const Tensor& w,
                              const Tensor& b, const Tensor& y, const Tensor& stats) {
  dispatch_float(x.dtype(), "norm_forward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t C = x.size(-1);
    const Rows<T> R{x.numel() / C, C, x.data<T>(), ptr<T>(w)};
    forward<T>(p, R, ptr<T>(b), y.data<T>(), mut<T>(stats));
  });
}

void CpuBackend::norm_backward(const NormParams& p, const Tensor& g, const Tensor& x,
                               const Tensor& w, const Tensor& stats, const Tensor& dx,
                               const Tensor& dw, const Tensor& db, const Tensor& dscalar) {
  dispatch_float(x.dtype(), "norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t C = x.size(-1);
    const Rows<T> R{x.numel() / C, C, x.data<T>(), ptr<T>(w)};
    backward<T>(p, R, g.data<T>(), ptr<T>(stats), dx.data<T>(), mut<T>(dw), mut<T>(db),
                mut<T>(dscalar));
  });
}

}  // namespace ng::cpu
