// DyT (Zhu et al., CVPR 2025): y = weight * pf * tanh(alpha * x) + bias, alpha a learnable
// scalar (alpha0 0.5). pf = 1 (scale=one) is Zhu et al.'s layer; pf = sqrt(C) (scale=sqrtc)
// is the +-sqrt(C)-bounded form Stollenwerk derives from RMSNorm.
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct DyT : KindDefaults {
  static constexpr const char* kName = "dyt";
  static constexpr const char* kFormula = "y = weight * pf * tanh(alpha * x) + bias";
  static constexpr int kScalars = 1;
  static constexpr const char* kScalarNames[1] = {"alpha"};
  static constexpr const char* kSource = "Zhu et al., CVPR 2025";
  static constexpr const char* kStatsInitDoc =
      "DyT alpha = 1/(pf std) (Zhu et al., Fig. 8: alpha tracks 1/std)";
  static constexpr const char* kSaturationDoc = "|alpha x|";
  struct Consts {
    double pf;
  };
  static Consts consts(int64_t C, const NormOptions& o) { return {scale_prefactor(C, o)}; }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions& o) {
    return {{"alpha", o.alpha0}};
  }
  static std::string scalar_note(const std::string& name, const NormOptions& o) {
    return alpha_note(name, o);
  }
  static std::vector<std::string> init_notes(int64_t C, const NormOptions& o) {
    return {scale_note(C, o)};
  }
  // pf alpha = 1/std: the slope at 0 of a layer dividing by std
  static std::map<std::string, double> stats_init(double var, int64_t C, const NormOptions& o) {
    return {{"alpha0", 1.0 / (scale_prefactor(C, o) * std::sqrt(var))}};
  }
  // tanh'(alpha x) < 0.01 once |alpha x| > 3
  static Tensor saturation(const Tensor& x, const std::map<std::string, double>& s,
                           const NormOptions&) {
    return abs(x) * s.at("alpha");
  }

  template <class M, class T>
  NG_HD static T value(T x, const T* s, const T*, const Consts& k) {
    return T(k.pf) * M::tanh(s[0] * x);
  }
  // t = tanh(alpha x): dy/dx = pf alpha (1 - t^2), dy/dalpha = pf x (1 - t^2)
  template <class M, class T>
  NG_HD static NormBack<T, 1> backward(T x, T gw, const T* s, const T*, const T*, int64_t,
                                       const Consts& k) {
    const T t = M::tanh(s[0] * x), q = (T(1) - t * t) * (gw * T(k.pf));
    return {q * s[0], T(k.pf) * t, {q * x}};
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& s,
                         const Consts& k) {
    return affine(tanh(x * s[0].reshape({})) * k.pf, w, b);
  }
};

// The fused DyT op: weight * pf * tanh(alpha x) + bias.
inline Tensor dyt(const Tensor& x, const Tensor& alpha, const Tensor& w, const Tensor& b,
                  double prefactor = 1.0) {
  return norm<DyT>(x, w, b, {alpha}, {prefactor});
}

}  // namespace ng::norms
