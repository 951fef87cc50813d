// Fused causal self-attention on the CPU: one parallel loop over (batch, head) pairs; each
// pair's scores, softmax and weighted sum (and in backward all five products) stay in the
// thread's cache, and the matrix products go to single-threaded cblas calls inside our
// parallel region. Heads are read and written in place in the packed [B, T, 3C] / [B, T, C]
// layouts (leading dimension 3C or C), so no head is ever copied out.
#include <cblas.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"
#include "vec_math.h"

namespace ng::cpu {
namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, double alpha,
          const double* a, int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

struct Dims {
  int64_t B, T, C, H, D;
};
Dims dims_of(const Tensor& qkv, int64_t n_head) {
  const int64_t C = qkv.size(2) / 3;
  return {qkv.size(0), qkv.size(1), C, n_head, C / n_head};
}

// Row i of the scores keeps columns 0..i: softmax over them, zeros after.
template <class T>
void causal_softmax_rows(T* s, int64_t Tn) {
  for (int64_t i = 0; i < Tn; ++i) {
    T* row = s + i * Tn;
    const int64_t n = i + 1;
    T m = row[0];
    for (int64_t j = 1; j < n; ++j) m = row[j] > m ? row[j] : m;
    T z = 0;
    for (int64_t j = 0; j < n; ++j) {
      row[j] = vexp<T>(row[j] - m);
      z += row[j];
    }
    const T inv = T(1) / z;
    for (int64_t j = 0; j < n; ++j) row[j] *= inv;
    for (int64_t j = n; j < Tn; ++j) row[j] = 0;
  }
}

template <class T>
void forward(const Tensor& qkv, int64_t n_head, double scale, const Tensor& probs,
             const Tensor& y) {
  const Dims d = dims_of(qkv, n_head);
  const T* x = qkv.data<T>();
  T* p = probs.data<T>();
  T* out = y.data<T>();
  const int T_ = (int)d.T, D = (int)d.D, ld = (int)(3 * d.C);
  parallel_for(d.B * d.H, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bh = b0; bh < b1; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const T* q = x + b * d.T * 3 * d.C + h * d.D;
      const T* k = q + d.C;
      const T* v = q + 2 * d.C;
      T* pb = p + bh * d.T * d.T;
      gemm(CblasNoTrans, CblasTrans, T_, T_, D, T(scale), q, ld, k, ld, T(0), pb, T_);
      causal_softmax_rows(pb, d.T);
      gemm(CblasNoTrans, CblasNoTrans, T_, D, T_, T(1), pb, T_, v, ld, T(0),
           out + b * d.T * d.C + h * d.D, (int)d.C);
    }
  });
}

template <class T>
void backward(const Tensor& g, const Tensor& qkv, const Tensor& probs, int64_t n_head, double scale,
              const Tensor& dqkv) {
  const Dims d = dims_of(qkv, n_head);
  const T* x = qkv.data<T>();
  const T* p = probs.data<T>();
  const T* gy = g.data<T>();
  T* dx = dqkv.data<T>();
  const int T_ = (int)d.T, D = (int)d.D, ld = (int)(3 * d.C), ldg = (int)d.C;
  parallel_for(d.B * d.H, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> dp(d.T * d.T);
    for (int64_t bh = b0; bh < b1; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const int64_t off = b * d.T * 3 * d.C + h * d.D;
      const T *q = x + off, *k = q + d.C, *v = q + 2 * d.C;
      T *dq = dx + off, *dk = dq + d.C, *dv = dq + 2 * d.C;
      const T* pb = p + bh * d.T * d.T;
      const T* gb = gy + b * d.T * d.C + h * d.D;
      // dP = g v^T;  dv = P^T g
      gemm(CblasNoTrans, CblasTrans, T_, T_, D, T(1), gb, ldg, v, ld, T(0), dp.data(), T_);
      gemm(CblasTrans, CblasNoTrans, T_, D, T_, T(1), pb, T_, gb, ldg, T(0), dv, ld);
      // dS = P (dP - rowsum(dP P)) scale; masked entries have P = 0, so dS = 0 there
      for (int64_t i = 0; i < d.T; ++i) {
        T* row = dp.data() + i * d.T;
        const T* pr = pb + i * d.T;
        T dot = 0;
        for (int64_t j = 0; j <= i; ++j) dot += row[j] * pr[j];
        for (int64_t j = 0; j <= i; ++j) row[j] = pr[j] * (row[j] - dot) * T(scale);
        for (int64_t j = i + 1; j < d.T; ++j) row[j] = 0;
      }
      // dq = dS k;  dk = dS^T q
      gemm(CblasNoTrans, CblasNoTrans, T_, D, T_, T(1), dp.data(), T_, k, ld, T(0), dq, ld);
      gemm(CblasTrans, CblasNoTrans, T_, D, T_, T(1), dp.data(), T_, q, ld, T(0), dk, ld);
    }
  });
}

}  // namespace

Tensor CpuBackend::attention_forward(const Tensor& qkv, int64_t n_head, double scale,
                                     const Tensor& y) {
  const Dims d = dims_of(qkv, n_head);
  Tensor probs = empty({d.B, d.H, d.T, d.T}, {.dtype = qkv.dtype()});
  dispatch_float(qkv.dtype(), "causal_self_attention",
                 [&](auto tag) { forward<decltype(tag)>(qkv, n_head, scale, probs, y); });
  return probs;
}

void CpuBackend::attention_backward(const Tensor& g, const Tensor& qkv, const Tensor& /*y*/,
                                    const Tensor& probs, int64_t n_head, double scale,
                                    const Tensor& dqkv) {
  dispatch_float(qkv.dtype(), "causal_self_attention",
                 [&](auto tag) { backward<decltype(tag)>(g, qkv, probs, n_head, scale, dqkv); });
}

}  // namespace ng::cpu
