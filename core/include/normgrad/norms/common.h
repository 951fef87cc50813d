// What every kind file includes: the kind machinery, the ops its formula is written in,
// and the defaults a kind inherits (no scalars, no row statistics, per-channel weight and
// bias, a fused kernel, scalars passed to the kernel as registered).
#pragma once
#include <cmath>
#include <sstream>
#include <string>

#include "normgrad/norm_kind.h"
#include "normgrad/ops.h"

namespace ng::norms {

// y * w + b with w, b optional: the affine part every kind shares.
inline Tensor affine(const Tensor& y, const Tensor& w, const Tensor& b) {
  Tensor out = w.defined() ? y * w : y;
  return b.defined() ? out + b : out;
}

struct KindDefaults {
  static constexpr bool kFused = true, kHasWeight = true, kHasBias = true;
  static constexpr int kScalars = 0, kStats = 0, kRowSums = 0;
  static constexpr const char* kScalarNames[1] = {""};
  static std::vector<NormScalarSpec> scalar_params(const NormOptions&) { return {}; }
  static TensorList kernel_scalars(const TensorList& raw, const NormOptions&) { return raw; }
  static void check_scalars(const TensorList&) {}
  // Row statistics (forward) and row sums (backward): none.
  template <class M, class T, class RowSum, class C>
  NG_HD static void stats(RowSum&&, int64_t, const T*, const C&, T*) {}
  template <class M, class T, class C>
  NG_HD static void row_terms(T, T, const T*, const T*, const C&, T*) {}
};

// sqrt(C) for Stollenwerk's +-sqrt(C)-bounded element-wise forms, 1 for Zhu et al.'s.
inline double scale_prefactor(int64_t C, const NormOptions& o) {
  if (o.scale != "one" && o.scale != "sqrtc")
    fail("norm", "scale must be 'one' (Zhu et al.) or 'sqrtc' (Stollenwerk), got '", o.scale, "'");
  return o.scale == "sqrtc" ? std::sqrt((double)C) : 1.0;
}

// The element-wise kinds' output scale in words (their describe_init line).
inline std::string scale_note(int64_t C, const NormOptions& o) {
  if (o.scale != "sqrtc") return "pf = 1 (scale=one: Zhu et al.'s layer)";
  std::ostringstream s;
  s << "pf = sqrt(C) = " << std::sqrt((double)C)
    << " (scale=sqrtc: bounded by sqrt(C) like RMSNorm's output, Stollenwerk)";
  return s.str();
}
// "eps = 1e-05", for the kinds that read eps.
inline std::string eps_note(const NormOptions& o) {
  std::ostringstream s;
  s << "eps = " << o.eps;
  return s.str();
}
// Zhu et al.'s alpha0 default, noted where a kind's alpha starts from it.
inline std::string alpha_note(const std::string& name, const NormOptions& o) {
  return name == "alpha" && o.alpha0 == 0.5 ? " (Zhu et al.'s default)" : "";
}

}  // namespace ng::norms
