// Fused normalization kernels (formulas as in core/src/cpu/norms.cpp).
//
// Forward: one warp per row; LayerNorm/RMSNorm reduce the row with warp shuffles.
// Backward: one block per chunk of kRows rows. Row statistics (LayerNorm/RMSNorm) are
// reduced one warp per row; then each thread owns columns, so the per-channel parameter
// gradients of the chunk accumulate in registers. Stage one writes
// one partial row per chunk; stage two adds the chunks in order. No atomics anywhere, so
// every gradient is bit-reproducible run to run.
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"

namespace ng::cuda {
namespace norms {

constexpr int kRows = 32;
constexpr double k2OverSqrtPi = 1.1283791670955126;

template <class T>
struct Scalars {
  T eps, a, s, pf;
};

template <class T>
__device__ __forceinline__ T elementwise_value(NormOp op, T x, const Scalars<T>& k) {
  switch (op) {
    case NormOp::DyT:
      return k.pf * d_tanh(k.a * x);
    case NormOp::DyISRU:
      return k.pf * x / d_sqrt(k.a + x * x);
    case NormOp::Derf:
      return k.pf * d_erf(k.a * x + k.s);
    default:
      return x;
  }
}

template <class T>
__global__ void forward_kernel(NormOp op, Scalars<T> k, int64_t N, int64_t C, const T* x,
                               const T* w, const T* b, T* y, T* stats) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T* xr = x + row * C;
  T* yr = y + row * C;
  T mean = 0, rstd = 1;
  if (op == NormOp::LayerNorm) {
    T s = 0;
    for (int64_t i = lane; i < C; i += 32) s += xr[i];
    mean = warp_sum(s) / T(C);
    T v = 0;
    for (int64_t i = lane; i < C; i += 32) v += (xr[i] - mean) * (xr[i] - mean);
    rstd = T(1) / d_sqrt(warp_sum(v) / T(C) + k.eps);
  } else if (op == NormOp::RMSNorm) {
    T s = 0;
    for (int64_t i = lane; i < C; i += 32) s += xr[i] * xr[i];
    rstd = T(1) / d_sqrt(warp_sum(s) / T(C) + k.eps);
  }
  if (stats && lane == 0) {
    stats[2 * row] = mean;
    stats[2 * row + 1] = rstd;
  }
  const bool stat_norm = op == NormOp::LayerNorm || op == NormOp::RMSNorm;
  for (int64_t i = lane; i < C; i += 32) {
    T v = stat_norm ? (xr[i] - mean) * rstd : elementwise_value(op, xr[i], k);
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

template <class T>
__global__ void backward_kernel(NormOp op, Scalars<T> k, int64_t N, int64_t C, const T* g,
                                const T* x, const T* w, const T* stats, T* dx, T* dw_part,
                                T* db_part, T* sc_part) {
  __shared__ T scratch[64];
  __shared__ T mean[kRows], rstd[kRows], m_g[kRows], m_gx[kRows], sc[2];
  const int64_t r0 = (int64_t)blockIdx.x * kRows;
  const int rows = (int)(N - r0 < kRows ? N - r0 : kRows);
  const bool stat_norm = op == NormOp::LayerNorm || op == NormOp::RMSNorm;
  if (stat_norm) {
    for (int r = threadIdx.x; r < kRows; r += blockDim.x) {
      mean[r] = r < rows ? stats[2 * (r0 + r)] : T(0);
      rstd[r] = r < rows ? stats[2 * (r0 + r) + 1] : T(0);
    }
    __syncthreads();
    // Pass 1: per-row means of gw and gw * xhat (gw = g w prefactor), one warp per row.
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    for (int r = warp; r < rows; r += nwarps) {
      T s_g = 0, s_gx = 0;
      for (int64_t c = lane; c < C; c += 32) {
        const int64_t at = (r0 + r) * C + c;
        const T gw = g[at] * (w ? w[c] : T(1)) * k.pf;
        s_g += gw;
        s_gx += gw * (x[at] - mean[r]) * rstd[r];
      }
      s_g = warp_sum(s_g);
      s_gx = warp_sum(s_gx);
      if (lane == 0) {
        m_g[r] = op == NormOp::LayerNorm ? s_g / T(C) : T(0);
        m_gx[r] = s_gx / T(C);
      }
    }
    __syncthreads();
  }
  // Pass 2: dx, and this chunk's per-channel sums (g * normalized value, g).
  T sa = 0, ss = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const T wc = (w ? w[c] : T(1)) * k.pf;
    T acc_w = 0, acc_b = 0;
#pragma unroll 4
    for (int r = 0; r < rows; ++r) {
      const int64_t at = (r0 + r) * C + c;
      const T gr = g[at], xv = x[at], gw = gr * wc;
      T nv, d;
      switch (op) {
        case NormOp::LayerNorm:
        case NormOp::RMSNorm:
          nv = (xv - mean[r]) * rstd[r];
          d = rstd[r] * (gw - m_g[r] - nv * m_gx[r]);
          break;
        case NormOp::DyT: {  // t = tanh(a x): dx = gw a (1 - t^2); da = sum gw x (1 - t^2)
          const T t = d_tanh(k.a * xv), q = T(1) - t * t;
          d = gw * k.a * q;
          sa += gw * xv * q;
          nv = k.pf * t;
          break;
        }
        case NormOp::DyISRU: {  // u = beta + x^2: dx = gw beta u^-3/2; dbeta = -gw x/2 u^-3/2
          const T ri = T(1) / d_sqrt(k.a + xv * xv), r3 = ri * ri * ri;
          d = gw * k.a * r3;
          sa += -gw * xv * T(0.5) * r3;
          nv = k.pf * xv * ri;
          break;
        }
        default: {  // Derf, z = a x + s: dz = gw 2/sqrt(pi) e^-z^2
          const T z = k.a * xv + k.s, dz = gw * T(k2OverSqrtPi) * d_exp(-z * z);
          d = dz * k.a;
          sa += dz * xv;
          ss += dz;
          nv = k.pf * d_erf(z);
          break;
        }
      }
      dx[at] = d;
      acc_w += gr * nv;
      acc_b += gr;
    }
    if (dw_part) dw_part[blockIdx.x * C + c] = acc_w;
    if (db_part) db_part[blockIdx.x * C + c] = acc_b;
  }
  if (sc_part) {
    T v[2] = {sa, ss};
    block_sums<T, 2>(v, scratch, sc);
    if (threadIdx.x < 2) sc_part[blockIdx.x * 2 + threadIdx.x] = sc[threadIdx.x];
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

template <class T>
Scalars<T> scalars(const NormParams& p) {
  return {(T)p.eps, (T)p.scalar, (T)p.shift, (T)p.prefactor};
}

template <class T>
void forward_typed(const NormParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                   const Tensor& y, const Tensor& stats) {
  const int64_t C = x.size(-1), N = C ? x.numel() / C : 0;
  if (N == 0) return;
  const int per_block = kThreads / 32;
  forward_kernel<T><<<(unsigned)((N + per_block - 1) / per_block), kThreads, 0, stream()>>>(
      p.op, scalars<T>(p), N, C, x.data<T>(), cptr<T>(w), cptr<T>(b), y.data<T>(), mptr<T>(stats));
  check_launch("norm_forward");
}

template <class T>
void backward_typed(const NormParams& p, const Tensor& g, const Tensor& x, const Tensor& w,
                    const Tensor& stats, const Tensor& dx, const Tensor& dw, const Tensor& db,
                    const Tensor& dscalar) {
  const int64_t C = x.size(-1), N = C ? x.numel() / C : 0;
  const int64_t chunks = (N + kRows - 1) / kRows;
  if (N == 0) {
    for (const Tensor* t : {&dw, &db, &dscalar})
      if (t->defined()) backend(Device::CUDA).fill(*t, 0.0);
    return;
  }
  DeviceBuffer part((dw.defined() + db.defined()) * chunks * C * sizeof(T) +
                    chunks * 2 * sizeof(T));
  T* dw_part = dw.defined() ? part.as<T>() : nullptr;
  T* db_part = db.defined() ? part.as<T>() + (dw.defined() ? chunks * C : 0) : nullptr;
  T* sc_part =
      dscalar.defined() ? part.as<T>() + (dw.defined() + db.defined()) * chunks * C : nullptr;
  backward_kernel<T><<<(unsigned)chunks, kThreads, 0, stream()>>>(
      p.op, scalars<T>(p), N, C, g.data<T>(), x.data<T>(), cptr<T>(w), cptr<T>(stats), dx.data<T>(),
      dw_part, db_part, sc_part);
  check_launch("norm_backward");
  if (dw_part)
    sum_chunks<T><<<blocks_for(C), kThreads, 0, stream()>>>(chunks, C, dw_part, dw.data<T>());
  if (db_part)
    sum_chunks<T><<<blocks_for(C), kThreads, 0, stream()>>>(chunks, C, db_part, db.data<T>());
  if (sc_part) sum_chunks<T><<<1, kThreads, 0, stream()>>>(chunks, 2, sc_part, dscalar.data<T>());
  check_launch("norm_backward");
}

}  // namespace norms

void CudaBackend::norm_forward(const NormParams& p, const Tensor& x, const Tensor& w,
                               const Tensor& b, const Tensor& y, const Tensor& stats) {
  dispatch_float(x.dtype(), "norm_forward",
                 [&](auto tag) { norms::forward_typed<decltype(tag)>(p, x, w, b, y, stats); });
}

void CudaBackend::norm_backward(const NormParams& p, const Tensor& g, const Tensor& x,
                                const Tensor& w, const Tensor& stats, const Tensor& dx,
                                const Tensor& dw, const Tensor& db, const Tensor& dscalar) {
  dispatch_float(x.dtype(), "norm_backward", [&](auto tag) {
    norms::backward_typed<decltype(tag)>(p, g, x, w, stats, dx, dw, db, dscalar);
  });
}

}  // namespace ng::cuda
