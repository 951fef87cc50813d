// Derf: y = weight * pf * erf(alpha * x + shift) + bias, learnable scalars alpha (0.5) and
// shift (0).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct Derf : KindDefaults {
  static constexpr const char* kName = "derf";
  static constexpr const char* kFormula = "y = weight * pf * erf(alpha * x + shift) + bias";
  static constexpr int kScalars = 2;
  static constexpr const char* kScalarNames[2] = {"alpha", "shift"};
  static constexpr const char* kSource = "erf analogue of DyT";
  static constexpr const char* kStatsInitDoc = "Derf alpha = sqrt(pi)/(2 pf std)";
  struct Consts {
    double pf;
  };
  static Consts consts(int64_t C, const NormOptions& o) { return {scale_prefactor(C, o)}; }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions& o) {
    return {{"alpha", o.alpha0}, {"shift", o.shift0}};
  }
  static std::string scalar_note(const std::string& name, const NormOptions& o) {
    return alpha_note(name, o);
  }
  static std::vector<std::string> init_notes(int64_t C, const NormOptions& o) {
    return {scale_note(C, o)};
  }
  // erf'(0) = 2/sqrt(pi): pf alpha 2/sqrt(pi) = 1/std
  static std::map<std::string, double> stats_init(double var, int64_t C, const NormOptions& o) {
    return {{"alpha0", std::sqrt(M_PI) / (2.0 * scale_prefactor(C, o) * std::sqrt(var))}};
  }

  template <class M, class T>
  NG_HD static T value(T x, const T* s, const T*, const Consts& k) {
    return T(k.pf) * M::erf(s[0] * x + s[1]);
  }
  // z = alpha x + shift: dz = pf 2/sqrt(pi) e^(-z^2); dx = dz alpha, dalpha = dz x, dshift = dz
  template <class M, class T>
  NG_HD static NormBack<T, 2> backward(T x, T gw, const T* s, const T*, const T*, int64_t,
                                       const Consts& k) {
    const T z = s[0] * x + s[1];
    const T dz = gw * T(k.pf) * T(1.1283791670955126) * M::exp(-z * z);
    return {dz * s[0], T(k.pf) * M::erf(z), {dz * x, dz}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& s,
                         const Consts& k) {
    return affine(erf(x * s[0].reshape({}) + s[1].reshape({})) * k.pf, w, b);
  }
};

// The fused Derf op: weight * pf * erf(alpha x + shift) + bias.
inline Tensor derf(const Tensor& x, const Tensor& alpha, const Tensor& shift, const Tensor& w,
                   const Tensor& b, double prefactor = 1.0) {
  return norm<Derf>(x, w, b, {alpha, shift}, {prefactor});
}

}  // namespace ng::norms
