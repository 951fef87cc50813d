// What every kind file includes: the kind machinery, the ops its formula is written in,
// and the defaults a kind inherits (no scalars, no row statistics, per-channel weight and
// bias, a fused kernel, scalars passed to the kernel as registered).
#pragma once
#include <cmath>

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

}  // namespace ng::norms
