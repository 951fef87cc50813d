#include "normgrad/nn/layers.h"

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, Generator& gen, double init_std) {
  weight = register_parameter(
      "weight", init_std > 0 ? randn({out, in}, {}, &gen) * init_std : zeros({out, in}));
  if (has_bias) bias = register_parameter("bias", zeros({out}));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.size(-1) != weight.size(1))
    fail("Linear", "input has ", x.size(-1), " features, layer expects ", weight.size(1),
         " (input shape ", shape_str(x.shape()), ")");
  return linear(x, weight, bias);
}

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen, double init_std) {
  weight = register_parameter(
      "weight", init_std > 0 ? randn({num, dim}, {}, &gen) * init_std : zeros({num, dim}));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices); }

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), gen_.get()); }

Tensor GELU::forward(const Tensor& x) { return gelu(x, approx_); }

}  // namespace ng::nn
