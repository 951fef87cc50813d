// The autograd engine: recording nodes, saved tensors, and the reverse pass.
#include "normgrad/autograd.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "normgrad/ops.h"

namespace ng {

namespace {
thread_local bool grad_mode = true;
bool anomaly_mode = false;

thread_local bool in_anomaly_check = false;              // the check itself runs ops: no recursion
thread_local const char* running_backward_of = nullptr;  // names the node in anomaly errors

bool anomaly_check_finite(const Tensor& t) {
  if (in_anomaly_check) return true;
  in_anomaly_check = true;
  const bool ok = ng::all_finite(t);
  in_anomaly_check = false;
  return ok;
}
}  // namespace

bool GradMode::enabled() { return grad_mode; }
void GradMode::set_enabled(bool on) { grad_mode = on; }
bool AnomalyMode::enabled() { return anomaly_mode; }
void AnomalyMode::set_enabled(bool on) { anomaly_mode = on; }

// ---- saved tensors ----

SavedTensor::SavedTensor(const Tensor& t, const std::shared_ptr<Node>& owner, bool is_output)
    : is_output_(is_output), version_(t.defined() ? t.impl()->storage->version : 0) {
  if (!t.defined()) return;  // an absent optional input (e.g. no bias) stays absent
  if (is_output) {
    data_ = t.detach().impl_ptr();  // no grad_fn: breaks the node -> output -> node cycle
    owner_ = owner;
  } else {
    data_ = t.impl_ptr();
  }
}

Tensor SavedTensor::unpack(const char* op) const {
  if (!data_) return Tensor();
  if (data_->storage->version != version_)
    fail(op, "a tensor saved for backward (shape ", shape_str(data_->shape),
         ") was modified in place after it was saved (version ", version_, " -> ",
         data_->storage->version, "); clone it before modifying");
  if (!is_output_) return Tensor(data_);
  // Re-attach the output to its node so double backward can differentiate through it.
  Tensor t = Tensor(data_).detach();
  if (auto node = owner_.lock()) {
    t.impl()->grad_fn = node;
    t.impl()->requires_grad = true;
  }
  return t;
}

std::shared_ptr<Node> SavedTensor::release_history() {
  if (!data_ || data_.use_count() != 1) return nullptr;
  return std::move(data_->grad_fn);
}

// ---- nodes ----

Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  auto steal = [&stack](Node& n) {
    for (auto& e : n.next)
      if (e.node) stack.push_back(std::move(e.node));
    for (auto& s : n.saved)
      if (auto g = s.release_history()) stack.push_back(std::move(g));
  };
  steal(*this);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) steal(*n);  // n dies at the end of this iteration, childless
  }
}

TensorList Node::apply(const Tensor& grad) {
  if (released)
    fail(name.c_str(),
         "backward through a graph a second time: its saved tensors were freed after the "
         "first backward (pass retain_graph=true to the first call)");
  TensorList unpacked;
  unpacked.reserve(saved.size());
  for (const auto& s : saved) unpacked.push_back(s.unpack(name.c_str()));
  return fn(unpacked, grad);
}

void Node::release() {
  saved.clear();
  saved.shrink_to_fit();
  released = true;
}

TensorList AccumulateGrad::apply(const Tensor& grad) {
  Tensor g = grad;
  for (auto& h : leaf->hooks) {
    Tensor r = h(g);
    if (r.defined()) g = r;
  }
  TensorImpl* L = leaf.get();
  if (!L->grad) {
    // Own the buffer: later backward calls accumulate into it in place.
    L->grad = GradMode::enabled() ? g.impl_ptr() : g.detach().clone().impl_ptr();
  } else if (GradMode::enabled()) {
    L->grad = ng::add(Tensor(L->grad), g).impl_ptr();  // create_graph: keep the history
  } else {
    Tensor(L->grad).add_(g);
  }
  return {};
}

// ---- recording ----

namespace autograd {

bool any_requires_grad(const TensorList& ts) {
  for (const auto& t : ts)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  TensorImpl* L = leaf.impl();
  if (auto n = L->grad_accumulator.lock()) return n;
  auto n = std::make_shared<AccumulateGrad>();
  n->name = "AccumulateGrad";
  n->leaf = leaf.impl_ptr();
  L->grad_accumulator = n;
  return n;
}

Edge edge_to(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  return {t.impl()->grad_fn ? t.impl()->grad_fn : grad_accumulator(t), t.shape(), t.dtype()};
}
}  // namespace

