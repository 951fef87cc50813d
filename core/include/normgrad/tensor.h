// Tensor: a cheap shared handle to a strided view of a Storage, plus autograd fields.
//
// Copying a Tensor copies the handle, not the data (like PyTorch). Views (reshape,
// transpose, narrow, expand, ...) share storage. Gradients: leaves (tensors you created
// with requires_grad) ACCUMULATE into .grad() across backward() calls, until you zero
// them; intermediate results keep no .grad() unless you call retain_grad() on them.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "normgrad/dtype.h"
#include "normgrad/error.h"
#include "normgrad/shape.h"
#include "normgrad/storage.h"

namespace ng {

struct Node;
class Tensor;
class Generator;
// Several tensors: op inputs, parameters, saved tensors.
using TensorList = std::vector<Tensor>;
// A gradient hook sees the incoming gradient; returning a defined tensor replaces it.
using GradHook = std::function<Tensor(const Tensor&)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;  // strides in elements
  int64_t offset = 0;    // in elements
  DType dtype = DType::F32;

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;         // producer; null for leaves
  std::weak_ptr<Node> grad_accumulator;  // leaves: the node that writes .grad
  std::vector<GradHook> hooks;           // leaves: run before accumulation
};

// How to create a tensor: tensor({1, 2}, {.dtype = DType::F64, .requires_grad = true}).
struct TensorOptions {
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool requires_grad = false;
};

// A strided view of a storage, with autograd; copies are handles, like PyTorch's.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // False for a default-constructed (empty) handle.
  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ---- layout ----
  const Shape& shape() const { return checked()->shape; }
  const Shape& strides() const { return checked()->strides; }
  int64_t dim() const { return (int64_t)shape().size(); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return numel_of(shape()); }
  int64_t offset() const { return checked()->offset; }
  DType dtype() const { return checked()->dtype; }
  Device device() const { return checked()->storage->device; }
  bool is_contiguous() const;
  template <class T>
  T* data() const;         // pointer to element [0,...,0]; checks dtype
  void* raw_data() const;  // same, untyped

  // ---- element access (CPU) ----
  double item() const;
  double at(const std::vector<int64_t>& index) const;
  void set(const std::vector<int64_t>& index, double value);  // in-place write
  std::vector<double> to_vector() const;                      // row-major copy

  // ---- conversions and copies ----
  Tensor to(DType t) const;
  Tensor to(Device d) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor detach() const;  // shares storage, no history

  // ---- views (differentiable) ----
  Tensor reshape(const Shape& s) const;
  Tensor view(const Shape& s) const;  // like reshape but never copies
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& s) const;
  Tensor squeeze(std::optional<int64_t> dim = std::nullopt) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten() const { return reshape({numel()}); }

  // ---- reductions (member shortcuts for the free functions in ops.h) ----
  Tensor sum(std::vector<int64_t> dims = {}, bool keepdim = false) const;
  Tensor mean(std::vector<int64_t> dims = {}, bool keepdim = false) const;
  Tensor norm() const;  // Frobenius norm of all elements

  // ---- autograd ----
  bool requires_grad() const { return checked()->requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return checked()->grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward pass reached this tensor
  void set_grad(const Tensor& g);
  void zero_grad();  // drops .grad
  std::string grad_fn_name() const;
  // create_graph=true makes each leaf's .grad differentiable; that .grad's graph refers
  // back to the leaf (a reference cycle, as in PyTorch): prefer autograd::grad() for
  // higher-order derivatives, or clear the leaf's grad (set_grad({})) when done.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  void retain_grad();
  void register_hook(GradHook hook);

  // ---- in-place (never recorded by autograd; refused on tensors that need grad) ----
  Tensor& fill_(double v);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double s);

  // The printed form: tensor([...], dtype=..., grad_fn=<...>).
  std::string str() const;

 private:
  TensorImpl* checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation ----
Tensor empty(const Shape& s, TensorOptions o = {});
Tensor zeros(const Shape& s, TensorOptions o = {});
Tensor ones(const Shape& s, TensorOptions o = {});
Tensor full(const Shape& s, double value, TensorOptions o = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar_tensor(double v, TensorOptions o = {});
Tensor arange(double end, TensorOptions o = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions o = {});
// Copies values (row-major) into a new tensor of the given shape.
Tensor from_vector(const std::vector<double>& values, const Shape& s, TensorOptions o = {});
Tensor from_vector(const std::vector<float>& values, const Shape& s, TensorOptions o = {});
Tensor from_vector(const std::vector<int64_t>& values, const Shape& s,
                   TensorOptions o = {.dtype = DType::I64});
// A 1-d tensor from a brace list: tensor({1, 2, 3}).
Tensor tensor(std::initializer_list<double> values, TensorOptions o = {});
// Random tensors use `gen`, or the global generator (ng::manual_seed) when null.
Tensor randn(const Shape& s, TensorOptions o = {}, Generator* gen = nullptr);
Tensor rand(const Shape& s, TensorOptions o = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& s, TensorOptions o = {.dtype = DType::I64},
               Generator* gen = nullptr);

// Makes a tensor over existing storage (used by backends and views).
Tensor make_tensor(std::shared_ptr<Storage> st, Shape shape, Shape strides, int64_t offset,
                   DType dtype);

}  // namespace ng
