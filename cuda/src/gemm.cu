// Matrix products through cuBLAS. cuBLAS is column-major; a row-major product
// C = op(A) op(B) is the column-major product C^T = op(B)^T op(A)^T, so we pass B first and
// never copy for a transpose: a transposed view just flips the op. Batch dims that walk
// memory with one stride per operand become one strided-batched call; others loop.
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <mutex>
#include <type_traits>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "normgrad/cuda.h"
#include "normgrad/precision.h"

namespace ng::cuda {
namespace {

bool g_allow_tf32 = false;

void check_blas(cublasStatus_t s, const char* op) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fail(op, "cuBLAS error ", (int)s, s == CUBLAS_STATUS_ALLOC_FAILED ? " (out of memory)" : "");
}

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    check_blas(cublasCreate(&created), "matmul");
    check_blas(cublasSetStream(created, stream()), "matmul");
    return created;
  }();
  return h;
}

Tensor blas_ready(const Tensor& x) {
  const int64_t n = x.dim();
  if (blas_view(x.size(n - 2), x.size(n - 1), x.stride(n - 2), x.stride(n - 1)).ok) return x;
  Tensor c = empty(x.shape(), {.dtype = x.dtype(), .device = Device::CUDA});
  backend(Device::CUDA).copy(x, c);
  return c;
}

void batched(float, cublasOperation_t ta, cublasOperation_t tb, int64_t M, int64_t N, int64_t K,
             const float* a, int64_t lda, int64_t sa, const float* b, int64_t ldb, int64_t sb,
             float beta, float* c, int64_t count) {
  const float one = 1, zero = beta;
  check_blas(cublasSgemmStridedBatched(handle(), tb, ta, (int)N, (int)M, (int)K, &one, b, (int)ldb,
                                       sb, a, (int)lda, sa, &zero, c, (int)N, M * N, (int)count),
             "matmul");
}
void batched(double, cublasOperation_t ta, cublasOperation_t tb, int64_t M, int64_t N, int64_t K,
             const double* a, int64_t lda, int64_t sa, const double* b, int64_t ldb, int64_t sb,
             double beta, double* c, int64_t count) {
  const double one = 1, zero = beta;
  check_blas(cublasDgemmStridedBatched(handle(), tb, ta, (int)N, (int)M, (int)K, &one, b, (int)ldb,
                                       sb, a, (int)lda, sa, &zero, c, (int)N, M * N, (int)count),
             "matmul");
}

__global__ void to_bf16_kernel(int64_t n, const float* x, __nv_bfloat16* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    y[i] = __float2bfloat16_rn(x[i]);
}

// A contiguous bf16 copy of a float32 operand (round to nearest even), in a float32 tensor
// of half the element count used as raw storage.
Tensor to_bf16(const Tensor& x, int64_t& n) {
  const Tensor c = x.is_contiguous() ? x : x.contiguous();
  n = c.numel();
  Tensor raw = empty({(n + 1) / 2}, {.dtype = DType::F32, .device = Device::CUDA});
  to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(
      n, c.data<float>(), reinterpret_cast<__nv_bfloat16*>(raw.data<float>()));
  check_launch("matmul");
  return raw;
}