Tensor record(const char* name, Tensor out, const TensorList& inputs, const TensorList& saved,
              BackwardFn fn) {
  if (AnomalyMode::enabled() && !anomaly_check_finite(out)) {
    if (running_backward_of)
      fail(running_backward_of, "anomaly: backward produced NaN/Inf (in its '", name,
           "' step, shape ", shape_str(out.shape()), ")");
    fail(name, "anomaly: forward produced NaN/Inf (output shape ", shape_str(out.shape()), ")");
  }
  if (!GradMode::enabled() || !any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next.reserve(inputs.size());
  for (const auto& t : inputs) node->next.push_back(edge_to(t));
  node->fn = std::move(fn);
  node->saved.reserve(saved.size());
  for (const auto& s : saved) node->saved.emplace_back(s, node, s.impl() == out.impl());
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
  return out;
}

// ---- the reverse pass ----

namespace {

// Kahn's algorithm over the nodes reachable from the roots: a node runs once every node
// that feeds it a gradient has run. Iterative, so deep graphs cannot overflow the stack.
void run_backward(const std::vector<std::shared_ptr<Node>>& roots, const TensorList& root_grads,
                  bool retain_graph, bool create_graph,
                  const std::unordered_map<Node*, Tensor*>* capture) {
  // 1. Discover the graph and count each node's incoming edges.
  std::unordered_map<Node*, int> indeg;
  std::vector<Node*> stack;
  for (auto& r : roots)
    if (indeg.emplace(r.get(), 0).second) stack.push_back(r.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.node) continue;
      auto [it, fresh] = indeg.emplace(e.node.get(), 0);
      it->second++;
      if (fresh) stack.push_back(e.node.get());
    }
  }
  // 2. autograd::grad only needs the nodes that lead to a requested input: walk a
  //    topological order backwards and keep a node if it is requested or feeds one that is.
  std::unordered_set<Node*> needed;
  if (capture) {
    auto in = indeg;
    std::vector<Node*> order, queue;
    for (auto& [n, d] : in)
      if (d == 0) queue.push_back(n);
    while (!queue.empty()) {
      Node* n = queue.back();
      queue.pop_back();
      order.push_back(n);
      for (auto& e : n->next)
        if (e.node && --in[e.node.get()] == 0) queue.push_back(e.node.get());
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      bool keep = capture->count(*it) > 0;
      for (auto& e : (*it)->next) keep = keep || (e.node && needed.count(e.node.get()));
      if (keep) needed.insert(*it);
    }
  }
  auto useful = [&](Node* n) { return !capture || needed.count(n) > 0; };
  // 3. Dependency counts over the useful part of the graph.
  std::unordered_map<Node*, int> deps;
  for (auto& [n, d] : indeg) {
    if (!useful(n)) continue;
    deps.emplace(n, 0);
    for (auto& e : n->next)
      if (e.node && useful(e.node.get())) deps[e.node.get()]++;
  }

  std::unordered_map<Node*, Tensor> pending;
  for (size_t i = 0; i < roots.size(); ++i) {
    Tensor& slot = pending[roots[i].get()];
    slot = slot.defined() ? ng::add(slot, root_grads[i]) : root_grads[i];
  }
  std::vector<Node*> ready;
  for (auto& r : roots)
    if (useful(r.get()) && deps[r.get()] == 0 &&
        std::find(ready.begin(), ready.end(), r.get()) == ready.end())
      ready.push_back(r.get());

  GradMode::set_enabled(create_graph);
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(pending[n]);
    pending.erase(n);
    for (auto& h : n->pre_hooks) {
      Tensor r = h(g);
      if (r.defined()) g = r;
    }
    if (capture) {  // autograd::grad: collect at the requested inputs, never touch .grad
      auto it = capture->find(n);
      if (it != capture->end()) *it->second = it->second->defined() ? ng::add(*it->second, g) : g;
      if (dynamic_cast<AccumulateGrad*>(n)) continue;
    }
    running_backward_of = n->name.c_str();
    TensorList grads;
    try {
      grads = n->apply(g);
    } catch (...) {
      running_backward_of = nullptr;
      throw;
    }
    running_backward_of = nullptr;
    if (!retain_graph) n->release();
    for (size_t i = 0; i < n->next.size() && i < grads.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.node || !useful(e.node.get())) continue;
      Tensor gi = grads[i];
      if (gi.defined()) {
        if (gi.shape() != e.shape) gi = sum_to(gi, e.shape);  // undo broadcasting, once, here
        if (gi.dtype() != e.dtype) gi = gi.to(e.dtype);
        if (AnomalyMode::enabled() && !anomaly_check_finite(gi))
          fail(n->name.c_str(), "anomaly: backward produced NaN/Inf in the gradient of input ", i,
               " (shape ", shape_str(e.shape), ")");
        Tensor& slot = pending[e.node.get()];
        slot = slot.defined() ? ng::add(slot, gi) : gi;
      }
      if (--deps[e.node.get()] == 0) {
        if (pending.count(e.node.get()))
          ready.push_back(e.node.get());
        else {
          // No gradient arrived (all contributions undefined): its inputs get none either,
          // but its dependants still need their counts released.
          std::vector<Node*> skip{e.node.get()};
          while (!skip.empty()) {
            Node* s = skip.back();
            skip.pop_back();
            for (auto& se : s->next)
              if (se.node && useful(se.node.get()) && --deps[se.node.get()] == 0) {
                if (pending.count(se.node.get()))
                  ready.push_back(se.node.get());
                else
                  skip.push_back(se.node.get());
              }
          }
        }
      }
    }
  }
}

