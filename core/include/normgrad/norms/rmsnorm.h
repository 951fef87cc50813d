// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight (no bias).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct RMSNorm : KindDefaults {
  static constexpr const char* kName = "rmsnorm";
  static constexpr const char* kFormula = "y = x / sqrt(mean(x^2) + eps) * weight";
  static constexpr const char* kSource = "Zhang & Sennrich, 2019";
  static constexpr bool kHasBias = false;
  static constexpr int kStats = 1, kRowSums = 1;  // stats: rstd
  struct Consts {
    double eps;
  };
  static Consts consts(int64_t, const NormOptions& o) { return {o.eps}; }
  static std::vector<std::string> init_notes(int64_t, const NormOptions& o) {
    return {eps_note(o)};
  }

  template <class M, class T, class RowSum>
  NG_HD static void stats(RowSum&& row_sum, int64_t C, const T*, const Consts& k, T* st) {
    st[0] = T(1) / M::sqrt(row_sum([](T x) { return x * x; }) / T(C) + T(k.eps));
  }
  template <class M, class T>
  NG_HD static T value(T x, const T*, const T* st, const Consts&) {
    return x * st[0];
  }
  // xhat = x rstd; dx = rstd (gw - xhat mean(gw xhat))
  template <class M, class T>
  NG_HD static void row_terms(T x, T gw, const T*, const T* st, const Consts&, T* out) {
    out[0] = gw * x * st[0];
  }
  template <class M, class T>
  NG_HD static NormBack<T, 0> backward(T x, T gw, const T*, const T* st, const T* rs, int64_t C,
                                       const Consts&) {
    const T xhat = x * st[0];
    return {st[0] * (gw - xhat * (rs[0] / T(C))), xhat, {}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor&, const TensorList&,
                         const Consts& k) {
    return affine(x * rsqrt(mean(square(x), {-1}, true) + k.eps), w, Tensor());
  }
};

// The fused RMSNorm op over the last dimension (w may be undefined).
inline Tensor rms_norm(const Tensor& x, const Tensor& w, double eps = 1e-5) {
  return norm<RMSNorm>(x, w, Tensor(), {}, {eps});
}

}  // namespace ng::norms
