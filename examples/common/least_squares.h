// Levenberg-Marquardt least squares with the Jacobian from normgrad's own autograd.
//
// r(theta) is any differentiable function of a small parameter vector. The Jacobian
// J = dr/dtheta (m x n) is built from vector-Jacobian products: h(g) = J^T g is computed
// with create_graph=true, and since h is linear in g, d<h(g), e_j>/dg = J e_j gives one
// column per parameter (double backward at work).
#pragma once
#include <cmath>
#include <functional>
#include <vector>

#include "normgrad/normgrad.h"

namespace ls {

using ng::Tensor;

struct Fit {
  std::vector<double> theta;
  double sse = 0;
  int iterations = 0;
};

inline Tensor jacobian(const std::function<Tensor(const Tensor&)>& residual, const Tensor& theta) {
  ng::GradModeGuard on(true);
  const Tensor t = theta.detach().requires_grad_();
  const Tensor r = residual(t);
  const Tensor g = ng::zeros(r.shape(), {.dtype = r.dtype(), .requires_grad = true});
  const Tensor h = ng::autograd::grad({r}, {t}, {g}, /*create_graph=*/true)[0];  // J^T g
  std::vector<Tensor> cols;
  for (int64_t j = 0; j < t.numel(); ++j) {
    std::vector<double> e(t.numel(), 0.0);
    e[j] = 1.0;
    const Tensor ej = ng::from_vector(e, t.shape(), {.dtype = t.dtype()});
    cols.push_back(ng::autograd::grad({h}, {g}, {ej}, false, true)[0].reshape({-1, 1}));
  }
  return ng::cat(cols, 1);  // [m, n]
}

// Minimizes sum r(theta)^2 from theta0 (float64). Stops when the step changes theta by
// less than 1e-15 relative, or after max_iter iterations.
inline Fit levenberg_marquardt(const std::function<Tensor(const Tensor&)>& residual,
                               std::vector<double> theta0, int max_iter = 200) {
  const int64_t n = (int64_t)theta0.size();
  Tensor theta = ng::from_vector(theta0, {n}, {.dtype = ng::DType::F64});
  auto sse_at = [&](const Tensor& t) {
    ng::NoGradGuard off;
    return ng::sum(ng::square(residual(t))).item();
  };
  double lambda = 1e-3, sse = sse_at(theta);
  Fit fit;
  for (fit.iterations = 0; fit.iterations < max_iter; ++fit.iterations) {
    const Tensor J = jacobian(residual, theta);
    Tensor r;
    {
      ng::NoGradGuard off;
      r = residual(theta);
    }
    const auto jtj = ng::matmul(J.t(), J).to_vector();                   // n x n
    const auto jtr = ng::matmul(J.t(), r.reshape({-1, 1})).to_vector();  // n
    bool improved = false;
    for (int tries = 0; tries < 30 && !improved; ++tries) {
      // Solve (J^T J + lambda diag(J^T J)) delta = -J^T r by Gaussian elimination (n <= 3).
      std::vector<double> A(jtj), b(n);
      for (int64_t i = 0; i < n; ++i) {
        A[i * n + i] *= 1.0 + lambda;
        b[i] = -jtr[i];
      }
      for (int64_t c = 0; c < n; ++c)
        for (int64_t r2 = c + 1; r2 < n; ++r2) {
          const double f = A[r2 * n + c] / A[c * n + c];
          for (int64_t k = c; k < n; ++k) A[r2 * n + k] -= f * A[c * n + k];
          b[r2] -= f * b[c];
        }
      std::vector<double> delta(n);
      for (int64_t i = n - 1; i >= 0; --i) {
        double s = b[i];
        for (int64_t k = i + 1; k < n; ++k) s -= A[i * n + k] * delta[k];
        delta[i] = s / A[i * n + i];
      }
      auto cur = theta.to_vector();
      std::vector<double> next(n);
      double rel = 0;
      for (int64_t i = 0; i < n; ++i) {
        next[i] = cur[i] + delta[i];
        rel = std::max(rel, std::fabs(delta[i]) / std::max(std::fabs(cur[i]), 1e-300));
      }
      const Tensor cand = ng::from_vector(next, {n}, {.dtype = ng::DType::F64});
      const double cand_sse = sse_at(cand);
      if (cand_sse <= sse) {
        theta = cand;
        sse = cand_sse;
        lambda = std::max(lambda * 0.3, 1e-12);
        improved = true;
        if (rel < 1e-15) {
          fit.theta = theta.to_vector();
          fit.sse = sse;
          return fit;
        }
      } else {
        lambda *= 10;
      }
    }
    if (!improved) break;  // no step reduces the error: converged to machine precision
  }
  fit.theta = theta.to_vector();
  fit.sse = sse;
  return fit;
}

}  // namespace ls