Tensor seed_grad(const Tensor& root, const Tensor& grad, const char* op) {
  if (!root.requires_grad())
    fail(op, "the tensor (shape ", shape_str(root.shape()),
         ") does not require grad and has no grad_fn: nothing to differentiate");
  if (grad.defined()) {
    if (grad.shape() != root.shape())
      fail(op, "gradient shape ", shape_str(grad.shape()), " does not match tensor shape ",
           shape_str(root.shape()));
    return grad;
  }
  if (root.numel() != 1)
    fail(op, "implicit gradient only for scalar outputs, got shape ", shape_str(root.shape()),
         "; pass a gradient tensor");
  return ones_like(root);
}

std::shared_ptr<Node> root_node(const Tensor& t) {
  return t.impl()->grad_fn ? t.impl()->grad_fn : grad_accumulator(t);
}

}  // namespace

void backward(const TensorList& roots, const TensorList& grads, bool retain_graph,
              bool create_graph) {
  GradModeGuard restore(GradMode::enabled());
  std::vector<std::shared_ptr<Node>> nodes;
  TensorList seeds;
  for (size_t i = 0; i < roots.size(); ++i) {
    seeds.push_back(seed_grad(roots[i], i < grads.size() ? grads[i] : Tensor(), "backward"));
    nodes.push_back(root_node(roots[i]));
  }
  run_backward(nodes, seeds, retain_graph || create_graph, create_graph, nullptr);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool create_graph, std::optional<bool> retain_graph, bool allow_unused) {
  GradModeGuard restore(GradMode::enabled());
  std::vector<std::shared_ptr<Node>> nodes;
  TensorList seeds;
  for (size_t i = 0; i < outputs.size(); ++i) {
    seeds.push_back(
        seed_grad(outputs[i], i < grad_outputs.size() ? grad_outputs[i] : Tensor(), "grad"));
    nodes.push_back(root_node(outputs[i]));
  }
  TensorList result(inputs.size());
  std::unordered_map<Node*, Tensor*> capture;
  std::vector<std::shared_ptr<Node>> keep;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) fail("grad", "input ", i, " does not require grad");
    keep.push_back(root_node(inputs[i]));
    capture[keep.back().get()] = &result[i];
  }
  run_backward(nodes, seeds, retain_graph.value_or(create_graph), create_graph, &capture);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!result[i].defined()) {
      if (!allow_unused)
        fail("grad", "input ", i, " (shape ", shape_str(inputs[i].shape()),
             ") was not used to compute the outputs (pass allow_unused=true)");
      continue;
    }
    if (result[i].shape() != inputs[i].shape()) result[i] = sum_to(result[i], inputs[i].shape());
  }
  return result;
}

}  // namespace autograd

// ---- Tensor's autograd members ----

Tensor& Tensor::requires_grad_(bool on) {
  if (on && !is_floating(dtype()))
    fail("requires_grad_", "only floating-point tensors can require grad, got ",
         dtype_name(dtype()));
  if (!on && !is_leaf())
    fail("requires_grad_", "cannot turn off requires_grad of a non-leaf tensor (use detach())");
  checked()->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked()->grad); }
void Tensor::set_grad(const Tensor& g) { checked()->grad = g.defined() ? g.impl_ptr() : nullptr; }
void Tensor::zero_grad() { checked()->grad.reset(); }

std::string Tensor::grad_fn_name() const {
  return checked()->grad_fn ? checked()->grad_fn->name : std::string();
}

void Tensor::backward(const Tensor& grad, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {grad}, retain_graph, create_graph);
}

void Tensor::retain_grad() {
  if (is_leaf()) return;  // leaves keep .grad anyway
  std::weak_ptr<TensorImpl> self = impl_;
  checked()->grad_fn->pre_hooks.push_back([self](const Tensor& g) {
    if (auto s = self.lock()) {
      if (!s->grad)
        s->grad = g.detach().clone().impl_ptr();
      else
        Tensor(s->grad).add_(g.detach());
    }
    return Tensor();
  });
}

void Tensor::register_hook(GradHook hook) {
  if (!requires_grad())
    fail("register_hook", "tensor (shape ", shape_str(shape()), ") does not require grad");
  if (is_leaf())
    checked()->hooks.push_back(std::move(hook));
  else
    checked()->grad_fn->pre_hooks.push_back(std::move(hook));
}

}  // namespace ng
