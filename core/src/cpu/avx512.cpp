// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mprefer-vector-width=512
// (core/CMakeLists.txt); called only when avx512::enabled().
#include "avx512.h"

#include "parallel.h"

namespace ng::cpu::avx512 {

#define NG_AVX512_KERNEL __attribute__((flatten))

NG_AVX512_KERNEL void gelu_erf(const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = ng::cpu::gelu_erf(x[i]);
  });
}

NG_AVX512_KERNEL void gelu_erf_backward(const float* g, const float* x, float* out, int64_t n) {
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = ng::cpu::gelu_erf_backward(g[i], x[i]);
  });
}

NG_AVX512_KERNEL void adam(const AdamConsts<float>& k, float* p, const float* g, float* m, float* v,
                           int64_t n) {
  const AdamConsts<float> c = k;
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) adam_element(c, p[i], g[i], m[i], v[i]);
  });
}

}  // namespace ng::cpu::avx512
