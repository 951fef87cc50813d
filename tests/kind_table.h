// The table of norm kinds every kind-looping test draws from (OpInfo-style): one entry per
// registered kind, and one more with scale=sqrtc for the kinds whose output reads it, built
// from the registry, so that a kind registered later (even at run time) is tested alike.
// Inputs are leaves x, weight, bias (where the kind has them), then the kind's own tensors
// moved off their initial values so that every term of the formula matters.
#pragma once
#include <string>
#include <vector>

#include "normgrad/normgrad.h"

namespace ngt {

struct KindCase {
  std::string name;  // "dyt", "dyt:sqrtc"
  const ng::NormKind* kind;
  ng::NormOptions options;
  bool weight, bias;  // whether the inputs hold them (affine and the kind has them)
};

// Every registered kind, each with affine on and off; `sqrtc` also the +-sqrt(C) form.
inline std::vector<KindCase> kind_cases(bool with_unaffine = true) {
  std::vector<KindCase> out;
  for (const auto& name : ng::norm_kind_names()) {
    const ng::NormKind& k = ng::norm_kind(name);
    ng::NormOptions sqrtc;
    sqrtc.scale = "sqrtc";
    const bool reads_scale = k.describe_init(6, sqrtc) != k.describe_init(6, {});
    for (bool affine : {true, false}) {
      if (!affine && !with_unaffine) continue;
      const std::string tag = affine ? "" : " no affine";
      out.push_back({name + tag, &k, {}, affine && k.has_weight, affine && k.has_bias});
      if (reads_scale)
        out.push_back(
            {name + ":sqrtc" + tag, &k, sqrtc, affine && k.has_weight, affine && k.has_bias});
    }
  }
  return out;
}

// x of shape xs in [-2, 2], weight in [0.5, 1.5], bias in [-0.5, 0.5], then the kind's own
// tensors at 3.5 x init + 0.2 (BHyT's lambda 7 reaches tanh's curve, DyT's alpha 1.95 its
// tails); leaves that require grad, on the CPU.
inline ng::TensorList kind_inputs(const KindCase& c, ng::DType dt, const ng::Shape& xs) {
  ng::Generator g(17);
  auto leaf = [&](const ng::Shape& s, double lo, double hi) {
    return (ng::rand(s, {.dtype = dt}, &g) * (hi - lo) + lo).detach().requires_grad_();
  };
  const int64_t C = xs.back();
  ng::TensorList v{leaf(xs, -2, 2)};
  if (c.weight) v.push_back(leaf({C}, 0.5, 1.5));
  if (c.bias) v.push_back(leaf({C}, -0.5, 0.5));
  for (const auto& s : c.kind->scalar_params(c.options))
    v.push_back(ng::full(s.per_channel ? ng::Shape{C} : ng::Shape{}, 3.5 * s.init + 0.2,
                         {.dtype = dt, .requires_grad = true}));
  return v;
}

// The kind's output for inputs laid out as kind_inputs makes them: the fused kernel (where
// the device has one) or the composed formula.
inline ng::Tensor kind_apply(const KindCase& c, const ng::TensorList& v, bool fused) {
  size_t i = 1;
  const ng::Tensor w = c.weight ? v[i++] : ng::Tensor();
  const ng::Tensor b = c.bias ? v[i++] : ng::Tensor();
  const ng::TensorList raw(v.begin() + (ptrdiff_t)i, v.end());
  return c.kind->apply(v[0], w, b, raw, c.options, !fused);
}

}  // namespace ngt
