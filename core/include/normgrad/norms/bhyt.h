// BHyT (Byun et al., ICML 2026): y = weight * tanh(lambda * x / (kappa * rms(x))),
// rms(x) = sqrt(mean(x^2) + 1e-6), kappa = 10 fixed, lambda a learnable scalar (lambda0 2.0),
// no bias. The RMS makes the tanh's argument scale-free; lambda / kappa sets how far into
// the tanh a typical channel reaches (|x| = rms: tanh(0.2) at init, nearly linear).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct BHyT : KindDefaults {
  static constexpr const char* kName = "bhyt";
  static constexpr const char* kFormula =
      "y = weight * tanh(lambda * x / (kappa * sqrt(mean(x^2) + 1e-6))), kappa = 10";
  static constexpr bool kHasBias = false;
  static constexpr int kScalars = 1, kStats = 1, kRowSums = 1;  // stats: r = 1 / rms(x)
  static constexpr const char* kScalarNames[1] = {"lambda"};
  static constexpr const char* kSource = "Byun et al., ICML 2026";
  static constexpr const char* kStatsInitDoc =
      "BHyT lambda = kappa = 10 (its input is already divided by the RMS)";
  struct Consts {
    double kappa, eps;
  };
  static Consts consts(int64_t, const NormOptions&) { return {10.0, 1e-6}; }
  // --lambda0, and per position --lambda0-attn (ln_1), --lambda0-mlp (ln_2), --lambda0-final
  static std::vector<NormOptionSpec> options() {
    return {{.name = "lambda0",
             .init = 2.0,
             .min = 0,
             .min_exclusive = true,
             .help = "BHyT initial lambda (Byun et al.: 2.0)",
             .per_position = true}};
  }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions& o) {
    return {{"lambda", o.get("lambda0")}};
  }
  // the input is already divided by its RMS: lambda = kappa gives slope 1/rms
  static std::map<std::string, double> stats_init(double, int64_t, const NormOptions&) {
    return {{"lambda0", 10.0}};
  }

  template <class M, class T, class RowSum>
  NG_HD static void stats(RowSum&& row_sum, int64_t C, const T*, const Consts& k, T* st) {
    st[0] = T(1) / M::sqrt(row_sum([](T x) { return x * x; }) / T(C) + T(k.eps));
  }
  template <class M, class T>
  NG_HD static T value(T x, const T* s, const T* st, const Consts& k) {
    return M::tanh(s[0] * x * st[0] / T(k.kappa));
  }
  // u = lambda r x / kappa, t = tanh(u), q = gw (1 - t^2), dr/dx_j = -r^3 x_j / C:
  // dx_j = (lambda / kappa) (r q_j - r^3 x_j mean(q x)),  dlambda = sum q x r / kappa
  template <class M, class T>
  NG_HD static void row_terms(T x, T gw, const T* s, const T* st, const Consts& k, T* out) {
    const T t = M::tanh(s[0] * x * st[0] / T(k.kappa));
    out[0] = gw * (T(1) - t * t) * x;
  }
  template <class M, class T>
  NG_HD static NormBack<T, 1> backward(T x, T gw, const T* s, const T* st, const T* rs, int64_t C,
                                       const Consts& k) {
    const T r = st[0], lk = s[0] / T(k.kappa);
    const T t = M::tanh(lk * x * r), q = gw * (T(1) - t * t);
    return {lk * r * (q - r * r * x * (rs[0] / T(C))), t, {q * x * r / T(k.kappa)}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor&, const TensorList& s,
                         const Consts& k) {
    const Tensor r = rsqrt(mean(square(x), {-1}, true) + k.eps);
    return affine(tanh(x * r * s[0].reshape({}) * (1.0 / k.kappa)), w, Tensor());
  }
};

// The fused BHyT op: weight * tanh(lambda x / (10 rms(x))).
inline Tensor bhyt(const Tensor& x, const Tensor& lambda, const Tensor& w) {
  return norm<BHyT>(x, w, Tensor(), {lambda}, BHyT::consts(0, {}));
}

}  // namespace ng::norms

namespace ng {
// The fused BHyT op under its familiar name, as ng::dyt and the others (normgrad/norms.h).
using norms::bhyt;
namespace composed {
// BHyT's formula.
inline Tensor bhyt(const Tensor& x, const Tensor& lambda, const Tensor& w) {
  return norm_composed<norms::BHyT>(x, w, Tensor(), {lambda}, norms::BHyT::consts(0, {}));
}
}  // namespace composed
}  // namespace ng
