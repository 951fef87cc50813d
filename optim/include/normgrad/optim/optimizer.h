// Optimizers over parameter groups: SGD (momentum, Nesterov, weight decay), Adam, AdamW.
// Updates run under NoGradGuard, in place; state (moments, step) is saved with
// state_dict() so a resumed run continues bit for bit.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "normgrad/autograd.h"
#include "normgrad/nn/module.h"

namespace ng::optim {

struct ParamGroup {
  std::string name;
  nn::NamedTensors params;
  double weight_decay = 0.0;
  double lr_scale = 1.0;  // this group's lr = base lr * lr_scale
};

// Groups the usual way: weight decay only on matrices that are not embeddings; biases,
// norm weights, embeddings and 0-d scalars (DyT alpha, DyISRU beta, ...) get none; the
// scalars get their own lr scale.
std::vector<ParamGroup> default_groups(const nn::NamedTensors& params, double weight_decay,
                                       double scalar_lr_scale = 1.0);
// One group with everything.
std::vector<ParamGroup> single_group(const nn::NamedTensors& params, double weight_decay = 0.0);

// Parameter groups, a learning rate and a step count; subclasses implement step().
class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, double lr);
  virtual ~Optimizer() = default;
  // One update of every parameter with a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient.
  void zero_grad();
  // The base learning rate (group lr scales multiply it) and its accessors.
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t steps() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // "<param name>.<buffer>" -> tensor, plus "step".
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& sd);

 protected:
  // What a subclass knows about one loaded buffer beyond shape, dtype and finiteness (an
  // error message when it is impossible, e.g. a negative second moment); "" when fine.
  virtual std::string check_buffer(const std::string& buf, const Tensor& value) const {
    (void)buf, (void)value;
    return "";
  }
  // The named buffer for a parameter, created as zeros on first use.
  Tensor& buffer(const std::string& param, const std::string& buf, const Tensor& like);
  // One optimizer step: counts it, then calls update(group, name, param, grad) under
  // NoGradGuard for every parameter that has a gradient.
  template <class F>
  void for_each_update(F update) {
    NoGradGuard no_grad;
    ++steps_;
    for (auto& grp : groups_)
      for (auto& [name, p] : grp.params)
        if (p.grad().defined()) update(grp, name, p, p.grad());
  }
  std::vector<ParamGroup> groups_;
  double lr_;
  int64_t steps_ = 0;
  std::map<std::string, Tensor> state_;
};

// SGD's momentum, Nesterov and weight decay.
struct SGDOptions {
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
};

// Stochastic gradient descent, PyTorch's semantics.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double lr, SGDOptions o = {});
  void step() override;

 private:
  SGDOptions o_;
};

// Adam's betas, eps and weight decay.
struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Adam adds weight decay to the gradient (L2); AdamW decays the weights directly.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, double lr, AdamOptions o = {}, bool decoupled = false);
  void step() override;

 protected:
  std::string check_buffer(const std::string& buf, const Tensor& value) const override;

 private:
  AdamOptions o_;
  bool decoupled_;
};

// Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch's AdamW.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, AdamOptions o = {})
      : Adam(std::move(groups), lr, o, true) {}
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm
// before clipping (non-finite norms are returned untouched, gradients unchanged).
double clip_grad_norm(const TensorList& params, double max_norm);
// The global L2 norm of the gradients, summed in float64 in one pass over each gradient;
// non-finite exactly when some gradient element is (so it doubles as the finiteness check).
double grad_norm(const TensorList& params);
// clip_grad_norm's second half, for a norm grad_norm already returned: scales every
// gradient by max_norm / (norm + 1e-6) when norm > max_norm (and is finite).
void clip_grads_to(const TensorList& params, double max_norm, double norm);
// The same two on the gradients' device, for a GPU: the norm stays a 0-d float64 tensor and
// the clipping scale is computed there, so neither waits for the device (read the norm back
// when it is needed, with others, in one copy).
Tensor grad_norm_tensor(const TensorList& params);
void clip_grads_to(const TensorList& params, double max_norm, const Tensor& norm);

// Learning rate at `step`: linear warmup over `warmup` steps to `base`, then cosine decay
// to `min_lr` at `total` (constant when total <= warmup).
double warmup_cosine(int64_t step, double base, int64_t warmup, int64_t total, double min_lr);

}  // namespace ng::optim
