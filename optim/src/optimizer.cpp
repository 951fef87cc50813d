#include "normgrad/optim/optimizer.h"

#include <cmath>

#include "normgrad/autograd.h"
#include "normgrad/backend.h"
#include "normgrad/ops.h"

namespace ng::optim {

std::vector<ParamGroup> default_groups(const nn::NamedTensors& params, double wd,
                                       double scalar_lr_scale) {
  ParamGroup decay{"decay", {}, wd, 1.0}, no_decay{"no_decay", {}, 0.0, 1.0},
      scalars{"scalars", {}, 0.0, scalar_lr_scale};
  for (const auto& [name, p] : params) {
    const bool embedding =
        name.find("wte") != std::string::npos || name.find("wpe") != std::string::npos;
    if (p.dim() == 0)
      scalars.params.emplace_back(name, p);
    else if (p.dim() >= 2 && !embedding)
      decay.params.emplace_back(name, p);
    else
      no_decay.params.emplace_back(name, p);
  }
  std::vector<ParamGroup> g;
  for (auto* grp : {&decay, &no_decay, &scalars})
    if (!grp->params.empty()) g.push_back(*grp);
  return g;
}

std::vector<ParamGroup> single_group(const nn::NamedTensors& params, double wd) {
  return {ParamGroup{"all", params, wd, 1.0}};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr)
    : groups_(std::move(groups)), lr_(lr) {
  if (!(lr >= 0)) fail("optimizer", "learning rate must be >= 0, got ", lr);
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& [n, p] : g.params) Tensor(p).zero_grad();
}

Tensor& Optimizer::buffer(const std::string& param, const std::string& buf, const Tensor& like) {
  Tensor& t = state_[param + "." + buf];
  if (!t.defined()) t = zeros_like(like);
  return t;
}

nn::StateDict Optimizer::state_dict() const {
  nn::StateDict sd(state_.begin(), state_.end());
  sd["step"] = full({}, (double)steps_, {.dtype = DType::I64});
  return sd;
}

void Optimizer::load_state_dict(const nn::StateDict& sd) {
  // Everything is checked before anything is kept: a file's moments feed the update
  // kernels, which trust them to have their parameter's shape.
  const char* op = "optimizer.load_state_dict";
  auto it = sd.find("step");
  if (it == sd.end()) fail(op, "missing 'step'");
  if (it->second.numel() != 1)
    fail(op, "'step' must have one element, got shape ", shape_str(it->second.shape()));
  const double step = it->second.item();
  if (!(step >= 0 && step < 9.0e15 && step == std::floor(step)))
    fail(op, "'step' must be a non-negative integer, got ", step);
  // Buffers are named "<param>.<buffer>" and follow their parameter's device: a checkpoint
  // read on the host can resume a run on the GPU.
  std::map<std::string, Tensor> params;
  for (auto& grp : groups_)
    for (auto& [name, p] : grp.params) params[name] = p;
  std::map<std::string, Tensor> loaded;
  for (auto& [k, v] : sd) {
    if (k == "step") continue;
    const size_t dot = k.rfind('.');
    auto p = dot == std::string::npos ? params.end() : params.find(k.substr(0, dot));
    if (p == params.end()) fail(op, "state '", k, "' belongs to no parameter of this optimizer");
    if (v.shape() != p->second.shape())
      fail(op, "state '", k, "' has shape ", shape_str(v.shape()), ", its parameter ",
           shape_str(p->second.shape()));
    if (v.dtype() != p->second.dtype())
      fail(op, "state '", k, "' is ", dtype_name(v.dtype()), ", its parameter ",
           dtype_name(p->second.dtype()));
    if (!all_finite(v)) fail(op, "state '", k, "' holds inf or NaN");
    if (const std::string why = check_buffer(k.substr(dot + 1), v); !why.empty())
      fail(op, "state '", k, "' ", why);
    loaded[k] = v.to(p->second.device()).contiguous().clone();
  }
  steps_ = (int64_t)step;
  state_ = std::move(loaded);
}

SGD::SGD(std::vector<ParamGroup> groups, double lr, SGDOptions o)
    : Optimizer(std::move(groups), lr), o_(o) {
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    fail("SGD", "Nesterov momentum needs momentum > 0 and dampening 0");
}

void SGD::step() {
  for_each_update([this](const ParamGroup& grp, const std::string& name, Tensor& p, Tensor g) {
    if (grp.weight_decay != 0) g = g + p * grp.weight_decay;
    if (o_.momentum != 0) {
      Tensor& buf = state_[name + ".momentum_buffer"];
      if (!buf.defined())
        buf = g.clone();  // the first step takes the gradient as is
      else
        buf.mul_(o_.momentum).add_(g, 1.0 - o_.dampening);
      g = o_.nesterov ? g + buf * o_.momentum : buf;
    }
    p.add_(g, -lr_ * grp.lr_scale);
  });
}

