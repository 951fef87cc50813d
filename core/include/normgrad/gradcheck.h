// Finite-difference checks of analytic gradients (use float64 inputs).
#pragma once
#include <functional>
#include <string>

#include "normgrad/tensor.h"

namespace ng {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

// The verdict of a check; false when any element disagrees.
struct GradcheckResult {
  bool ok = true;
  std::string message;  // which input, which element, analytic vs numeric
  // True when the check passed.
  explicit operator bool() const { return ok; }
};

// The function under test: inputs -> one output tensor.
using TensorFn = std::function<Tensor(const TensorList&)>;

// Compares the Jacobian of f (central differences) with reverse-mode vector-Jacobian
// products, for every input that requires grad.
GradcheckResult gradcheck(const TensorFn& f, const TensorList& inputs, GradcheckOptions o = {});
// Checks second derivatives: the gradient of <f(x), v> w.r.t. x, itself differentiated.
GradcheckResult gradgradcheck(const TensorFn& f, const TensorList& inputs, GradcheckOptions o = {});

}  // namespace ng
