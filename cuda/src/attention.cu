// Causal self-attention on the GPU. The fused kernels (flash_attention.cu: online softmax,
// no T x T matrix in memory) handle head sizes up to 128; larger heads, or
// NG_CUDA_ATTENTION=gemm (an A/B switch for benchmarks), take the cuBLAS path below: the
// five matrix products per step are batched cuBLAS calls on head views of the packed qkv
// (no copies going in), the causal softmax and its backward one kernel each (one warp per
// row); head outputs come back from cuBLAS contiguous and one strided copy puts them into
// the packed layout. The saved tensor tells the backward which path the forward took:
// [B, H, T] row log-sum-exps (fused) or [B, H, T, T] probabilities (cuBLAS).
#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"
#include "flash_attention.cuh"
#include "normgrad/cuda.h"

namespace ng::cuda {
namespace attention {

struct Geo {
  int64_t B, T, C, H, D;
};

// A [B, H, T, D] view of one third (part 0, 1, 2 = q, k, v) of a packed [B, T, 3C] tensor,
// or of a [B, T, C] tensor (part < 0).
Tensor heads(const Tensor& t, const Geo& g, int part) {
  const int64_t row = part < 0 ? g.C : 3 * g.C;
  return make_tensor(t.impl()->storage, {g.B, g.H, g.T, g.D}, {g.T * row, g.D, row, 1},
                     t.offset() + (part < 0 ? 0 : part * g.C), t.dtype());
}

// In place on scores [rows = B H T, T]: row i of each T x T block keeps columns <= i.
template <class T>
__global__ void causal_softmax(int64_t rows, int64_t Tn, T scale, T* s) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int64_t i = row % Tn, n = i + 1;
  T* r = s + row * Tn;
  T m = -INFINITY;
  for (int64_t j = lane; j < n; j += 32) m = max(m, r[j] * scale);
  for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
  T z = 0;
  for (int64_t j = lane; j < n; j += 32) {
    const T e = d_exp(r[j] * scale - m);
    r[j] = e;
    z += e;
  }
  const T inv = T(1) / warp_sum(z);
  for (int64_t j = lane; j < Tn; j += 32) r[j] = j < n ? r[j] * inv : T(0);
}

// In place on dP: dS = P (dP - rowsum(dP P)) scale (zero where masked, since P is).
template <class T>
__global__ void softmax_backward(int64_t rows, int64_t Tn, T scale, const T* p, T* dp) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* pr = p + row * Tn;
  T* r = dp + row * Tn;
  T dot = 0;
  for (int64_t j = lane; j < Tn; j += 32) dot += r[j] * pr[j];
  dot = warp_sum(dot);
  for (int64_t j = lane; j < Tn; j += 32) r[j] = pr[j] * (r[j] - dot) * scale;
}

Geo geo(const Tensor& qkv, int64_t n_head) {
  const int64_t C = qkv.size(2) / 3;
  return {qkv.size(0), qkv.size(1), C, n_head, C / n_head};
}

unsigned row_blocks(int64_t rows) {
  return (unsigned)((rows + kThreads / 32 - 1) / (kThreads / 32));
}

template <class T>
void forward(CudaBackend& be, const Tensor& qkv, int64_t n_head, double scale, const Tensor& probs,
             const Tensor& y) {
  const Geo g = geo(qkv, n_head);
  if (g.B * g.T * g.H == 0) return;
  be.gemm(heads(qkv, g, 0), heads(qkv, g, 1).transpose(-2, -1), probs, false);
  const int64_t rows = g.B * g.H * g.T;
  causal_softmax<T>
      <<<row_blocks(rows), kThreads, 0, stream()>>>(rows, g.T, T(scale), probs.data<T>());
  check_launch("causal_self_attention");
  const Tensor out = empty({g.B, g.H, g.T, g.D}, {.dtype = qkv.dtype(), .device = Device::CUDA});
  be.gemm(probs, heads(qkv, g, 2), out, false);
  be.copy(out, heads(y, g, -1));
}

template <class T>
void backward(CudaBackend& be, const Tensor& gy, const Tensor& qkv, const Tensor& probs,
              int64_t n_head, double scale, const Tensor& dqkv) {
  const Geo g = geo(qkv, n_head);
  if (g.B * g.T * g.H == 0) return;
  const TensorOptions o{.dtype = qkv.dtype(), .device = Device::CUDA};
  const Tensor gh = heads(gy, g, -1), q = heads(qkv, g, 0), k = heads(qkv, g, 1),
               v = heads(qkv, g, 2);
  const Tensor dp = empty(probs.shape(), o), tmp = empty({g.B, g.H, g.T, g.D}, o);
  be.gemm(gh, v.transpose(-2, -1), dp, false);       // dP = g v^T
  be.gemm(probs.transpose(-2, -1), gh, tmp, false);  // dv = P^T g
  be.copy(tmp, heads(dqkv, g, 2));
  const int64_t rows = g.B * g.H * g.T;
  softmax_backward<T><<<row_blocks(rows), kThreads, 0, stream()>>>(rows, g.T, T(scale),
                                                                   probs.data<T>(), dp.data<T>());
  check_launch("causal_self_attention");
  be.gemm(dp, k, tmp, false);  // dq = dS k
  be.copy(tmp, heads(dqkv, g, 0));
  be.gemm(dp.transpose(-2, -1), q, tmp, false);  // dk = dS^T q
  be.copy(tmp, heads(dqkv, g, 1));
}

bool& fused_switch() {
  static bool on = [] {
    const char* v = std::getenv("NG_CUDA_ATTENTION");
    return !(v && std::strcmp(v, "gemm") == 0);
  }();
  return on;
}

bool use_fused(const Tensor& qkv, int64_t n_head) {
  return fused_switch() && flash::supported(qkv.dtype(), qkv.size(2) / 3 / n_head);
}

}  // namespace attention

void set_fused_attention(bool on) { attention::fused_switch() = on; }
bool fused_attention() { return attention::fused_switch(); }

Tensor CudaBackend::attention_forward(const Tensor& qkv, int64_t n_head, double scale,
                                      const Tensor& y) {
  if (attention::use_fused(qkv, n_head)) return flash::forward(qkv, n_head, scale, y);
  const attention::Geo g = attention::geo(qkv, n_head);
  Tensor probs = empty({g.B, g.H, g.T, g.T}, {.dtype = qkv.dtype(), .device = Device::CUDA});
  dispatch_float(qkv.dtype(), "causal_self_attention", [&](auto tag) {
    attention::forward<decltype(tag)>(*this, qkv, n_head, scale, probs, y);
  });
  return probs;
}

void CudaBackend::attention_backward(const Tensor& g, const Tensor& qkv, const Tensor& y,
                                     const Tensor& saved, int64_t n_head, double scale,
                                     const Tensor& dqkv) {
  if (saved.dim() == 3) return flash::backward(g, qkv, y, saved, n_head, scale, dqkv);
  dispatch_float(qkv.dtype(), "causal_self_attention", [&](auto tag) {
    attention::backward<decltype(tag)>(*this, g, qkv, saved, n_head, scale, dqkv);
  });
}

}  // namespace ng::cuda