Adam::Adam(std::vector<ParamGroup> groups, double lr, AdamOptions o, bool decoupled)
    : Optimizer(std::move(groups), lr), o_(o), decoupled_(decoupled) {}

std::string Adam::check_buffer(const std::string& buf, const Tensor& value) const {
  // the update divides by sqrt(exp_avg_sq): a negative value would turn it into NaN
  if (buf == "exp_avg_sq" && value.numel() > 0 && min(value).item() < 0)
    return "holds negative values (a second moment is a mean of squares)";
  return "";
}

void Adam::step() {
  for_each_update(
      [this](const ParamGroup& grp, const std::string& name, Tensor& p, const Tensor& g) {
        Tensor& m = buffer(name, "exp_avg", p);
        Tensor& v = buffer(name, "exp_avg_sq", p);
        const AdamParams a{lr_ * grp.lr_scale,
                           o_.beta1,
                           o_.beta2,
                           o_.eps,
                           grp.weight_decay,
                           decoupled_,
                           1 - std::pow(o_.beta1, (double)steps_),
                           1 - std::pow(o_.beta2, (double)steps_)};
        backend_of(p).adam_step(a, p, g.contiguous(), m, v);
        p.impl()->storage->version++;
      });
}

namespace {
// Sum of squares of n host values in float64, eight independent chains (one chain would
// wait on each add's latency: ~4x slower on a gradient of a million elements).
template <class T>
double host_sum_squares(const T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += (double)x[i + k] * (double)x[i + k];
  for (; i < n; ++i) acc[0] += (double)x[i] * (double)x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

bool host_summable(const Tensor& g) {
  return g.device() == Device::CPU && g.is_contiguous() &&
         (g.dtype() == DType::F32 || g.dtype() == DType::F64);
}

// The float64 sum of squares of the defined gradients that `take` accepts, as a 0-d tensor on
// their device (undefined when there are none). Summed as tensors and read once by the
// caller: one .item() per parameter would wait for a device every time.
template <class Take>
Tensor tensor_sum_squares(const TensorList& params, Take take) {
  Tensor sq;
  for (const auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined() || !take(g)) continue;
    const Tensor s = sum(square(g.to(DType::F64)));
    sq = sq.defined() ? sq + s : s;
  }
  return sq;
}
}  // namespace

double grad_norm(const TensorList& params) {
  NoGradGuard no_grad;
  double host = 0;
  for (const auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined() || !host_summable(g)) continue;
    host += g.dtype() == DType::F32 ? host_sum_squares(g.data<float>(), g.numel())
                                    : host_sum_squares(g.data<double>(), g.numel());
  }
  const Tensor rest = tensor_sum_squares(params, [](const Tensor& g) { return !host_summable(g); });
  return std::sqrt(host + (rest.defined() ? rest.item() : 0.0));
}

void clip_grads_to(const TensorList& params, double max_norm, double norm) {
  if (!(std::isfinite(norm) && norm > max_norm)) return;
  NoGradGuard no_grad;
  const double scale = max_norm / (norm + 1e-6);
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().mul_(scale);
}

Tensor grad_norm_tensor(const TensorList& params) {
  NoGradGuard no_grad;
  const Tensor sq = tensor_sum_squares(params, [](const Tensor&) { return true; });
  if (sq.defined()) return sqrt(sq);
  // No gradient yet: 0 on the parameters' device, where the caller combines it with their
  // gradients and losses (a host 0 beside a GPU loss would be a device mismatch in cat).
  const Device dev = params.empty() ? Device::CPU : params.front().device();
  return zeros({}, {.dtype = DType::F64, .device = dev});
}

void clip_grads_to(const TensorList& params, double max_norm, const Tensor& norm) {
  NoGradGuard no_grad;
  // As the host version: scale only where the norm is finite and above max_norm.
  const TensorOptions o{.dtype = DType::F64, .device = norm.device()};
  const Tensor clip = gt(norm, full({}, max_norm, o)) * lt(norm, full({}, INFINITY, o));
  const Tensor scale = where(clip, max_norm / (norm + 1e-6), ones_like(norm));
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(g * scale.to(g.dtype()));
  }
}

double clip_grad_norm(const TensorList& params, double max_norm) {
  const double norm = grad_norm(params);
  clip_grads_to(params, max_norm, norm);
  return norm;
}

double warmup_cosine(int64_t step, double base, int64_t warmup, int64_t total, double min_lr) {
  if (warmup > 0 && step < warmup) return base * (double)(step + 1) / (double)warmup;
  if (total <= warmup || step >= total) return total <= warmup ? base : min_lr;
  const double progress = (double)(step - warmup) / (double)(total - warmup);
  return min_lr + 0.5 * (base - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace ng::optim
