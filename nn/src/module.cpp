#include "normgrad/nn/module.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng::nn {

Tensor Module::forward(const Tensor&) {
  fail("forward", "this module has no single-tensor forward (it is a container)");
}

Tensor Module::operator()(const Tensor& x) {
  Tensor y = forward(x);
  for (auto& [id, h] : hooks_) h(*this, x, y);
  return y;
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  if (name.empty() || name.find('.') != std::string::npos)
    fail("register_parameter", "bad parameter name '", name, "'");
  t = t.detach();
  t.requires_grad_();
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  if (name.empty() || name.find('.') != std::string::npos)
    fail("register_buffer", "bad buffer name '", name, "'");
  t = t.detach();
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool buffers) const {
  for (const auto& [n, p] : buffers ? buffers_ : params_) out.emplace_back(prefix + n, p);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", out, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  // Depth-first in registration order (the order of named_parameters), without recursion.
  std::vector<std::pair<std::string, Module*>> out, stack{{"", this}};
  while (!stack.empty()) {
    auto [name, m] = stack.back();
    stack.pop_back();
    out.emplace_back(name, m);
    const std::string prefix = name.empty() ? "" : name + ".";
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(prefix + it->first, it->second.get());
  }
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

namespace {
// Points every parameter's impl at converted data, so handles held elsewhere (the
// optimizer's, a norm layer's) see the change; gradients are dropped.
template <class Convert>
void convert_parameters(Module& m, Convert convert) {
  NoGradGuard no_grad;
  NamedTensors all = m.named_parameters(), buffers = m.named_buffers();
  all.insert(all.end(), buffers.begin(), buffers.end());
  for (auto& [n, p] : all) {
    const Tensor c = convert(p).contiguous();
    if (c.impl() == p.impl()) continue;
    TensorImpl* i = p.impl();
    i->storage = c.impl()->storage;
    i->dtype = c.dtype();
    i->shape = c.shape();
    i->strides = c.strides();
    i->offset = c.offset();
    i->grad.reset();
  }
}
}  // namespace

void Module::to(DType dtype) {
  convert_parameters(*this, [dtype](const Tensor& p) { return p.to(dtype); });
}

void Module::to(Device device) {
  convert_parameters(*this, [device](const Tensor& p) { return p.to(device); });
}

void Module::train(bool on) {
  for (auto& [n, m] : named_modules()) m->training_ = on;
}

int Module::register_forward_hook(ForwardHook hook) {
  hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void Module::remove_forward_hook(int id) {
  hooks_.erase(
      std::remove_if(hooks_.begin(), hooks_.end(), [id](auto& h) { return h.first == id; }),
      hooks_.end());
}

StateDict Module::state_dict() const {
  StateDict sd;
  for (auto& [n, p] : named_parameters()) sd[n] = p.detach();
  for (auto& [n, b] : named_buffers()) sd[n] = b.detach();
  return sd;
}

std::string Module::LoadReport::str() const {
  std::ostringstream s;
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    s << " " << what << ":";
    for (auto& n : v) s << " " << n;
    s << ";";
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("mis-shaped", mismatched);
  return s.str();
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> m) {
  for (auto& [n, child] : children_)
    if (n == name) {
      child = std::move(m);
      return;
    }
  fail("replace_child", "no child module named '", name, "'");
}

Module::LoadReport Module::load_state_dict(const StateDict& sd, bool strict) {
  LoadReport r;
  std::set<std::string> seen;
  std::vector<std::pair<Tensor, Tensor>> copies;
  NamedTensors all = named_parameters(), buffers = named_buffers();
  all.insert(all.end(), buffers.begin(), buffers.end());
  for (auto& [n, p] : all) {
    seen.insert(n);
    auto it = sd.find(n);
    if (it == sd.end()) {
      r.missing.push_back(n);
    } else if (it->second.shape() != p.shape()) {
      r.mismatched.push_back(n + " (checkpoint " + shape_str(it->second.shape()) + ", model " +
                             shape_str(p.shape()) + ")");
    } else if (is_floating(it->second.dtype()) != is_floating(p.dtype())) {
      // float32 <-> float64 converts; integers are never taken for weights
      r.mismatched.push_back(n + " (checkpoint " + dtype_name(it->second.dtype()) + ", model " +
                             dtype_name(p.dtype()) + ")");
    } else {
      copies.emplace_back(p, it->second);
    }
  }
  for (auto& [n, t] : sd)
    if (!seen.count(n)) r.unexpected.push_back(n);
  if (strict && !r.ok()) fail("load_state_dict", "state dict does not match the model:", r.str());
  NoGradGuard no_grad;
  for (auto& [p, v] : copies) Tensor(p).copy_(v.to(p.dtype()).to(p.device()));
  return r;
}

}  // namespace ng::nn
