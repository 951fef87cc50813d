// Reverse-mode autograd: graph nodes, saved tensors, the engine and its switches.
//
// An op computes its forward result, then calls record() with the inputs, the tensors
// its backward needs, and a backward function written with differentiable ops. Because
// backward formulas are ordinary ops, running backward with create_graph=true records
// them too, which gives double backward (Hessian-vector products).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "normgrad/tensor.h"

namespace ng {

// A tensor kept for backward. Outputs of the op itself are kept without a strong
// reference to their grad_fn (that would be a cycle node -> output -> node).
class SavedTensor {
 public:
  SavedTensor(const Tensor& t, const std::shared_ptr<Node>& owner, bool is_output);
  Tensor unpack(const char* op) const;  // checks the version counter
  // Hands over the saved input's grad_fn if nothing else holds the input (graph teardown).
  std::shared_ptr<Node> release_history();

 private:
  std::shared_ptr<TensorImpl> data_;
  std::weak_ptr<Node> owner_;
  bool is_output_;
  uint64_t version_;
};

// A node's backward: the gradient of its output and what it saved -> its inputs' gradients.
using BackwardFn = std::function<TensorList(const TensorList& saved, const Tensor& grad)>;

// Where a node's input gradient goes: the producing node and which of its outputs.
struct Edge {
  std::shared_ptr<Node> node;  // null when that input needs no gradient
  Shape shape;                 // the input's shape: the engine sums broadcast grads to it
  DType dtype;
};

// One recorded op in the graph: its backward function, saved tensors and input edges.
struct Node {
  std::string name;
  std::vector<Edge> next;  // one per input, in order
  std::vector<SavedTensor> saved;
  BackwardFn fn;
  std::vector<GradHook> pre_hooks;  // run on this node's incoming gradient
  bool released = false;

  virtual ~Node();  // iterative: tearing down a 10,000-deep graph must not recurse
  // Gradients w.r.t. each input (undefined entries mean "no gradient").
  virtual TensorList apply(const Tensor& grad);
  void release();  // frees saved tensors after backward
};

// The node that writes a leaf's .grad (accumulating).
struct AccumulateGrad : Node {
  std::shared_ptr<TensorImpl> leaf;
  TensorList apply(const Tensor& grad) override;
};

namespace autograd {

// Connects `out` to `inputs` through a new node if grad mode is on and any input needs a
// gradient; `saved` tensors (inputs or `out` itself) are handed to `fn` during backward.
Tensor record(const char* name, Tensor out, const TensorList& inputs, const TensorList& saved,
              BackwardFn fn);

// True when any of the tensors requires grad (an op then records a node).
bool any_requires_grad(const TensorList& ts);

// Runs backward from `roots` with seed gradients; leaves accumulate into .grad.
void backward(const TensorList& roots, const TensorList& grads, bool retain_graph,
              bool create_graph);

// Returns d(sum_i <outputs_i, grad_outputs_i>)/d(inputs) without touching any .grad
// (like torch.autograd.grad). retain_graph defaults to create_graph.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {}, bool create_graph = false,
                std::optional<bool> retain_graph = std::nullopt, bool allow_unused = false);

}  // namespace autograd

// Grad mode: when off, ops record nothing (thread-local).
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// Sets grad mode for a scope and restores the previous mode after.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(GradMode::enabled()) { GradMode::set_enabled(on); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// Turns gradient recording off in its scope (evaluation, in-place updates).
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Anomaly mode: every op checks its forward output and every backward its gradients for
// NaN/Inf and throws naming the first op that produced one. Slow; for debugging.
struct AnomalyMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// In its scope backward() checks every gradient for inf/NaN and names the op that made it.
class AnomalyGuard {
 public:
  AnomalyGuard() : prev_(AnomalyMode::enabled()) { AnomalyMode::set_enabled(true); }
  ~AnomalyGuard() { AnomalyMode::set_enabled(prev_); }

 private:
  bool prev_;
};

}  // namespace ng
