// DyISRU (Stollenwerk, EACL 2026): y = weight * x / sqrt(beta + x^2) + bias, the exact
// element-wise counterpart of RMSNorm. beta > 0: by default beta = softplus(beta_raw); the
// plain parametrization raises an error the moment beta leaves (0, inf).
#include <cmath>

#include "normgrad/nn/norm.h"
#include "normgrad/ops.h"

namespace ng::nn {

class DyISRU : public Norm {
 public:
  DyISRU(int64_t c, const NormOptions& o)
      : Norm("dyisru", c),
        softplus_(o.softplus_beta),
        prefactor_(o.paper_form ? std::sqrt((double)c) : 1.0) {
    const double beta0 = o.beta0.value_or(1.0 / (o.alpha0 * o.alpha0));
    if (!(beta0 > 0)) fail("dyisru", "beta0 must be > 0, got ", beta0);
    // softplus^-1(b) = log(expm1(b)), written to stay finite for large b
    const double raw =
        beta0 > 20 ? beta0 + std::log(-std::expm1(-beta0)) : std::log(std::expm1(beta0));
    beta_param =
        register_parameter(softplus_ ? "beta_raw" : "beta", full({}, softplus_ ? raw : beta0));
    make_affine(o, true);
  }
  Tensor beta() const { return softplus_ ? softplus(beta_param) : beta_param; }
  Tensor forward(const Tensor& x) override {
    check_input(x);
    return dyisru(x, beta(), weight, bias, prefactor_);
  }
  Tensor normalize(const Tensor& x) override {
    return dyisru(x, beta(), Tensor(), Tensor(), prefactor_);
  }
  Tensor forward_composed(const Tensor& x) override {
    return composed::dyisru(x, beta(), weight, bias, prefactor_);
  }
  std::map<std::string, double> scalars() const override { return {{"beta", beta().item()}}; }

  Tensor beta_param;  // "beta_raw" (softplus) or "beta" (plain)

 private:
  bool softplus_;
  double prefactor_;
};

NG_REGISTER_NORM("dyisru", DyISRU);

}  // namespace ng::nn
