// The paper-reproduction examples: Stollenwerk's outlier fit against an independent
// solver, the exact DyISRU/RMSNorm identity, and the paper's published values.
#include <fstream>

#include "../ln_tanh_mapping/mapping.h"
#include "helpers.h"
#include "outliers.h"

using namespace ngt;
using namespace outliers;

namespace {
// Independent 1-D least squares: Newton on d(SSE)/dtheta = 0 with analytic derivatives in
// plain double (no autograd, no tensors), from a grid-searched start.
double newton_fit(const Points& p, const std::function<double(double, double)>& f,
                  const std::function<double(double, double)>& df, double lo, double hi) {
  auto grad = [&](double t) {
    double g = 0;
    for (size_t i = 0; i < p.x.size(); ++i) g += 2 * (f(p.x[i], t) - p.y[i]) * df(p.x[i], t);
    return g;
  };
  auto sse = [&](double t) {
    double s = 0;
    for (size_t i = 0; i < p.x.size(); ++i) s += std::pow(f(p.x[i], t) - p.y[i], 2);
    return s;
  };
  double best = lo;
  for (int k = 0; k <= 20000; ++k) {
    const double t = lo + (hi - lo) * k / 20000.0;
    if (sse(t) < sse(best)) best = t;
  }
  double t = best;
  for (int it = 0; it < 100; ++it) {  // Newton on the gradient, derivative by central difference
    const double h = 1e-7 * std::max(1.0, std::fabs(t));
    const double step = grad(t) / ((grad(t + h) - grad(t - h)) / (2 * h));
    t -= step;
    if (std::fabs(step) < 1e-14 * std::fabs(t)) break;
  }
  return t;
}
const std::string kBase = NG_EXAMPLES_DIR "/dyt_vs_dyisru_outliers/stollenwerk_base.txt";
}  // namespace

TEST_SUITE("papers") {
  TEST_CASE("outlier fit: LM with autograd Jacobians == an independent solver, to 1e-6") {
    const Points p = outlier_points(read_base(kBase), Target::LayerNorm);
    const double pf = std::sqrt(99.0);
    const double a = fit_dyt(p, pf).theta[0], b = fit_dyisru(p, pf).theta[0];
    const double a_ref = newton_fit(
        p, [&](double x, double t) { return pf * std::tanh(t * x); },
        [&](double x, double t) { return pf * x / std::pow(std::cosh(t * x), 2); }, 0.01, 0.2);
    const double b_ref = newton_fit(
        p, [&](double x, double t) { return pf * x / std::sqrt(t + x * x); },
        [&](double x, double t) { return -0.5 * pf * x * std::pow(t + x * x, -1.5); }, 10, 2000);
    CHECK(a == doctest::Approx(a_ref).epsilon(1e-6));
    CHECK(b == doctest::Approx(b_ref).epsilon(1e-6));
    // the paper's rounded values and residual ratio
    CHECK(std::fabs(a - 0.049) < 5e-4);
    CHECK(std::fabs(b - 301.1) < 0.1);
    const double ratio =
        mean_abs_residual(p, [&](double x) { return pf * std::tanh(a * x); }) /
        mean_abs_residual(p, [&](double x) { return pf * x / std::sqrt(b + x * x); });
    CHECK(ratio > 60);
    CHECK(ratio < 75);
  }

  TEST_CASE("exact identity: RMSNorm targets, sqrt(C) prefactor -> beta = sum of other squares") {
    const std::vector<double> base = read_base(kBase);
    const Points r = outlier_points(base, Target::RMSNorm);
    const ls::Fit f = fit_dyisru(r, std::sqrt((double)r.C));
    double others = 0;
    for (int64_t k = 0; k < r.C; ++k)
      if (k != r.outlier) others += base[k] * base[k];
    CHECK(f.theta[0] == doctest::Approx(others).epsilon(1e-10));
    CHECK(f.sse < 1e-20);
  }

  TEST_CASE("LN mapping: linear within every token (slope 1/std), S-shaped only when pooled") {
    for (const mapping::Data& d : {mapping::single_spikes(16, 16, 16, 20.0, 7),
                                   mapping::outlier_channels(256, 64, 4, 30.0, 11)}) {
      const int64_t T = d.x.size(0), C = d.x.size(1);
      const auto x = d.x.to_vector(), y = d.y.to_vector();
      double worst = 0, min_slope = 1e300, max_slope = 0;
      for (int64_t t = 0; t < T; ++t) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; ++c) mean += x[t * C + c] / C;
        for (int64_t c = 0; c < C; ++c) var += std::pow(x[t * C + c] - mean, 2) / C;
        const double slope = 1 / std::sqrt(var + 1e-5);
        min_slope = std::min(min_slope, slope), max_slope = std::max(max_slope, slope);
        for (int64_t c = 0; c < C; ++c)
          worst = std::max(worst, std::fabs(y[t * C + c] - (x[t * C + c] - mean) * slope));
      }
      CHECK(worst < 1e-12);              // exactly linear per token
      CHECK(max_slope / min_slope > 2);  // but tokens with outliers have much flatter slopes
    }
  }

  TEST_CASE("the base-token file is read defensively") {
    std::ofstream("bad_base.txt") << "# comment\n1.0\nnot-a-number\n";
    CHECK_THROWS_WITH_AS(read_base("bad_base.txt"),
                         doctest::Contains("bad_base.txt:3: not a finite number"), Error);
    std::ofstream("short_base.txt") << "1\n2\n";
    CHECK_THROWS_WITH_AS(read_base("short_base.txt"), doctest::Contains("need at least 3"), Error);
    CHECK_THROWS_WITH_AS(read_base("missing_base.txt"), doctest::Contains("cannot read"), Error);
    std::remove("bad_base.txt");
    std::remove("short_base.txt");
  }
}
