// Normalization kinds: what a norm is, written once, and how it reaches every device.
//
// A kind is one header in normgrad/norms/ holding a struct K with:
//   - its math, one element of one row at a time (K::value, K::backward, and for norms that
//     use row statistics K::stats / K::row_terms), written as templates over a math policy
//     M (M::tanh, M::exp, M::erf, M::sqrt) so that the generic CPU row kernel
//     (core/src/cpu/norm_rows.h) and the generic CUDA row kernel (cuda/src/norm_rows.cuh)
//     are both instantiated from the same lines;
//   - the composed formula (K::composed): the specification, the test oracle, and the path
//     taken for double backward or on a device without the fused kernel;
//   - the layer it makes (K::scalar_params, K::kernel_scalars): learnable tensors, their
//     names and initial values from NormOptions, and how they become the kernel's scalars;
//   - compile-time facts: kScalars (one-element tensors the kernel reads), kStats (per-row
//     statistics the forward saves for the backward), kRowSums (per-row sums the backward
//     needs before dx), kHasWeight/kHasBias (per-channel affine), Consts (fixed numbers).
// Registration: one line per backend, NG_CPU_NORM(K) in core/src/cpu/norm_kinds.cpp (this
// also makes the kind known by name) and NG_CUDA_NORM(K) in cuda/src/norm_kinds.cu.
// Scalars stay tensors all the way into the kernels: no .item(), no host sync.
#pragma once
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "normgrad/hd.h"
#include "normgrad/tensor.h"

namespace ng {

// What one element's backward produces: dL/dx, the pre-affine output y (for dL/dweight)
// and this element's share of each learnable scalar's gradient.
template <class T, int S>
struct NormBack {
  T dx, y;
  T ds[S > 0 ? S : 1];
};

// Options every kind reads what it needs from (defaults are the papers' defaults).
struct NormOptions {
  double eps = 1e-5;            // LayerNorm, RMSNorm
  bool affine = true;           // per-channel weight (gamma)
  bool bias = true;             // per-channel bias (beta in LayerNorm, "bias" everywhere here)
  double alpha0 = 0.5;          // DyT and Derf: initial alpha (Zhu et al.)
  std::optional<double> beta0;  // DyISRU: initial beta; default 1 / alpha0^2 (same slope at 0)
  double shift0 = 0.0;          // Derf: initial shift s
  double lambda0 = 2.0;         // BHyT: initial lambda (Byun et al.)
  // Element-wise norms' output scale: "one" is Zhu et al.'s y = weight * f(x) (|y| <= |weight|);
  // "sqrtc" is Stollenwerk's y = weight * sqrt(C) * f(x), bounded by sqrt(C) like RMSNorm.
  std::string scale = "one";
  int64_t taper_start = 200;  // TaperNorm: gate held at 1 before this step, calibrated at it
  int64_t taper_steps = 200;  // TaperNorm: cosine decay of the gate to 0 over these steps
  bool plain_beta =
      false;  // DyISRU: learn beta itself, not beta_raw with beta = softplus(beta_raw)
};

// A tensor a layer of this kind holds besides weight and bias: its name, initial value,
// whether it is one element or per channel, and whether it is learned (a parameter) or
// state (a buffer: saved in checkpoints, moved with the model, never optimized).
struct NormScalarSpec {
  std::string name;
  double init;
  bool per_channel = false;
  bool learnable = true;
};

// Fixed numbers of one call (eps, prefactor, kappa, ...), carried to the kernels as bytes of
// the kind's own Consts struct (a few doubles).
struct NormConsts {
  double v[4] = {0, 0, 0, 0};
  template <class C>
  static NormConsts pack(const C& c) {
    static_assert(std::is_trivially_copyable_v<C> && sizeof(C) <= sizeof(double) * 4);
    NormConsts n;
    std::memcpy(n.v, &c, sizeof(C));
    return n;
  }
  // The kind's Consts back from the packed bytes.
  template <class C>
  C unpack() const {
    C c;
    std::memcpy(&c, v, sizeof(C));
    return c;
  }
};

// One fused call as the kernels see it: x [N, C] contiguous; w, b [C] or undefined;
// scalars one-element tensors on x's device; stats [N, kStats] (forward writes it,
// backward reads it); dw, db [C] and dscalars [kScalars] are written when defined.
struct NormCall {
  NormConsts consts;
  Tensor x, w, b;
  TensorList scalars;
  Tensor stats;
  Tensor y;                  // forward output
  Tensor g, dx, dw, db, ds;  // backward
};
struct NormKernels {
  void (*forward)(const NormCall&) = nullptr;
  void (*backward)(const NormCall&) = nullptr;
};

// A kind as the rest of the program sees it (built from K by describe_norm<K>()).
struct NormKind {
  std::string name, formula;
  bool has_weight = false, has_bias = false, fused = false;
  int n_scalars = 0;
  // The layer's own tensors (learnable scalars, state) for these options, in order.
  std::function<std::vector<NormScalarSpec>(const NormOptions&)> scalar_params;
  // Stateful kinds only (null otherwise). observe: called with each training forward's
  // input (no gradient); on_step: called before every training step with its index.
  std::function<void(const Tensor& x, const Tensor& w, const TensorList& raw, const NormOptions&,
                     int64_t step)>
      observe;
  std::function<void(int64_t step, const Tensor& w, const TensorList& raw, const NormOptions&)>
      on_step;
  // The layer's output. raw: the learnable scalars as registered; composed: use the formula
  // instead of the fused kernel; w, b undefined for the pre-affine output.
  std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& raw,
                       const NormOptions& o, bool composed)>
      apply;
  // Effective scalars for inspection (e.g. beta = softplus(beta_raw)), by name.
  std::function<std::vector<std::pair<std::string, Tensor>>(const TensorList& raw,
                                                            const NormOptions& o)>
      effective_scalars;
};

