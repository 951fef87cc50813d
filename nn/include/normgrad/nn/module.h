// Module: named parameters, named children, train/eval, forward hooks, state dicts.
// Parameter names are dotted paths ("transformer.h.0.ln_1.weight"), which are also the
// names in checkpoints.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "normgrad/tensor.h"

namespace ng::nn {

// (dotted name, tensor) pairs in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// Tensors by dotted name: what checkpoints hold.
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The module's computation; operator() calls it and then the forward hooks.
  virtual Tensor forward(const Tensor& x);
  // forward() plus the forward hooks (which observe, never change, input and output).
  Tensor operator()(const Tensor& x);

  NamedTensors named_parameters() const;  // recursive, registration order
  // State that is saved and moved with the module but not learned (EMAs, schedules).
  NamedTensors named_buffers() const;
  TensorList parameters() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // self first, as ""
  int64_t num_parameters() const;
  void zero_grad();
  // Converts every parameter and buffer in place (existing handles see the new dtype);
  // drops grads.
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place (handles stay valid); gradients
  // are dropped.
  void to(Device device);
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Called after forward with the module, its input and its output.
  using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;
  int register_forward_hook(ForwardHook hook);  // returns an id for remove_forward_hook
  void remove_forward_hook(int id);

  // Detached tensors sharing the parameters' (and buffers') storage.
  StateDict state_dict() const;
  struct LoadReport {
    std::vector<std::string> missing, unexpected, mismatched;
    bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
    std::string str() const;
  };
  // Copies values into the existing parameters and buffers (handles stay valid). strict: any
  // missing, unexpected or mis-shaped entry throws, naming them all; otherwise they are reported.
  LoadReport load_state_dict(const StateDict& sd, bool strict = true);
  // Swaps the child registered as `name` for `m` (an error when there is none): what it
  // holds is then named and saved under that name. Members that point at the old child are
  // the caller's to update (nn::replace_norm does both for a GPT's norms).
  void replace_child(const std::string& name, std::shared_ptr<Module> m);

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool buffers) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int, ForwardHook>> hooks_;
  int next_hook_ = 0;
  bool training_ = true;
};

// Holds children under names; has no forward of its own (nanoGPT's ModuleDict/List).
class Container : public Module {
 public:
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

}  // namespace ng::nn
