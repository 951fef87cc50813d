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
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
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

// The options kinds share, declared once: NormOptions' members below, `normgrad train`'s
// flags, the checkpoint config and the Hugging Face config (read and write, with these
// checks) all expand this list. X(group, type, name, default, check, help); check: kAny,
// kPositive, kNonNegative or kScale (one or sqrtc). An option only one kind reads is
// declared by that kind instead (K::options(), a NormOptionSpec each: NormOptions::extra).
// clang-format off
#define NG_NORM_OPTIONS(X)                                                                       \
  X(norm, double, eps, 1e-5, kPositive, "LayerNorm/RMSNorm eps")                                 \
  X(norm, double, alpha0, 0.5, kPositive, "DyT/Derf initial alpha (Zhu et al.: 0.5)")            \
  X(norm, std::optional<double>, beta0, std::nullopt, kPositive, "DyISRU initial beta (default 1/alpha0^2: DyT's slope at 0, Stollenwerk)") \
  X(norm, bool, plain_beta, false, kAny, "DyISRU learns beta itself (an error if it leaves (0, inf)), not beta_raw with beta = softplus(beta_raw)") \
  X(norm, double, shift0, 0.0, kAny, "Derf initial shift")                                       \
  X(norm, int64_t, taper_start, 200, kNonNegative, "TaperNorm: gate 1 before this step, EMA-calibrated at it") \
  X(norm, int64_t, taper_steps, 200, kNonNegative, "TaperNorm: cosine decay of the gate to 0 over N steps") \
  X(norm, std::string, scale, "one", kScale, "element-wise norms' output: one = weight * f(x) (Zhu et al.), sqrtc = weight * sqrt(C) * f(x), bounded like RMSNorm (Stollenwerk)")
// clang-format on
enum class OptionCheck { kAny, kPositive, kNonNegative, kScale };

// An option one kind declares (K::options()): its name (flag --name, config key), initial
// value, valid range, help, and whether a GPT may set it per position (--name-attn,
// --name-mlp, --name-final). Registering the kind makes it known to every consumer.
struct NormOptionSpec {
  std::string name;
  double init = 0;
  double min = -HUGE_VAL, max = HUGE_VAL;
  bool min_exclusive = false;  // (min, max] rather than [min, max]
  std::string help;
  bool per_position = false;
  std::string kind;  // filled in by register_norm_kind
};

// Options every kind reads what it needs from (defaults are the papers' defaults).
struct NormOptions {
#define NG_NORM_MEMBER(group, type, name, def, check, help) type name = def;
  NG_NORM_OPTIONS(NG_NORM_MEMBER)
#undef NG_NORM_MEMBER
  bool affine = true;  // per-channel weight (gamma); the layer's shape, not an init
  bool bias = true;    // per-channel bias (beta in LayerNorm, "bias" everywhere here)
  // Values of kind-declared options (NormOptionSpec) that differ from their spec's init.
  std::map<std::string, double> extra;

  // A numeric option by name: a member of NG_NORM_OPTIONS (beta0 unset: NaN) or a registered
  // kind option (its init when not in extra); an unknown name is an error.
  double get(const std::string& name) const;
  // Sets a numeric option by name (as get); checks the value against a kind option's range.
  void set(const std::string& name, double value);
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

  // What the reports, probes, convert, export and plots know of the kind (from K's metadata).
  std::string source;                     // K::kSource: the paper or origin (report.md)
  std::vector<NormOptionSpec> options;    // K::options(): the options only this kind reads
  std::vector<std::string> plot_scalars;  // K::kScalarNames: what the probes record and plot
  // The initial value of each of the layer's settings in words, for C channels
  // ("alpha = 0.5 (Zhu et al.'s default)", "weight = 1 (per channel)", "eps = 1e-05").
  std::function<std::vector<std::string>(int64_t C, const NormOptions& o)> describe_init;
  // K::stats_init (null when the kind has none): the options that give a layer of this
  // kind the slope at 0 of a layer dividing by std = sqrt(var) (normgrad convert --init
  // stats); stats_init_doc says how, in words.
  std::function<std::map<std::string, double>(double var, int64_t C, const NormOptions& o)>
      stats_init;
  std::string stats_init_doc;
  // K::saturation (null when the notion does not apply): the per-element magnitude the
  // probes compare with thresholds 0.5 .. 3 (DyT: |alpha x|), from the input and the
  // effective scalars; saturation_doc names it.
  std::function<Tensor(const Tensor& x, const std::map<std::string, double>& scalars,
                       const NormOptions& o)>
      saturation;
  std::string saturation_doc;
};

// Makes a kind known by name (make_norm, --norm) with its options; replaces one of the same
// name. An option name another kind already declares, or a member of NG_NORM_OPTIONS, is an
// error.
void register_norm_kind(NormKind kind);
const NormKind& norm_kind(const std::string& name);  // error lists the known kinds
bool has_norm_kind(const std::string& name);
// "unknown norm kind 'x'; known: a b c": the one wording of that error.
std::string unknown_norm_kind(const std::string& name);
std::vector<std::string> norm_kind_names();
// Every kind-declared option (NormOptionSpec) in kind order; nullptr when none has this name.
std::vector<NormOptionSpec> norm_option_specs();
const NormOptionSpec* find_norm_option(const std::string& name);
// The error for a kind option's value outside its range (empty when the value is fine).
std::string norm_option_range_error(const NormOptionSpec& spec, double value);
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
  static_assert(
      requires { K::kSource; },
      "a norm kind names its source: static constexpr const char* kSource");
  static_assert(K::kSource[0] != '\0', "a norm kind's kSource must not be empty");
  d.source = K::kSource;
  if constexpr (requires { K::options(); }) d.options = K::options();
  for (const char* n : K::kScalarNames)
    if (n[0]) d.plot_scalars.push_back(n);
  d.describe_init = [](int64_t C, const NormOptions& o) {
    std::vector<std::string> out;
    for (const auto& s : K::scalar_params(o)) {
      if (!s.learnable) continue;
      std::ostringstream line;
      line << s.name << " = " << s.init;
      if constexpr (requires { K::scalar_note(s.name, o); }) line << K::scalar_note(s.name, o);
      out.push_back(line.str());
    }
    if (K::kHasWeight && o.affine) out.push_back("weight = 1 (per channel)");
    if (K::kHasBias && o.bias) out.push_back("bias = 0 (per channel)");
    if constexpr (requires { K::init_notes(C, o); })
      for (auto& n : K::init_notes(C, o)) out.push_back(n);
    return out;
  };
  if constexpr (requires { &K::stats_init; }) {
    d.stats_init = K::stats_init;
    d.stats_init_doc = K::kStatsInitDoc;
  }
  if constexpr (requires { &K::saturation; }) {
    d.saturation = K::saturation;
    d.saturation_doc = K::kSaturationDoc;
  }
  return d;
}

}  // namespace ng
