// Basic layers. Linear weights are stored [out, in] as in PyTorch, so checkpoints map
// one-to-one onto PyTorch modules.
#pragma once
#include <memory>

#include "normgrad/nn/module.h"
#include "normgrad/ops.h"
#include "normgrad/random.h"

namespace ng::nn {

class Linear : public Module {
 public:
  // weight ~ N(0, init_std^2); init_std 0: zeros, nothing drawn (weights to be loaded)
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, double init_std = 0.02);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined when disabled
};

// A lookup table: int64 ids [...] -> rows of weight [num, dim].
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, Generator& gen, double init_std = 0.02);
  Tensor forward(const Tensor& indices) override;
  Tensor weight;
};

// Zeroes elements with probability p in training mode (its own generator).
class Dropout : public Module {
 public:
  // `gen` is shared by every dropout of a model: one seed drives all of them.
  Dropout(double p, std::shared_ptr<Generator> gen) : p_(p), gen_(std::move(gen)) {}
  Tensor forward(const Tensor& x) override;
  bool active() const { return is_training() && p_ > 0; }  // would it change anything now?

 private:
  double p_;
  std::shared_ptr<Generator> gen_;
};

// GELU, exact (erf) or with PyTorch's tanh approximation.
class GELU : public Module {
 public:
  explicit GELU(GeluApprox approx = GeluApprox::None) : approx_(approx) {}
  Tensor forward(const Tensor& x) override;

 private:
  GeluApprox approx_;
};

}  // namespace ng::nn
