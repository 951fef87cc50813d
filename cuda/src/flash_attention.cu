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
#include "flash_kernels.cuh"
#include "flash_plan.h"

namespace ng::cuda::flash {
namespace {

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
  if (head_size < 1 || column_chunks(head_size) == 0) return false;
  size_t need = 0;  // the backward's shared memory (more than the forward's)
  dispatch(dt, head_size, [&]<class T, int DK>() {
    need = backward_elems<rows_per_thread<T>(), DK>() * sizeof(T);
  });
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
