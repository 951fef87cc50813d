#include "normgrad/report/paired_t.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace ngcli {

namespace {

// The continued fraction of the regularized incomplete beta function I_x(a, b) (evaluated by
// the modified Lentz method), valid where it converges fast: x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  const double tiny = 1e-300;
  auto guard = [&](double v) { return std::fabs(v) < tiny ? tiny : v; };
  double c = 1.0, d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0)), f = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    // even step: m (b - m) x / ((a + 2m - 1)(a + 2m))
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 / guard(1.0 + num * d);
    c = guard(1.0 + num / c);
    f *= c * d;
    // odd step: -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 / guard(1.0 + num * d);
    c = guard(1.0 + num / c);
    const double step = c * d;
    f *= step;
    if (std::fabs(step - 1.0) < 1e-15) break;
  }
  return f;
}

// I_x(a, b), the regularized incomplete beta function.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;  // I_x(a,b) = 1 - I_1-x(b,a)
}

// P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
double two_sided_p(double t, double df) {
  if (!std::isfinite(t)) return std::isnan(t) ? NAN : 0.0;
  return incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

}  // namespace

double student_t_cdf(double t, double df) {
  const double tail = two_sided_p(t, df) / 2.0;
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_two_sided(double level, double df) {
  // two_sided_p falls monotonically in t >= 0: bisection to the float's resolution.
  double lo = 0.0, hi = 1.0;
  while (two_sided_p(hi, df) > 1.0 - level) hi *= 2.0;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (two_sided_p(mid, df) > 1.0 - level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

TInterval paired_t(const Stats& d, double level) {
  TInterval ci;
  if (d.n < 2 || !std::isfinite(d.mean) || !std::isfinite(d.sd)) return ci;
  const double df = d.n - 1.0, se = d.sd / std::sqrt((double)d.n);
  ci.half = student_t_two_sided(level, df) * se;
  ci.lo = d.mean - ci.half;
  ci.hi = d.mean + ci.half;
  ci.p = se > 0 ? two_sided_p(d.mean / se, df) : d.mean == 0 ? 1.0 : 0.0;
  return ci;
}

std::string interval_words(const TInterval& ci) {
  if (!std::isfinite(ci.lo)) return "no interval";
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%+.4f, %+.4f], ", ci.lo, ci.hi);
  std::string out = buf;
  if (ci.p < 0.001)
    out += "p < 0.001";
  else {
    std::snprintf(buf, sizeof buf, "p = %.3f", ci.p);
    out += buf;
  }
  return out;
}

}  // namespace ngcli
