// Student's t for paired differences over seeds: the 95% interval of a mean gap and its
// two-sided p, so that a report's verdict ("worse", "better", "not resolved") is a test with
// a stated error rate, not a comparison of a mean with a standard deviation.
#pragma once
#include <cmath>

#include "normgrad/report/runs.h"

namespace ngcli {

// P(T <= t) for Student's t with df > 0 degrees of freedom.
double student_t_cdf(double t, double df);
// The t with P(|T| <= t) = level (two-sided; level in (0, 1)): t(2) = 4.303 at 0.95.
double student_t_two_sided(double level, double df);

// The paired t test of n differences d (mean, sample sd): H0 mean = 0.
struct TInterval {
  double lo = NAN, hi = NAN;  // mean -+ half
  double half = NAN;          // t_{n-1} sd / sqrt(n): the smallest |mean| these seeds resolve
  double p = NAN;             // two-sided p of mean = 0
  bool resolved() const { return lo > 0 || hi < 0; }  // the interval excludes 0
};
// NaN fields under two differences. sd = 0 with a non-zero mean: p = 0, the interval a point.
TInterval paired_t(const Stats& d, double level = 0.95);

// "[+0.0120, +0.0350], p = 0.004" (p under 0.001 as "p < 0.001").
std::string interval_words(const TInterval& ci);

}  // namespace ngcli
