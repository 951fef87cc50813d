// Normalization layers: one interface, one file each (nn/src/norms/), created by name.
//
//   auto ln = nn::make_norm("dyt", 128, {.alpha0 = 0.5});
//
// Adding a norm = one file in nn/src/norms/ that defines the class and registers it with
// NG_REGISTER_NORM. Kinds built in: layernorm, rmsnorm, dyt, dyisru, derf, none.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "normgrad/nn/module.h"

namespace ng::nn {

struct NormOptions {
  double eps = 1e-5;            // LayerNorm, RMSNorm
  bool affine = true;           // per-channel weight (gamma)
  bool bias = true;             // per-channel bias (beta in LayerNorm, "bias" everywhere here)
  double alpha0 = 0.5;          // DyT and Derf: initial alpha
  std::optional<double> beta0;  // DyISRU: initial beta; default 1 / alpha0^2 (same slope at 0)
  double shift0 = 0.0;          // Derf: initial shift s
  bool paper_form = false;      // element-wise norms bounded by +-sqrt(C) (papers' form)
  bool softplus_beta = true;    // DyISRU: beta = softplus(beta_raw) keeps it > 0
};

class Norm : public Module {
 public:
  Norm(std::string kind, int64_t channels) : kind_(std::move(kind)), channels_(channels) {}
  const std::string& kind() const { return kind_; }
  int64_t channels() const { return channels_; }
  // The layer's output before its affine part: what the DyT paper scatters against x.
  virtual Tensor normalize(const Tensor& x) = 0;
  // The whole layer written with composed ops: the reference for the fused forward().
  virtual Tensor forward_composed(const Tensor& x) = 0;
  // Effective scalar parameters (alpha, beta, shift) for inspection; empty when none.
  virtual std::map<std::string, double> scalars() const { return {}; }

 protected:
  void check_input(const Tensor& x) const;
  // Per-channel weight and bias as the options ask (undefined when disabled).
  void make_affine(const NormOptions& o, bool with_bias);
  Tensor weight, bias;

 private:
  std::string kind_;
  int64_t channels_;
};

using NormFactory = std::function<std::shared_ptr<Norm>(int64_t channels, const NormOptions&)>;
bool register_norm(const std::string& kind, NormFactory factory);
std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t channels,
                                const NormOptions& options = {});
std::vector<std::string> norm_kinds();

#define NG_REGISTER_NORM(kind, Class)                                                          \
  static const bool ng_registered_##Class = ::ng::nn::register_norm(                           \
      kind, [](int64_t c, const ::ng::nn::NormOptions& o) -> std::shared_ptr<::ng::nn::Norm> { \
        return std::make_shared<Class>(c, o);                                                  \
      })

}  // namespace ng::nn
