// Matrix products through cuBLAS. cuBLAS is column-major; a row-major product
// C = op(A) op(B) is the column-major product C^T = op(B)^T op(A)^T, so we pass B first and
// never copy for a transpose: a transposed view just flips the op. Batch dims that walk
// memory with one stride per operand become one strided-batched call; others loop.
#include <cublas_v2.h>

#include <mutex>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "normgrad/cuda.h"

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
  check_blas(
      cublasSetMathMode(handle(), g_allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
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
