// Optimizer update kernels: one pass over parameter, gradient and moments.
#include <cmath>

#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"

namespace ng::cpu {

void CpuBackend::adam_step(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                           const Tensor& v) {
  dispatch_float(p.dtype(), "adam_step", [&](auto tag) {
    using T = decltype(tag);
    T* pp = p.data<T>();
    const T* pg = g.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const T b1 = (T)a.beta1, b2 = (T)a.beta2, eps = (T)a.eps;
    const T decay = a.decoupled ? T(1 - a.lr * a.weight_decay) : T(1);
    const T l2 = a.decoupled ? T(0) : (T)a.weight_decay;
    const T step_size = (T)(a.lr / a.bias1), inv_sqrt_b2 = (T)(1.0 / std::sqrt(a.bias2));
    parallel_for(p.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        const T gi = pg[i] + l2 * pp[i];
        pm[i] = b1 * pm[i] + (T(1) - b1) * gi;
        pv[i] = b2 * pv[i] + (T(1) - b2) * gi * gi;
        const T denom = std::sqrt(pv[i]) * inv_sqrt_b2 + eps;
        pp[i] = pp[i] * decay - step_size * pm[i] / denom;
      }
    });
  });
}

}  // namespace ng::cpu