// Makes a kind known by name (make_norm, --norm); replaces one of the same name.
void register_norm_kind(NormKind kind);
const NormKind& norm_kind(const std::string& name);  // error lists the known kinds
std::vector<std::string> norm_kind_names();
void register_norm_kernels(Device d, const std::string& kind, NormKernels k);
const NormKernels* find_norm_kernels(Device d, const std::string& kind);

namespace detail {
using NormFormula = std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b,
                                         const TensorList& scalars)>;
using NormCheck = void (*)(const TensorList& scalars);
// The one place that decides fused vs composed: the fused kernel when the device has one,
// with a backward that is the fused kernel normally and the vector-Jacobian product of the
// formula when a gradient graph is requested (double backward); the formula otherwise.
Tensor apply_norm(const char* kind, int n_stats, NormConsts consts, const Tensor& x,
                  const Tensor& w, const Tensor& b, const TensorList& scalars,
                  const NormFormula& formula, NormCheck check);
}  // namespace detail

// The fused op of kind K: ng::norm<DyT>(x, w, b, {alpha}, {prefactor}).
template <class K>
Tensor norm(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& scalars,
            const typename K::Consts& k) {
  return detail::apply_norm(
      K::kName, K::kStats, NormConsts::pack(k), x, w, b, scalars,
      [k](const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& s) {
        return K::composed(x, w, b, s, k);
      },
      K::check_scalars);
}

// The formula alone (the specification the fused kernels are tested against).
template <class K>
Tensor norm_composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& scalars,
                     const typename K::Consts& k) {
  return K::composed(x, w, b, scalars, k);
}

// A backend's kernels for one kind from its row kernels instantiated for float and double
// (dispatch on the input's dtype).
template <auto Forward32, auto Forward64, auto Backward32, auto Backward64>
NormKernels norm_kernels_for() {
  return {[](const NormCall& c) { c.x.dtype() == DType::F32 ? Forward32(c) : Forward64(c); },
          [](const NormCall& c) { c.x.dtype() == DType::F32 ? Backward32(c) : Backward64(c); }};
}

// A kind struct K (see normgrad/norms/) as the registry's NormKind.
template <class K>
NormKind describe_norm() {
  NormKind d;
  d.name = K::kName;
  d.formula = K::kFormula;
  d.has_weight = K::kHasWeight;
  d.has_bias = K::kHasBias;
  d.fused = K::kFused;
  d.n_scalars = K::kScalars;
  d.scalar_params = [](const NormOptions& o) { return K::scalar_params(o); };
  if constexpr (requires { &K::observe; }) d.observe = K::observe;
  if constexpr (requires { &K::on_step; }) d.on_step = K::on_step;
  d.apply = [](const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& raw,
               const NormOptions& o, bool composed) {
    const auto k = K::consts(x.size(-1), o);
    const TensorList s = K::kernel_scalars(raw, o);
    return composed ? norm_composed<K>(x, w, b, s, k) : norm<K>(x, w, b, s, k);
  };
  d.effective_scalars = [](const TensorList& raw, const NormOptions& o) {
    std::vector<std::pair<std::string, Tensor>> out;
    const TensorList s = K::kernel_scalars(raw, o);
    for (size_t i = 0; i < s.size() && i < std::size(K::kScalarNames); ++i)
      if (K::kScalarNames[i][0]) out.push_back({K::kScalarNames[i], s[i]});
    return out;
  };
  return d;
}

}  // namespace ng
