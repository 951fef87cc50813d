// LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias, per token (population var).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct LayerNorm : KindDefaults {
  static constexpr const char* kName = "layernorm";
  static constexpr const char* kFormula =
      "y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias   (population var)";
  static constexpr const char* kSource = "Ba et al., 2016";
  static constexpr int kStats = 2, kRowSums = 2;  // stats: mean, rstd
  struct Consts {
    double eps;
  };
  static Consts consts(int64_t, const NormOptions& o) { return {o.eps}; }
  static std::vector<std::string> init_notes(int64_t, const NormOptions& o) {
    return {eps_note(o)};
  }

  template <class M, class T, class RowSum>
  NG_HD static void stats(RowSum&& row_sum, int64_t C, const T*, const Consts& k, T* st) {
    const T mean = row_sum([](T x) { return x; }) / T(C);
    const T var = row_sum([mean](T x) { return (x - mean) * (x - mean); }) / T(C);
    st[0] = mean;
    st[1] = T(1) / M::sqrt(var + T(k.eps));
  }
  template <class M, class T>
  NG_HD static T value(T x, const T*, const T* st, const Consts&) {
    return (x - st[0]) * st[1];
  }
  // xhat = (x - mean) rstd; dx = rstd (gw - mean(gw) - xhat mean(gw xhat))
  template <class M, class T>
  NG_HD static void row_terms(T x, T gw, const T*, const T* st, const Consts&, T* out) {
    out[0] = gw;
    out[1] = gw * (x - st[0]) * st[1];
  }
  template <class M, class T>
  NG_HD static NormBack<T, 0> backward(T x, T gw, const T*, const T* st, const T* rs, int64_t C,
                                       const Consts&) {
    const T xhat = (x - st[0]) * st[1];
    return {st[1] * (gw - rs[0] / T(C) - xhat * (rs[1] / T(C))), xhat, {}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList&,
                         const Consts& k) {
    const Tensor mu = mean(x, {-1}, true);
    const Tensor var = mean(square(x - mu), {-1}, true);
    return affine((x - mu) * rsqrt(var + k.eps), w, b);
  }
};

// The fused LayerNorm op over the last dimension (w, b may be undefined).
inline Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps = 1e-5) {
  return norm<LayerNorm>(x, w, b, {}, {eps});
}

}  // namespace ng::norms
