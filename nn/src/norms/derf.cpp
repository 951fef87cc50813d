// Derf: y = weight * erf(alpha * x + shift) + bias, scalars alpha (0.5) and shift (0).
// This file is the whole of adding a norm: the class and one registration line.
#include <cmath>

#include "normgrad/nn/norm.h"
#include "normgrad/ops.h"

namespace ng::nn {

class Derf : public Norm {
 public:
  Derf(int64_t c, const NormOptions& o)
      : Norm("derf", c), prefactor_(o.paper_form ? std::sqrt((double)c) : 1.0) {
    alpha = register_parameter("alpha", full({}, o.alpha0));
    shift = register_parameter("shift", full({}, o.shift0));
    make_affine(o, true);
  }
  Tensor forward(const Tensor& x) override {
    check_input(x);
    return derf(x, alpha, shift, weight, bias, prefactor_);
  }
  Tensor normalize(const Tensor& x) override {
    return derf(x, alpha, shift, Tensor(), Tensor(), prefactor_);
  }
  Tensor forward_composed(const Tensor& x) override {
    return composed::derf(x, alpha, shift, weight, bias, prefactor_);
  }
  std::map<std::string, double> scalars() const override {
    return {{"alpha", alpha.item()}, {"shift", shift.item()}};
  }

  Tensor alpha, shift;

 private:
  double prefactor_;
};

NG_REGISTER_NORM("derf", Derf);

}  // namespace ng::nn
