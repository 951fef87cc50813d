// Central-difference Jacobians compared against reverse-mode vector-Jacobian products.
#include "normgrad/gradcheck.h"

#include <cmath>
#include <sstream>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"
#include "normgrad/random.h"

namespace ng {
namespace {

// Jacobian columns by finite differences: perturb each element of each input in place.
// J_num[i][j] = d out_j / d in_i
std::vector<std::vector<double>> numeric_jacobian(const TensorFn& f, const TensorList& inputs,
                                                  size_t which, double eps) {
  NoGradGuard ng;
  Tensor x = inputs[which];
  const Tensor saved = x.detach().clone();
  std::vector<std::vector<double>> J(x.numel());
  Tensor flat = x.detach().contiguous();
  NG_CHECK(flat.impl()->storage == x.impl()->storage, "gradcheck",
           "inputs must be contiguous tensors (make non-contiguous views inside f)");
  const Shape s = x.shape();
  for (int64_t i = 0; i < x.numel(); ++i) {
    // element i in row-major order of the contiguous input
    std::vector<int64_t> idx(s.size());
    int64_t rem = i;
    for (int64_t d = (int64_t)s.size() - 1; d >= 0; --d) {
      idx[d] = rem % s[d];
      rem /= s[d];
    }
    Tensor xd = x.detach();
    const double orig = xd.at(idx);
    xd.set(idx, orig + eps);
    const std::vector<double> plus = f(inputs).to_vector();
    xd.set(idx, orig - eps);
    const std::vector<double> minus = f(inputs).to_vector();
    xd.set(idx, orig);
    J[i].resize(plus.size());
    for (size_t j = 0; j < plus.size(); ++j) J[i][j] = (plus[j] - minus[j]) / (2 * eps);
  }
  return J;
}

GradcheckResult compare(const TensorFn& f, const TensorList& inputs, GradcheckOptions o,
                        const char* what) {
  for (const auto& t : inputs)
    if (t.requires_grad() && t.dtype() != DType::F64)
      return {false,
              std::string(what) + ": use float64 inputs (got " + dtype_name(t.dtype()) + ")"};
  const Tensor out0 = f(inputs);
  const int64_t m = out0.numel();
  // Analytic Jacobian rows: one backward per output element (grad of <out, e_j>).
  std::vector<std::vector<std::vector<double>>> JA(inputs.size());
  for (int64_t j = 0; j < m; ++j) {
    std::vector<double> e(m, 0.0);
    e[j] = 1.0;
    const Tensor out = f(inputs);
    TensorList needs;
    std::vector<size_t> which;
    for (size_t k = 0; k < inputs.size(); ++k)
      if (inputs[k].requires_grad()) {
        needs.push_back(inputs[k]);
        which.push_back(k);
      }
    TensorList g;
    if (out.requires_grad())
      g = autograd::grad({out}, needs,  // the seed lives where the output does (CPU or GPU)
                         {from_vector(e, out.shape(), {.dtype = out.dtype()}).to(out.device())},
                         false, std::nullopt, true);
    else
      g.resize(needs.size());
    for (size_t q = 0; q < which.size(); ++q) {
      auto& J = JA[which[q]];
      J.resize(inputs[which[q]].numel(), std::vector<double>(m, 0.0));
      if (!g[q].defined()) continue;
      const auto col = g[q].to_vector();
      for (size_t i = 0; i < col.size(); ++i) J[i][j] = col[i];
    }
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    auto JN = numeric_jacobian(f, inputs, k, o.eps);
    auto& J = JA[k];
    if (J.empty()) J.assign(inputs[k].numel(), std::vector<double>(m, 0.0));
    for (size_t i = 0; i < JN.size(); ++i)
      for (int64_t j = 0; j < m; ++j) {
        const double a = J[i][j], n = JN[i][j];
        if (!(std::fabs(a - n) <= o.atol + o.rtol * std::fabs(n))) {
          std::ostringstream s;
          s << what << ": input " << k << " element " << i << ", output " << j << ": analytic " << a
            << " vs numeric " << n;
          return {false, s.str()};
        }
      }
  }
  return {};
}

}  // namespace

GradcheckResult gradcheck(const TensorFn& f, const TensorList& inputs, GradcheckOptions o) {
  return compare(f, inputs, o, "gradcheck");
}

GradcheckResult gradgradcheck(const TensorFn& f, const TensorList& inputs, GradcheckOptions o) {
  // A fixed random direction v for the first backward; then gradcheck the map
  // x -> d<f(x), v>/dx, whose own derivatives exercise every backward formula's backward.
  Generator gen(1234);
  const Tensor probe = f(inputs);
  const Tensor v = randn(probe.shape(), {.dtype = probe.dtype()}, &gen).to(probe.device());
  TensorFn first_grad = [f, v](const TensorList& xs) {
    GradModeGuard on(true);  // also when called under the finite-difference NoGradGuard
    TensorList needs;
    for (const auto& x : xs)
      if (x.requires_grad()) needs.push_back(x);
    const Tensor out = f(xs);
    TensorList g = autograd::grad({out}, needs, {v}, /*create_graph=*/true, std::nullopt, true);
    TensorList flat;
    for (size_t i = 0; i < g.size(); ++i)
      flat.push_back(g[i].defined()
                         ? g[i].reshape({-1})
                         : zeros({needs[i].numel()}, {.dtype = DType::F64}).to(needs[i].device()));
    return cat(flat, 0);
  };
  return compare(first_grad, inputs, o, "gradgradcheck");
}

}  // namespace ng
