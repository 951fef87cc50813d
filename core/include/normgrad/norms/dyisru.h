// DyISRU (Stollenwerk, EACL 2026): y = weight * pf * x / sqrt(beta + x^2) + bias, the exact
// element-wise counterpart of RMSNorm. beta > 0: by default the layer learns beta_raw and
// uses beta = softplus(beta_raw); a plain beta is checked on every CPU call ("must be > 0").
// beta0 defaults to 1 / alpha0^2 (DyT's slope at 0).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct DyISRU : KindDefaults {
  static constexpr const char* kName = "dyisru";
  static constexpr const char* kFormula = "y = weight * pf * x / sqrt(beta + x^2) + bias";
  static constexpr int kScalars = 1;
  static constexpr const char* kScalarNames[1] = {"beta"};
  static constexpr const char* kSource = "Stollenwerk, EACL 2026";
  static constexpr const char* kStatsInitDoc =
      "DyISRU beta = (C-1) std^2 with pf = sqrt(C) (Stollenwerk: exact for RMSNorm with beta_i "
      "= sum of the other channels' x^2) or std^2 with pf = 1";
  struct Consts {
    double pf;
  };
  static Consts consts(int64_t C, const NormOptions& o) { return {scale_prefactor(C, o)}; }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions& o) {
    const double beta0 = o.beta0.value_or(1.0 / (o.alpha0 * o.alpha0));
    if (!(beta0 > 0)) fail("dyisru", "beta0 must be > 0, got ", beta0);
    if (o.plain_beta) return {{"beta", beta0}};
    // softplus^-1(b) = log(expm1(b)), written to stay finite for large b
    return {{"beta_raw",
             beta0 > 20 ? beta0 + std::log(-std::expm1(-beta0)) : std::log(std::expm1(beta0))}};
  }
  static std::string scalar_note(const std::string& name, const NormOptions& o) {
    std::ostringstream s;
    if (name == "beta_raw")
      s << " (beta = softplus(beta_raw) = " << o.beta0.value_or(1 / (o.alpha0 * o.alpha0))
        << (o.beta0 ? "" : " = 1/alpha0^2, DyT's slope at 0 (Stollenwerk)") << ")";
    if (name == "beta" && !o.beta0) s << " (= 1/alpha0^2, DyT's slope at 0)";
    return s.str();
  }
  static std::vector<std::string> init_notes(int64_t C, const NormOptions& o) {
    return {scale_note(C, o)};
  }
  // sqrtc: the sum over the other C-1 channels of x^2 (Stollenwerk); one: pf^2 var
  static std::map<std::string, double> stats_init(double var, int64_t C, const NormOptions& o) {
    return {{"beta0", o.scale == "sqrtc" ? (double)(C - 1) * var : var}};
  }
  static TensorList kernel_scalars(const TensorList& raw, const NormOptions& o) {
    return {o.plain_beta ? raw[0] : softplus(raw[0])};
  }
  static void check_scalars(const TensorList& s) {  // CPU only: reading costs nothing there
    const double beta = s[0].item();
    if (!(beta > 0))
      fail("dyisru", "beta must be > 0, got ", beta,
           " (a plain beta left the valid range; use the softplus parametrization)");
  }

  template <class M, class T>
  NG_HD static T value(T x, const T* s, const T*, const Consts& k) {
    return T(k.pf) * x / M::sqrt(s[0] + x * x);
  }
  // u = beta + x^2: dy/dx = pf beta u^(-3/2), dy/dbeta = -pf x/2 u^(-3/2)
  template <class M, class T>
  NG_HD static NormBack<T, 1> backward(T x, T gw, const T* s, const T*, const T*, int64_t,
                                       const Consts& k) {
    const T r = T(1) / M::sqrt(s[0] + x * x), q = gw * T(k.pf) * r * r * r;
    return {q * s[0], T(k.pf) * x * r, {-q * x * T(0.5)}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& s,
                         const Consts& k) {
    return affine(x * rsqrt(square(x) + s[0].reshape({})) * k.pf, w, b);
  }
};

// The fused DyISRU op: weight * pf * x / sqrt(beta + x^2) + bias.
inline Tensor dyisru(const Tensor& x, const Tensor& beta, const Tensor& w, const Tensor& b,
                     double prefactor = 1.0) {
  return norm<DyISRU>(x, w, b, {beta}, {prefactor});
}

}  // namespace ng::norms
