// GEMM through OpenBLAS. A strided matrix whose rows or columns are contiguous is handed
// to cblas as-is (a transposed view becomes CblasTrans), so transposes cost no copy.
#include <cblas.h>

#include "cpu_backend.h"
#include "dispatch.h"
#include "normgrad/precision.h"
#include "parallel.h"

namespace ng::cpu {
namespace {

void gemm_call(float, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm_call(double, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
               const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
               int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// Copies x if no BlasView can describe its matrices.
Tensor blas_ready(const Tensor& x) {
  const int64_t n = x.dim();
  if (blas_view(x.size(n - 2), x.size(n - 1), x.stride(n - 2), x.stride(n - 1)).ok) return x;
  Tensor c = empty(x.shape(), {.dtype = x.dtype()});
  cpu_backend().copy(x, c);
  return c;
}

// Under MatmulPrecision::BF16 / TF32: a contiguous copy of x with every value rounded to
// bf16 / tf32 (see normgrad/precision.h). A float64 operand is returned as it is.
Tensor rounded_operand(const Tensor& x) {
  const MatmulPrecision mp = matmul_precision();
  if (x.dtype() != DType::F32 || mp == MatmulPrecision::F32) return x;
  Tensor c = empty(x.shape(), {.dtype = DType::F32});
  cpu_backend().copy(x, c);
  float* p = c.data<float>();
  parallel_for(c.numel(), kGrain, [&](int64_t b, int64_t e) {
    if (mp == MatmulPrecision::BF16)
      for (int64_t i = b; i < e; ++i) p[i] = round_to_bf16(p[i]);
    else
      for (int64_t i = b; i < e; ++i) p[i] = round_to_tf32(p[i]);
  });
  return c;
}

}  // namespace

void CpuBackend::gemm(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  dispatch_float(out.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const Tensor a = rounded_operand(blas_ready(a_in)), b = rounded_operand(blas_ready(b_in));
    const int64_t n = out.dim();
    const int64_t M = out.size(n - 2), N = out.size(n - 1), K = a.size(n - 1);
    T* pc = out.data<T>();
    if (M * N == 0) return;
    if (K == 0) {
      if (!accumulate) fill(out, 0.0);
      return;
    }
    const BlasView va = blas_view(M, K, a.stride(n - 2), a.stride(n - 1));
    const BlasView vb = blas_view(K, N, b.stride(n - 2), b.stride(n - 1));
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const int64_t batch = out.numel() / (M * N);
    auto one = [&](int64_t i) {
      int64_t oa = 0, ob = 0, rem = i;
      for (int64_t d = n - 3; d >= 0; --d) {  // batch index -> element offsets
        const int64_t idx = rem % out.size(d);
        rem /= out.size(d);
        oa += idx * a.stride(d);
        ob += idx * b.stride(d);
      }
      gemm_call(T{}, va.trans ? CblasTrans : CblasNoTrans, vb.trans ? CblasTrans : CblasNoTrans, M,
                N, K, pa + oa, va.ld, pb + ob, vb.ld, T(accumulate ? 1 : 0), pc + i * M * N, N);
    };
    // Small matrices: one BLAS call per thread beats one multithreaded call at a time.
    // Inside our parallel region OpenBLAS (OpenMP build) runs single-threaded.
    if (batch > 1 && M * N * K < (1 << 21))
      parallel_for(batch, 1, [&](int64_t b0, int64_t e) {
        for (int64_t i = b0; i < e; ++i) one(i);
      });
    else
      for (int64_t i = 0; i < batch; ++i) one(i);
  });
}

}  // namespace ng::cpu
