// TaperNorm (Kanavalau, Amo Alonso & Lall, 2026): RMSNorm that tapers away during training.
//   y = g * weight * x / sqrt(mean(x^2) + eps)  +  (1 - g) * c * weight_lin * x
// The gate g is a schedule, not learned: 1 before step taper_start, then cosine-decayed to 0
// over taper_steps. While g = 1 the layer keeps EMAs (decay 0.99) of sum_tokens r ||w x||^2
// and sum_tokens ||w x||^2 (r = 1 / rms(x)); at taper_start, c = their ratio (the least-
// squares fit of the per-token scale r by one number) and weight_lin = weight. At g = 0 the
// layer is the per-channel linear map x -> c * weight_lin * x, which nn::fold_tapered_norms
// folds into the next Linear. The final norm is the model's scale anchor: the paper keeps it
// (use --norm-final rmsnorm with --norm tapernorm). Gate, c and EMAs are buffers, saved in
// checkpoints, so a resumed run follows the same schedule bit for bit.
#pragma once
#include "normgrad/norms/common.h"
#include "normgrad/norms/rmsnorm.h"

namespace ng::norms {

struct TaperNorm : KindDefaults {
  static constexpr const char* kName = "tapernorm";
  static constexpr const char* kFormula =
      "y = g * weight * x / sqrt(mean(x^2) + eps) + (1 - g) * c * weight_lin * x";
  static constexpr const char* kSource = "Kanavalau et al., 2026";
  static constexpr bool kFused = false, kHasBias = false;
  static constexpr const char* kScalarNames[6] = {"", "gate", "c", "", "", ""};
  enum Slot { kWeightLin, kGate, kC, kEmaNum, kEmaDen, kSlots };
  struct Consts {
    double eps;
  };
  static Consts consts(int64_t, const NormOptions& o) { return {o.eps}; }
  static std::vector<std::string> init_notes(int64_t, const NormOptions& o) {
    return {eps_note(o), "gate 1 until step " + std::to_string(o.taper_start) +
                             ", cosine to 0 over " + std::to_string(o.taper_steps) + " steps"};
  }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions&) {
    return {{"weight_lin", 1.0, true, true},
            {"gate", 1.0, false, false},
            {"c", 1.0, false, false},
            {"ema_num", 0.0, false, false},
            {"ema_den", 0.0, false, false}};
  }

  // The gate at a step: 1 before taper_start, cosine down to 0 over taper_steps, then 0.
  static double gate(int64_t step, const NormOptions& o) {
    if (step < o.taper_start) return 1.0;
    if (o.taper_steps <= 0 || step >= o.taper_start + o.taper_steps) return 0.0;
    const double t = double(step - o.taper_start) / double(o.taper_steps);
    return 0.5 * (1.0 + std::cos(3.14159265358979323846 * t));
  }
  static void on_step(int64_t step, const Tensor& w, const TensorList& raw, const NormOptions& o) {
    if (step == o.taper_start) {  // calibrate the sample-independent branch
      Tensor(raw[kC]).copy_(raw[kEmaNum] / raw[kEmaDen]);
      if (w.defined()) Tensor(raw[kWeightLin]).copy_(w);
    }
    Tensor(raw[kGate]).fill_(gate(step, o));
  }
  static void observe(const Tensor& x, const Tensor& w, const TensorList& raw, const NormOptions& o,
                      int64_t step) {
    if (step >= o.taper_start) return;
    const Tensor wx2 = sum(square(w.defined() ? x * w : x), {-1});
    const Tensor r = rsqrt(mean(square(x), {-1}) + o.eps);
    Tensor(raw[kEmaNum]).copy_(raw[kEmaNum] * 0.99 + sum(r * wx2) * 0.01);
    Tensor(raw[kEmaDen]).copy_(raw[kEmaDen] * 0.99 + sum(wx2) * 0.01);
  }

  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor&, const TensorList& s,
                         const Consts& k) {
    const Tensor g = s[kGate].reshape({}), c = s[kC].reshape({});
    // Fully tapered: no per-token statistics at all (read for free on the CPU; on a GPU the
    // RMS branch is computed and multiplied by 0 rather than synchronizing to look).
    if (g.device() == Device::CPU && g.item() == 0.0) return x * s[kWeightLin] * c;
    const Tensor normed = norm<RMSNorm>(x, w, Tensor(), {}, {k.eps});  // fused
    return normed * g + x * s[kWeightLin] * (c * (1.0 - g));
  }
};

}  // namespace ng::norms
