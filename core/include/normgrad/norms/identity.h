// "none": no normalization at all, y = x (the baseline every kind is compared with).
#pragma once
#include "normgrad/norms/common.h"

namespace ng::norms {

struct Identity : KindDefaults {
  static constexpr const char* kName = "none";
  static constexpr const char* kFormula = "y = x";
  static constexpr const char* kSource = "no normalization";
  static constexpr bool kFused = false, kHasWeight = false, kHasBias = false;
  struct Consts {};
  static Consts consts(int64_t, const NormOptions&) { return {}; }
  template <class M, class T>
  NG_HD static T value(T x, const T*, const T*, const Consts&) {
    return x;
  }
  template <class M, class T>
  NG_HD static NormBack<T, 0> backward(T, T gw, const T*, const T*, const T*, int64_t,
                                       const Consts&) {
    return {gw, T(0), {}};
  }
  static Tensor composed(const Tensor& x, const Tensor&, const Tensor&, const TensorList&,
                         const Consts&) {
    return x;
  }
};

}  // namespace ng::norms
