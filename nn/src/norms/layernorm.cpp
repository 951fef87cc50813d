// LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias, per token (population var).
#include "normgrad/nn/norm.h"
#include "normgrad/ops.h"

namespace ng::nn {

class LayerNorm : public Norm {
 public:
  LayerNorm(int64_t c, const NormOptions& o) : Norm("layernorm", c), eps_(o.eps) {
    make_affine(o, true);
  }
  Tensor forward(const Tensor& x) override {
    check_input(x);
    return layer_norm(x, weight, bias, eps_);
  }
  Tensor normalize(const Tensor& x) override { return layer_norm(x, Tensor(), Tensor(), eps_); }
  Tensor forward_composed(const Tensor& x) override {
    return composed::layer_norm(x, weight, bias, eps_);
  }

 private:
  double eps_;
};

NG_REGISTER_NORM("layernorm", LayerNorm);

}  // namespace ng::nn
