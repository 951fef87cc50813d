// Normalization layers: one generic layer for every kind in normgrad/norms/.
//
//   auto ln = nn::make_norm("dyt", 128, {.alpha0 = 0.5});
//
// A kind (core/include/normgrad/norms/<kind>.h) declares its learnable scalars, whether it
// has a per-channel weight and bias, its fused op and its formula; this layer registers the
// parameters under the kind's names (alpha, beta_raw, lambda, ..., weight, bias) and calls
// the op. Adding a norm needs no code here.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "normgrad/nn/module.h"
#include "normgrad/norm_kind.h"

namespace ng::nn {

// Options shared by every kind (eps, alpha0, beta0, scale, ...).
using ng::NormOptions;

class Norm : public Module {
 public:
  Norm(const std::string& kind, int64_t channels, const NormOptions& options);
  const std::string& kind() const { return kind_->name; }
  int64_t channels() const { return channels_; }
  const NormOptions& options() const { return options_; }
  Tensor forward(const Tensor& x) override;
  // forward() without the training-time observation of stateful kinds (TaperNorm's EMA):
  // the same function, for code that recomputes the layer and must not change its state.
  Tensor evaluate(const Tensor& x);
  // The layer's output before its affine part: what the DyT paper scatters against x.
  Tensor normalize(const Tensor& x);
  // The whole layer written with composed ops: the reference for the fused forward().
  Tensor forward_composed(const Tensor& x);
  // Effective scalar parameters (alpha, beta, shift, lambda) for inspection; empty when none.
  std::map<std::string, double> scalars() const;
  // The same as tensors on the layer's device (no host sync), in the kind's order.
  std::vector<std::pair<std::string, Tensor>> scalar_tensors() const;
  // Stateful kinds (TaperNorm): the index of the training step about to run.
  void on_step(int64_t step);

  Tensor weight, bias;     // undefined when the kind or the options have none
  TensorList raw_scalars;  // the kind's own tensors (parameters and buffers), in its order

 private:
  void check_input(const Tensor& x) const;
  const NormKind* kind_;
  int64_t channels_;
  NormOptions options_;
  int64_t step_ = -1;  // last on_step (-1: none yet)
};

// Calls on_step(step) on every norm layer of `m`: the training loop does this before each
// step, so scheduled kinds (TaperNorm) follow the run, and resume exactly.
void set_norm_step(Module& m, int64_t step);

// A norm layer of a registered kind over `channels` channels.
std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t channels,
                                const NormOptions& options = {});
// The names of every registered kind.
std::vector<std::string> norm_kinds();

}  // namespace ng::nn
