// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight (no bias).
#include "normgrad/nn/norm.h"
#include "normgrad/ops.h"

namespace ng::nn {

class RMSNorm : public Norm {
 public:
  RMSNorm(int64_t c, const NormOptions& o) : Norm("rmsnorm", c), eps_(o.eps) {
    make_affine(o, false);
  }
  Tensor forward(const Tensor& x) override {
    check_input(x);
    return rms_norm(x, weight, eps_);
  }
  Tensor normalize(const Tensor& x) override { return rms_norm(x, Tensor(), eps_); }
  Tensor forward_composed(const Tensor& x) override { return composed::rms_norm(x, weight, eps_); }

 private:
  double eps_;
};

NG_REGISTER_NORM("rmsnorm", RMSNorm);

}  // namespace ng::nn
