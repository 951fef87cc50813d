// DyT (Zhu et al., CVPR 2025): y = weight * tanh(alpha * x) + bias, alpha a learnable
// scalar. Paper form multiplies by sqrt(C) before the affine part.
#include <cmath>

#include "normgrad/nn/norm.h"
#include "normgrad/ops.h"

namespace ng::nn {

class DyT : public Norm {
 public:
  DyT(int64_t c, const NormOptions& o)
      : Norm("dyt", c), prefactor_(o.paper_form ? std::sqrt((double)c) : 1.0) {
    alpha = register_parameter("alpha", full({}, o.alpha0));
    make_affine(o, true);
  }
  Tensor forward(const Tensor& x) override {
    check_input(x);
    return dyt(x, alpha, weight, bias, prefactor_);
  }
  Tensor normalize(const Tensor& x) override {
    return dyt(x, alpha, Tensor(), Tensor(), prefactor_);
  }
  Tensor forward_composed(const Tensor& x) override {
    return composed::dyt(x, alpha, weight, bias, prefactor_);
  }
  std::map<std::string, double> scalars() const override { return {{"alpha", alpha.item()}}; }

  Tensor alpha;

 private:
  double prefactor_;
};

NG_REGISTER_NORM("dyt", DyT);

}  // namespace ng::nn
