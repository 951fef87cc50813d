// Stollenwerk's outlier experiment (EACL 2026), the parts the program and the tests share.
//
// One token of C channels. For S = 1..9 its largest value is raised by 5 S, the token is
// normalized, and the outlier's (input, output) pair recorded; with the mirrored points
// (-x, -y) that gives 18 points. DyT, y = sqrt(C-1) tanh(alpha x), and DyISRU,
// y = sqrt(C-1) x / sqrt(beta + x^2), are fitted to them by least squares.
#pragma once
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/least_squares.h"

namespace outliers {

using namespace ng;

// The base token: one number per line, '#' lines are comments.
inline std::vector<double> read_base(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("outliers", "cannot read base token file ", path);
  std::vector<double> v;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    double d;
    if (!(s >> d) || !std::isfinite(d))
      fail("outliers", path, ":", n, ": not a finite number: '", line, "'");
    v.push_back(d);
  }
  if (v.size() < 3) fail("outliers", path, " holds ", v.size(), " values; need at least 3");
  return v;
}

struct Points {
  std::vector<double> x, y;
  int64_t C = 0;
  int64_t outlier = 0;  // index of the largest value
};

enum class Target { LayerNorm, RMSNorm };

// LayerNorm with population std and no eps (as in the paper), or RMSNorm with no eps.
inline Points outlier_points(const std::vector<double>& base, Target target) {
  Points p;
  p.C = (int64_t)base.size();
  p.outlier = (int64_t)(std::max_element(base.begin(), base.end()) - base.begin());
  for (int S = 1; S <= 9; ++S) {
    std::vector<double> v = base;
    v[p.outlier] += 5.0 * S;
    const Tensor t = from_vector(v, {1, p.C}, {.dtype = DType::F64});
    const Tensor y = target == Target::LayerNorm ? layer_norm(t, Tensor(), Tensor(), 0.0)
                                                 : rms_norm(t, Tensor(), 0.0);
    p.x.push_back(v[p.outlier]);
    p.y.push_back(y.at({0, p.outlier}));
  }
  for (int i = 0; i < 9; ++i) {  // mirror images
    p.x.push_back(-p.x[i]);
    p.y.push_back(-p.y[i]);
  }
  return p;
}

// Residuals f(x; theta) - y as differentiable ops of theta.
inline ls::Fit fit_dyt(const Points& p, double prefactor, double alpha0 = 0.1) {
  const Tensor x = from_vector(p.x, {(int64_t)p.x.size()}, {.dtype = DType::F64});
  const Tensor y = from_vector(p.y, {(int64_t)p.y.size()}, {.dtype = DType::F64});
  return ls::levenberg_marquardt(
      [&](const Tensor& th) { return tanh(x * th.reshape({})) * prefactor - y; }, {alpha0});
}

inline ls::Fit fit_dyisru(const Points& p, double prefactor, double beta0 = 800) {
  const Tensor x = from_vector(p.x, {(int64_t)p.x.size()}, {.dtype = DType::F64});
  const Tensor y = from_vector(p.y, {(int64_t)p.y.size()}, {.dtype = DType::F64});
  return ls::levenberg_marquardt(
      [&](const Tensor& th) { return x * rsqrt(square(x) + th.reshape({})) * prefactor - y; },
      {beta0});
}

inline double mean_abs_residual(const Points& p, const std::function<double(double)>& f) {
  double s = 0;
  for (size_t i = 0; i < p.x.size(); ++i) s += std::fabs(f(p.x[i]) - p.y[i]);
  return s / (double)p.x.size();
}

}  // namespace outliers