// MatmulPrecision::BF16 (normgrad/precision.h): both operands rounded to bf16 (contiguous
// copies, broadcast batch dims materialised), one strided-batched GemmEx with float32
// accumulation and a float32 result.
void gemm_bf16(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  const int64_t n = out.dim();
  const int64_t M = out.size(n - 2), N = out.size(n - 1), K = a.size(n - 1);
  const int64_t count = out.numel() / (M * N);
  if (count > INT32_MAX) fail("matmul", "batch count ", count, " exceeds cuBLAS's 32-bit limit");
  int64_t na = 0, nb = 0;
  const Tensor ra = to_bf16(a, na), rb = to_bf16(b, nb);
  const float one = 1, beta = accumulate ? 1.0f : 0.0f;
  check_blas(cublasSetMathMode(handle(), CUBLAS_DEFAULT_MATH), "matmul");
  check_blas(cublasGemmStridedBatchedEx(handle(), CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M, (int)K,
                                        &one, rb.data<float>(), CUDA_R_16BF, (int)N, K * N,
                                        ra.data<float>(), CUDA_R_16BF, (int)K, M * K, &beta,
                                        out.data<float>(), CUDA_R_32F, (int)N, M * N, (int)count,
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "matmul");
}

template <class T>
void gemm_typed(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  const Tensor a = blas_ready(a_in), b = blas_ready(b_in);
  const int64_t n = out.dim();
  const int64_t M = out.size(n - 2), N = out.size(n - 1), K = a.size(n - 1);
  if (M * N == 0) return;
  if (K == 0) {
    if (!accumulate) backend(Device::CUDA).fill(out, 0.0);
    return;
  }
  for (int64_t v : {M, N, K})
    if (v > INT32_MAX) fail("matmul", "dimension ", v, " exceeds cuBLAS's 32-bit limit");
  if constexpr (std::is_same_v<T, float>) {
    if (matmul_precision() == MatmulPrecision::BF16) {
      gemm_bf16(a, b, out, accumulate);
      return;
    }
  }
  // TF32 tensor-core math for float32: set_allow_tf32(true), or MatmulPrecision::TF32
  // (normgrad/precision.h; float64 products are never rounded).
  const bool tf32 =
      std::is_same_v<T, float> && (g_allow_tf32 || matmul_precision() == MatmulPrecision::TF32);
  check_blas(cublasSetMathMode(handle(), tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
             "matmul");
  const BlasView va = blas_view(M, K, a.stride(n - 2), a.stride(n - 1));
  const BlasView vb = blas_view(K, N, b.stride(n - 2), b.stride(n - 1));
  // Batch dims: the innermost run that both a and b walk with a single stride becomes the
  // strided batch; whatever is left over is looped on the host.
  Shape bs(out.shape().begin(), out.shape().end() - 2);
  Shape as(a.strides().begin(), a.strides().end() - 2),
      bst(b.strides().begin(), b.strides().end() - 2);
  const OffsetCalc<2> oc = make_offsets<2>(bs, {&as, &bst}, "matmul");
  int64_t count = 1, sa = 0, sb = 0, outer = 1;
  if (oc.ndim > 0) {
    count = oc.size[oc.ndim - 1];
    sa = oc.stride[0][oc.ndim - 1];
    sb = oc.stride[1][oc.ndim - 1];
    for (int d = 0; d < oc.ndim - 1; ++d) outer *= oc.size[d];
  }
  // cuBLAS takes leading dimensions and the batch count as int
  for (int64_t v : {va.ld, vb.ld, count})
    if (v > INT32_MAX)
      fail("matmul", "leading dimension or batch count ", v, " exceeds cuBLAS's 32-bit limit (",
           shape_str(a.shape()), " @ ", shape_str(b.shape()), ")");
  for (int64_t o = 0; o < outer; ++o) {
    int64_t oa = 0, ob = 0, rem = o;
    for (int d = oc.ndim - 2; d >= 0; --d) {
      const int64_t i = rem % oc.size[d];
      rem /= oc.size[d];
      oa += i * oc.stride[0][d];
      ob += i * oc.stride[1][d];
    }
    batched(T{}, va.trans ? CUBLAS_OP_T : CUBLAS_OP_N, vb.trans ? CUBLAS_OP_T : CUBLAS_OP_N, M, N,
            K, a.data<T>() + oa, va.ld, sa, b.data<T>() + ob, vb.ld, sb, T(accumulate ? 1 : 0),
            out.data<T>() + o * count * M * N, count);
  }
}

}  // namespace

void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

void CudaBackend::gemm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  dispatch_float(out.dtype(), "matmul",
                 [&](auto tag) { gemm_typed<decltype(tag)>(a, b, out, accumulate); });
}

}  // namespace ng::cuda
