#include "normgrad/nn/norm.h"

#include <sstream>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng::nn {

std::vector<std::string> norm_kinds() { return norm_kind_names(); }

std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t channels, const NormOptions& o) {
  if (!has_norm_kind(kind)) fail("make_norm", unknown_norm_kind(kind));
  if (channels <= 0) fail("make_norm", "channels must be positive, got ", channels);
  return std::make_shared<Norm>(kind, channels, o);
}

Norm::Norm(const std::string& kind, int64_t channels, const NormOptions& o)
    : kind_(&norm_kind(kind)), channels_(channels), options_(o) {
  for (const auto& s : kind_->scalar_params(o)) {
    const Tensor init = s.per_channel ? full({channels}, s.init) : full({}, s.init);
    raw_scalars.push_back(s.learnable ? register_parameter(s.name, init)
                                      : register_buffer(s.name, init));
  }
  if (kind_->has_weight && o.affine) weight = register_parameter("weight", ones({channels}));
  if (kind_->has_bias && o.bias) bias = register_parameter("bias", zeros({channels}));
}

void Norm::check_input(const Tensor& x) const {
  if (x.dim() < 1 || x.size(-1) != channels_)
    fail(kind().c_str(), "expects inputs with last dim ", channels_, ", got shape ",
         shape_str(x.shape()));
}

Tensor Norm::forward(const Tensor& x) {
  check_input(x);
  if (kind_->observe && is_training() && step_ >= 0) {
    NoGradGuard no_grad;
    kind_->observe(x.detach(), weight, raw_scalars, options_, step_);
  }
  return kind_->apply(x, weight, bias, raw_scalars, options_, false);
}

Tensor Norm::evaluate(const Tensor& x) {
  check_input(x);
  return kind_->apply(x, weight, bias, raw_scalars, options_, false);
}

void Norm::on_step(int64_t step) {
  step_ = step;
  if (!kind_->on_step) return;
  NoGradGuard no_grad;
  kind_->on_step(step, weight, raw_scalars, options_);
}

void set_norm_step(Module& m, int64_t step) {
  for (auto& [name, mod] : m.named_modules())
    if (auto* n = dynamic_cast<Norm*>(mod)) n->on_step(step);
}

Tensor Norm::normalize(const Tensor& x) {
  check_input(x);
  return kind_->apply(x, Tensor(), Tensor(), raw_scalars, options_, false);
}

Tensor Norm::forward_composed(const Tensor& x) {
  check_input(x);
  return kind_->apply(x, weight, bias, raw_scalars, options_, true);
}

std::vector<std::pair<std::string, Tensor>> Norm::scalar_tensors() const {
  NoGradGuard no_grad;
  return kind_->effective_scalars(raw_scalars, options_);
}

std::map<std::string, double> Norm::scalars() const {
  std::map<std::string, double> out;
  for (auto& [name, t] : scalar_tensors()) out[name] = t.item();
  return out;
}

}  // namespace ng::nn
