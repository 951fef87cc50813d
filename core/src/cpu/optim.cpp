// Optimizer update kernels: one pass over parameter, gradient and moments.
#include <cmath>

#include "avx512.h"
#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"
#include "pointwise.h"

namespace ng::cpu {

void CpuBackend::adam_step(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                           const Tensor& v) {
  dispatch_float(p.dtype(), "adam_step", [&](auto tag) {
    using T = decltype(tag);
    T* pp = p.data<T>();
    const T* pg = g.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const AdamConsts<T> k{(T)a.beta1,
                          (T)a.beta2,
                          (T)a.eps,
                          a.decoupled ? T(1 - a.lr * a.weight_decay) : T(1),
                          a.decoupled ? T(0) : (T)a.weight_decay,
                          (T)(a.lr / a.bias1),
                          (T)(1.0 / std::sqrt(a.bias2))};
    if constexpr (std::is_same_v<T, float>)
      if (avx512::enabled()) return avx512::adam(k, pp, pg, pm, pv, p.numel());
    parallel_for(p.numel(), kGrain, [=](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) adam_element(k, pp[i], pg[i], pm[i], pv[i]);
    });
  });
}

}  // namespace ng::cpu
