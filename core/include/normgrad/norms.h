// Every built-in normalization kind (one header each in normgrad/norms/, all included by the
// generated normgrad/norms/all.h), and the fused ops under their familiar names:
// ng::layer_norm, ng::rms_norm, ng::dyt, ng::dyisru, ng::derf; ng::composed::* are the
// formulas they implement. A kind's header may add its own (see normgrad/norms/).
#pragma once
#include "normgrad/norms/all.h"
#include "normgrad/norms/derf.h"
#include "normgrad/norms/dyisru.h"
#include "normgrad/norms/dyt.h"
#include "normgrad/norms/layernorm.h"
#include "normgrad/norms/rmsnorm.h"

namespace ng {
// The fused ops under their familiar names: ng::dyt(x, alpha, w, b), ...
using norms::derf;
using norms::dyisru;
using norms::dyt;
using norms::layer_norm;
using norms::rms_norm;

namespace composed {
// The formula of each kind with plain ops (what its fused kernel is tested against).
inline Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps = 1e-5) {
  return norm_composed<norms::LayerNorm>(x, w, b, {}, {eps});
}
// RMSNorm's formula.
inline Tensor rms_norm(const Tensor& x, const Tensor& w, double eps = 1e-5) {
  return norm_composed<norms::RMSNorm>(x, w, Tensor(), {}, {eps});
}
// DyT's formula.
inline Tensor dyt(const Tensor& x, const Tensor& alpha, const Tensor& w, const Tensor& b,
                  double pf = 1.0) {
  return norm_composed<norms::DyT>(x, w, b, {alpha}, {pf});
}
// DyISRU's formula.
inline Tensor dyisru(const Tensor& x, const Tensor& beta, const Tensor& w, const Tensor& b,
                     double pf = 1.0) {
  return norm_composed<norms::DyISRU>(x, w, b, {beta}, {pf});
}
// Derf's formula.
inline Tensor derf(const Tensor& x, const Tensor& alpha, const Tensor& shift, const Tensor& w,
                   const Tensor& b, double pf = 1.0) {
  return norm_composed<norms::Derf>(x, w, b, {alpha, shift}, {pf});
}
}  // namespace composed

}  // namespace ng
