// The Adam/AdamW update as one kernel: p, m, v read and written once (formula as in
// core/src/cpu/optim.cpp).
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"

namespace ng::cuda {
namespace optim {

template <class T>
void adam_typed(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                const Tensor& v) {
  T* pp = p.data<T>();
  const T* pg = g.data<T>();
  T* pm = m.data<T>();
  T* pv = v.data<T>();
  const T b1 = (T)a.beta1, b2 = (T)a.beta2, eps = (T)a.eps;
  const T decay = a.decoupled ? T(1 - a.lr * a.weight_decay) : T(1);
  const T l2 = a.decoupled ? T(0) : (T)a.weight_decay;
  const T step_size = (T)(a.lr / a.bias1), inv_sqrt_b2 = (T)(1.0 / std::sqrt(a.bias2));
  const Shape shape{p.numel()};
  const Shape unit{1};
  launch_map<1>(shape, {&unit}, "adam_step", [=] __device__(const int64_t* off) {
    const int64_t i = off[0];
    const T gi = pg[i] + l2 * pp[i];
    const T mi = b1 * pm[i] + (T(1) - b1) * gi;
    const T vi = b2 * pv[i] + (T(1) - b2) * gi * gi;
    pm[i] = mi;
    pv[i] = vi;
    pp[i] = pp[i] * decay - step_size * mi / (d_sqrt(vi) * inv_sqrt_b2 + eps);
  });
}

}  // namespace optim

void CudaBackend::adam_step(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                            const Tensor& v) {
  dispatch_float(p.dtype(), "adam_step",
                 [&](auto tag) { optim::adam_typed<decltype(tag)>(a, p, g, m, v); });
}

}  // namespace ng::cuda
